"""Settings read from an injected environment mapping, validated once at start-up.

Nothing here reads ``os.environ`` at import time: callers pass the mapping, so tests build settings
from plain dicts and a bad value stops start-up with one line naming the variable.
"""

from __future__ import annotations

import ipaddress
import math
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from webapp.passkeys import PassKeyError, PassKeys, pass_keys_from_env
from webapp.redis_url import RedisUrlError, check_redis_url
from webapp.return_to import parse_cookie_domain, parse_origins

MIN_SECRET_BYTES = 32
_QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# host:port with a DNS name, an IPv4 address or a bracketed IPv6 address, ASCII digits only in the port.
_REDIS_ADDR = re.compile(r"(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})")

T = TypeVar("T")


class SettingsError(ValueError):
    """A variable holds a value the service cannot run with; the message names it."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


def _whole(variable: str, raw: str, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise SettingsError(variable, f"expected a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise SettingsError(variable, f"must be {bound}, got {value}")
    return value


def _seconds(variable: str, raw: str, minimum: float, maximum: float | None = None) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(variable, f"expected a number of seconds such as 30 or 0.5, got {raw!r}") from None
    if not math.isfinite(value) or value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"at least {minimum:g}"
        raise SettingsError(variable, f"must be {bound} seconds, got {raw.strip()!r}")
    return value


def _flag(variable: str, raw: str) -> bool | None:
    lowered = raw.strip().lower()
    if lowered in ("auto", ""):
        return None
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(variable, f"expected true, false or auto, got {raw!r}")


def _redis_url(environ: Mapping[str, str]) -> str | None:
    url = environ.get("REDIS_URL", "").strip()
    if url:
        try:
            return check_redis_url(url)
        except RedisUrlError as exc:
            raise SettingsError("REDIS_URL", exc.why) from None
    addr = environ.get("REDIS_ADDR", "").strip()
    if not addr:
        return None
    match = _REDIS_ADDR.fullmatch(addr)
    if match is None or not 0 < int(match.group(1)) < 65536:
        raise SettingsError("REDIS_ADDR", f"expected host:port such as localhost:6379, got {addr!r}")
    return f"redis://{addr}"


def _proxies(raw: str) -> tuple[str, ...]:
    """``TRUSTED_PROXIES``: IP addresses or CIDR networks, comma-separated, each checked.

    uvicorn treats an entry it cannot parse as a literal that matches nobody, so "10.0.0.0/33" used to
    trust no proxy at all (everyone behind the ingress shared one join budget), and "*" trusts every
    client to name its own address. Both are refused; trusting everyone must be written out as
    ``0.0.0.0/0,::/0``.
    """
    entries = tuple(p.strip() for p in raw.split(",") if p.strip())
    for entry in entries:
        if entry == "*":
            raise SettingsError(
                "TRUSTED_PROXIES",
                "'*' would let any client choose the address it is counted as; list your proxies' addresses "
                "or networks (write 0.0.0.0/0,::/0 if every peer really is a trusted proxy)",
            )
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(
                "TRUSTED_PROXIES", f"expected IP addresses or CIDR networks such as 10.0.0.0/8, got {entry!r}"
            ) from None
    return entries


def _secret(environ: Mapping[str, str]) -> tuple[bytes, bool]:
    raw = environ.get("JWT_SECRET", "")
    if not raw:
        return secrets.token_urlsafe(48).encode(), True
    encoded = raw.encode()
    if len(encoded) < MIN_SECRET_BYTES:
        raise SettingsError(
            "JWT_SECRET",
            f"must be at least {MIN_SECRET_BYTES} bytes, got {len(encoded)}; "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'",
        )
    return encoded, False


def _optional_token(environ: Mapping[str, str], variable: str) -> bytes | None:
    """An operator credential: unset means the feature it guards is off; set, it must be as long as JWT_SECRET."""
    raw = environ.get(variable, "").strip()
    if not raw:
        return None
    encoded = raw.encode()
    if len(encoded) < MIN_SECRET_BYTES:
        raise SettingsError(
            variable,
            f"must be at least {MIN_SECRET_BYTES} bytes, got {len(encoded)}; "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    return encoded


ACCESS_LOG_MODES = ("quiet", "all", "off")


def _access_log(variable: str, raw: str) -> str:
    return _choice(variable, raw, ACCESS_LOG_MODES)


def _choice(variable: str, raw: str, choices: tuple[str, ...]) -> str:
    lowered = raw.strip().lower()
    if lowered not in choices:
        raise SettingsError(variable, f"expected one of {', '.join(choices)}, got {raw!r}")
    return lowered


def _log_format(variable: str, raw: str) -> str:
    lowered = raw.strip().lower()
    if lowered not in ("text", "json"):
        raise SettingsError(variable, f"expected text or json, got {raw!r}")
    return lowered


def _optional_dir(variable: str, raw: str) -> Path | None:
    if not raw.strip():
        return None
    path = Path(raw.strip())
    if not path.is_dir():
        raise SettingsError(variable, f"expected an existing directory, got {raw!r}")
    return path


def _pass_keys(environ: Mapping[str, str], secret: bytes | None) -> tuple[PassKeys, bool]:
    """``PASS_KEYS_DIR`` (or ``PASS_KEY``) loaded and checked now, so a bad key stops start-up, not a request.

    Without either, a configured ``JWT_SECRET`` derives the key: replicas that already share the secret
    then share the pass key too (a key generated per replica would refuse the others' passes).
    """
    variable = "PASS_KEYS_DIR" if environ.get("PASS_KEYS_DIR", "").strip() else "PASS_KEY"
    try:
        return pass_keys_from_env(environ, secret)
    except PassKeyError as exc:
        raise SettingsError(variable, str(exc)) from None


def _claim_value(variable: str, raw: str) -> str:
    """``PASS_ISSUER`` / ``PASS_AUDIENCE``: what origins compare exactly, so plain printable ASCII."""
    value = raw.strip()
    if len(value) > 120 or not value.isascii() or not value.isprintable():
        raise SettingsError(variable, f"expected up to 120 printable ASCII characters, got {raw[:40]!r}")
    return value


_PATH_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,63}")


def _root_path(variable: str, raw: str) -> str:
    """``ROOT_PATH``: the prefix a proxy passes through, ``/queue`` or ``/shop/queue``; ``/`` means none."""
    text = raw.strip()
    if text == "/":
        return ""
    if not text.startswith("/") or text.endswith("/"):
        raise SettingsError(
            variable, f"expected a path prefix such as /queue (a leading /, no trailing /), got {raw!r}"
        )
    segments = text[1:].split("/")
    if len(text) > 200 or not all(_PATH_SEGMENT.fullmatch(s) and s.strip(".") for s in segments):
        raise SettingsError(
            variable, f"expected plain path segments (letters, digits, - _ . ~; no '..' or '//'), got {raw!r}"
        )
    return text


def _checked(parse: Callable[[str], T]) -> Callable[[str, str], T]:
    """A parser that raises ValueError, as a settings parser that names the variable."""

    def checked(variable: str, raw: str) -> T:
        try:
            return parse(raw)
        except ValueError as exc:
            raise SettingsError(variable, str(exc)) from None

    return checked


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _instant(variable: str, raw: str) -> float:
    """An RFC 3339 date-time with its zone (``2026-12-03T10:00:00Z``), as seconds since the epoch.

    A time without a zone is refused: "10:00" means another instant on every replica's machine.
    """
    text = raw.strip()
    if not _RFC3339.fullmatch(text):
        raise SettingsError(
            variable, f"expected an RFC 3339 date-time with a zone such as 2026-12-03T10:00:00Z, got {raw!r}"
        )
    fraction = re.search(r"\.([0-9]+)", text)
    if fraction is not None and len(fraction.group(1)) > 6:  # Python keeps microseconds: trim, don't refuse
        text = text.replace(fraction.group(0), fraction.group(0)[:7])
    try:
        when = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError as exc:
        raise SettingsError(variable, f"not a valid date-time: {exc}") from None
    return when.timestamp()


def _sale_schedule(environ: Mapping[str, str]) -> tuple[float | None, float | None]:
    """``SALE_OPENS_AT`` and the optional ``PREQUEUE_OPENS_AT``, which needs it and may not come after it."""
    sale_raw = environ.get("SALE_OPENS_AT", "").strip()
    pre_raw = environ.get("PREQUEUE_OPENS_AT", "").strip()
    sale = _instant("SALE_OPENS_AT", sale_raw) if sale_raw else None
    pre = _instant("PREQUEUE_OPENS_AT", pre_raw) if pre_raw else None
    if pre is not None and sale is None:
        raise SettingsError("PREQUEUE_OPENS_AT", "needs SALE_OPENS_AT (the pre-queue is the wait before a sale opens)")
    if pre is not None and sale is not None and pre > sale:
        raise SettingsError("PREQUEUE_OPENS_AT", "must not be later than SALE_OPENS_AT")
    return sale, pre


@dataclass(frozen=True)
class Settings:
    """Everything the service is configured with; build it with :meth:`from_env`."""

    redis_url: str | None
    jwt_secret: bytes = field(repr=False)
    secret_generated: bool = False
    port: int = 8000
    host: str = "127.0.0.1"
    workers: int = 1
    window_size: int = 10
    window_interval: float = 30.0
    active_window_count: int = 2
    session_duration: float = 600.0
    ticket_ttl: float = 6 * 3600.0
    queue_name: str = "main"
    event_name: str = "The Big Sale"
    lease_ttl: float = 5.0
    snapshot_refresh: float = 0.1
    redis_timeout: float = 1.0
    cookie_secure: bool | None = None
    theme_dir: Path | None = None
    join_rate_limit: int = 20
    trusted_proxies: tuple[str, ...] = ()
    admin_token: bytes | None = field(default=None, repr=False)
    metrics_token: bytes | None = field(default=None, repr=False)
    log_format: str = "text"
    access_log: str = "quiet"
    """``ACCESS_LOG``: ``quiet`` (no line for successful polls and probes), ``all``, or ``off``."""
    pass_keys: PassKeys = field(default_factory=PassKeys.generate, repr=False)
    pass_keys_generated: bool = True
    pass_issuer: str = "session-queue"  # noqa: S105 - the iss claim of passes, not a password
    pass_audience: str = ""
    """Empty means ``pass:<QUEUE_NAME>``; read it through :attr:`pass_aud`."""

    @property
    def pass_aud(self) -> str:
        """The ``aud`` of this room's passes: an origin protected by another room refuses them."""
        return self.pass_audience or f"pass:{self.queue_name}"

    root_path: str = ""
    """The prefix the room is served under (``ROOT_PATH``), '' at the root; never ends with '/'."""
    cookie_domain: str | None = None
    """The pass cookie's ``Domain`` (``COOKIE_DOMAIN``); None: the room's host only."""
    return_origins: tuple[str, ...] = ()
    """Origins besides the room's own that ``return_to`` may lead to (``RETURN_ORIGINS``), normalised."""
    sale_opens_at: float | None = None
    """Seconds since the epoch when a scheduled sale opens (``SALE_OPENS_AT``); None: no pre-queue."""
    prequeue_opens_at: float | None = None

    @property
    def cliff_edge(self) -> bool:
        """With a single active window, a visitor can turn active and expire in the same slide."""
        return self.active_window_count == 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Validate ``environ``; raise :class:`SettingsError` naming the first bad variable."""

        def get(variable: str, parse: Callable[[str, str], T], default: T) -> T:
            raw = environ.get(variable)
            if raw is None or raw.strip() == "":
                return default
            return parse(variable, raw)

        secret, generated = _secret(environ)
        queue_name = environ.get("QUEUE_NAME", "main").strip() or "main"
        if not _QUEUE_NAME.match(queue_name):
            raise SettingsError("QUEUE_NAME", f"expected 1-32 of a-z, 0-9, '-' or '_', got {queue_name!r}")
        event_name = environ.get("EVENT_NAME", "").strip() or cls.event_name
        if len(event_name) > 120:
            raise SettingsError("EVENT_NAME", "must be at most 120 characters")
        proxies = _proxies(environ.get("TRUSTED_PROXIES", ""))
        pass_keys, pass_keys_generated = _pass_keys(environ, None if generated else secret)
        sale_opens_at, prequeue_opens_at = _sale_schedule(environ)
        return cls(
            redis_url=_redis_url(environ),
            jwt_secret=secret,
            secret_generated=generated,
            port=get("PORT", lambda v, r: _whole(v, r, 1, 65535), cls.port),
            host=environ.get("HOST", "").strip() or cls.host,
            workers=get("WEB_CONCURRENCY", lambda v, r: _whole(v, r, 1, 64), cls.workers),
            window_size=get("WINDOW_SIZE", lambda v, r: _whole(v, r, 1, 10_000_000), cls.window_size),
            window_interval=get("WINDOW_INTERVAL", lambda v, r: _seconds(v, r, 0.1, 86_400), cls.window_interval),
            active_window_count=get("ACTIVE_WINDOW_COUNT", lambda v, r: _whole(v, r, 1, 1000), 2),
            session_duration=get("SESSION_DURATION", lambda v, r: _seconds(v, r, 10, 86_400), 600.0),
            ticket_ttl=get("TICKET_TTL", lambda v, r: _seconds(v, r, 60, 7 * 86_400), cls.ticket_ttl),
            queue_name=queue_name,
            event_name=event_name,
            lease_ttl=get("LEADER_LEASE_TTL", lambda v, r: _seconds(v, r, 0.3, 600), cls.lease_ttl),
            snapshot_refresh=get("SNAPSHOT_REFRESH", lambda v, r: _seconds(v, r, 0.01, 5), 0.1),
            redis_timeout=get("REDIS_TIMEOUT", lambda v, r: _seconds(v, r, 0.05, 30), cls.redis_timeout),
            cookie_secure=get("COOKIE_SECURE", _flag, None),
            theme_dir=get("THEME_DIR", _optional_dir, None),
            join_rate_limit=get("JOIN_RATE_LIMIT", lambda v, r: _whole(v, r, 0, 1_000_000), 20),
            trusted_proxies=proxies,
            admin_token=_optional_token(environ, "ADMIN_TOKEN"),
            metrics_token=_optional_token(environ, "METRICS_TOKEN"),
            log_format=get("LOG_FORMAT", _log_format, "text"),
            access_log=get("ACCESS_LOG", _access_log, "quiet"),
            pass_keys=pass_keys,
            pass_keys_generated=pass_keys_generated,
            pass_issuer=get("PASS_ISSUER", _claim_value, cls.pass_issuer),
            pass_audience=get("PASS_AUDIENCE", _claim_value, ""),
            root_path=get("ROOT_PATH", _root_path, ""),
            cookie_domain=get("COOKIE_DOMAIN", _checked(parse_cookie_domain), None),
            return_origins=get("RETURN_ORIGINS", _checked(parse_origins), ()),
            sale_opens_at=sale_opens_at,
            prequeue_opens_at=prequeue_opens_at,
        )
