"""``REDIS_URL``: the forms the service accepts, parsed whole at start-up so a mistake is one line.

One list of accepted schemes (:data:`ACCEPTED_SCHEMES`) serves both the settings check and
``connect()``. Every error names the variable and shows the URL with its secrets (the password of
the userinfo, ``sentinel_password`` and any ``password`` option) replaced by ``***``; nothing a parser
raised is shown unredacted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from redis.connection import parse_url as redis_py_parse_url

ACCEPTED_SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "redis+sentinel",
    "rediss+sentinel",
    "redis+cluster",
    "rediss+cluster",
)
_SECRET_OPTIONS = ("password", "sentinel_password")

DEFAULT_SENTINEL_PORT = 26379
DEFAULT_REDIS_PORT = 6379
_SENTINEL_OPTIONS = frozenset({"sentinel_username", "sentinel_password"})

Address: TypeAlias = tuple[str, int]


@dataclass(frozen=True)
class SentinelTarget:
    """Where the sentinels are and which master service they watch."""

    sentinels: tuple[Address, ...]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False


@dataclass(frozen=True)
class ClusterTarget:
    """The nodes a cluster client learns the slot map from."""

    nodes: tuple[Address, ...]
    username: str | None = None
    password: str | None = None
    ssl: bool = False


class RedisUrlError(ValueError):
    """``REDIS_URL`` cannot be used; the message names the variable and holds no secret."""

    def __init__(self, url: str, why: str) -> None:
        self.why = f"{redact_secrets(url, why)} (got {redacted(url)!r})"
        super().__init__(f"REDIS_URL: {self.why}")


def _invalid(url: str, why: str) -> RedisUrlError:
    return RedisUrlError(url, why)


def _secrets_of(url: str) -> list[str]:
    """The secret values written in ``url``, raw and percent-decoded, longest first."""
    found: list[str] = []
    rest = url.partition("://")[2]
    userinfo, at, _ = rest.partition("/")[0].rpartition("@")
    if at and ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    query = url.partition("?")[2].partition("#")[0]
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        if eq and name in _SECRET_OPTIONS:
            found.append(value)
    values = {v for raw in found for v in (raw, unquote(raw)) if v}
    return sorted(values, key=len, reverse=True)


def redact_secrets(url: str, text: str) -> str:
    """``text`` with every secret of ``url`` replaced by ``***``."""
    for secret in _secrets_of(url):
        text = text.replace(secret, "***")
    return text


def redacted(url: str) -> str:
    """The URL with any password replaced, so it can go into an error message or a log."""
    return redact_secrets(url, url)


def _address(url: str, item: str, default_port: int) -> Address:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    if item.startswith("["):
        host, bracket, rest = item[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _invalid(url, f"bad IPv6 address {item!r}")
        port_text = rest[1:] if rest else ""
    else:
        host, _, port_text = item.partition(":")
    if not host:
        raise _invalid(url, f"missing host in {item!r}")
    if not port_text:
        return host, default_port
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise _invalid(url, f"bad port in {item!r}")
    return host, int(port_text)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    """``user:password``, ``:password`` or ``user``, percent-decoded; empty parts are None."""
    if not userinfo:
        return None, None
    user, colon, password = userinfo.partition(":")
    return unquote(user) or None, (unquote(password) or None) if colon else None


def _split(
    url: str, schemes: tuple[str, str], default_port: int
) -> tuple[SplitResult, tuple[Address, ...], str | None, str | None]:
    """Scheme check, then the credentials and the host list that ``urlsplit`` cannot read (several hosts)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket
        raise _invalid(url, str(exc)) from None
    if parts.scheme not in schemes:
        raise _invalid(url, f"expected a {' or '.join(schemes)} URL")
    if parts.fragment:
        raise _invalid(url, "a fragment has no meaning here")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    items = [item.strip() for item in hosts.split(",")]
    if not hosts or any(not item for item in items):
        raise _invalid(url, "expected a comma-separated list of host:port")
    addresses = tuple(_address(url, item, default_port) for item in items)
    username, password = _credentials(userinfo)
    return parts, addresses, username, password


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Read ``redis+sentinel://[user:password@]host:port,.../<service>[/<db>][?sentinel_password=...]``."""
    parts, sentinels, username, password = _split(url, ("redis+sentinel", "rediss+sentinel"), DEFAULT_SENTINEL_PORT)
    segments = [unquote(s) for s in parts.path.strip("/").split("/")] if parts.path.strip("/") else []
    if not segments or len(segments) > 2:
        raise _invalid(url, "expected the master's service name as the path: /<service>[/<db>]")
    service_name = segments[0]
    db = 0
    if len(segments) == 2:
        if not (segments[1].isascii() and segments[1].isdigit()):
            raise _invalid(url, f"the database must be a number, got {segments[1]!r}")
        db = int(segments[1])
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)):
        if name not in _SENTINEL_OPTIONS:
            raise _invalid(url, f"unknown option {name!r}; known: {', '.join(sorted(_SENTINEL_OPTIONS))}")
        options[name] = value
    return SentinelTarget(
        sentinels=sentinels,
        service_name=service_name,
        db=db,
        username=username,
        password=password,
        sentinel_username=options.get("sentinel_username") or None,
        sentinel_password=options.get("sentinel_password") or None,
        ssl=parts.scheme.startswith("rediss"),
    )


