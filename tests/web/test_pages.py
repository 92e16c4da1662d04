"""The browser surface over HTTP: joining by POST only, cookies, polling, admission, checkout."""

from __future__ import annotations

import pathlib
import re

import redis

from tests.support.web import ClientFactory, csrf_of
from webapp.queue.keys import queue_keys

HTMX = {"HX-Request": "true"}
HTML = {"Accept": "text/html"}


def counter(redis_url: str) -> int:
    with redis.Redis.from_url(redis_url) as client:
        value = client.get(queue_keys("main").counter)
        return int(value) if value is not None else 0


def test_get_never_takes_a_place(make_client: ClientFactory, redis_url: str) -> None:
    client = make_client()
    for _ in range(3):
        page = client.get("/", headers=HTML)
        assert page.status_code == 200
        assert 'data-testid="queue-status"' in page.text
        assert 'aria-live="polite"' in page.text
    assert counter(redis_url) == 0
    assert "sq_ticket" not in client.cookies
    assert "every hour, the next person" in page.text.lower()


def test_join_sets_a_locked_down_ticket_cookie(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="1")
    client.post("/join")  # somebody else holds position 1, so this visitor waits
    token = csrf_of(client.get("/", headers=HTML).text)
    response = client.post("/room/join", data={"_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("sq_ticket="))
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=lax" in lowered
    assert "path=/" in lowered
    assert "secure" not in lowered  # plain http in development
    max_age = int(lowered.split("max-age=")[1].split(";")[0])
    assert 0 < max_age <= 6 * 3600
    page = client.get("/", headers=HTML)
    assert 'data-testid="queue-position">2<' in page.text


def test_reopening_keeps_the_same_place(make_client: ClientFactory, redis_url: str) -> None:
    client = make_client()
    client.post("/join")
    token = csrf_of(client.get("/", headers=HTML).text)
    for _ in range(3):
        client.post("/room/join", data={"_csrf_token": token}, headers=HTMX)
    assert counter(redis_url) == 2
    assert 'data-testid="queue-position">2<' in client.get("/", headers=HTML).text


def test_browser_join_requires_the_csrf_token(make_client: ClientFactory, redis_url: str) -> None:
    client = make_client()
    client.get("/", headers=HTML)
    response = client.post("/room/join", headers=HTML)
    assert response.status_code == 403
    assert 'data-testid="error-page"' in response.text
    assert counter(redis_url) == 0


def test_cross_site_post_is_refused_even_with_a_token(make_client: ClientFactory, redis_url: str) -> None:
    client = make_client()
    token = csrf_of(client.get("/", headers=HTML).text)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        response = client.post("/room/join", data={"_csrf_token": token}, headers=headers)
        assert response.status_code == 403, headers
    assert counter(redis_url) == 0


def test_same_origin_post_with_token_is_accepted(make_client: ClientFactory) -> None:
    client = make_client()
    token = csrf_of(client.get("/", headers=HTML).text)
    headers = {"Origin": "http://room.test", "Sec-Fetch-Site": "same-origin"}
    response = client.post("/room/join", data={"_csrf_token": token}, headers=headers, follow_redirects=False)
    assert response.status_code == 303


def test_poll_fragment_keeps_polling_while_waiting(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="1", WINDOW_INTERVAL="60")
    client.post("/join")
    token = csrf_of(client.get("/", headers=HTML).text)
    client.post("/room/join", data={"_csrf_token": token}, headers=HTMX)
    fragment = client.get("/room/status", headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'class="poller"' in fragment.text
    assert 'hx-trigger="load delay:' in fragment.text
    assert 'data-testid="queue-position">2<' in fragment.text


def test_poll_without_htmx_goes_back_to_the_room(make_client: ClientFactory) -> None:
    client = make_client()
    response = client.get("/room/status", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_active_ticket_is_redirected_to_checkout(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="5")
    token = csrf_of(client.get("/", headers=HTML).text)
    response = client.post("/room/join", data={"_csrf_token": token}, headers=HTMX)
    assert response.headers["HX-Redirect"] == "/checkout"
    assert client.get("/room/status", headers=HTMX).headers["HX-Redirect"] == "/checkout"
    plain = client.get("/", follow_redirects=False)
    assert plain.status_code == 303
    assert plain.headers["location"] == "/checkout"


def test_checkout_exchanges_an_active_ticket_for_a_pass(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="5", SESSION_DURATION="120")
    token = csrf_of(client.get("/", headers=HTML).text)
    client.post("/room/join", data={"_csrf_token": token}, follow_redirects=False)
    page = client.get("/checkout")
    assert page.status_code == 200
    assert 'data-testid="checkout"' in page.text
    cookie = next(c for c in page.headers.get_list("set-cookie") if c.startswith("sq_pass="))
    assert "httponly" in cookie.lower()
    assert 0 < int(cookie.lower().split("max-age=")[1].split(";")[0]) <= 120


def test_checkout_refuses_a_visitor_without_ticket_or_pass(make_client: ClientFactory) -> None:
    client = make_client()
    response = client.get("/checkout", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_checkout_refuses_a_waiting_ticket(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="1")
    client.post("/join")
    token = csrf_of(client.get("/", headers=HTML).text)
    client.post("/room/join", data={"_csrf_token": token})
    response = client.get("/checkout", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert "sq_pass" not in client.cookies


def test_checkout_refuses_forged_cookies(make_client: ClientFactory) -> None:
    client = make_client()
    for name, value in (("sq_pass", "not-a-token"), ("sq_ticket", "a.b.c"), ("sq_pass", "x" * 5000)):
        client.cookies.clear()
        client.cookies.set(name, value)
        response = client.get("/checkout", follow_redirects=False)
        # Even the 5000-byte cookie is well under the 8 KiB header limit: refused by the page, not the size guard.
        assert response.status_code == 303, (name, value[:10])
        assert response.headers["location"] == "/"


def test_buying_completes_with_a_confirmation(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="5")
    token = csrf_of(client.get("/", headers=HTML).text)
    client.post("/room/join", data={"_csrf_token": token})
    checkout = client.get("/checkout")
    bought = client.post("/checkout/buy", data={"_csrf_token": csrf_of(checkout.text), "quantity": "2"})
    assert bought.status_code == 200
    assert 'data-testid="order-confirmation"' in bought.text
    assert "2 tickets" in bought.text


def test_buying_a_silly_quantity_is_a_friendly_400(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="5")
    token = csrf_of(client.get("/", headers=HTML).text)
    client.post("/room/join", data={"_csrf_token": token})
    checkout = client.get("/checkout")
    for quantity in ("0", "99", "-1", "two", ""):
        bought = client.post("/checkout/buy", data={"_csrf_token": csrf_of(checkout.text), "quantity": quantity})
        assert bought.status_code == 400, quantity
        assert "Choose between 1 and 4" in bought.text


def test_buying_without_a_pass_goes_back_to_the_room(make_client: ClientFactory) -> None:
    client = make_client()
    token = csrf_of(client.get("/", headers=HTML).text)
    response = client.post("/checkout/buy", data={"_csrf_token": token, "quantity": "1"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_unknown_page_is_a_product_404(make_client: ClientFactory) -> None:
    client = make_client()
    page = client.get("/nope", headers=HTML)
    assert page.status_code == 404
    assert "Page not found" in page.text
    api = client.get("/nope")
    assert api.status_code == 404
    assert api.json()["status_code"] == 404


def test_api_and_probes_set_no_cookies_but_pages_do(make_client: ClientFactory) -> None:
    client = make_client()
    token = client.post("/join").json()["token"]
    for response in (
        client.get("/status", headers={"Authorization": f"Bearer {token}"}),
        client.get("/livez"),
        client.get("/readyz"),
        client.get("/vendor/htmx.min.js"),
    ):
        assert "set-cookie" not in response.headers, response.url
    assert "sq_csrf=" in client.get("/", headers=HTML).headers["set-cookie"]


def test_an_admitted_buyer_reopening_the_room_goes_back_to_checkout(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="5")
    token = csrf_of(client.get("/", headers=HTML).text)
    client.post("/room/join", data={"_csrf_token": token})
    assert client.get("/checkout").status_code == 200
    again = client.get("/", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/checkout"


def test_a_theme_directory_overrides_templates_and_static_files(
    make_client: ClientFactory, tmp_path: pathlib.Path
) -> None:
    (tmp_path / "static" / "css").mkdir(parents=True)
    (tmp_path / "static" / "css" / "room.css").write_text("body { background: rebeccapurple; }")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "error.html").write_text("<p data-testid='error-page'>Our own {{ status_code }}</p>")
    client = make_client(THEME_DIR=str(tmp_path))
    assert "rebeccapurple" in client.get("/static/css/room.css").text
    assert client.get("/static/js/room.js").status_code == 200  # files the theme lacks still come from ours
    assert "Our own 404" in client.get("/nope", headers=HTML).text
    assert 'data-testid="queue-status"' in client.get("/", headers=HTML).text


def test_visitors_far_back_are_asked_to_poll_less_often(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="1", WINDOW_INTERVAL="2", JOIN_RATE_LIMIT="0")
    tokens = [client.post("/join").json()["token"] for _ in range(200)]

    def delay_of(token: str) -> int:
        client.cookies.set("sq_ticket", token)
        fragment = client.get("/room/status", headers=HTMX).text
        found = re.search(r'hx-trigger="load delay:(\d+)ms', fragment)
        assert found, fragment
        return int(found.group(1))

    near, middle, far = delay_of(tokens[2]), delay_of(tokens[10]), delay_of(tokens[199])
    assert near < middle < far
    assert far == 20_000  # capped: a million visitors far back cost at most one poll each per 20 s
    api = client.get("/status", headers={"Authorization": f"Bearer {tokens[199]}"}).json()
    assert api["poll_after_seconds"] == 20.0


def test_a_repeated_purchase_submit_keeps_the_first_order(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="5")
    token = csrf_of(client.get("/", headers=HTML).text)
    client.post("/room/join", data={"_csrf_token": token})
    form = {"_csrf_token": csrf_of(client.get("/checkout").text)}
    first = client.post("/checkout/buy", data={**form, "quantity": "2"}).text
    again = client.post("/checkout/buy", data={**form, "quantity": "4"}).text
    order = re.search(r"<strong>(SQ-[0-9A-F-]+)</strong>", first)
    assert order
    assert order.group(1) in again
    assert "2 tickets" in again  # the double submit did not become a second, bigger order
