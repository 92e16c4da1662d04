"""The Dockerfile, read line by line (no Docker engine here), and its entry point run as the image would."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx
import redis
import yaml  # type: ignore[import-untyped]

from tests.support import TEST_SECRET, AppProcess, free_port, wait_until_sync
from webapp.queue.keys import queue_keys
from webapp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
HTMX_DIST = "node_modules/htmx.org/dist"


@dataclass(frozen=True)
class Instruction:
    stage: str
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"{self.keyword} must be in exec (JSON array) form"
        return [str(item) for item in value]


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped, each tagged with its stage."""
    instructions: list[Instruction] = []
    stage = ""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        pending = ""
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = arguments.split()
            stage = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else parts[0]
        instructions.append(Instruction(stage, keyword, arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


INSTRUCTIONS = parse_dockerfile((ROOT / "Dockerfile").read_text())
FINAL_STAGE = INSTRUCTIONS[-1].stage


def final(keyword: str) -> list[Instruction]:
    return [i for i in INSTRUCTIONS if i.stage == FINAL_STAGE and i.keyword == keyword]


def final_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in final("ENV"):
        for pair in shlex.split(instruction.arguments):
            name, _, value = pair.partition("=")
            env[name] = value
    return env


def copies(stage: str) -> list[tuple[str | None, list[str], str]]:
    """(--from stage or None, sources, destination) of each COPY in ``stage``."""
    found = []
    for instruction in INSTRUCTIONS:
        if instruction.stage != stage or instruction.keyword != "COPY":
            continue
        words = instruction.arguments.split()
        flags = {w.split("=", 1)[0]: w.split("=", 1)[1] for w in words if w.startswith("--")}
        paths = [w for w in words if not w.startswith("--")]
        found.append((flags.get("--from"), paths[:-1], paths[-1]))
    return found


def configmap() -> dict[str, str]:
    docs = yaml.safe_load_all((ROOT / "k8s" / "configmap.yaml").read_text())
    [data] = [doc["data"] for doc in docs if doc and doc["kind"] == "ConfigMap"]
    return {str(k): str(v) for k, v in data.items()}


def test_runtime_is_slim_python_311_built_in_stages() -> None:
    stages = [i.arguments.split()[0] for i in INSTRUCTIONS if i.keyword == "FROM"]
    assert len(stages) >= 3
    [base] = [i.arguments for i in INSTRUCTIONS if i.keyword == "ARG" and i.arguments.startswith("PYTHON_IMAGE=")]
    assert base.startswith("PYTHON_IMAGE=python:3.11-slim")
    assert stages[-1] == "${PYTHON_IMAGE}"


def test_both_base_images_are_build_arguments_defaulting_to_the_public_images() -> None:
    # tests/deploy/test_image.py builds from local Debian bases through these arguments.
    args = dict(i.arguments.split("=", 1) for i in INSTRUCTIONS if i.keyword == "ARG" and "=" in i.arguments)
    assert args["NODE_IMAGE"].startswith("node:")
    assert args["NODE_IMAGE"].endswith("-bookworm-slim")
    assert args["PYTHON_IMAGE"].endswith("-bookworm")
    bases = {i.arguments.split()[0] for i in INSTRUCTIONS if i.keyword == "FROM"}
    assert bases == {"${NODE_IMAGE}", "${PYTHON_IMAGE}"}, "every stage starts from a base given by argument"


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    user = final("USER")[-1].arguments
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "Kubernetes' runAsNonRoot can only verify a numeric uid"
    assert int(uid) > 0
    assert not gid or int(gid) > 0


def test_entry_point_is_python_m_webapp_in_exec_form() -> None:
    [entrypoint] = final("ENTRYPOINT")
    assert entrypoint.exec_form() == ["python", "-m", "webapp"]
    assert not final("CMD"), "a CMD would become arguments the entry point does not take"


def test_image_listens_on_all_interfaces_on_the_configured_port() -> None:
    env = final_env()
    [expose] = final("EXPOSE")
    assert env["HOST"] == "0.0.0.0"  # noqa: S104 - inside the container, behind the pod's network
    assert int(expose.arguments) == int(env["PORT"]) == int(configmap()["PORT"]) == Settings.port


def test_project_is_installed_without_extras_and_assets_sit_in_the_working_directory() -> None:
    runs = " ".join(i.arguments for i in INSTRUCTIONS if i.keyword == "RUN")
    assert "pip install . " in runs + " "
    assert "pip install -e" not in runs
    assert ".[" not in runs, "no test or dev extras in the image"
    [workdir] = final("WORKDIR")
    app_dir = PurePosixPath(workdir.arguments)
    destinations = {(source_stage, str(app_dir / dest)) for source_stage, _, dest in copies(FINAL_STAGE)}
    # webapp.app.project_root() falls back to the working directory for templates/, static/, node_modules/.
    assert (None, str(app_dir / "templates")) in destinations
    assert (None, str(app_dir / "static")) in destinations
    [(assets_stage, [htmx_source], htmx_dest)] = [c for c in copies(FINAL_STAGE) if c[2].endswith(HTMX_DIST)]
    assert assets_stage is not None
    assert htmx_source.endswith(HTMX_DIST)
    assert str(app_dir / htmx_dest) == str(app_dir / HTMX_DIST)
    npm = " ".join(i.arguments for i in INSTRUCTIONS if i.stage == assets_stage and i.keyword == "RUN")
    assert "npm ci" in npm, "htmx comes from the lock file, not from whatever npm calls latest"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/htmx.org"]["version"].startswith("2.")


def dockerignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        parts = PurePosixPath(path).parts
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            ignored = not negated
    return ignored


def test_build_context_has_what_the_dockerfile_copies_and_nothing_heavy() -> None:
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()[:1] not in ("", "#")
    ]
    for heavy in (".git", ".venv", "node_modules", ".pytest_cache", ".mypy_cache", "tests"):
        assert dockerignored(heavy, patterns), heavy
    stages = dict.fromkeys(i.stage for i in INSTRUCTIONS)
    sources = [source for stage in stages for c in copies(stage) if c[0] is None for source in c[1]]
    assert {"pyproject.toml", "webapp", "templates", "static", "package.json", "package-lock.json"} <= set(sources)
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert any(fnmatch.fnmatchcase(readme, source) for source in sources), "pip install . reads the readme"
    for source in sources:
        assert not dockerignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
        if "*" not in source:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def healthcheck_command() -> list[str]:
    [healthcheck] = final("HEALTHCHECK")
    options, _, command = healthcheck.arguments.partition("CMD ")
    assert "--timeout=" in options
    argv = json.loads(command)
    assert isinstance(argv, list)
    assert argv[:2] == ["python", "-c"], "slim images have no curl: use python's urllib"
    return [sys.executable, *argv[1:]]


def run_healthcheck(port: int) -> int:
    result = subprocess.run(
        healthcheck_command(), env={**os.environ, "PORT": str(port)}, capture_output=True, timeout=10, check=False
    )
    return result.returncode


def test_healthcheck_fails_when_nothing_listens() -> None:
    assert run_healthcheck(free_port()) != 0


def get(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return 0


def test_entry_point_serves_and_stops_gracefully_on_sigterm(redis_url: str, tmp_path: Path) -> None:
    [entrypoint] = final("ENTRYPOINT")
    argv = entrypoint.exec_form()
    image_env = {name: value for name, value in final_env().items() if name != "PATH"}
    env = {**image_env, **configmap(), "REDIS_URL": redis_url, "JWT_SECRET": TEST_SECRET}
    # The image's environment only (plus PATH), not the test runner's: HOST and PORT are the launcher's.
    server = AppProcess(
        env,
        tmp_path / "server.log",
        command=[sys.executable, *argv[1:]],
        cwd=tmp_path,
        base_environ={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    server.start(timeout=30)
    try:
        wait_until_sync(lambda: "leadership taken" in server.log(), 15, what="leadership taken")
        assert get(server.url("/livez")) == 200
        assert get(server.url("/vendor/htmx.min.js")) == 200, "htmx's dist/ is not served"
        joined = httpx.post(server.url("/join"), timeout=5)
        assert joined.status_code == 201, "a first join on a flushed Redis creates a ticket"
        assert joined.json()["position"] == 1
        assert joined.json()["token"]
        assert run_healthcheck(server.port) == 0
        lease = queue_keys(env["QUEUE_NAME"]).leader
        with redis.Redis.from_url(redis_url) as client:
            assert client.exists(lease) == 1
            # The lease was renewed at most a third of its TTL ago: gone sooner, it was released, not expired.
            expires_at = time.monotonic() + float(Settings.lease_ttl) * 2 / 3
            returncode = server.stop(timeout=15)  # SIGTERM; SIGKILL (and a non-zero code) past 15 s
            released_in_time = client.exists(lease) == 0 and time.monotonic() < expires_at
    finally:
        server.stop()
    output = server.log()
    assert "Application shutdown complete" in output, output[-3000:]
    assert released_in_time, f"the leader lease was not released on SIGTERM:\n{output[-3000:]}"
    # uvicorn re-raises the SIGTERM it handled; python -m webapp installs a handler for that, so the
    # process returns from main() with 0 after a complete, flushed shutdown (container or not).
    assert returncode == 0, output[-3000:]
    assert "leadership released" in output, output[-3000:]
