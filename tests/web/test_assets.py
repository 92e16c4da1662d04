"""Static assets: served with their type and cache lifetime; odd names and links out of a theme are 404s."""

from __future__ import annotations

from pathlib import Path

from tests.support.web import ClientFactory
from webapp.web.assets import STATIC_MAX_AGE, VENDOR_MAX_AGE, asset_segments, find_asset


def test_assets_are_served_with_their_type_and_lifetime(make_client: ClientFactory) -> None:
    client = make_client()
    css = client.get("/static/css/room.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == f"public, max-age={STATIC_MAX_AGE}"
    assert "attachment" not in css.headers.get("content-disposition", "")
    htmx = client.get("/vendor/htmx.min.js")
    assert htmx.status_code == 200
    assert "javascript" in htmx.headers["content-type"]
    assert htmx.headers["cache-control"] == f"public, max-age={VENDOR_MAX_AGE}"
    assert VENDOR_MAX_AGE > STATIC_MAX_AGE
    page = client.get("/", headers={"Accept": "text/html"}).text
    assert 'href="/static/css/room.css"' in page
    assert 'src="/vendor/htmx.min.js"' in page


def test_odd_names_are_404_without_touching_the_disk(make_client: ClientFactory) -> None:
    client = make_client()
    for path in (
        "/static/x%00",
        "/static/" + "a" * 300,
        "/static/css/room.css/x",
        "/static/../webapp/app.py",
        "/static/%2e%2e/webapp/app.py",
        "/static/.hidden",
        "/static/css",
        "/static/",
        "/vendor/x%00",
        "/vendor/ext",
        "/static/css/r%C3%B6om.css",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "cache-control" not in response.headers or "max-age" not in response.headers["cache-control"]
    assert asset_segments("/css/room.css") == ["css", "room.css"]
    for bad in ("", "/", "a//b", "a/./b", "a/../b", "a\x00", "é.css", "a/" * 7 + "b", "x" * 201):
        assert asset_segments(bad) is None, bad


def test_a_theme_link_pointing_outside_the_theme_is_not_followed(make_client: ClientFactory, tmp_path: Path) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("not for the web")
    theme = tmp_path / "theme"
    (theme / "static" / "css").mkdir(parents=True)
    (theme / "static" / "leak.txt").symlink_to(secret)
    (theme / "static" / "css" / "room.css").write_text("body { color: teal; }")
    (theme / "static" / "same.css").symlink_to(theme / "static" / "css" / "room.css")
    client = make_client(THEME_DIR=str(theme))
    assert client.get("/static/leak.txt").status_code == 404
    assert "teal" in client.get("/static/css/room.css").text
    assert "teal" in client.get("/static/same.css").text  # a link inside the theme is fine
    assert find_asset([theme / "static"], "leak.txt") is None
