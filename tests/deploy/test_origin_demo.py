"""scripts/origin-demo, as a new user runs it: one command, and the printed URL leads into the room."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support import ROOT, free_port, inherited_environ, wait_until_sync


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def first_answer(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=5) as answer:
            return answer.status, answer.headers.get("Location", "")
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers.get("Location", "")


@pytest.mark.timeout(180)
def test_origin_demo_starts_room_shop_and_nginx_and_stops_them(tmp_path: Path) -> None:
    port, room_port, shop_port = free_port(), free_port(), free_port()
    log_path = tmp_path / "origin-demo.log"
    env = {**inherited_environ(), "PORT": str(port), "ROOM_PORT": str(room_port), "SHOP_PORT": str(shop_port)}
    with log_path.open("wb") as log:
        demo = subprocess.Popen(
            [str(ROOT / "scripts" / "origin-demo")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_sync(
            lambda: demo.poll() is not None or f"open http://localhost:{port}/" in log_path.read_text(errors="replace"),
            150,
            what="the demo printing its URL",
        )
        assert demo.poll() is None, log_path.read_text(errors="replace")[-3000:]

        status, location = first_answer(f"http://127.0.0.1:{port}/products/vinyl?color=black")
        assert (status, location) == (302, "/queue/?return_to=%2Fproducts%2Fvinyl%3Fcolor%3Dblack")
        status, _ = first_answer(f"http://127.0.0.1:{port}/queue/?return_to=%2Fproducts%2Fvinyl")
        assert status == 200
        status, location = first_answer(f"http://127.0.0.1:{shop_port}/")
        assert status == 303
        assert location.startswith(f"http://localhost:{port}/queue/?return_to=")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(timeout=10)
    for stopped in (port, room_port, shop_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", stopped)) != 0, f"port {stopped} still answers after the demo stopped"
