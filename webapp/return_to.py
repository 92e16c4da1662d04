"""Where an admitted visitor may be sent back to: the ``return_to`` allow-list, decided by pure functions.

``GET /?return_to=URL`` comes from anyone (a link in a phishing mail too), so the room must never become
an open redirect: :func:`safe_return_to` accepts a path on the room's own origin, or an absolute
``http(s)`` URL whose origin is listed in ``RETURN_ORIGINS``, and nothing else. Browsers are lenient
where this function is strict: they drop tabs and newlines inside URLs (``java\\tscript:``), read ``\\`` as
``/`` (``/\\evil`` is ``//evil``, another host), and honour userinfo (``https://shop.example@evil`` is
evil). So any control character, whitespace or backslash refuses the URL, userinfo is refused, and
the URL that comes out is rebuilt from its parsed parts, percent-encoded, so what was checked is
exactly what the browser is given.

No I/O, no framework: the settings validate ``RETURN_ORIGINS`` and ``COOKIE_DOMAIN`` with the same
functions the handlers decide with.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import quote, unquote, unquote_plus, urlsplit

MAX_RETURN_TO = 700
"""Characters of a rebuilt target: it travels in a cookie (base64, signed) that must stay under 1 KiB."""

HANDOFF_PARAM = "sq_pass"
"""The query parameter of the one-time hand-off, exchanged by the origin's gate for its own cookie."""

