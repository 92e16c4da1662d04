"""Pass keys in real ``python -m webapp`` processes: one generated key shared by every worker, and a
rotation through the operator's commands with the room restarted between steps, as an operator does it."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jwt

from tests.support import ROOT, AppProcess, app_process


def call(app: AppProcess, method: str, path: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(app.url(path), method=method, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            body = response.read()
            return response.status, json.loads(body) if body else {}
    except urllib.error.HTTPError as refused:
        body = refused.read()
        return refused.code, json.loads(body) if body else {}


def new_pass(app: AppProcess) -> str:
    """Join (the window holds everybody) and exchange the ticket for a pass through ``POST /pass``."""
    status, joined = call(app, "POST", "/join")
    assert status == 201
    status, body = call(app, "POST", "/pass", str(joined["token"]))
    assert status == 201, body
    return str(body["pass"])


def auth(app: AppProcess, token: str) -> int:
    return call(app, "GET", "/auth", token)[0]


def kids(app: AppProcess) -> list[str]:
    status, body = call(app, "GET", "/.well-known/jwks.json")
    assert status == 200
    return [key["kid"] for key in body["keys"]]


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def passkeys(*args: str) -> str:
    """``python -m webapp.passkeys ...``, the operator's command, as a process."""
    done = subprocess.run(
        [sys.executable, "-m", "webapp.passkeys", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=ROOT,
    )
    return done.stdout


def test_zero_config_workers_share_one_generated_key(tmp_path: Path) -> None:
    app = AppProcess({"WEB_CONCURRENCY": "2", "JOIN_RATE_LIMIT": "0"}, tmp_path / "app.log", new_session=True)
    app.start()
    try:
        passes = [new_pass(app) for _ in range(6)]
        (kid,) = {kid_of(p) for p in passes}
        assert f"generated pass signing key {kid}" in app.log()
        # New connections each time, so either worker answers: both verify what either signed.
        for token in passes * 4:
            assert auth(app, token) == 200
        assert {tuple(kids(app)) for _ in range(10)} == {(kid,)}
    finally:
        app.stop()


def test_rotation_across_restarts_keeps_old_passes_until_their_key_is_retired(redis_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "pass-keys"
    passkeys("init", "--dir", str(directory))
    env = {"PASS_KEYS_DIR": str(directory), "WINDOW_SIZE": "1000", "WINDOW_INTERVAL": "3600"}
    app = app_process(redis_url, tmp_path / "app.log", **env)

    def restart() -> None:
        app.stop()
        app.start()

    app.start()
    try:
        (first,) = kids(app)
        old = new_pass(app)
        assert kid_of(old) == first
        assert auth(app, old) == 200

        # 1. A next key: published first, not signing.
        second = passkeys("add", "--dir", str(directory)).split("added ")[1].split(":")[0]
        restart()
        assert set(kids(app)) == {first, second}
        assert kid_of(new_pass(app)) == first
        assert auth(app, old) == 200

        # 2. It signs; the previous key stays published, so passes it signed keep working.
        passkeys("promote", "--dir", str(directory), second)
        restart()
        assert kids(app) == [second, first]
        newer = new_pass(app)
        assert kid_of(newer) == second
        assert auth(app, old) == 200
        assert auth(app, newer) == 200

        # 3. Once its passes have expired, the previous key is retired: anything it signed is refused.
        passkeys("retire", "--dir", str(directory), first)
        restart()
        assert kids(app) == [second]
        assert auth(app, old) == 401
        assert auth(app, newer) == 200
        assert f"passes signed by key {second} ({directory})" in app.log()
    finally:
        app.stop()


def test_a_broken_key_directory_stops_start_up_with_one_line(redis_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "webapp"],
        env={"PASS_KEYS_DIR": str(empty), "REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"session-queue: invalid configuration: PASS_KEYS_DIR: no <kid>.pem key in {empty} "
        f"(create one with: python -m webapp.passkeys init --dir {empty})"
    ]


def test_replicas_sharing_jwt_secret_accept_each_others_passes(redis_url: str, tmp_path: Path) -> None:
    """No pass key configured, as in a deployment from before passes had keys: JWT_SECRET derives one."""
    env = {"WINDOW_SIZE": "1000", "WINDOW_INTERVAL": "3600"}
    first = app_process(redis_url, tmp_path / "first.log", **env)
    second = app_process(redis_url, tmp_path / "second.log", **env)
    first.start()
    try:
        second.start()
        token = new_pass(first)
        assert auth(second, token) == 200
        assert kids(first) == kids(second) == [kid_of(token)]
        assert "derived from JWT_SECRET" in second.log()
    finally:
        second.stop()
        first.stop()
