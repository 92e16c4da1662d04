"""The ``/schema`` page: the API's operations as plain HTML, with nothing loaded from anywhere else.

Litestar's default page pulls its JavaScript and favicon from a CDN without integrity pinning, so a
compromised CDN would run script on this origin, the one whose cookies hold tickets and passes. This
page is rendered here from the same OpenAPI document ``/schema/openapi.json`` serves.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class PlainSchemaPage(OpenAPIRenderPlugin):
    def __init__(self, base: str) -> None:
        super().__init__(path=["/", "/plain"], favicon="", style="")
        self.base = base.rstrip("/")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        root = escape(request.scope.get("root_path", "") or "")  # the paths are shown as a browser reaches them
        info = openapi_schema.get("info", {})
        rows = []
        for path, item in sorted(openapi_schema.get("paths", {}).items()):
            for method in METHODS:
                operation = item.get(method) if isinstance(item, dict) else None
                if isinstance(operation, dict):
                    summary = operation.get("summary") or operation.get("description") or ""
                    rows.append(
                        f"<tr><td><code>{method.upper()}</code></td><td><code>{root}{escape(path)}</code></td>"
                        f"<td>{escape(str(summary))}</td></tr>"
                    )
        title = escape(f"{info.get('title', 'API')} {info.get('version', '')}".strip())
        page = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{title}</title><meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}"
            "td{padding:.25rem .75rem;border-bottom:1px solid #ddd;vertical-align:top}</style></head><body>"
            f"<h1>{title}</h1><p>The OpenAPI document: <a href='{root}{self.base}/openapi.json'>openapi.json</a>, "
            f"<a href='{root}{self.base}/openapi.yaml'>openapi.yaml</a>.</p>"
            f"<table><thead><tr><th>Method</th><th>Path</th><th>What it does</th></tr></thead><tbody>{''.join(rows)}"
            "</tbody></table></body></html>"
        )
        return page.encode("utf-8")
