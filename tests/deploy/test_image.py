"""The image itself, built with podman from the unchanged Dockerfile and run as Kubernetes would run it.

The bases are Debian root filesystems made with mmdebstrap (the public ``python``/``node`` images are not
reachable here); the Dockerfile takes them as build arguments. The containers run on the host network,
bound to 127.0.0.1, against the session's real Redis.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
import redis

from tests.deploy.conftest import BUILD_LIMIT, StartContainer, app_env, manifest, report, wait_ready
from tests.support import free_port, wait_until_sync
from tests.support.containers import Build, Podman, build_image, debian_build_args
from webapp.queue.keys import queue_keys
from webapp.settings import Settings

pytestmark = pytest.mark.timeout(BUILD_LIMIT)

MAX_IMAGE_BYTES = 500_000_000
"""A ceiling that catches a runtime stage that grew a compiler, npm or the test extras (about 200 MB today)."""


def pod_spec() -> dict[str, object]:
    spec = manifest("deployment.yaml", "Deployment")["spec"]
    assert isinstance(spec, dict)
    pod: dict[str, object] = spec["template"]["spec"]
    return pod


def web_container() -> dict[str, object]:
    containers = pod_spec()["containers"]
    assert isinstance(containers, list)
    container: dict[str, object] = containers[0]
    return container


def hardening_options() -> list[str]:
    """What the Deployment's securityContext and its /tmp emptyDir become for ``podman run``."""
    pod = pod_spec()
    volumes = {volume["name"]: volume for volume in pod["volumes"]}  # type: ignore[attr-defined]
    options = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    for mount in web_container()["volumeMounts"]:  # type: ignore[attr-defined]
        empty_dir = volumes[mount["name"]]["emptyDir"]
        size = str(empty_dir.get("sizeLimit", "64Mi")).removesuffix("i").lower()
        options += ["--tmpfs", f"{mount['mountPath']}:rw,size={size},mode=1777"]
    return options


def test_a_rebuild_comes_from_the_layer_cache(podman: Podman, image_build: Build) -> None:
    again = build_image(podman, image_build.image, debian_build_args(podman))
    report(f"image rebuild (nothing changed): {again.seconds:.1f} s")
    assert again.image_id == image_build.image_id, "an unchanged context must rebuild to the same image"
    assert again.seconds < 120, f"a cached rebuild took {again.seconds:.0f} s"


def test_image_is_non_root_slim_and_starts_python_m_webapp(podman: Podman, image: str) -> None:
    inspected = podman.image_inspect(image)
    assert inspected["Config"]["User"] == "10001:10001"
    assert inspected["Config"]["Entrypoint"] == ["python", "-m", "webapp"]
    healthcheck = inspected.get("Healthcheck")
    assert isinstance(healthcheck, dict), "HEALTHCHECK lost (build with --format docker)"
    assert healthcheck["Test"][0] == "CMD"
    size = podman.image_size(image)
    report(f"image size: {size / 1e6:.0f} MB")
    assert size < MAX_IMAGE_BYTES
    probe = podman.run_once(
        "--entrypoint", "sh", image, "-c",
        "id -u; id -g; for tool in gcc cc g++ make npm node; do command -v $tool || true; done",
    )  # fmt: skip
    uid, gid, *tools = probe.stdout.split()
    assert (uid, gid) == ("10001", "10001")
    assert tools == [], f"the runtime stage carries build tools: {tools}"
    imports = podman.run_once(
        "--entrypoint", "python", image, "-c",
        "import json, webapp.app, jwt, redis; print(json.dumps([jwt.__version__, redis.__version__]))",
    )  # fmt: skip
    assert len(json.loads(imports.stdout)) == 2


def test_read_only_root_with_the_manifests_tmpfs_serves_and_is_healthy(
    podman: Podman, image: str, start_container: StartContainer, redis_url: str
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = start_container(image, prefix="sq-test-app", env=app_env(redis_url, port), options=hardening_options())
    wait_ready(app, base_url)
    assert httpx.get(base_url + "/livez", timeout=5).status_code == 200
    assert httpx.get(base_url + "/vendor/htmx.min.js", timeout=5).status_code == 200
    assert httpx.get(base_url + "/", timeout=5).status_code == 200
    joined = httpx.post(base_url + "/join", timeout=5)
    assert joined.status_code == 201, joined.text
    assert joined.json()["position"] == 1
    # The HEALTHCHECK, run by podman inside the container as the image defines it.
    checked = podman("healthcheck", "run", app.name, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Read-only everywhere but the tmpfs.
    assert app.exec("sh", "-c", "echo x > /app/written").returncode != 0
    assert app.exec("sh", "-c", "echo x > /tmp/written && rm /tmp/written").returncode == 0
    assert app.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"


def test_healthcheck_fails_when_the_app_does_not_answer(
    podman: Podman, image: str, start_container: StartContainer
) -> None:
    # A container whose app never started: the check (which asks /livez on $PORT) must not pass.
    sleeper = start_container(
        image, prefix="sq-test-idle", options=["--entrypoint", "python"], command=["-c", "import time; time.sleep(120)"]
    )
    checked = podman("healthcheck", "run", sleeper.name, check=False, timeout=30)
    assert checked.returncode != 0


def test_sigterm_drains_and_releases_the_lease_within_the_grace_period(
    image: str, start_container: StartContainer, redis_url: str
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = app_env(redis_url, port)
    app = start_container(image, prefix="sq-test-app", env=env, options=hardening_options())
    wait_ready(app, base_url)
    wait_until_sync(lambda: "leadership taken" in app.logs(), 15, what="leadership taken")
    lease = queue_keys(env["QUEUE_NAME"]).leader
    grace = int(pod_spec()["terminationGracePeriodSeconds"])  # type: ignore[call-overload]
    with redis.Redis.from_url(redis_url) as client:
        assert client.exists(lease) == 1
        # Renewed at most a third of its TTL ago: gone sooner than that, it was released, not expired.
        expires_at = time.monotonic() + Settings.lease_ttl * 2 / 3
        took = app.stop(grace)  # SIGTERM, SIGKILL past the grace period
        released_in_time = client.exists(lease) == 0 and time.monotonic() < expires_at
    logs = app.logs()
    report(f"SIGTERM to exit: {took:.1f} s (grace period {grace} s)")
    assert took < grace, logs[-3000:]
    assert app.exit_code() == 0, logs[-3000:]
    assert "Application shutdown complete" in logs, logs[-3000:]
    assert "leadership released" in logs, logs[-3000:]
    assert released_in_time, f"the lease was not released on SIGTERM:\n{logs[-3000:]}"
