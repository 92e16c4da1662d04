"""/schema loads nothing from another origin (issue 15, also noted): no CDN script, no remote favicon."""

from __future__ import annotations

import re

from tests.support.web import ClientFactory


def test_the_schema_page_is_self_contained(make_client: ClientFactory) -> None:
    client = make_client()
    page = client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text.lower()
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", page.text), "the page refers to another origin"
    for path in ("/join", "/status"):
        assert f"<code>{path}</code>" in page.text
    links = re.findall(r"href='([^']+)'", page.text)
    assert links == ["/schema/openapi.json", "/schema/openapi.yaml"]
    for link in links:
        assert client.get(link).status_code == 200
    assert client.get("/schema/openapi.json").json()["info"]["title"] == "session-queue"
