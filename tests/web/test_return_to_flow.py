"""return_to end to end: remembered through the join POST and the polls, honoured on admission,
with the one-time ``sq_pass`` hand-off only where the pass cookie cannot reach; never an open redirect."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.support.waiting import wait_until_sync
from tests.support.web import Client, ClientFactory, csrf_of

PREFIX = "/queue"
HTMX = {"HX-Request": "true"}
HTML = {"Accept": "text/html"}
ADMIN = "admin-token-" + "a" * 40
BEARER = {"Authorization": f"Bearer {ADMIN}"}
SHOP = "https://shop.example"


def room(make_client: ClientFactory, **env: str) -> Client:
    settings = {"ROOT_PATH": PREFIX, "ADMIN_TOKEN": ADMIN, "SNAPSHOT_REFRESH": "0.01", "RETURN_ORIGINS": SHOP}
    return make_client(**{**settings, **env})


def cookies_set(response: Any, name: str) -> list[str]:
    return [str(c).lower() for c in response.headers.get_list("set-cookie") if c.startswith(name + "=")]


def open_room(client: Client, return_to: str | None) -> Any:
    query = f"?return_to={quote(return_to, safe='')}" if return_to is not None else ""
    return client.get(f"{PREFIX}/{query}", headers=HTML, follow_redirects=False)


def join_htmx(client: Client, page: Any) -> Any:
    return client.post(PREFIX + "/room/join", data={"_csrf_token": csrf_of(page.text)}, headers=HTMX)


def wait_in_line(client: Client, return_to: str) -> None:
    """Somebody else holds position 1; this visitor joins behind them with ``return_to``."""
    client.post(PREFIX + "/join")
    page = open_room(client, return_to)
    assert page.status_code == 200
    fragment = join_htmx(client, page)
    assert "hx-redirect" not in fragment.headers
    assert 'data-testid="queue-position">2<' in fragment.text


def slide(client: Client) -> None:
    assert client.post(PREFIX + "/admin/api/slide", headers=BEARER).json()["outcome"] == "slid"


def poll_until_admitted(client: Client) -> Any:
    seen: list[Any] = []

    def admitted() -> bool:
        seen.append(client.get(PREFIX + "/room/status", headers=HTMX))
        return "hx-redirect" in seen[-1].headers

    wait_until_sync(admitted, 5, what="an HX-Redirect from the poll")
    return seen[-1]


def handoff_of(location: str) -> str | None:
    values = parse_qs(urlsplit(location).query).get("sq_pass")
    return values[0] if values else None


def test_a_path_is_remembered_and_honoured_on_admission(make_client: ClientFactory) -> None:
    client = room(make_client)
    page = open_room(client, "/sale/item?id=3")
    assert page.status_code == 200
    (remembered,) = cookies_set(page, "sq_return")
    assert "path=/queue/;" in remembered + ";"
    assert "httponly" in remembered
    assert "samesite=lax" in remembered
    admitted = join_htmx(client, page)  # first in line: active at once
    assert admitted.headers["hx-redirect"] == "/sale/item?id=3"  # same site: no hand-off in the URL
    (pass_cookie,) = cookies_set(admitted, "sq_pass")
    assert "path=/;" in pass_cookie + ";"
    assert any("max-age=0" in c for c in cookies_set(admitted, "sq_return"))  # spent
    assert client.get(PREFIX + "/", follow_redirects=False).headers["location"] == PREFIX + "/checkout"


def test_at_the_root_too(make_client: ClientFactory) -> None:
    client = make_client()
    page = client.get("/?return_to=/checkout%3Ffrom%3Dmail", headers=HTML)
    admitted = client.post("/room/join", data={"_csrf_token": csrf_of(page.text)}, headers=HTMX)
    assert admitted.headers["hx-redirect"] == "/checkout?from=mail"
    assert "path=/;" in cookies_set(page, "sq_return")[0] + ";"


def test_the_target_survives_the_wait_and_another_site_gets_the_handoff(make_client: ClientFactory) -> None:
    client = room(make_client)
    wait_in_line(client, SHOP + "/item?id=3")
    slide(client)
    admitted = poll_until_admitted(client)
    location = admitted.headers["hx-redirect"]
    assert location.startswith(SHOP + "/item?id=3&sq_pass=")
    (pass_cookie,) = cookies_set(admitted, "sq_pass")
    assert pass_cookie.startswith("sq_pass=" + str(handoff_of(location)).lower() + ";")
    assert client.get(PREFIX + "/checkout").status_code == 200  # the same pass opens the room's checkout


def test_a_visitor_without_javascript_is_sent_by_303(make_client: ClientFactory) -> None:
    client = room(make_client)
    client.post(PREFIX + "/join")
    page = open_room(client, SHOP + "/item")
    joined = client.post(PREFIX + "/room/join", data={"_csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert joined.headers["location"] == PREFIX + "/"
    assert open_room(client, None).status_code == 200  # still waiting
    slide(client)

    def redirected() -> bool:
        return bool(open_room(client, None).status_code == 303)

    wait_until_sync(redirected, 5, what="admission")
    assert client.cookies.get("sq_pass") is not None
    again = client.get(PREFIX + "/checkout")
    assert again.status_code == 200


def test_first_in_line_without_javascript(make_client: ClientFactory) -> None:
    client = room(make_client)
    page = open_room(client, SHOP + "/item")
    client.post(PREFIX + "/room/join", data={"_csrf_token": csrf_of(page.text)}, follow_redirects=False)
    response = open_room(client, None)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(SHOP + "/item?sq_pass=")
    assert handoff_of(location) == client.cookies.get("sq_pass")


def test_no_handoff_where_the_cookie_domain_reaches(make_client: ClientFactory) -> None:
    client = room(make_client, RETURN_ORIGINS="https://shop.room.test", COOKIE_DOMAIN="room.test")
    page = open_room(client, "https://shop.room.test/item")
    admitted = join_htmx(client, page)
    assert admitted.headers["hx-redirect"] == "https://shop.room.test/item"
    assert "domain=room.test" in cookies_set(admitted, "sq_pass")[0]


def test_no_handoff_to_the_rooms_own_host_on_another_port(make_client: ClientFactory) -> None:
    client = room(make_client, RETURN_ORIGINS="http://room.test:9000")
    admitted = join_htmx(client, open_room(client, "http://room.test:9000/sale"))
    assert admitted.headers["hx-redirect"] == "http://room.test:9000/sale"


@pytest.mark.parametrize(
    "evil",
    [
        "//evil.example/",
        "/\\evil.example",
        "https://evil.example/",
        "https://shop.example@evil.example/",
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "/%2F%2Fevil.example",
        "java\tscript:alert(1)",
        "/\n/evil.example",
        "http://shop.example/",
    ],
)
def test_anything_else_is_ignored(make_client: ClientFactory, evil: str) -> None:
    client = room(make_client)
    page = open_room(client, evil)
    assert page.status_code == 200
    assert cookies_set(page, "sq_return") == []
    admitted = join_htmx(client, page)
    assert admitted.headers["hx-redirect"] == PREFIX + "/checkout"
    assert client.get(PREFIX + "/", follow_redirects=False).headers["location"] == PREFIX + "/checkout"


def test_an_admitted_visitor_is_handed_to_another_allowed_page(make_client: ClientFactory) -> None:
    client = room(make_client)
    join_htmx(client, open_room(client, None))
    assert client.get(PREFIX + "/checkout").status_code == 200
    held = client.cookies.get("sq_pass")
    response = open_room(client, SHOP + "/other")
    assert response.status_code == 303
    assert response.headers["location"] == f"{SHOP}/other?sq_pass={held}"
    assert cookies_set(response, "sq_pass") == []  # the same pass: nothing minted, nothing claimed


def test_head_admits_nobody(make_client: ClientFactory) -> None:
    client = room(make_client)
    page = open_room(client, "/sale")
    client.post(PREFIX + "/room/join", data={"_csrf_token": csrf_of(page.text)}, follow_redirects=False)
    head = client.head(f"{PREFIX}/?return_to=/sale", follow_redirects=False)
    assert head.status_code == 303
    assert head.headers["location"] == PREFIX + "/checkout"
    assert cookies_set(head, "sq_pass") == []
    assert open_room(client, None).headers["location"] == "/sale"  # the ticket was still unused


def test_a_forged_return_cookie_is_ignored(make_client: ClientFactory) -> None:
    client = room(make_client)
    forged = base64.urlsafe_b64encode(b"https://shop.example/forged").decode().rstrip("=") + ".AAAA"
    client.cookies.set("sq_return", forged, domain="room.test", path=PREFIX + "/")
    admitted = join_htmx(client, open_room(client, None))
    assert admitted.headers["hx-redirect"] == PREFIX + "/checkout"


def test_a_remembered_origin_no_longer_listed_is_ignored(make_client: ClientFactory) -> None:
    before = room(make_client)
    page = open_room(before, SHOP + "/item")
    remembered = before.cookies.get("sq_return")
    assert remembered is not None
    after = make_client(ROOT_PATH=PREFIX)  # the same secret, RETURN_ORIGINS emptied
    after.cookies.set("sq_return", remembered, domain="room.test", path=PREFIX + "/")
    assert page.status_code == 200
    admitted = join_htmx(after, open_room(after, None))
    assert admitted.headers["hx-redirect"] == PREFIX + "/checkout"


def test_the_rooms_own_origin_is_allowed_without_configuration(make_client: ClientFactory) -> None:
    """What forward-auth builds from X-Forwarded-* on one host: an absolute URL on the room's own origin."""
    client = make_client(ROOT_PATH=PREFIX)
    admitted = join_htmx(client, open_room(client, "http://room.test/item?id=3"))
    assert admitted.headers["hx-redirect"] == "http://room.test/item?id=3"  # same host: no hand-off
    other = make_client(ROOT_PATH=PREFIX)
    page = other.get(f"{PREFIX}/?return_to={quote('https://room.test/item', safe='')}", headers=HTML)
    assert cookies_set(page, "sq_return") == []  # https is another origin than this http room


def test_a_doubled_or_odd_return_to_is_never_a_server_error(make_client: ClientFactory) -> None:
    client = room(make_client)
    for query in ("return_to=/a&return_to=/b", "return_to=", "return_to=%00", "return_to=%ff%fe", "return_to"):
        response = client.get(f"{PREFIX}/?{query}", headers=HTML, follow_redirects=False)
        assert response.status_code < 500, query
        assert "evil" not in response.headers.get("location", "")


def test_an_unencoded_return_to_keeps_its_whole_query(make_client: ClientFactory) -> None:
    """What nginx's ``return 302 /queue/?return_to=$request_uri`` sends: the original URL, unescaped."""
    client = room(make_client)
    page = client.get(PREFIX + "/?return_to=/item?id=3&size=m", headers=HTML)
    admitted = join_htmx(client, page)
    assert admitted.headers["hx-redirect"] == "/item?id=3&size=m"
