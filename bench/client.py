"""A small HTTP/1.1 keep-alive client on raw asyncio streams, light enough to drive the app from one core.

Only what the benchmarks need: one request at a time per connection, ``Content-Length`` or chunked
bodies, and a single retry when a reused connection turns out to have been closed by the server while
idle (nothing was answered, so the request was not processed).

``HttpProtocol`` is the callback-driven twin for load that must reach ~20k requests/s from one core.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast


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


ReplyDone = Callable[[int, bytes, bytes, Exception | None, bool], None]
"""``done(status, head, body, error, answered)``: ``head`` is the raw header block; on failure ``error`` is
set and ``answered`` says whether any byte of a reply had arrived (if not, the request may be retried)."""


class HttpProtocol(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection driven by callbacks: light enough for ~20k replies/s on one core.

    One request at a time (never pipelined); the caller builds the request bytes. Replies must carry
    ``Content-Length`` (uvicorn's do); anything else fails the request. ``lost`` is set once the
    connection is closed, by either side.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._buffer = bytearray()
        self._done: ReplyDone | None = None
        self._status = 0
        self._head = b""
        self._length = -1
        self._close_after = False
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        done, self._done = self._done, None
        if done is not None:
            answered = bool(self._buffer) or self._length >= 0
            done(0, b"", b"", exc or ConnectionResetError("connection closed mid-request"), answered)

    @property
    def busy(self) -> bool:
        return self._done is not None

    def send(self, request: bytes, done: ReplyDone, now: float = 0.0) -> None:
        if self.transport is None or self.lost or self._done is not None:
            raise HttpError("connection not ready for a request")
        self._done = done
        self._buffer.clear()
        self._length = -1
        self.sent_at = now
        self.transport.write(request)

    def abort(self, error: Exception) -> None:
        """Fail the request in flight (a timeout) and drop the connection."""
        done, self._done = self._done, None
        if self.transport is not None:
            self.transport.abort()
        if done is not None:
            done(0, b"", b"", error, True)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if self._length < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            del buffer[: end + 4]
            try:
                self._status = int(head[9:12])
                self._length, self._close_after = _framing(head)
            except ValueError as exc:
                self._fail(HttpError(f"unreadable reply: {exc}"))
                return
            self._head = head
        if len(buffer) < self._length:
            return
        if len(buffer) > self._length:
            self._fail(HttpError("bytes after the reply (the server answered more than once)"))
            return
        body = bytes(buffer)
        buffer.clear()
        self._length = -1
        done, self._done = self._done, None
        if self._close_after and self.transport is not None:
            self.transport.close()
        if done is not None:
            done(self._status, self._head, body, None, True)

    def _fail(self, error: Exception) -> None:
        done, self._done = self._done, None
        if self.transport is not None:
            self.transport.abort()
        if done is not None:
            done(0, b"", b"", error, True)


def _framing(head: bytes) -> tuple[int, bool]:
    """The body length and whether the server will close, from a reply's header block."""
    length = -1
    close = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            raise ValueError("chunked replies are not supported by HttpProtocol")
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    if length < 0:
        raise ValueError("no Content-Length")
    return length, close
