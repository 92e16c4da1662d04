"""The return_to allow-list: what an admitted visitor may be sent to, and the one-time hand-off."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.return_to import (
    MAX_RETURN_TO,
    cookie_reaches,
    host_of,
    own_origin,
    parse_cookie_domain,
    parse_origin,
    parse_origins,
    return_to_param,
    safe_return_to,
    with_handoff,
)

SHOP = ("https://shop.example", "http://127.0.0.1:9000")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", "/"),
        ("/sale", "/sale"),
        ("/sale/item?id=3&size=m", "/sale/item?id=3&size=m"),
        ("/sale#top", "/sale#top"),
        ("/queue/checkout", "/queue/checkout"),
        ("/a%20b", "/a%20b"),
        ("/@evil.example", "/@evil.example"),  # a path segment, not userinfo
        ("/caf\u00e9", "/caf%C3%A9"),  # non-ASCII is percent-encoded, never passed raw
        ('/x"<y>', "/x%22%3Cy%3E"),
        ("/x?q={1}", "/x?q=%7B1%7D"),
        ("https://shop.example/item?id=3", "https://shop.example/item?id=3"),
        ("https://shop.example", "https://shop.example/"),
        ("HTTPS://SHOP.EXAMPLE/Item", "https://shop.example/Item"),  # scheme and host are case-insensitive
        ("https://shop.example:443/x", "https://shop.example/x"),  # the default port is the same origin
        ("http://127.0.0.1:9000/sale", "http://127.0.0.1:9000/sale"),
    ],
)
def test_allowed_targets_are_rebuilt(raw: str, expected: str) -> None:
    assert safe_return_to(raw, SHOP) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        # Another host, however written.
        "//evil.example",
        "//evil.example/path",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\\/evil.example",
        "https://evil.example",
        "https://evil.example/sale",
        "http://shop.example/",  # the right host on the wrong scheme is another origin
        "https://shop.example:8443/",  # and on another port
        "https://shop.example./",  # a trailing dot is another origin string
        "https://sub.shop.example/",
        "https://shop.example.evil.example/",
        "https://evilshop.example/",
        # Userinfo tricks: the host is what follows '@'.
        "https://shop.example@evil.example/",
        "https://shop.example:443@evil.example/",
        "https://user:pass@shop.example/",
        "https://@shop.example/",
        "https://shop.example%40evil.example/",
        "https://shop.example%2F@evil.example/",
        "https://evil.example\\@shop.example/",
        "https://evil.example#@shop.example/",  # host evil.example; the rest is a fragment
        "https://evil.example?@shop.example/",
        # Schemes that run code or carry data.
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "javascript://shop.example/%0aalert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://shop.example/",
        # Scheme without a host, or relative forms.
        "https:evil.example",
        "https:/evil.example",
        "https:///evil.example",
        "http:",
        "sale",
        "./sale",
        "../sale",
        "?x=1",
        "#top",
        "evil.example",
        # Percent-encoded and embedded controls.
        "/%2F%2Fevil.example",
        "/%2fevil.example",
        "/%5Cevil.example",
        "/%5cevil.example",
        "%2F%2Fevil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/sale\r\nSet-Cookie: x=1",
        "/sale\x00",
        "/sale\x7f",
        "/ sale",
        "/sale\u2028",
        "/sale\u00a0x",
        "https://shop.example/\tx",
        "/%zz",
        "/%",
        "/%4",
        # Malformed hosts and ports.
        "https://shop.example:99999/",
        "https://shop.example:0/",
        "https://shop.example:-1/",
        "https://shop.example:x/",
        "https://[::1/",
        "https://sh*p.example/",
        "https://sh\u00f6p.example/",
        "https://-shop.example/",
        # Far too long.
        "/" + "a" * MAX_RETURN_TO,
        "/" + "\u00e9" * (MAX_RETURN_TO // 3),  # short raw, too long once encoded
    ],
)
def test_everything_else_is_ignored(raw: str | None) -> None:
    assert safe_return_to(raw, SHOP) is None


def test_without_return_origins_only_paths_are_honoured() -> None:
    assert safe_return_to("/sale", ()) == "/sale"
    assert safe_return_to("https://shop.example/sale", ()) is None


def test_ipv6_origins() -> None:
    origins = parse_origins("http://[::1]:9000")
    assert origins == ("http://[::1]:9000",)
    assert safe_return_to("http://[::1]:9000/sale", origins) == "http://[::1]:9000/sale"
    assert safe_return_to("http://[::2]:9000/sale", origins) is None


_SAFE_OUTPUT = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/:?#[]@!$&'()*+,;=%-._~")


@given(st.text(max_size=80))
def test_any_input_leads_to_the_room_or_an_allowed_origin(raw: str) -> None:
    """Whatever comes in, what goes out is a same-origin path or an allowed origin, in plain URL characters."""
    for candidate in (raw, "/" + raw, "https://shop.example/" + raw, "//" + raw, "https://" + raw):
        target = safe_return_to(candidate, SHOP)
        if target is None:
            continue
        assert set(target) <= _SAFE_OUTPUT
        if target.startswith("/"):
            assert not target.startswith("//")
            assert urlsplit(target).netloc == ""
        else:
            parts = urlsplit(target)
            assert f"{parts.scheme}://{parts.netloc}" in SHOP
        assert safe_return_to(target, SHOP) == target  # rebuilding is idempotent


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://shop.example", "https://shop.example"),
        ("https://shop.example/", "https://shop.example"),
        ("HTTPS://Shop.Example", "https://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("http://shop.example:80", "http://shop.example"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_origins_are_normalised(raw: str, expected: str) -> None:
    assert parse_origin(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "*",
        "https://*.shop.example",
        "shop.example",
        "//shop.example",
        "https://shop.example/sale",
        "https://shop.example?x",
        "https://shop.example#x",
        "https://user@shop.example",
        "javascript:alert(1)",
        "ftp://shop.example",
        "https://",
        "https://shop.example:99999",
        "https://sh\u00f6p.example",
        "https://shop example",
    ],
)
def test_bad_origins_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        parse_origin(raw)


def test_origins_list() -> None:
    assert parse_origins(" https://a.example , https://b.example,,https://a.example/ ") == (
        "https://a.example",
        "https://b.example",
    )
    assert parse_origins("") == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("shop.example", "shop.example"), (".Shop.Example", "shop.example"), ("a.b.example", "a.b.example")],
)
def test_cookie_domain(raw: str, expected: str) -> None:
    assert parse_cookie_domain(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "localhost",
        "example",
        "127.0.0.1",
        "shop..example",
        "-shop.example",
        "shop.example/",
        "*.shop.example",
        "sh\u00f6p.example",
        "shop.example:8080",
        "https://shop.example",
        "",
    ],
)
def test_bad_cookie_domains_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="domain"):
        parse_cookie_domain(raw)


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("queue.example", "queue.example"),
        ("Queue.Example:8080", "queue.example"),
        ("[::1]:8000", "::1"),
        ("127.0.0.1:8000", "127.0.0.1"),
    ],
)
def test_host_of(header: str, host: str) -> None:
    assert host_of(header) == host


@pytest.mark.parametrize(
    ("target", "room_host", "cookie_domain", "reaches"),
    [
        ("/sale", "queue.example", None, True),
        ("https://queue.example/sale", "queue.example", None, True),
        ("http://127.0.0.1:9000/sale", "127.0.0.1", None, True),  # cookies ignore the port
        ("https://shop.example/sale", "queue.example", None, False),
        ("https://shop.example/sale", "queue.shop.example", "shop.example", True),
        ("https://www.shop.example/sale", "queue.shop.example", "shop.example", True),
        ("https://evilshop.example/sale", "queue.shop.example", "shop.example", False),
        ("https://other.example/sale", "queue.shop.example", "shop.example", False),
    ],
)
def test_cookie_reaches(target: str, room_host: str, cookie_domain: str | None, reaches: bool) -> None:
    assert cookie_reaches(target, room_host, cookie_domain) is reaches


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("https://shop.example/", "https://shop.example/?sq_pass=P.Q.R"),
        ("https://shop.example/item?id=3", "https://shop.example/item?id=3&sq_pass=P.Q.R"),
        ("https://shop.example/item?id=3#top", "https://shop.example/item?id=3&sq_pass=P.Q.R#top"),
        ("https://shop.example/item?sq_pass=forged&id=3", "https://shop.example/item?id=3&sq_pass=P.Q.R"),
        ("https://shop.example/item?sq%5Fpass=forged", "https://shop.example/item?sq_pass=P.Q.R"),
    ],
)
def test_handoff_is_appended_once(target: str, expected: str) -> None:
    handed = with_handoff(target, "P.Q.R")
    assert handed == expected
    assert parse_qs(urlsplit(handed).query)["sq_pass"] == ["P.Q.R"]


@pytest.mark.parametrize(
    ("scheme", "host", "expected"),
    [
        ("http", "room.test", "http://room.test"),
        ("https", "Queue.Example:443", "https://queue.example"),
        ("http", "127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http", "[::1]:8000", "http://[::1]:8000"),
        ("http", "", None),
        ("http", "evil.example/x", None),
        ("http", "user@evil.example", None),
        ("http", "x:{", None),
        ("ws", "room.test", None),
    ],
)
def test_own_origin(scheme: str, host: str, expected: str | None) -> None:
    assert own_origin(scheme, host) == expected


@pytest.mark.parametrize(
    ("query", "parsed", "expected"),
    [
        ("return_to=/item?id=3&size=m", "/item?id=3", "/item?id=3&size=m"),  # nginx's unencoded $request_uri
        ("return_to=/search?q=a%26b", "/search?q=a&b", "/search?q=a%26b"),  # its own escapes kept
        ("return_to=%2Fitem%3Fid%3D3%26size%3Dm", "/item?id=3&size=m", "/item?id=3&size=m"),  # encoded
        ("return_to=https%3A%2F%2Fshop.example%2Fx", "https://shop.example/x", "https://shop.example/x"),
        ("m=used&return_to=/a", "/a", "/a"),  # not first: the framework's reading
        ("", None, None),
        ("return_to=", "", ""),
    ],
)
def test_return_to_param(query: str, parsed: str | None, expected: str | None) -> None:
    assert return_to_param(query, parsed) == expected


def test_an_unencoded_url_still_meets_the_allow_list() -> None:
    raw = return_to_param("return_to=//evil.example/?a=1&b=2", "//evil.example/?a=1")
    assert safe_return_to(raw, SHOP) is None
