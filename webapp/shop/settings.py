"""The demo shop's settings, read from an injected environment mapping and validated once at start-up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

_QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class ShopSettingsError(ValueError):
    """A variable holds a value the shop cannot run with; the message names it."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


def _http_url(variable: str, raw: str) -> str:
    value = raw.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise ShopSettingsError(variable, f"not a URL: {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ShopSettingsError(variable, f"expected an http:// or https:// URL with a host, got {value!r}")
    if parts.fragment:
        raise ShopSettingsError(variable, f"a URL without a #fragment, got {value!r}")
    return value


def _text(variable: str, raw: str) -> str:
    value = raw.strip()
    if not value or len(value) > 200 or not value.isprintable():
        raise ShopSettingsError(variable, f"expected 1 to 200 printable characters, got {raw!r}")
    return value


@dataclass(frozen=True)
class ShopSettings:
    """``ROOM_URL`` is where visitors wait (the room's public URL, ending in ``/``); passes come from its JWKS."""

    room_url: str = "http://localhost:8000/"
    jwks_url: str = "http://localhost:8000/.well-known/jwks.json"
    pass_audience: str = "pass:main"  # noqa: S105 - an audience, not a password
    pass_issuer: str = "session-queue"  # noqa: S105 - an issuer, not a password
    host: str = "127.0.0.1"
    port: int = 8001
    event_name: str = "The Big Sale"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ShopSettings:
        room_url = _http_url("ROOM_URL", environ.get("ROOM_URL", "") or cls.room_url)
        base = room_url.split("?", 1)[0]
        base = base if base.endswith("/") else base + "/"
        jwks_url = _http_url("JWKS_URL", environ.get("JWKS_URL", "") or base + ".well-known/jwks.json")
        queue_name = environ.get("QUEUE_NAME", "").strip() or "main"
        if not _QUEUE_NAME.fullmatch(queue_name):
            raise ShopSettingsError("QUEUE_NAME", f"expected 1-32 of a-z, 0-9, _ and -, got {queue_name!r}")
        raw_port = environ.get("PORT", "").strip() or str(cls.port)
        if not (raw_port.isascii() and raw_port.isdigit() and 0 < int(raw_port) < 65536):
            raise ShopSettingsError("PORT", f"expected a TCP port between 1 and 65535, got {raw_port!r}")
        return cls(
            room_url=room_url,
            jwks_url=jwks_url,
            pass_audience=_text("PASS_AUDIENCE", environ.get("PASS_AUDIENCE", "") or f"pass:{queue_name}"),
            pass_issuer=_text("PASS_ISSUER", environ.get("PASS_ISSUER", "") or cls.pass_issuer),
            host=_text("HOST", environ.get("HOST", "") or cls.host),
            port=int(raw_port),
            event_name=_text("EVENT_NAME", environ.get("EVENT_NAME", "") or cls.event_name),
        )
