"""The event log: what happened to the queue, in a capped Redis stream, for the console and the report.

Slides, skips and operator controls are written by the Lua scripts that make them happen (atomic with
the change); leadership changes and aggregated joins are written here. Never one entry per visitor.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from webapp.queue.keys import QueueKeys
from webapp.queue.store import EVENTS_KEPT
from webapp.redis_client import RedisClient

_STREAM_ID = re.compile(r"^[0-9]{1,15}(-[0-9]{1,10})?$")


@dataclass(frozen=True)
class Event:
    id: str
    at_ms: int
    kind: str
    detail: str
    who: str
    addr: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at_ms": self.at_ms,
            "kind": self.kind,
            "detail": self.detail,
            "who": self.who,
            "addr": self.addr,
        }


def valid_since(since: str) -> bool:
    """Whether ``since`` is a stream id (``1700000000000-0``) or a millisecond time (``1700000000000``)."""
    return bool(_STREAM_ID.fullmatch(since))


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _event(entry_id: Any, fields: dict[Any, Any]) -> Event:
    eid = _text(entry_id)
    values = {_text(k): _text(v) for k, v in fields.items()}
    return Event(
        id=eid,
        at_ms=int(eid.partition("-")[0]),
        kind=values.get("kind", ""),
        detail=values.get("detail", ""),
        who=values.get("who", ""),
        addr=values.get("addr", ""),
    )


class EventLog:
    def __init__(self, redis: RedisClient, keys: QueueKeys) -> None:
        self.redis = redis
        self.key = keys.events

    async def record(self, kind: str, detail: str, who: str = "", addr: str = "") -> None:
        fields: dict[Any, Any] = {"kind": kind, "detail": detail, "who": who, "addr": addr}
        await self.redis.xadd(self.key, fields, maxlen=EVENTS_KEPT, approximate=True)

    async def after(self, since: str = "0", count: int = 1000) -> list[Event]:
        """Events strictly after ``since`` (a stream id or a millisecond time), oldest first."""
        start = f"({since}" if "-" in since else str(int(since) + 1)
        entries = await self.redis.xrange(self.key, min=start, count=count)
        return [_event(eid, fields or {}) for eid, fields in entries or []]

    async def latest(self, count: int = 50) -> list[Event]:
        """The newest ``count`` events, newest first."""
        entries = await self.redis.xrevrange(self.key, count=count)
        return [_event(eid, fields or {}) for eid, fields in entries or []]


CSV_COLUMNS = ("id", "time_utc", "kind", "detail", "who", "addr")


def events_csv(events: Iterable[Event]) -> str:
    """The events as CSV for the post-sale report; cells that a spreadsheet would run as formulas are quoted."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in events:
        when = dt.datetime.fromtimestamp(e.at_ms / 1000, tz=dt.UTC).isoformat(timespec="milliseconds")
        writer.writerow([_cell(v) for v in (e.id, when, e.kind, e.detail, e.who, e.addr)])
    return out.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
