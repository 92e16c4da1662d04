"""The Kubernetes manifests in k8s/: schema-valid, consistent with each other and with the app itself."""

from __future__ import annotations

import copy
import ipaddress
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from litestar import Litestar

from webapp.app import create_app
from webapp.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
KUBERNETES_VERSION = "1.37"
TEST_SECRET = "test-secret-" + "x" * 40
SECRET_TEMPLATE = "secret.example.yaml"
NAME_LABEL = "app.kubernetes.io/name"

Manifest = dict[str, Any]


def load(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def manifests() -> list[tuple[str, Manifest]]:
    return [(path.name, doc) for path in sorted(K8S.glob("*.yaml")) for doc in load(path)]


def only(kind: str, file_name: str | None = None) -> Manifest:
    found = [doc for name, doc in manifests() if doc["kind"] == kind and file_name in (None, name)]
    assert len(found) == 1, f"expected exactly one {kind}, found {len(found)}"
    return found[0]


def deployment() -> Manifest:
    return only("Deployment")


def web_container() -> Manifest:
    containers: list[Manifest] = deployment()["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def configmap() -> dict[str, str]:
    data: dict[str, str] = only("ConfigMap")["data"]
    return data


def redis_statefulset() -> Manifest:
    return only("StatefulSet")


def redis_container() -> Manifest:
    containers: list[Manifest] = redis_statefulset()["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def pod_labels(workload: Manifest) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def app_settings(extra: Mapping[str, str] | None = None) -> Settings:
    return Settings.from_env({**configmap(), "JWT_SECRET": TEST_SECRET, **(extra or {})})


class RecordingEnviron(Mapping[str, str]):
    """An environment that remembers every variable looked up in it."""

    def __init__(self, data: Mapping[str, str]) -> None:
        self.data = dict(data)
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


@pytest.fixture(scope="module")
def app() -> Litestar:
    # Building the app connects to nothing: Redis is only reached in the lifespan, which is not entered.
    return create_app(app_settings())


def test_every_manifest_has_the_required_fields_and_our_labels() -> None:
    found = manifests()
    assert {doc["kind"] for _, doc in found} >= {
        "Kustomization",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "StatefulSet",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
    }
    for file_name, doc in found:
        assert doc.get("apiVersion"), file_name
        if doc["kind"] == "Kustomization":
            continue
        labels = doc["metadata"].get("labels", {})
        assert doc["metadata"].get("name"), file_name
        assert labels.get(NAME_LABEL) in ("session-queue", "redis"), file_name
        assert "app.kubernetes.io/component" in labels, file_name


def test_kustomization_lists_every_manifest_except_the_secret_template() -> None:
    kustomization = load(K8S / "kustomization.yaml")[0]
    resources = set(kustomization["resources"])
    on_disk = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert SECRET_TEMPLATE in on_disk
    assert resources == on_disk - {SECRET_TEMPLATE}


@pytest.mark.parametrize(("file_name", "doc"), [m for m in manifests() if m[1]["kind"] != "Kustomization"])
def test_manifest_is_valid_for_kubernetes_in_strict_mode(file_name: str, doc: Manifest) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_validation_catches_mistakes() -> None:
    broken = copy.deepcopy(deployment())
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    misspelt = copy.deepcopy(deployment())
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSION, strict=True)


def test_deployment_runs_three_replicas_and_rolls_out_without_losing_capacity() -> None:
    spec = deployment()["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert selects(spec["selector"]["matchLabels"], pod_labels(deployment()))


def test_probes_ask_routes_the_app_serves_on_the_container_port(app: Litestar) -> None:
    container = web_container()
    served = {route.path: route for route in app.routes}
    ports = [port["containerPort"] for port in container["ports"]]
    assert ports == [int(configmap()["PORT"])] == [app_settings().port]
    probes = {name: container[name]["httpGet"] for name in ("readinessProbe", "livenessProbe", "startupProbe")}
    assert probes["readinessProbe"]["path"] == "/servez"  # not /readyz: Redis is shared by every replica
    assert probes["livenessProbe"]["path"] == "/livez"
    for name, probe in probes.items():
        assert probe["path"] in served, f"{name} asks {probe['path']}, which the app does not serve"
        assert "GET" in served[probe["path"]].methods, name
        assert probe["port"] in (ports[0], container["ports"][0]["name"]), name


def test_configmap_is_a_valid_configuration_of_variables_the_app_reads() -> None:
    data = configmap()
    environ = RecordingEnviron({**data, "JWT_SECRET": TEST_SECRET})
    settings = Settings.from_env(environ)
    unread = set(data) - environ.asked
    assert not unread, f"the ConfigMap sets variables the app never reads: {sorted(unread)}"
    assert "JWT_SECRET" not in data, "the secret belongs in the Secret, not the ConfigMap"
    assert settings.host == data["HOST"] == "0.0.0.0"  # noqa: S104 - inside the pod
    assert settings.window_size == int(data["WINDOW_SIZE"])
    assert settings.window_interval == float(data["WINDOW_INTERVAL"])
    assert settings.active_window_count == int(data["ACTIVE_WINDOW_COUNT"])
    assert settings.session_duration == float(data["SESSION_DURATION"])
    assert settings.queue_name == data["QUEUE_NAME"]
    assert settings.event_name == data["EVENT_NAME"]
    assert settings.redis_url == data["REDIS_URL"]
    assert not settings.cliff_edge


def test_trusted_proxies_are_networks_uvicorn_understands() -> None:
    # uvicorn silently treats an unparsable entry as a literal host name that never matches.
    proxies = app_settings().trusted_proxies
    assert proxies
    for proxy in proxies:
        network = ipaddress.ip_network(proxy)
        assert network.is_private, proxy


def test_redis_url_points_at_the_redis_service() -> None:
    url = urlsplit(configmap()["REDIS_URL"])
    service = only("Service", "redis-service.yaml")
    assert url.scheme == "redis"
    assert url.hostname == service["metadata"]["name"] == redis_statefulset()["spec"]["serviceName"]
    assert url.port == service["spec"]["ports"][0]["port"]
    assert service["spec"]["clusterIP"] == "None"
    assert selects(service["spec"]["selector"], pod_labels(redis_statefulset()))
    redis_ports = {port["name"]: port["containerPort"] for port in redis_container()["ports"]}
    assert redis_ports[service["spec"]["ports"][0]["targetPort"]] == url.port == 6379


def test_deployment_reads_the_configmap_and_the_secret_the_template_describes() -> None:
    sources = web_container()["envFrom"]
    assert {"configMapRef": {"name": only("ConfigMap")["metadata"]["name"]}} in sources
    assert {"secretRef": {"name": only("Secret")["metadata"]["name"]}} in sources


def test_secret_template_holds_no_usable_secret() -> None:
    template = only("Secret", SECRET_TEMPLATE)
    values = {**template.get("stringData", {}), **template.get("data", {})}
    assert set(values) == {"JWT_SECRET"}
    assert "REPLACE" in values["JWT_SECRET"].upper()
    with pytest.raises(SettingsError) as refused:
        app_settings({"JWT_SECRET": values["JWT_SECRET"]})
    assert refused.value.variable == "JWT_SECRET"
    assert "kubectl create secret generic session-queue" in (K8S / SECRET_TEMPLATE).read_text()


def test_redis_keeps_an_append_only_file_on_a_persistent_volume() -> None:
    args = redis_container()["args"]
    options = dict(zip(args[::2], args[1::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "everysec"
    assert options["--maxmemory-policy"] == "noeviction"
    claims = redis_statefulset()["spec"]["volumeClaimTemplates"]
    assert len(claims) == 1
    mounts = {mount["name"]: mount["mountPath"] for mount in redis_container()["volumeMounts"]}
    assert mounts[claims[0]["metadata"]["name"]] == options["--dir"]


@pytest.mark.parametrize("container", [web_container(), redis_container()], ids=["web", "redis"])
def test_containers_run_locked_down(container: Manifest) -> None:
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]


def test_web_pods_get_a_writable_tmp_and_the_image_s_numeric_user() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    tmp = [mount for mount in web_container()["volumeMounts"] if mount["mountPath"] == "/tmp"]
    assert len(tmp) == 1
    assert "emptyDir" in volumes[tmp[0]["name"]]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"USER {pod['securityContext']['runAsUser']}:" in dockerfile


def test_pods_drain_before_they_stop() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    command = web_container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    # The drain pause plus uvicorn's 10 s graceful shutdown must fit in the grace period.
    assert int(command[1]) + 10 < pod["terminationGracePeriodSeconds"]


def test_web_pods_spread_across_nodes() -> None:
    constraints = deployment()["spec"]["template"]["spec"]["topologySpreadConstraints"]
    keys = {constraint["topologyKey"] for constraint in constraints}
    assert "kubernetes.io/hostname" in keys
    for constraint in constraints:
        assert selects(constraint["labelSelector"]["matchLabels"], pod_labels(deployment()))


def test_service_budget_and_autoscaler_target_the_web_pods() -> None:
    labels = pod_labels(deployment())
    service = only("Service", "service.yaml")
    assert selects(service["spec"]["selector"], labels)
    assert service["spec"]["ports"][0]["targetPort"] in ("http", int(configmap()["PORT"]))
    budget = only("PodDisruptionBudget")["spec"]
    assert selects(budget["selector"]["matchLabels"], labels)
    assert budget.get("maxUnavailable") == 1 or budget.get("minAvailable") == 2
    autoscaler = only("HorizontalPodAutoscaler")
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    spec = autoscaler["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "session-queue"}
    assert spec["minReplicas"] == deployment()["spec"]["replicas"] <= spec["maxReplicas"]
    assert [metric["resource"]["name"] for metric in spec["metrics"]] == ["cpu"]


def test_only_web_pods_may_reach_redis() -> None:
    policy = only("NetworkPolicy")["spec"]
    assert selects(policy["podSelector"]["matchLabels"], pod_labels(redis_statefulset()))
    assert not selects(policy["podSelector"]["matchLabels"], pod_labels(deployment()))
    assert policy["policyTypes"] == ["Ingress"]
    [rule] = policy["ingress"]
    [peer] = rule["from"]
    assert set(peer) == {"podSelector"}, "no namespace or address ranges may reach Redis"
    assert selects(peer["podSelector"]["matchLabels"], pod_labels(deployment()))
    assert not selects(peer["podSelector"]["matchLabels"], pod_labels(redis_statefulset()))
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]


def test_image_tag_is_the_project_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert web_container()["image"] == f"session-queue:{version}"
    assert pod_labels(deployment())["app.kubernetes.io/version"] == version
    kustomization = load(K8S / "kustomization.yaml")[0]
    assert {"name": "session-queue", "newTag": version} in kustomization["images"]
