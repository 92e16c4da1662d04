"""No page leaves a visitor with nothing to do (issue 15, items 3 and 4)."""

from __future__ import annotations

import re

from httpx import Response

from tests.support.web import ClientFactory, csrf_of

HTML = {"Accept": "text/html"}
HTMX = {"HX-Request": "true"}


def ticket_set_by(response: Response) -> str | None:
    """The ticket a response's Set-Cookie hands out, if any."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("sq_ticket="):
            return header.split("=", 1)[1].split(";", 1)[0]
    return None


def test_a_used_ticket_can_rejoin_at_the_back(make_client: ClientFactory) -> None:
    owner = make_client(WINDOW_SIZE="5")
    token = owner.post("/join").json()["token"]
    owner.cookies.set("sq_ticket", token)
    assert owner.get("/checkout").status_code == 200  # the ticket is used now
    owner.post("/join")  # somebody joins in the meantime: position 2

    shared = make_client(WINDOW_SIZE="5")
    shared.cookies.set("sq_ticket", token)
    page = shared.get("/checkout", headers=HTML)
    assert page.url.path == "/"
    assert 'data-testid="queue-used"' in page.text
    csrf = csrf_of(page.text)
    rejoined = shared.post("/room/rejoin", data={"_csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert rejoined.status_code == 303
    assert rejoined.headers["location"] == "/?m=rejoined"
    new_token = ticket_set_by(rejoined)
    assert new_token not in (None, token)
    shared.cookies.clear()
    shared.cookies.set("sq_ticket", new_token or "")
    # Position 3 is within the window of five: the new ticket goes to the sale, not back to "used".
    sale = shared.get("/?m=rejoined", headers=HTML)
    assert sale.url.path == "/checkout"
    assert 'data-testid="queue-used"' not in sale.text
    # And with htmx, the fragment's button does the same.
    again = make_client(WINDOW_SIZE="5")
    csrf = csrf_of(again.get("/", headers=HTML).text)
    again.cookies.set("sq_ticket", token)
    response = again.post("/room/rejoin", data={"_csrf_token": csrf}, headers=HTMX)
    assert response.is_success  # htmx swaps 2xx only
    assert ticket_set_by(response) not in (None, token, new_token)


def test_an_unused_active_ticket_keeps_its_place_on_rejoin(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="5")
    csrf = csrf_of(client.get("/", headers=HTML).text)
    token = client.post("/join").json()["token"]
    client.cookies.set("sq_ticket", token)
    response = client.post("/room/rejoin", data={"_csrf_token": csrf}, headers=HTMX)
    assert response.is_success
    assert response.headers["HX-Redirect"] == "/checkout"
    assert ticket_set_by(response) == token


def test_a_rate_limited_htmx_join_says_so_and_retries_by_itself(make_client: ClientFactory) -> None:
    client = make_client(JOIN_RATE_LIMIT="1", WINDOW_SIZE="1")
    client.post("/join")  # the address's one new place this minute
    csrf = csrf_of(client.get("/", headers=HTML).text)
    response = client.post("/room/join", data={"_csrf_token": csrf}, headers=HTMX)
    assert response.status_code == 200  # htmx swaps only successful responses
    retry = int(response.headers["Retry-After"])
    assert 1 <= retry <= 60
    assert 'data-testid="queue-limited"' in response.text
    assert f'data-testid="retry-after">{retry}<' in response.text
    assert "Taking your place" not in response.text
    trigger = re.search(r'hx-trigger="([^"]+)"', response.text)
    assert trigger is not None
    assert f"load delay:{retry}s" in trigger.group(1)
    assert 'hx-post="/room/join"' in response.text
    assert 'name="_csrf_token"' in response.text
    assert ticket_set_by(response) is None
    # Without htmx the browser gets the friendly 429 page, as before.
    plain = client.post("/room/join", data={"_csrf_token": csrf}, headers=HTML)
    assert plain.status_code == 429
    assert "Slow down" in plain.text
