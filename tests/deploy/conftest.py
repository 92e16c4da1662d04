"""Fixtures of the container tier: the image built once per session with podman, and containers run from it.

The build (and, on a machine's first run, the mmdebstrap bases) happens inside the first test that asks for
``image``, so every such test carries :data:`BUILD_LIMIT` as its time limit. Every container a test starts
is removed by name in the fixture's teardown, whatever the test did.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Protocol

import pytest
import yaml  # type: ignore[import-untyped]

from tests.support import FAST_WINDOW_ENV, TEST_SECRET, wait_until_sync
from tests.support.app_process import ROOT
from tests.support.containers import (
    IMAGE_REPOSITORY,
    REDIS_BASE,
    Build,
    Container,
    Podman,
    base_image,
    build_image,
    containers,
    debian_build_args,
    require_tools,
    unique_name,
)

BUILD_LIMIT = 1800
"""Seconds for a test that may build the bases and the image (a cold build here takes a few minutes)."""

REPORT: list[str] = []
"""Measurements printed at the end of the run (build times, image size)."""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("container image")
        for line in REPORT:
            terminalreporter.write_line(line)


def report(line: str) -> None:
    REPORT.append(line)
    print(line)


def manifest(file_name: str, kind: str) -> dict[str, object]:
    [doc] = [d for d in yaml.safe_load_all((ROOT / "k8s" / file_name).read_text()) if d and d["kind"] == kind]
    found: dict[str, object] = doc
    return found


def configmap() -> dict[str, str]:
    data = manifest("configmap.yaml", "ConfigMap")["data"]
    assert isinstance(data, dict)
    return {str(k): str(v) for k, v in data.items()}


@pytest.fixture(scope="session")
def podman() -> Podman:
    require_tools()
    return Podman()


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def image_build(podman: Podman) -> Build:
    """The Dockerfile, unchanged, built from mmdebstrap bases; its time and size go into the report."""
    build = build_image(podman, f"{IMAGE_REPOSITORY}:latest", debian_build_args(podman))
    size = podman.image_size(build.image)
    state = "every layer from the cache" if build.cached else "layers built"
    report(f"image build: {build.seconds:.1f} s ({state}); image size {size / 1e6:.0f} MB ({build.image})")
    return build


@pytest.fixture(scope="session")
def image(image_build: Build) -> str:
    return image_build.image


@pytest.fixture(scope="session")
def redis_image(podman: Podman) -> str:
    return base_image(podman, REDIS_BASE)


class StartContainer(Protocol):
    def __call__(
        self, image: str, *, prefix: str = ..., env: dict[str, str] | None = ..., options: list[str] | None = ...,
        command: list[str] | None = ...,
    ) -> Container: ...  # fmt: skip


@pytest.fixture
def start_container(podman: Podman, run_id: str) -> Iterator[StartContainer]:
    """Start detached containers on the host network; each is removed (by name) after the test."""
    with containers(podman) as started:

        def start(
            image: str,
            *,
            prefix: str = "sq-test",
            env: dict[str, str] | None = None,
            options: list[str] | None = None,
            command: list[str] | None = None,
        ) -> Container:
            container = Container(
                podman, image, unique_name(prefix), env or {}, options or [], command or [], run_id=run_id
            )
            started.append(container)  # before start: a half-created container is removed too
            return container.start()

        yield start


def app_env(redis_url: str, port: int, **extra: str) -> dict[str, str]:
    """The ConfigMap's settings, a fast window, on ``redis_url``, listening on 127.0.0.1:``port``."""
    return {
        **configmap(),
        **FAST_WINDOW_ENV,
        "REDIS_URL": redis_url,
        "JWT_SECRET": TEST_SECRET,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_FORMAT": "text",
        **extra,
    }


def http_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own loopback URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(container: Container, base_url: str, within: float = 60.0) -> None:
    """Wait for ``/readyz`` to answer 200; fail with the container's log if it does not or the container stops."""

    def ready() -> bool:
        if http_ready(base_url + "/readyz"):
            return True
        if not container.running:
            raise AssertionError(f"container {container.name} stopped:\n{container.logs()[-3000:]}")
        return False

    try:
        wait_until_sync(ready, within, what=f"{base_url}/readyz answering 200")
    except AssertionError as late:
        raise AssertionError(f"{late}\n{container.logs()[-3000:]}") from None
