"""The operator's surface over HTTP: credentials, lockout, CSRF, every control's effect, events, metrics."""

from __future__ import annotations

import csv
import io
import re

from tests.support.waiting import wait_until_sync
from tests.support.web import Client, ClientFactory, csrf_of

ADMIN = "admin-token-" + "a" * 40
METRICS = "metrics-token-" + "m" * 40
BEARER = {"Authorization": f"Bearer {ADMIN}"}
HTML = {"Accept": "text/html"}
HTMX = {"HX-Request": "true"}


def admin_client(make_client: ClientFactory, **env: str) -> Client:
    return make_client(ADMIN_TOKEN=ADMIN, WINDOW_SIZE="2", SNAPSHOT_REFRESH="0.01", **env)


def wait_for(client: Client, token: str, key: str, value: object) -> dict[str, object]:
    """Poll /status until the replica's window copy shows ``key == value`` (one snapshot refresh)."""
    seen: list[dict[str, object]] = []

    def reached() -> bool:
        seen.append(client.get("/status", headers={"Authorization": f"Bearer {token}"}).json())
        return seen[-1][key] == value

    wait_until_sync(reached, 5, what=f"{key} == {value!r}")
    return seen[-1]


def test_without_admin_token_every_admin_route_is_404(make_client: ClientFactory) -> None:
    client = make_client()
    for method, path in [
        ("GET", "/admin"),
        ("GET", "/admin/panel"),
        ("POST", "/admin/login"),
        ("GET", "/admin/api/queue"),
        ("POST", "/admin/api/pause"),
        ("PUT", "/admin/api/pace"),
        ("GET", "/admin/api/events"),
        ("GET", "/metrics"),
    ]:
        response = client.request(method, path, headers={**BEARER, "Accept": "application/json"}, json={})
        assert response.status_code == 404, (method, path, response.text)


def test_the_api_needs_the_admin_bearer_token(make_client: ClientFactory) -> None:
    client = admin_client(make_client)
    assert client.get("/admin/api/queue").status_code == 401
    assert client.get("/admin/api/queue", headers={"Authorization": "Bearer " + "b" * 52}).status_code == 401
    assert client.post("/admin/api/pause", headers={"Authorization": f"Bearer {METRICS}"}).status_code == 401
    queue = client.get("/admin/api/queue", headers=BEARER)
    assert queue.status_code == 200
    body = queue.json()
    assert body["paused"] is False
    assert body["pace"] == {"window_size": 2, "window_interval": 3600.0, "active_window_count": 2}
    assert body["window_end"] == 2
    assert body["redis"]["ok"] is True
    for field in ("last_position", "waiting", "active_range", "admitted_per_minute", "leader", "replicas_alive"):
        assert field in body


def test_pause_holds_everyone_in_place_and_admits_nobody(make_client: ClientFactory) -> None:
    client = admin_client(make_client)
    active = client.post("/join").json()["token"]  # position 1: inside the window
    waiting = [client.post("/join").json()["token"] for _ in range(3)]  # 2 is active too, 3 and 4 wait
    assert client.post("/admin/api/pause", headers=BEARER).json()["paused"] is True
    status = wait_for(client, waiting[-1], "paused", True)
    assert status["status"] == "waiting"
    assert status["ahead"] == 1
    assert status["estimated_wait_seconds"] is None
    # A browser holding the active ticket is not let in while paused, and sees the paused notice.
    browser = make_client(ADMIN_TOKEN=ADMIN)
    browser.cookies.set("sq_ticket", active)
    page = browser.get("/", headers=HTML, follow_redirects=False)
    assert page.status_code == 200
    assert 'data-testid="queue-paused"' in page.text
    assert browser.get("/checkout", follow_redirects=False).headers["location"] == "/"
    assert "sq_pass" not in browser.cookies
    # A slide-now is refused while paused.
    assert client.post("/admin/api/slide", headers=BEARER).status_code == 409
    assert client.post("/admin/api/resume", headers=BEARER).json()["paused"] is False
    wait_for(client, waiting[-1], "paused", False)
    wait_until_sync(lambda: browser.get("/checkout", follow_redirects=False).status_code == 200, 5, what="admission")
    assert "sq_pass" in browser.cookies


def test_a_bad_pace_is_refused_naming_the_field(make_client: ClientFactory) -> None:
    client = admin_client(make_client)
    for body, field in [
        ({"window_size": 0}, "window_size"),
        ({"window_interval": "soon"}, "window_interval"),
        ({"active_window_count": -1}, "active_window_count"),
        ({"pace": 3}, "pace"),
    ]:
        response = client.put("/admin/api/pace", headers=BEARER, json=body)
        assert response.status_code == 400, body
        assert response.json()["detail"].startswith(f"{field}: ")
    assert client.put("/admin/api/pace", headers=BEARER, content=b"[1, 2]").status_code == 400
    assert client.put("/admin/api/pace", headers=BEARER, content=b"{not json").status_code == 400


