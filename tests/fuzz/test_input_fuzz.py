"""Every input of every route, filled with non-ASCII and control characters: never a 5xx (issue 15, item 2).

In-process (Litestar's test client), so inputs reach the app that a real server's parser would refuse
earlier; the app must still answer them with a 4xx or its friendly page. Header values stay within what
HTTP allows on the wire (visible ASCII, tab, obs-text), since no server hands anything else to the app.
"""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.web import Client, ClientFactory, csrf_of

HTML = {"Accept": "text/html"}
GET_ROUTES = ["/", "/room/status", "/checkout", "/status", "/livez", "/readyz", "/schema", "/static", "/vendor"]
POST_ROUTES = ["/join", "/room/join", "/room/rejoin", "/checkout/buy"]

ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
NASTY = st.sampled_from(["\x00", "\r\n", "\x7f", "²", "٣", "Ⅻ", "\ud7ff", "\u202e", "../", "%", "%00", "\t", " " * 3])
FIELD = st.one_of(ANY_TEXT, NASTY, st.lists(NASTY, max_size=5).map("".join), st.text(max_size=300))
PATH_BYTES = st.binary(max_size=40) | st.sampled_from([b"\x00", b"x" * 300, b"css/room.css/x", b"a/../../etc/passwd"])
HEADER_VALUE = st.binary(max_size=60).map(
    lambda b: bytes(c for c in b if c == 9 or 32 <= c <= 126 or c >= 128).strip(b" \t")
)
HEADER_NAMES = ["authorization", "cookie", "origin", "sec-fetch-site", "hx-request", "accept", "x-csrftoken", "host"]
SLOW = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


_opened: dict[tuple[int, bool], tuple[ClientFactory, Client, str]] = {}


def _client_of(make_client: ClientFactory, with_pass: bool = False) -> tuple[Client, str]:
    """One app per test (not per example: starting an app is the slow part), and a visitor's CSRF token.

    With ``with_pass`` the visitor has been admitted, so posts get past the pass check.
    """
    key = (id(make_client), with_pass)  # the factory is kept alive below, so its id is not reused
    if key not in _opened:
        _opened.clear()
        client = make_client(WINDOW_SIZE="1000")
        if with_pass:
            client.cookies.set("sq_ticket", client.post("/join").json()["token"])
        page = client.get("/checkout" if with_pass else "/", headers=HTML)
        assert page.status_code == 200
        _opened[key] = make_client, client, csrf_of(page.text)
    _, client, token = _opened[key]
    return client, token


def _no_5xx(client: Client, method: str, url: str, **kwargs: object) -> None:
    response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
    assert response.status_code < 500, (method, url, kwargs, response.status_code, response.text[:300])


@SLOW
@given(route=st.sampled_from(GET_ROUTES + POST_ROUTES), tail=PATH_BYTES, field=FIELD)
def test_paths_and_query_strings(make_client: ClientFactory, route: str, tail: bytes, field: str) -> None:
    client, _ = _client_of(make_client)
    url = f"{route}/{quote(tail, safe='/')}?m={quote(field.encode('utf-8', 'surrogatepass'))}"
    method = "POST" if route in POST_ROUTES else "GET"
    _no_5xx(client, method, url, headers=HTML)
    _no_5xx(client, method, route + "?" + quote(field.encode("utf-8", "surrogatepass")) + "=1")


@SLOW
@given(
    route=st.sampled_from(GET_ROUTES + POST_ROUTES),
    name=st.sampled_from(HEADER_NAMES),
    value=HEADER_VALUE,
    cookie=HEADER_VALUE,
)
def test_headers_and_cookies(make_client: ClientFactory, route: str, name: str, value: bytes, cookie: bytes) -> None:
    client, _ = _client_of(make_client)
    headers = [(name.encode(), value), (b"cookie", b"sq_ticket=" + cookie + b"; sq_pass=" + cookie)]
    method = "POST" if route in POST_ROUTES else "GET"
    client.cookies.clear()  # the cookie header is the fuzzed one
    _no_5xx(client, method, route, headers=headers)


@SLOW
@given(headers=st.dictionaries(st.sampled_from([*HEADER_NAMES[2:], "content-type", "referer"]), HEADER_VALUE))
def test_headers_of_a_visitor_past_the_csrf_check(make_client: ClientFactory, headers: dict[str, bytes]) -> None:
    """The guards behind the CSRF check (Origin, Fetch metadata) read headers too."""
    client, token = _client_of(make_client, with_pass=True)
    sent = [(name.encode(), value) for name, value in headers.items()]
    for route in POST_ROUTES:
        _no_5xx(client, "POST", route, data={"_csrf_token": token, "quantity": "1"}, headers=sent)


@SLOW
@given(fields=st.dictionaries(st.sampled_from(["quantity", "_csrf_token", "x", "²"]), FIELD, max_size=3))
def test_form_fields_of_a_visitor_holding_a_pass(make_client: ClientFactory, fields: dict[str, str]) -> None:
    """Past the CSRF check and the pass check: the form's own fields must be parsed safely."""
    client, token = _client_of(make_client, with_pass=True)
    for route in POST_ROUTES:
        _no_5xx(client, "POST", route, data={**fields, "_csrf_token": token}, headers=HTML)
        _no_5xx(client, "POST", route, data=fields, headers=HTML)


def test_the_issues_inputs(make_client: ClientFactory) -> None:
    """The cases the issue names, each a 404 or a 400 page."""
    client = make_client(WINDOW_SIZE="5")
    for path in ("/static/x%00", "/vendor/x%00", "/static/" + "a" * 300, "/static/css/room.css/x", "/vendor/%ff"):
        assert client.get(path).status_code == 404, path
    client.cookies.set("sq_ticket", client.post("/join").json()["token"])
    token = csrf_of(client.get("/checkout", headers=HTML).text)
    for origin in ("http://[x", "http://[::1", "http://a:b:c"):
        response = client.post("/room/join", data={"_csrf_token": token}, headers={**HTML, "Origin": origin})
        assert response.status_code == 403, origin
    for quantity in ("²", "٣", "1" * 5000, " 2 ", "-1", "0x2"):
        response = client.post("/checkout/buy", data={"quantity": quantity, "_csrf_token": token}, headers=HTML)
        assert response.status_code == (200 if quantity == " 2 " else 400), quantity
