"""The Kubernetes manifests played with ``podman kube play``: the Deployment, ConfigMap and Secret as written.

podman runs one node's worth of them: it makes a pod of the Deployment's template and honours the pod's
security context, the container's envFrom (the ConfigMap and the Secret, which the test fills in), the
emptyDir volume and the resources. What only a cluster can show (replicas, HPA, PDB, NetworkPolicy, Service
routing, the probes as the kubelet runs them) is listed in docs/k8s.md.

Changed for the play, and only this: names get the test run's suffix (podman's pods and secrets are global
to its storage), the image is the test's tag, the pod uses the host network (so its ``ports`` go, see
below, and the probes ask the chosen port), and the ConfigMap's ``REDIS_URL``, ``HOST`` and ``PORT`` point at
the session's Redis and a free 127.0.0.1 port. The Service is not played: podman 4.3 has no Service kind.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml  # type: ignore[import-untyped]

from tests.deploy.conftest import BUILD_LIMIT, http_ready, report
from tests.support import TEST_SECRET, free_port, wait_until_sync
from tests.support.app_process import ROOT
from tests.support.containers import Podman, PodmanError

pytestmark = pytest.mark.timeout(BUILD_LIMIT)

K8S = ROOT / "k8s"
PLAYED = ("configmap.yaml", "secret.example.yaml", "deployment.yaml", "service.yaml")


def documents(file_name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / file_name).read_text()) if doc]


class Play:
    """The manifests rewritten for one run, played, and brought down (pod, volumes, secret) at the end."""

    def __init__(self, podman: Podman, image: str, redis_url: str, suffix: str, directory: Path) -> None:
        self.podman = podman
        self.port = free_port()
        self.suffix = suffix
        docs = [copy.deepcopy(doc) for name in PLAYED for doc in documents(name)]
        self.by_kind = {doc["kind"]: doc for doc in docs}
        renamed = {doc["metadata"]["name"] for doc in docs}
        for doc in docs:
            doc["metadata"]["name"] += suffix
        config = self.by_kind["ConfigMap"]["data"]
        config.update({"REDIS_URL": redis_url, "HOST": "127.0.0.1", "PORT": str(self.port)})
        secret = self.by_kind["Secret"]
        assert "REPLACE" in secret["stringData"]["JWT_SECRET"].upper(), "the template changed: fill it differently"
        secret["stringData"]["JWT_SECRET"] = TEST_SECRET
        pod = self.by_kind["Deployment"]["spec"]["template"]["spec"]
        pod["hostNetwork"] = True
        # podman plays every replica as a pod of its own on this one host: on the host network they would
        # all want the same port, so one is played (the three-replica deployment is test_replicas.py's).
        self.replicas = self.by_kind["Deployment"]["spec"]["replicas"]
        self.by_kind["Deployment"]["spec"]["replicas"] = 1
        [container] = pod["containers"]
        container["image"] = image
        # podman 4.3 turns every containerPort into a port mapping, which the host network refuses
        # ("PortMappings can only be used with Bridge or slirp4netns networking"); on the host network
        # the app listens on the ConfigMap's PORT directly, which the probes then ask.
        del container["ports"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            container[probe]["httpGet"]["port"] = self.port
        for source in container["envFrom"]:
            for ref in source.values():
                assert ref["name"] in renamed
                ref["name"] += suffix
        self.container = container
        self.kube_file = directory / "kube.yaml"
        # podman 4.3 has no Secret kind: an envFrom secretRef names a podman secret whose value is the
        # Secret's data as JSON, base64 values (what the API server makes of stringData).
        self.secret_file = directory / "secret.json"
        data = {key: base64.b64encode(value.encode()).decode() for key, value in secret["stringData"].items()}
        self.secret_file.write_text(json.dumps(data))
        workloads = [self.by_kind[kind] for kind in ("ConfigMap", "Deployment")]
        self.kube_file.write_text(yaml.safe_dump_all(workloads))
        self.output = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def secret_name(self) -> str:
        return str(self.by_kind["Secret"]["metadata"]["name"])

    def up(self) -> None:
        self.podman("secret", "create", self.secret_name, str(self.secret_file))
        played = self.podman("kube", "play", str(self.kube_file), timeout=180)
        self.output = played.stdout + played.stderr

    def down(self) -> None:
        """``kube down``, then any pod of this play a failed ``kube play`` left (by name), then the secret."""
        self.podman("kube", "down", str(self.kube_file), check=False, timeout=120)
        for pod in self.pods():
            self.podman("pod", "rm", "--force", "--ignore", pod, timeout=120)
        self.podman("secret", "rm", self.secret_name, check=False, timeout=30)
        if self.pods():
            raise PodmanError(f"pods left after the clean-up: {self.pods()}")

    def pods(self) -> list[str]:
        prefix = f"{self.by_kind['Deployment']['metadata']['name']}-pod-"
        listed = self.podman("pod", "ps", "--format", "{{.Name}}", timeout=30).stdout.split()
        return [name for name in listed if name.startswith(prefix)]

    def pod_containers(self) -> list[dict[str, Any]]:
        listed = self.podman("ps", "--all", "--format", "json", "--filter", f"pod={self.pod_name()}").stdout
        found: list[dict[str, Any]] = yaml.safe_load(listed) or []
        return found

    def pod_name(self) -> str:
        return f"{self.by_kind['Deployment']['metadata']['name']}-pod-0"

    def web_container_name(self) -> str:
        names = [c["Names"][0] for c in self.pod_containers() if not c.get("IsInfra")]
        assert len(names) == 1, names
        return str(names[0])


@pytest.fixture
def play(podman: Podman, image: str, redis_url: str, run_id: str, tmp_path: Path) -> Iterator[Play]:
    played = Play(podman, image, redis_url, f"-{run_id}", tmp_path)
    try:
        played.up()
        yield played
    finally:
        played.down()


def test_the_deployment_configmap_and_secret_play_under_podman(podman: Podman, play: Play) -> None:
    played = [line for line in play.output.splitlines() if line and "level=" not in line]
    report(f"podman kube play: {' '.join(played)} (of {play.replicas} replicas asked, 1 played)")
    wait_until_sync(lambda: http_ready(play.base_url + "/readyz"), 60, what="the played pod answering /readyz")
    name = play.web_container_name()
    inspect = podman("container", "inspect", name).stdout
    [details] = yaml.safe_load(inspect)
    # The pod's and the container's securityContext, as podman applied them.
    assert details["Config"]["User"] in ("10001", "10001:10001")
    assert details["HostConfig"]["ReadonlyRootfs"] is True
    assert details["HostConfig"]["CapDrop"] or details["EffectiveCaps"] == []
    assert "no-new-privileges" in " ".join(details["HostConfig"]["SecurityOpt"] or [])
    mounts = {mount["Destination"]: mount for mount in details["Mounts"]}
    assert "/tmp" in mounts, "the emptyDir for /tmp is missing"
    # The ConfigMap and the Secret reached the app: a ticket is signed with the Secret's JWT_SECRET.
    joined = httpx.post(play.base_url + "/join", timeout=5)
    assert joined.status_code == 201, joined.text
    claims = jwt.decode(joined.json()["token"], TEST_SECRET, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["sub"]
    env = dict(item.split("=", 1) for item in details["Config"]["Env"])
    assert env["EVENT_NAME"] == play.by_kind["ConfigMap"]["data"]["EVENT_NAME"]
    assert env["LOG_FORMAT"] == "json"
    # The writable /tmp works under the read-only root, as the uid the pod asks for.
    wrote = podman("exec", name, "sh", "-c", "id -u && echo ok > /tmp/probe && cat /tmp/probe", check=False)
    assert wrote.stdout.split() == ["10001", "ok"], wrote.stdout + wrote.stderr
    refused = podman("exec", name, "sh", "-c", "echo x > /app/probe", check=False)
    assert refused.returncode != 0
