"""Real containers for the deploy tier: Debian base images made with mmdebstrap, the image built with podman.

These machines have no Docker engine and no registry to pull ``python:*`` or ``node:*`` from, but Debian's
packages are reachable. So the bases are root filesystems made by ``mmdebstrap`` (cached under
``~/.cache/session-queue/bases``, keyed by what goes into them) and imported with ``podman import``; the
Dockerfile takes them as build arguments.

Everything goes through :class:`Podman`, which keeps its own storage under ``~/.cache/session-queue/podman``:
the tests' images, containers, pods and secrets never mix with the machine's own, so nothing a test cleans up
can be something it did not create. ``--runtime runc --cgroup-manager cgroupfs`` and explicit ulimits are what
run here (crun fails on hybrid cgroups and on raising rlimits). The storage driver is ``overlay`` when the
kernel has it (ten times faster to build than ``vfs``, which copies the whole tree for every layer) and
``vfs`` otherwise; ``SQ_PODMAN_STORAGE_DRIVER`` chooses.

Every call is bounded by a timeout and raises :class:`PodmanError` with podman's output when it fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.app_process import ROOT
from tests.support.waiting import wait_until_sync

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "session-queue"
"""Kept between runs on one machine: the base root filesystems and podman's storage (image layers)."""

IMAGE_REPOSITORY = "localhost/session-queue-test"
"""The tests' tag for the image they build; never ``session-queue:<version>``, which an operator may own."""

TEST_LABEL = "dev.session-queue.test"
"""Every container the tests start carries this label, with the test run's id as its value."""

ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")

INDEX_CONFIGURATION = (
    ("/etc/pip.conf", "/etc/pip.conf"),
    ("/etc/npmrc", "/etc/npmrc"),
    ("/etc/npmrc", "/usr/local/etc/npmrc"),  # the global npmrc of the public node image
    (str(Path.home() / ".npmrc"), "/root/.npmrc"),
    ("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt"),
)
"""This machine's package-index configuration, mounted read-only into the build (``podman build -v``).

The registries are reached through it (an index mirror, a CA of the machine's TLS proxy): a build on a
machine without these files reaches the public indexes directly, and nothing of them lands in a layer.
"""


class PodmanError(AssertionError):
    """A podman (or mmdebstrap) command failed; the message carries its command line and output."""


