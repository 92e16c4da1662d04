"""``python -m webapp`` with ``ROOT_PATH=/queue`` behind nothing: the real server (uvicorn, two workers)
answers under the prefix, its probes at the root too, and says where it is in the log."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import AppProcess, app_process

PREFIX = "/queue"


@pytest.fixture
def server(redis_url: str, tmp_path: Path) -> Iterator[AppProcess]:
    app = app_process(redis_url, tmp_path / "app.log", ROOT_PATH=PREFIX, WEB_CONCURRENCY="2")
    app.new_session = True
    app.start()
    yield app
    app.stop()


def fetch(app: AppProcess, method: str, path: str) -> tuple[int, dict[str, str], str]:
    """One request, redirects not followed (``urllib`` would follow them)."""
    connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
    try:
        connection.request(method, path, headers={"Accept": "text/html"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def test_the_server_answers_under_its_prefix(server: AppProcess) -> None:
    status, _, page = fetch(server, "GET", PREFIX + "/")
    assert status == 200
    urls = re.findall(r'\s(?:href|src|action|hx-get|hx-post)="([^"#][^"]*)"', page)
    assert urls
    assert all(url.startswith(PREFIX + "/") for url in urls), urls
    for asset in (u for u in urls if "/static/" in u or "/vendor/" in u):
        assert fetch(server, "GET", asset)[0] == 200, asset
    assert fetch(server, "POST", PREFIX + "/join")[0] == 201
    status, headers, _ = fetch(server, "GET", PREFIX + "/checkout")
    assert (status, headers["location"]) == (303, PREFIX + "/")
    status, headers, _ = fetch(server, "GET", PREFIX + "?return_to=/sale")
    assert (status, headers["location"]) == (308, PREFIX + "/?return_to=/sale")


def test_probes_answer_at_the_root_nothing_else_does_and_the_log_says_where(server: AppProcess) -> None:
    for probe in ("/livez", "/readyz", "/servez"):
        assert fetch(server, "GET", probe)[0] == 200
        assert fetch(server, "GET", PREFIX + probe)[0] == 200
    for path in ("/", "/join", "/checkout", "/static/css/room.css"):
        assert fetch(server, "GET", path)[0] == 404, path
    log = server.log()
    assert f"waiting room on http://localhost:{server.port}{PREFIX}/" in log
    assert f"serving under ROOT_PATH {PREFIX}/" in log