DEFAULT_PORTS = {"http": 80, "https": 443}
# What stays as it is when a part is re-encoded: RFC 3986's unreserved and reserved characters, and '%'
# (escapes are checked to be well-formed first). Everything else (non-ASCII, '"', '<', '{' ...) is escaped.
_KEEP = "/:?#[]@!$&'()*+,;=%-._~"
_REFUSED = re.compile(r"[\x00-\x20\x7f\\]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_IPV6 = re.compile(r"[0-9a-f:.]{2,45}")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _host_part(host: str) -> str | None:
    """``host`` as it appears in an origin (IPv6 bracketed), or None when it is not a plain host name or IP."""
    if ":" in host:
        return f"[{host}]" if _IPV6.fullmatch(host) else None
    return host if len(host) <= 253 and _HOST.fullmatch(host) else None


def _origin(scheme: str, netloc: str, hostname: str | None, port: int | None) -> str | None:
    """``scheme://host[:port]`` normalised (lower case, default port dropped), or None when malformed."""
    if scheme not in DEFAULT_PORTS or not netloc or "@" in netloc or "%" in netloc or not hostname:
        return None
    host = _host_part(hostname)
    if host is None or port == 0:
        return None
    return f"{scheme}://{host}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def _encoded(part: str) -> str:
    return quote(part, safe=_KEEP)


def _rest(path: str, query: str, fragment: str) -> str:
    """Path, query and fragment, re-encoded; an empty path becomes ``/``."""
    rest = _encoded(path or "/")
    if query:
        rest += "?" + _encoded(query)
    if fragment:
        rest += "#" + _encoded(fragment)
    return rest


def safe_return_to(raw: str | None, allowed_origins: Collection[str]) -> str | None:
    """The URL to send an admitted visitor to, rebuilt, or None when ``raw`` must be ignored.

    Accepted: a path on the room's own origin (``/sale?item=3``: one leading ``/``, not ``//`` even
    percent-encoded), or an absolute ``http``/``https`` URL whose normalised origin is in
    ``allowed_origins`` (as :func:`parse_origin` normalises them; callers add :func:`own_origin`). Refused: other schemes, relative
    paths, protocol-relative ``//host``, userinfo, controls, whitespace, backslashes, malformed
    escapes or hosts, and anything whose rebuilt form is longer than :data:`MAX_RETURN_TO`.
    """
    if not raw or len(raw) > MAX_RETURN_TO or not raw.isprintable():
        return None
    if _REFUSED.search(raw) or _BAD_ESCAPE.search(raw):
        return None
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme and not parts.netloc:
        # Checked on the raw text: urlsplit("///evil") leaves the path "/evil", but a browser goes to evil.
        if not raw.startswith("/") or raw.startswith("//") or unquote(raw).startswith(("//", "/\\")):
            return None
        target = _rest(parts.path, parts.query, parts.fragment)
    else:
        origin = _origin(parts.scheme.lower(), parts.netloc, parts.hostname, port)
        if origin is None or origin not in allowed_origins:
            return None
        target = origin + _rest(parts.path, parts.query, parts.fragment)
    return target if len(target) <= MAX_RETURN_TO else None


def return_to_param(query_string: str, parsed: str | None) -> str | None:
    """The ``return_to`` a room URL carries, also when a proxy wrote the original URL unencoded.

    nginx's ``return 302 /queue/?return_to=$request_uri`` cannot escape ``$request_uri``, so
    ``/item?id=3&size=m`` arrives as two query parameters and a standard parse keeps only
    ``/item?id=3``. When the query *starts* with ``return_to=``, its whole rest is the URL: as it is when
    it holds a literal ``?`` or ``&`` (an unencoded URL keeps its own escapes), else percent-decoded
    once (an encoded one). Otherwise ``parsed``, the framework's reading, stands. Whatever comes out
    still goes through :func:`safe_return_to`.
    """
    if not query_string.startswith("return_to="):
        return parsed
    rest = query_string[len("return_to=") :]
    return rest if ("?" in rest or "&" in rest) else unquote(rest)


def parse_origin(raw: str) -> str:
    """One ``RETURN_ORIGINS`` entry, normalised like :func:`safe_return_to` compares; ValueError says why."""
    text = raw.strip()
    if text.endswith("/"):
        text = text[:-1]
    if not text.isascii() or _REFUSED.search(text) or "*" in text:
        raise ValueError(f"expected an origin such as https://shop.example (no wildcard), got {raw.strip()!r}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"expected an origin such as https://shop.example, got {raw.strip()!r}") from None
    origin = _origin(parts.scheme.lower(), parts.netloc, parts.hostname, port)
    if origin is None or parts.path or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError(
            f"expected an origin (scheme://host[:port], http or https, no path or user) such as "
            f"https://shop.example, got {raw.strip()!r}"
        )
    return origin


def parse_origins(raw: str) -> tuple[str, ...]:
    """``RETURN_ORIGINS``: comma-separated origins, each checked; duplicates dropped, order kept."""
    origins: list[str] = []
    for entry in raw.split(","):
        if entry.strip():
            origin = parse_origin(entry)
            if origin not in origins:
                origins.append(origin)
    return tuple(origins)


def parse_cookie_domain(raw: str) -> str:
    """``COOKIE_DOMAIN``: a DNS name with at least two labels (a leading dot is dropped, as browsers do)."""
    text = raw.strip().lower().removeprefix(".")
    labels = text.split(".")
    if (
        len(text) > 253
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError(
            f"expected a parent domain name such as shop.example (not an IP address or a single label), got {raw!r}"
        )
    return text


def own_origin(scheme: str, host_header: str) -> str | None:
    """The room's own origin as this request reached it (``scheme://Host``), or None when the Host is malformed.

    Always allowed as a target: a visitor's browser sends the room's real host, and an absolute URL
    on it (what forward-auth builds from ``X-Forwarded-*``) is no more a redirect elsewhere than a path.
    """
    try:
        return parse_origin(f"{scheme}://{host_header}") if host_header and "/" not in host_header else None
    except ValueError:
        return None


def host_of(host_header: str) -> str:
    """The host name of a ``Host`` header value (port and IPv6 brackets removed), lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    name, _, _port = host.partition(":")
    return name


def cookie_reaches(target: str, room_host: str, cookie_domain: str | None) -> bool:
    """Whether the room's pass cookie is sent to ``target`` (cookies ignore scheme and port).

    A path stays on the room's host. Otherwise a ``COOKIE_DOMAIN`` cookie reaches that domain and its
    subdomains, and a host-only cookie exactly the room's host.
    """
    if target.startswith("/"):
        return True
    host = (urlsplit(target).hostname or "").lower()
    if cookie_domain is not None:
        return host == cookie_domain or host.endswith("." + cookie_domain)
    return bool(host) and host == room_host


def with_handoff(target: str, pass_token: str) -> str:
    """``target`` with ``sq_pass=<pass>`` appended to its query (any ``sq_pass`` already there removed)."""
    head, hash_mark, fragment = target.partition("#")
    base, _, query = head.partition("?")
    kept = [p for p in query.split("&") if p and unquote_plus(p.partition("=")[0]) != HANDOFF_PARAM]
    kept.append(f"{HANDOFF_PARAM}={quote(pass_token, safe='')}")
    return f"{base}?{'&'.join(kept)}{hash_mark}{fragment}"
