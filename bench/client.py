"""A small HTTP/1.1 keep-alive client on raw asyncio streams, light enough to drive the app from one core.

Only what the benchmarks need: one request at a time per connection, ``Content-Length`` or chunked
bodies, and a single retry when a reused connection turns out to have been closed by the server while
idle (nothing was answered, so the request was not processed).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


class HttpError(RuntimeError):
    """The server answered something this client cannot read, or the connection broke mid-reply."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class HttpConnection:
    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Reply:
        reused = self._writer is not None
        try:
            return await asyncio.wait_for(self._exchange(method, path, headers or {}, body), self.timeout)
        except _ClosedBeforeReply:
            await self.close()
            if not reused:
                raise HttpError(f"{method} {path}: connection closed before any reply") from None
        return await asyncio.wait_for(self._exchange(method, path, headers or {}, body), self.timeout)

    async def _exchange(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            status_line = await reader.readline()
        except (ConnectionError, OSError):
            raise _ClosedBeforeReply from None
        if not status_line:
            raise _ClosedBeforeReply
        try:
            return await self._read_reply(reader, status_line)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError) as exc:
            await self.close()
            raise HttpError(f"{method} {path}: broken reply ({exc!r})") from None

    async def _read_reply(self, reader: asyncio.StreamReader, status_line: bytes) -> Reply:
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked(reader)
        else:
            body = await reader.read()
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Reply(status, headers, body)

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)


class _ClosedBeforeReply(Exception):
    pass