def require_tools() -> None:
    """Fail (not skip) when a tool of the deploy tier is missing: ``scripts/setup --test`` installs them."""
    missing = [tool for tool in ("podman", "runc", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        raise AssertionError(f"not installed: {', '.join(missing)}; run `scripts/setup --test`, which installs them")


def run_command(
    argv: Sequence[str], timeout: float, *, check: bool = True, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with its output captured, at most ``timeout`` seconds."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired as late:
        output = [
            part.decode(errors="replace") if isinstance(part, bytes) else "" for part in (late.stdout, late.stderr)
        ]
        raise PodmanError(f"{' '.join(argv)}: still running after {timeout:g} s\n" + "\n".join(output)) from None
    if check and result.returncode != 0:
        raise PodmanError(
            f"{' '.join(argv)}: exit {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def storage_driver() -> str:
    chosen = os.environ.get("SQ_PODMAN_STORAGE_DRIVER", "").strip()
    if chosen:
        return chosen
    filesystems = Path("/proc/filesystems")
    has_overlay = filesystems.exists() and "overlay" in filesystems.read_text().split()
    return "overlay" if has_overlay else "vfs"


@dataclass(frozen=True)
class Podman:
    """podman with the tests' own storage and the runtime options these machines need."""

    driver: str = field(default_factory=storage_driver)

    @property
    def root(self) -> Path:
        return CACHE / "podman" / self.driver

    @property
    def runroot(self) -> Path:
        return Path(tempfile.gettempdir()) / f"session-queue-podman-{os.getuid()}-{self.driver}"

    def argv(self, *args: str) -> list[str]:
        return [
            "podman",
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
            "--storage-driver",
            self.driver,
            "--runtime",
            "runc",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            *args,
        ]

    def __call__(self, *args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_command(self.argv(*args), timeout, check=check, env=self.environ())

    def environ(self) -> dict[str, str]:
        """podman's environment: a containers.conf with the ulimits, for what takes no ``--ulimit`` (kube play)."""
        conf = CACHE / "podman" / "containers.conf"
        text = '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
        if not conf.exists() or conf.read_text() != text:
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(text)
        return {**os.environ, "CONTAINERS_CONF": str(conf)}

    def run_once(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """``podman run --rm`` without a network or the image's healthcheck: a one-off command in the image."""
        return self("run", "--rm", "--network", "none", "--no-healthcheck", *ULIMITS, *args, timeout=timeout)

    def image_id(self, reference: str) -> str | None:
        found = self("image", "inspect", "--format", "{{.Id}}", reference, check=False)
        return found.stdout.strip() if found.returncode == 0 else None

    def image_size(self, reference: str) -> int:
        """The image's unpacked size in bytes, as ``podman images`` reports it."""
        return int(self("image", "inspect", "--format", "{{.Size}}", reference).stdout.strip())

    def image_inspect(self, reference: str) -> dict[str, Any]:
        """``podman image inspect``: ``Config`` (user, entry point, env) and, beside it, ``Healthcheck``."""
        [inspected] = json.loads(self("image", "inspect", reference).stdout)
        found: dict[str, Any] = inspected
        return found


# Base images


@dataclass(frozen=True)
class BaseRecipe:
    """A Debian root filesystem made by mmdebstrap; :attr:`key` changes whenever anything going in changes."""

    name: str
    packages: tuple[str, ...]
    suite: str = "bookworm"
    variant: str = "minbase"

    @property
    def key(self) -> str:
        recipe = {"suite": self.suite, "variant": self.variant, "packages": sorted(self.packages), "format": 1}
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def reference(self) -> str:
        return f"localhost/session-queue-base-{self.name}:{self.key}"


PYTHON_BASE = BaseRecipe("python", ("python3", "python3-venv", "python-is-python3", "ca-certificates", "passwd"))
"""What the Dockerfile's build and runtime stages need of ``python:3.11-slim-bookworm`` (Debian's 3.11)."""

NODE_BASE = BaseRecipe("node", ("nodejs", "npm", "ca-certificates"))
"""What the assets stage needs of ``node:22-bookworm-slim``: npm to install the locked htmx."""

REDIS_BASE = BaseRecipe("redis", ("redis-server",))
"""Debian's Redis 7.0, for the Redis container of the multi-container deployment."""


def base_tarball(recipe: BaseRecipe, timeout: float = 600.0) -> Path:
    """The recipe's root filesystem as a tarball in the cache, made with mmdebstrap when not there yet."""
    tarball = CACHE / "bases" / f"{recipe.name}-{recipe.key}.tar"
    if tarball.exists():
        return tarball
    tarball.parent.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(f".{os.getpid()}.partial.tar")
    try:
        run_command(
            [
                "mmdebstrap",
                "--quiet",
                f"--variant={recipe.variant}",
                f"--include={','.join(recipe.packages)}",
                # The image's clean-up, in the tarball: no apt lists or caches.
                '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
                recipe.suite,
                str(partial),
            ],
            timeout,
        )
        partial.rename(tarball)  # atomic: a killed run never leaves a half tarball under the real name
    finally:
        partial.unlink(missing_ok=True)
    return tarball


def base_image(podman: Podman, recipe: BaseRecipe, timeout: float = 600.0) -> str:
    """The recipe's image in podman's storage (imported from the cached tarball when missing)."""
    if podman.image_id(recipe.reference) is None:
        tarball = base_tarball(recipe, timeout)
        podman("import", str(tarball), recipe.reference, timeout=300)
    return recipe.reference


# Building the image


@dataclass(frozen=True)
class Build:
    image: str
    image_id: str
    seconds: float
    cached: bool
    """Whether the image already existed with the same id before this build (every layer from the cache)."""


def index_mounts() -> list[str]:
    """``-v host:container:ro`` for each package-index configuration file this machine has."""
    mounts: list[str] = []
    for host, inside in INDEX_CONFIGURATION:
        if Path(host).is_file():
            mounts += ["-v", f"{host}:{inside}:ro"]
    return mounts


def build_image(
    podman: Podman,
    tag: str,
    build_args: Mapping[str, str],
    *,
    context: Path = ROOT,
    timeout: float = 900.0,
) -> Build:
    """``podman build`` of ``context``'s Dockerfile, unchanged, with ``build_args`` and the index mounts.

    ``--format docker`` keeps the ``HEALTHCHECK`` (the OCI image format has no field for it).
    """
    before = podman.image_id(tag)
    args: list[str] = []
    for name, value in build_args.items():
        args += ["--build-arg", f"{name}={value}"]
    started = time.monotonic()
    podman(
        "build",
        "--format",
        "docker",
        "--network",
        "host",
        "--pull=never",
        *ULIMITS,
        *index_mounts(),
        *args,
        "--tag",
        tag,
        "--file",
        str(context / "Dockerfile"),
        str(context),
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    image_id = podman.image_id(tag)
    assert image_id is not None, f"podman build did not tag {tag}"
    return Build(tag, image_id, seconds, cached=before == image_id)


def debian_build_args(podman: Podman) -> dict[str, str]:
    """The Dockerfile's base-image arguments pointed at locally made Debian bases."""
    return {"PYTHON_IMAGE": base_image(podman, PYTHON_BASE), "NODE_IMAGE": base_image(podman, NODE_BASE)}


# Containers


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Container:
    """One detached container on the host network, removed (by name) by :meth:`remove` or :func:`containers`."""

    podman: Podman
    image: str
    name: str
    env: Mapping[str, str] = field(default_factory=dict)
    options: Sequence[str] = ()
    command: Sequence[str] = ()
    run_id: str = "manual"

    def start(self) -> Container:
        env_args: list[str] = []
        for key, value in self.env.items():
            env_args += ["--env", f"{key}={value}"]
        self.podman(
            "run",
            "--detach",
            "--name",
            self.name,
            "--label",
            f"{TEST_LABEL}={self.run_id}",
            "--network",
            "host",
            *ULIMITS,
            *env_args,
            *self.options,
            self.image,
            *self.command,
            timeout=120,
        )
        return self

    def inspect(self, template: str) -> str:
        return self.podman("container", "inspect", "--format", template, self.name).stdout.strip()

    @property
    def running(self) -> bool:
        return self.inspect("{{.State.Running}}") == "true"

    def exit_code(self) -> int:
        return int(self.inspect("{{.State.ExitCode}}"))

    def logs(self) -> str:
        result = self.podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def exec(self, *argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return self.podman("exec", self.name, *argv, timeout=timeout, check=False)

    def stop(self, grace: float) -> float:
        """SIGTERM (podman's default stop signal), SIGKILL past ``grace`` s; returns the seconds it took."""
        started = time.monotonic()
        self.podman("stop", "--time", str(int(grace)), self.name, timeout=grace + 30)
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lease released; waited for until the container has stopped."""
        self.podman("kill", "--signal", "KILL", self.name, timeout=30)
        wait_until_sync(lambda: not self.running, 20, what=f"container {self.name} stopping after SIGKILL")

    def remove(self) -> None:
        """Remove it (killing it if it still runs), with its anonymous volumes; a no-op once gone."""
        self.podman("rm", "--force", "--volumes", "--time", "5", "--ignore", self.name, timeout=60)


@contextlib.contextmanager
def containers(podman: Podman) -> Iterator[list[Container]]:
    """Collect :class:`Container` objects in the yielded list; every one is removed at the end, by name."""
    started: list[Container] = []
    try:
        yield started
    finally:
        errors = []
        for container in reversed(started):
            try:
                container.remove()
            except PodmanError as failed:
                errors.append(str(failed))
        if errors:
            raise PodmanError("could not remove containers:\n" + "\n".join(errors))