def test_the_estimate_follows_a_new_pace(make_client: ClientFactory) -> None:
    client = admin_client(make_client)
    tokens = [client.post("/join").json()["token"] for _ in range(12)]
    before = wait_for(client, tokens[-1], "ahead", 9)
    estimate = before["estimated_wait_seconds"]
    assert isinstance(estimate, float)
    assert estimate > 4 * 3600  # 5 slides of 2 an hour apart
    changed = client.put("/admin/api/pace", headers=BEARER, json={"window_size": 10, "window_interval": 60})
    assert changed.json() == {"window_size": 10, "window_interval": 60.0, "active_window_count": 2}
    auth = {"Authorization": f"Bearer {tokens[-1]}"}

    def one_slide_away() -> bool:
        wait = client.get("/status", headers=auth).json()["estimated_wait_seconds"]
        return bool(50 < wait <= 60)  # one slide of 10, due within the new 60 s interval

    wait_until_sync(one_slide_away, 5, what="the estimate at the new pace")


def test_slide_now_moves_the_window_once(make_client: ClientFactory) -> None:
    client = admin_client(make_client)
    tokens = [client.post("/join").json()["token"] for _ in range(5)]
    assert client.post("/admin/api/slide", headers=BEARER).json() == {"outcome": "slid", "window_end": 4}
    assert wait_for(client, tokens[-1], "window_end", 4)["status"] == "waiting"
    assert client.get("/admin/api/queue", headers=BEARER).json()["window_end"] == 4


def test_the_message_reaches_the_waiting_page_escaped(make_client: ClientFactory) -> None:
    client = admin_client(make_client)
    evil = '<script>alert("x")</script> & back at 10'
    response = client.put("/admin/api/message", headers=BEARER, json={"text": evil})
    assert response.json()["text"] == evil
    token = [client.post("/join").json()["token"] for _ in range(3)][-1]
    wait_for(client, token, "message", evil)
    client.cookies.set("sq_ticket", token)
    page = client.get("/", headers=HTML).text
    assert 'data-testid="queue-message"' in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; back at 10" in page
    assert "<script>alert" not in page
    assert client.put("/admin/api/message", headers=BEARER, json={"text": ""}).status_code == 400
    assert client.delete("/admin/api/message", headers=BEARER).json() == {"text": ""}
    wait_for(client, token, "message", "")


def test_reset_refuses_earlier_tickets_with_a_clear_answer(make_client: ClientFactory) -> None:
    client = admin_client(make_client)
    old = client.post("/join").json()["token"]
    assert client.post("/admin/api/reset", headers=BEARER, json={"confirm": "other"}).status_code == 400
    assert client.post("/admin/api/reset", headers=BEARER, json={}).status_code == 400
    assert client.post("/admin/api/reset", headers=BEARER, json={"confirm": "main"}).json() == {"epoch": 1}

    def refused() -> bool:
        return client.get("/status", headers={"Authorization": f"Bearer {old}"}).status_code == 401

    wait_until_sync(refused, 5, what="the old ticket refused")
    answer = client.get("/status", headers={"Authorization": f"Bearer {old}"}).json()
    assert "restarted" in answer["detail"]
    client.cookies.set("sq_ticket", old)
    page = client.get("/", headers=HTML)
    assert 'data-testid="queue-reset"' in page.text
    fresh = client.post("/join").json()
    assert fresh["position"] == 2  # positions keep counting: none is issued twice
    assert fresh["status"] == "active"


