"""Browser end-to-end fixtures: the real app in a subprocess, on the session's real Redis, driven by chromium.

Each test gets its own app process (ready in well under a second) so it can choose the window it needs:
``@pytest.mark.app_env(WINDOW_INTERVAL="60")`` overrides :data:`tests.support.FAST_WINDOW_ENV` for the ``app``
fixture, which also becomes the browser contexts' ``base_url``. ``start_app(**env)`` starts more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.support import AppProcess, app_process
from tests.support.browser import launch_args

StartApp = Callable[..., AppProcess]

# A window that never slides during a test: only position 1 (the first in line) is ever admitted.
SLOW = {"WINDOW_INTERVAL": "60"}


class RedisControl(Protocol):
    """What these tests use of the repo-root conftest's ``redis_server``."""

    @property
    def url(self) -> str: ...
    def start(self, timeout: float = ...) -> None: ...
    def stop(self) -> None: ...


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "app_env(**env): environment for this test's app (see e2e/conftest.py)")
    # Keep a trace and a screenshot of every failing test under test-results/ (git-ignored), unless asked otherwise.
    if config.getoption("--tracing", default=None) == "off":
        config.option.tracing = "retain-on-failure"
    if config.getoption("--screenshot", default=None) == "off":
        config.option.screenshot = "only-on-failure"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, **launch_args()}


@pytest.fixture
def start_app(redis_url: str, tmp_path: Path) -> Iterator[StartApp]:
    """Start ``python -m webapp`` with extra environment; every app started is stopped (by PID) at teardown."""
    apps: list[AppProcess] = []

    def start(**env: str) -> AppProcess:
        app = app_process(redis_url, tmp_path / f"app-{len(apps)}.log", **env)
        apps.append(app)
        return app.start()

    yield start
    for app in apps:
        app.stop()


@pytest.fixture
def app(request: pytest.FixtureRequest, start_app: StartApp) -> AppProcess:
    marker = request.node.get_closest_marker("app_env")
    return start_app(**(marker.kwargs if marker else {}))


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any], app: AppProcess) -> dict[str, Any]:
    return {**browser_context_args, "base_url": app.base_url, "viewport": {"width": 1280, "height": 800}}
