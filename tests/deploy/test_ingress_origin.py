"""k8s/examples/ingress-origin.yaml: schema-valid, and pointing at what the room serves under ROOT_PATH."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from litestar import Litestar

from tests.support.nginx import TEMPLATE
from webapp.app import create_app
from webapp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "k8s" / "examples" / "ingress-origin.yaml"
KUBERNETES_VERSION = "1.37"
ANNOTATION = "nginx.ingress.kubernetes.io/"
IDENTITY_HEADERS = ("X-Queue-Position", "X-Queue-Pass-Id", "X-Queue-Pass-Expires")

Manifest = dict[str, Any]


def ingresses() -> dict[str, Manifest]:
    docs = [doc for doc in yaml.safe_load_all(EXAMPLE.read_text()) if doc is not None]
    assert all(doc["kind"] == "Ingress" for doc in docs)
    return {doc["metadata"]["name"]: doc for doc in docs}


def room_service() -> Manifest:
    service: Manifest = yaml.safe_load((ROOT / "k8s" / "service.yaml").read_text())
    return service


def backend_of(ingress: Manifest) -> tuple[str, str, Manifest]:
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    return rule["host"], path["path"], path["backend"]["service"]


def room_app() -> Litestar:
    return create_app(
        Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0", "JWT_SECRET": "x" * 40, "ROOT_PATH": "/queue"})
    )


@pytest.mark.parametrize("name", sorted(ingresses()))
def test_the_example_is_valid_for_kubernetes_in_strict_mode(name: str) -> None:
    kubernetes_validate.validate(ingresses()[name], KUBERNETES_VERSION, strict=True)


def test_the_example_is_not_part_of_the_kustomization() -> None:
    kustomization = yaml.safe_load((ROOT / "k8s" / "kustomization.yaml").read_text())
    assert not any("ingress" in resource for resource in kustomization["resources"])


def test_the_room_is_served_under_queue_on_the_sale_s_host() -> None:
    room, shop = ingresses()["session-queue-room"], ingresses()["sale-site"]
    room_host, room_path, room_backend = backend_of(room)
    shop_host, shop_path, _ = backend_of(shop)
    assert (room_host, room_path, shop_host, shop_path) == (shop_host, "/queue", room_host, "/")
    service = room_service()
    assert room_backend["name"] == service["metadata"]["name"]
    assert room_backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}
    assert not any(key.startswith(ANNOTATION + "auth") for key in room["metadata"].get("annotations", {}))


def test_the_sale_site_asks_the_room_s_auth_route_and_signs_in_at_the_room() -> None:
    annotations = ingresses()["sale-site"]["metadata"]["annotations"]
    auth = urlsplit(annotations[ANNOTATION + "auth-url"])
    service = room_service()
    assert auth.hostname is not None
    assert auth.hostname.split(".")[0] == service["metadata"]["name"]
    assert (auth.port or 80) in {port["port"] for port in service["spec"]["ports"]}
    assert auth.path == "/queue/auth"
    assert annotations[ANNOTATION + "auth-signin"] == "https://$host/queue/"
    assert annotations[ANNOTATION + "auth-signin-redirect-param"] == "return_to"
    copied = [header.strip() for header in annotations[ANNOTATION + "auth-response-headers"].split(",")]
    assert copied == list(IDENTITY_HEADERS)


def test_the_room_under_root_path_serves_what_the_proxies_ask_for() -> None:
    """The route paths nginx and the ingress name exist in the room's app (ROOT_PATH=/queue is the proxy's prefix)."""
    paths = {route.path for route in room_app().routes}
    assert {"/auth", "/", "/.well-known/jwks.json"} <= paths


def test_the_nginx_template_copies_the_same_identity_headers() -> None:
    text = TEMPLATE.read_text()
    for header in IDENTITY_HEADERS:
        variable = "$upstream_http_" + header.lower().replace("-", "_")
        assert variable in text
        assert f"proxy_set_header {header} " in text
