"""HEAD works wherever GET does (issue 15 item 6); personal answers are never stored by a shared cache
while assets stay cacheable (item 7)."""

from __future__ import annotations

import redis

from tests.support.web import ClientFactory
from webapp.queue.keys import queue_keys

HTML = {"Accept": "text/html"}


def test_head_answers_like_get_without_a_body(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="5")
    token = client.post("/join").json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    for path, headers in (
        ("/", HTML),
        ("/livez", {}),
        ("/readyz", {}),
        ("/status", bearer),
        ("/schema", {}),
        ("/schema/openapi.json", {}),
        ("/static/css/room.css", {}),
        ("/vendor/htmx.min.js", {}),
    ):
        got = client.get(path, headers=headers, follow_redirects=False)
        head = client.head(path, headers=headers, follow_redirects=False)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        if "content-length" in got.headers:
            assert head.headers["content-length"] == got.headers["content-length"], path
    assert client.head("/no-such-page").status_code == 404
    assert client.post("/livez").status_code == 405  # other methods are still refused


def test_head_on_checkout_claims_nothing(make_client: ClientFactory, redis_url: str) -> None:
    client = make_client(WINDOW_SIZE="5")
    client.cookies.set("sq_ticket", client.post("/join").json()["token"])
    head = client.head("/checkout", follow_redirects=False)
    assert head.status_code == 303
    assert "sq_pass" not in head.headers.get("set-cookie", "")
    with redis.Redis.from_url(redis_url) as raw:
        assert raw.keys(queue_keys("main").claim("*")) == []
    assert client.get("/checkout", headers=HTML).url.path == "/checkout"  # the GET still admits, once


def test_personal_answers_say_no_store_and_vary(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="5")
    token = client.post("/join").json()["token"]
    join = client.post("/join", headers={"Authorization": f"Bearer {token}"})
    status = client.get("/status", headers={"Authorization": f"Bearer {token}"})
    for response in (join, status):
        assert response.headers["cache-control"] == "no-store"
        assert "Authorization" in response.headers["vary"]
    client.cookies.set("sq_ticket", token)
    pages = [
        client.get("/", headers=HTML, follow_redirects=False),
        client.get("/room/status", headers={"HX-Request": "true"}),
        client.get("/checkout", headers=HTML),
        client.get("/", headers=HTML),
        client.get("/?m=used", headers=HTML),
    ]
    for page in pages:
        assert page.headers["cache-control"] == "no-store", page.url
        assert "Cookie" in page.headers["vary"], page.url
    assert client.get("/no-such-page", headers=HTML).headers["cache-control"] == "no-store"
    assert client.get("/livez").headers["cache-control"] == "no-store"
    css = client.get("/static/css/room.css")
    assert css.headers["cache-control"].startswith("public, max-age=")
    assert "cookie" not in css.headers.get("vary", "").lower()
