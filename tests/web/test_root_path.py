"""The room under ``ROOT_PATH=/queue``: every page, fragment, redirect and asset carries the prefix.

The test client keeps cookies by their ``Path`` like a browser, so a cookie scoped wrongly shows up
as a visitor who loses their place.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.types import Receive, Scope, Send

from tests.support.waiting import wait_until_sync
from tests.support.web import Client, ClientFactory, csrf_of
from webapp.web.paths import PrefixMount, route_path

PREFIX = "/queue"
HTMX = {"HX-Request": "true"}
HTML = {"Accept": "text/html"}
ADMIN = "admin-token-" + "a" * 40
BEARER = {"Authorization": f"Bearer {ADMIN}"}
_URL_ATTRIBUTES = re.compile(r'\s(?:href|src|action|hx-get|hx-post)="([^"]*)"')


def room(make_client: ClientFactory, **env: str) -> Client:
    return make_client(ROOT_PATH=PREFIX, ADMIN_TOKEN=ADMIN, SNAPSHOT_REFRESH="0.01", **env)


def urls_in(html: str) -> list[str]:
    return [u for u in _URL_ATTRIBUTES.findall(html) if not u.startswith("#")]


def assert_all_prefixed(html: str) -> list[str]:
    urls = urls_in(html)
    assert urls, "the page links nothing"
    for url in urls:
        assert url.startswith(PREFIX + "/"), f"{url!r} does not carry the prefix"
    return urls


def set_cookie(response: Any, name: str) -> str:
    found = [c for c in response.headers.get_list("set-cookie") if c.startswith(name + "=")]
    assert found, f"no {name} cookie set"
    return str(found[-1]).lower()


def join(client: Client, headers: dict[str, str] | None = None) -> Any:
    token = csrf_of(client.get(PREFIX + "/", headers=HTML).text)
    return client.post(PREFIX + "/room/join", data={"_csrf_token": token}, headers=headers, follow_redirects=False)


def test_the_room_page_links_only_under_the_prefix(make_client: ClientFactory) -> None:
    client = room(make_client)
    page = client.get(PREFIX + "/", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="queue-status"' in page.text
    urls = assert_all_prefixed(page.text)
    assert f"{PREFIX}/room/join" in urls
    assert f'href="{PREFIX}/"' in page.text  # the masthead's link home
    for asset in (u for u in urls if u.startswith((PREFIX + "/static/", PREFIX + "/vendor/"))):
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        assert fetched.headers["cache-control"].startswith("public")
    assert {f"{PREFIX}/static/css/room.css", f"{PREFIX}/static/js/room.js", f"{PREFIX}/vendor/htmx.min.js"} <= set(urls)


def test_outside_the_prefix_only_the_probes_answer(make_client: ClientFactory) -> None:
    client = room(make_client)
    for path in ("/livez", "/readyz", "/servez"):
        assert client.get(path).status_code == 200, path
        assert client.get(PREFIX + path).status_code == 200, path
    for path in ("/", "/checkout", "/join", "/static/css/room.css", "/queuex/", "/admin"):
        response = client.get(path, headers=HTML, follow_redirects=False)
        assert response.status_code == 404, path
        assert "/queue/" in response.text
    assert client.post("/join").status_code == 404
    assert client.head("/checkout").status_code == 404


def test_the_bare_prefix_is_sent_to_the_room_with_its_query(make_client: ClientFactory) -> None:
    client = room(make_client)
    response = client.get(PREFIX + "?return_to=/sale", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == PREFIX + "/?return_to=/sale"


def test_joining_scopes_the_room_cookies_to_the_prefix(make_client: ClientFactory) -> None:
    client = room(make_client)
    client.post(PREFIX + "/join")  # position 1 is someone else's: this visitor waits
    page = client.get(PREFIX + "/", headers=HTML)
    assert "path=/queue/" in set_cookie(page, "sq_csrf")
    response = join(client)
    assert response.status_code == 303
    assert response.headers["location"] == PREFIX + "/"
    cookie = set_cookie(response, "sq_ticket")
    assert "path=/queue/;" in cookie + ";"
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    waiting = client.get(PREFIX + "/", headers=HTML)
    assert 'data-testid="queue-position">2<' in waiting.text
    assert_all_prefixed(waiting.text)


def test_the_poll_fragment_and_admission_carry_the_prefix(make_client: ClientFactory) -> None:
    client = room(make_client)
    client.post(PREFIX + "/join")
    join(client)
    fragment = client.get(PREFIX + "/room/status", headers=HTMX)
    assert fragment.status_code == 200
    assert f'hx-get="{PREFIX}/room/status"' in fragment.text
    assert client.get(PREFIX + "/room/status", follow_redirects=False).headers["location"] == PREFIX + "/"
    assert client.post(PREFIX + "/admin/api/slide", headers=BEARER).status_code == 200

    def admitted() -> bool:
        return bool(
            client.get(PREFIX + "/room/status", headers=HTMX).headers.get("hx-redirect") == PREFIX + "/checkout"
        )

    wait_until_sync(admitted, 5, what="HX-Redirect to the prefixed checkout")
    assert client.get(PREFIX + "/", follow_redirects=False).headers["location"] == PREFIX + "/checkout"


def test_checkout_sets_the_pass_for_the_whole_site(make_client: ClientFactory) -> None:
    client = room(make_client)
    join(client)  # first in line: active at once
    assert client.get(PREFIX + "/", follow_redirects=False).headers["location"] == PREFIX + "/checkout"
    checkout = client.get(PREFIX + "/checkout")
    assert checkout.status_code == 200
    assert 'data-testid="checkout"' in checkout.text
    cookie = set_cookie(checkout, "sq_pass")
    assert "path=/;" in cookie + ";"
    assert "domain" not in cookie
    urls = assert_all_prefixed(checkout.text)
    assert f"{PREFIX}/checkout/buy" in urls
    token = csrf_of(checkout.text)
    bought = client.post(PREFIX + "/checkout/buy", data={"_csrf_token": token, "quantity": "2"})
    assert 'data-testid="order-confirmation"' in bought.text
    assert client.get(PREFIX + "/", follow_redirects=False).headers["location"] == PREFIX + "/checkout"


def test_cookie_domain_scopes_the_pass(make_client: ClientFactory) -> None:
    client = room(make_client, COOKIE_DOMAIN="room.test")
    join(client)
    cookie = set_cookie(client.get(PREFIX + "/checkout"), "sq_pass")
    assert "domain=room.test" in cookie
    assert "path=/;" in cookie + ";"
    assert "domain" not in set_cookie(join(client), "sq_ticket")  # the room's own cookies stay host-only


def test_checkout_redirects_carry_the_prefix(make_client: ClientFactory) -> None:
    client = room(make_client)
    assert client.get(PREFIX + "/checkout", follow_redirects=False).headers["location"] == PREFIX + "/"
    buy = client.post(PREFIX + "/checkout/buy", data={"_csrf_token": csrf_of(client.get(PREFIX + "/").text)})
    assert buy.url.path == PREFIX + "/"


def test_error_pages_link_home_under_the_prefix(make_client: ClientFactory) -> None:
    client = room(make_client)
    missing = client.get(PREFIX + "/no-such-page", headers=HTML)
    assert missing.status_code == 404
    assert 'data-testid="error-page"' in missing.text
    assert_all_prefixed(missing.text)
    api = client.get(PREFIX + "/status", headers={"Accept": "text/html, application/json"})
    assert api.status_code == 401
    assert api.headers["content-type"].startswith("application/json")  # the API answers JSON under the prefix


def test_the_api_works_under_the_prefix(make_client: ClientFactory) -> None:
    client = room(make_client)
    joined = client.post(PREFIX + "/join")  # no CSRF token needed, as at the root
    assert joined.status_code == 201
    assert "set-cookie" not in joined.headers
    assert joined.headers["vary"] == "Authorization"
    status = client.get(PREFIX + "/status", headers={"Authorization": f"Bearer {joined.json()['token']}"})
    assert status.status_code == 200
    assert status.json()["position"] == 1
    assert client.get(PREFIX + "/", headers=HTML).headers["vary"] == "Cookie"
    assert client.head(PREFIX + "/").status_code == 200


def test_the_openapi_schema_carries_the_prefix(make_client: ClientFactory) -> None:
    client = room(make_client)
    schema = client.get(PREFIX + "/schema/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["servers"] == [{"url": PREFIX}]
    assert "/join" in schema.json()["paths"]  # paths are relative to the server URL, as OpenAPI says
    page = client.get(PREFIX + "/schema")
    assert page.status_code == 200
    assert f"href='{PREFIX}/schema/openapi.json'" in page.text
    assert f"<code>{PREFIX}/join</code>" in page.text
    assert client.get("/schema/openapi.json").status_code == 404


def test_the_console_works_under_the_prefix(make_client: ClientFactory) -> None:
    client = room(make_client)
    login = client.get(PREFIX + "/admin", headers=HTML)
    assert login.status_code == 200
    assert_all_prefixed(login.text)
    response = client.post(
        PREFIX + "/admin/login", data={"_csrf_token": csrf_of(login.text), "token": ADMIN}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == PREFIX + "/admin"
    assert "path=/queue/admin" in set_cookie(response, "sq_admin")
    console = client.get(PREFIX + "/admin", headers=HTML)
    assert 'data-testid="admin-panel"' in console.text
    urls = assert_all_prefixed(console.text)
    assert f"{PREFIX}/admin/panel" in urls
    panel = client.get(PREFIX + "/admin/panel", headers=HTMX)
    assert panel.status_code == 200
    assert f"{PREFIX}/admin/pause" in assert_all_prefixed(panel.text)
    paused = client.post(PREFIX + "/admin/pause", data={"_csrf_token": csrf_of(console.text)}, follow_redirects=False)
    assert paused.headers["location"] == PREFIX + "/admin"
    assert client.get(PREFIX + "/admin/events.csv").status_code == 200


def test_without_root_path_nothing_moves(make_client: ClientFactory) -> None:
    client = make_client()
    page = client.get("/", headers=HTML)
    assert f'href="{PREFIX}' not in page.text
    assert all(u.startswith("/") and not u.startswith(PREFIX + "/") for u in urls_in(page.text))
    assert "path=/;" in set_cookie(page, "sq_csrf") + ";"
    assert client.get("/schema/openapi.json").json()["servers"] == [{"url": "/"}]


async def test_every_request_sees_the_prefix_in_root_path() -> None:
    seen: list[tuple[str, str]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope["path"], scope.get("root_path", "")))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    mount = PrefixMount(app, PREFIX)
    for path in ("/queue/", "/queue/join", "/queue/auth", "/livez", "/readyz", "/servez"):
        scope: Any = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b""}
        await mount(scope, receive, send)
    assert [root for _, root in seen] == [PREFIX] * 6
    assert [p for p, _ in seen][-3:] == ["/queue/livez", "/queue/readyz", "/queue/servez"]
    assert route_path({"path": "/queue/join", "root_path": PREFIX}) == "/join"
    assert route_path({"path": "/queue", "root_path": PREFIX}) == "/"
    assert route_path({"path": "/join", "root_path": ""}) == "/join"


@pytest.mark.parametrize("path", ["/", "/room/status", "/checkout", "/admin", "/schema"])
def test_every_room_path_answers_head_under_the_prefix(make_client: ClientFactory, path: str) -> None:
    client = room(make_client)
    assert client.head(PREFIX + path, follow_redirects=False).status_code in (200, 303)