def test_events_record_who_and_export_as_csv(make_client: ClientFactory) -> None:
    client = admin_client(make_client)
    client.post("/admin/api/pause", headers=BEARER)
    client.put("/admin/api/message", headers=BEARER, json={"text": "=HYPERLINK(1)"})
    client.post("/admin/api/resume", headers=BEARER)
    every = client.get("/admin/api/events", headers=BEARER).json()["events"]
    events = [e for e in every if e["kind"] != "leader"]  # the replica taking the lead is logged too
    assert [e["kind"] for e in events] == ["pause", "message", "resume"]
    assert {(e["who"], e["addr"]) for e in events} == {("token", "testclient")}
    later = client.get("/admin/api/events", headers=BEARER, params={"since": events[0]["id"]}).json()["events"]
    assert [e["kind"] for e in later if e["kind"] != "leader"] == ["message", "resume"]
    assert client.get("/admin/api/events", headers=BEARER, params={"since": "yesterday"}).status_code == 400
    exported = client.get("/admin/api/events", headers=BEARER, params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["id", "time_utc", "kind", "detail", "who", "addr"]
    controls = [r for r in rows[1:] if r[2] != "leader"]
    assert [r[2] for r in controls] == ["pause", "message", "resume"]
    assert controls[1][3] == "message set: =HYPERLINK(1)"  # a formula-like cell is defused for spreadsheets


def login(client: Client, token: str = ADMIN) -> int:
    csrf = csrf_of(client.get("/admin", headers=HTML).text)
    response = client.post("/admin/login", data={"token": token, "_csrf_token": csrf}, follow_redirects=False)
    return response.status_code


def test_console_login_gives_a_strict_short_session(make_client: ClientFactory) -> None:
    client = admin_client(make_client)
    page = client.get("/admin", headers=HTML)
    assert page.status_code == 200
    assert 'name="token"' in page.text
    assert client.post("/admin/login", data={"token": ADMIN}, headers=HTML).status_code == 403  # no CSRF token
    csrf = csrf_of(page.text)
    response = client.post("/admin/login", data={"token": ADMIN, "_csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("sq_admin="))
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=strict" in lowered
    assert "path=/admin" in lowered
    assert 0 < int(re.search(r"max-age=(\d+)", lowered).group(1)) <= 1800  # type: ignore[union-attr]
    console = client.get("/admin", headers=HTML)
    assert 'data-testid="admin-panel"' in console.text
    assert client.get("/admin/panel", headers=HTMX).status_code == 200
    # Every console POST needs the CSRF token, even with a valid session.
    assert client.post("/admin/pause", headers=HTML).status_code == 403
    csrf = csrf_of(console.text)
    assert client.post("/admin/pause", data={"_csrf_token": csrf}, headers=HTMX).status_code == 200
    assert client.get("/admin/api/queue", headers=BEARER).json()["paused"] is True
    # The session cookie is not an API credential.
    assert client.get("/admin/api/queue").status_code == 401


def test_console_controls_need_a_session(make_client: ClientFactory) -> None:
    client = admin_client(make_client)
    csrf = csrf_of(client.get("/admin", headers=HTML).text)
    for path in ("/admin/pause", "/admin/resume", "/admin/slide", "/admin/reset", "/admin/message", "/admin/pace"):
        assert client.post(path, data={"_csrf_token": csrf}, headers=HTML).status_code == 401, path
    assert client.get("/admin/panel", headers=HTMX).status_code == 401
    assert client.get("/admin/events.csv").status_code == 401
    client.cookies.set("sq_admin", "forged.session.cookie")
    assert client.get("/admin/panel", headers=HTMX).status_code == 401


def test_the_lockout_holds_across_replicas(make_client: ClientFactory) -> None:
    first, second = admin_client(make_client), admin_client(make_client)
    for attempt in range(5):
        assert login(first, "w" * 40) == 401, attempt
    assert login(first) == 429  # even the right token, from this address, for a while
    assert second.get("/admin/api/queue", headers=BEARER).status_code == 429
    locked = second.get("/admin/api/queue", headers=BEARER)
    assert int(locked.headers["retry-after"]) > 60


def test_metrics_need_a_token_and_report_the_queue(make_client: ClientFactory) -> None:
    client = admin_client(make_client, METRICS_TOKEN=METRICS)
    assert client.get("/metrics").status_code == 401
    client.post("/join")
    for token in (METRICS, ADMIN):
        response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert "session_queue_joins_total" in text
        assert "session_queue_window_end 2.0" in text
        assert "session_queue_paused 0.0" in text
        assert "session_queue_redis_up 1.0" in text
        assert 'session_queue_request_seconds_count{method="POST",route="/join"}' in text
    # The metrics token is for /metrics only.
    assert client.get("/admin/api/queue", headers={"Authorization": f"Bearer {METRICS}"}).status_code == 401


def test_metrics_alone_can_be_enabled(make_client: ClientFactory) -> None:
    client = make_client(METRICS_TOKEN=METRICS)
    assert client.get("/metrics", headers={"Authorization": f"Bearer {METRICS}"}).status_code == 200
    assert client.get("/admin/api/queue", headers={"Authorization": f"Bearer {METRICS}"}).status_code == 404


def test_every_response_carries_a_request_id(make_client: ClientFactory) -> None:
    client = make_client()
    assert client.get("/livez", headers={"X-Request-ID": "trace-42"}).headers["x-request-id"] == "trace-42"
    generated = client.get("/livez", headers={"X-Request-ID": "not ok!" * 20}).headers["x-request-id"]
    assert len(generated) == 16
    assert generated != client.get("/livez").headers["x-request-id"]


def test_odd_bodies_get_a_clear_400_never_a_500(make_client: ClientFactory) -> None:
    client = admin_client(make_client)
    for method, path, body in [
        ("PUT", "/admin/api/message", {"text": None}),
        ("PUT", "/admin/api/message", {"text": ["a"]}),
        ("PUT", "/admin/api/message", {}),
        ("PUT", "/admin/api/pace", {"window_size": {"a": 1}}),
        ("PUT", "/admin/api/pace", {"window_size": 10**30}),
        ("POST", "/admin/api/reset", {"confirm": ["main"]}),
    ]:
        response = client.request(method, path, headers=BEARER, json=body)
        assert response.status_code == 400, (path, body, response.text)
    infinite = client.put("/admin/api/pace", headers=BEARER, content=b'{"window_interval": 1e400}')
    assert infinite.status_code == 400
    queue = client.get("/admin/api/queue", headers=BEARER).json()
    assert (queue["pace"]["window_size"], queue["message"], queue["epoch"]) == (2, "", 0)