def parse_cluster_url(url: str) -> ClusterTarget:
    """Read ``redis+cluster://[user:password@]host:port,host:port``: any node will do, the rest is discovered."""
    parts, nodes, username, password = _split(url, ("redis+cluster", "rediss+cluster"), DEFAULT_REDIS_PORT)
    if parts.path.strip("/") not in ("", "0"):
        raise _invalid(url, "Redis Cluster has only database 0")
    if parts.query:
        raise _invalid(url, "a cluster URL takes no options")
    return ClusterTarget(nodes=nodes, username=username, password=password, ssl=parts.scheme.startswith("rediss"))


def url_kind(url: str) -> Literal["server", "sentinel", "cluster"]:
    """Which deployment a URL of an accepted scheme names."""
    scheme = url.partition("://")[0].lower()
    if scheme.endswith("+sentinel"):
        return "sentinel"
    if scheme.endswith("+cluster"):
        return "cluster"
    return "server"


def _check_server_url(url: str) -> None:
    """``redis://``, ``rediss://`` or ``unix://``: our own checks for a clear message, then redis-py's."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _invalid(url, str(exc)) from None
    if parts.fragment:
        raise _invalid(url, "a fragment has no meaning here")
    if parts.scheme == "unix":
        if not parts.path:
            raise _invalid(url, "expected unix:///path/to/redis.sock")
    else:
        hosts = parts.netloc.rpartition("@")[2]
        if not hosts or "," in hosts:
            raise _invalid(url, "expected one host[:port] (several hosts need redis+sentinel:// or redis+cluster://)")
        _address(url, hosts, DEFAULT_REDIS_PORT)
        db = parts.path.strip("/")
        if db and not (db.isascii() and db.isdigit()):
            raise _invalid(url, f"the database must be a number, got {db!r}")
    try:
        redis_py_parse_url(url)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError) as exc:
        raise _invalid(url, f"redis-py refuses it: {exc}") from None


def check_redis_url(url: str) -> str:
    """``url`` if the service can connect with it; :class:`RedisUrlError` naming the problem otherwise."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in ACCEPTED_SCHEMES:
        raise _invalid(url, f"scheme must be one of {', '.join(ACCEPTED_SCHEMES)}")
    if not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        raise _invalid(url, "must be ASCII without spaces or control characters (percent-encode them)")
    kind = url_kind(url)
    if kind == "sentinel":
        parse_sentinel_url(url)
    elif kind == "cluster":
        parse_cluster_url(url)
    else:
        _check_server_url(url)
    return url
