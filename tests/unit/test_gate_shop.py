"""The demo shop (webapp.shop) behind its gate: pages, the hand-off, the allow-list, settings, start-up errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support import ROOT
from tests.support.jwks import JwksServer, PassSigner
from webapp.shop.app import PRODUCTS, create_app
from webapp.shop.settings import ShopSettings, ShopSettingsError

ROOM = "http://127.0.0.1:8080/queue/"


@pytest.fixture
async def shop(room: JwksServer) -> AsyncIterator[AsyncTestClient[Litestar]]:
    settings = ShopSettings.from_env({"ROOM_URL": ROOM, "JWKS_URL": room.url})
    async with AsyncTestClient(app=create_app(settings), base_url="http://shop.test") as client:
        yield client


async def test_an_admitted_visitor_sees_the_sale_with_their_place_and_pass_expiry(
    shop: AsyncTestClient[Litestar],
    signer: PassSigner,
) -> None:
    token = signer.sign(position=42, ttl=600)
    shop.cookies.set("sq_pass", token)

    page = await shop.get("/")

    assert page.status_code == 200
    assert 'data-testid="sale"' in page.text
    assert '<strong data-testid="sale-position">42</strong>' in page.text
    assert 'data-testid="sale-expires"' in page.text
    for item in PRODUCTS:
        assert f'href="/products/{item.slug}"' in page.text


async def test_a_product_page_is_part_of_the_sale(
    shop: AsyncTestClient[Litestar],
    signer: PassSigner,
) -> None:
    shop.cookies.set("sq_pass", signer.sign())
    page = await shop.get("/products/vinyl")
    assert page.status_code == 200
    assert 'data-testid="sale"' in page.text
    assert "Limited vinyl" in page.text
    missing = await shop.get("/products/unicorn")
    assert missing.status_code == 404
    assert 'data-testid="not-found"' in missing.text


async def test_a_stranger_is_sent_to_the_room_carrying_the_exact_url(
    shop: AsyncTestClient[Litestar],
) -> None:
    answer = await shop.get("/products/poster?size=a2", follow_redirects=False)

    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(ROOM + "?")
    assert parse_qs(urlsplit(location).query)["return_to"] == ["http://shop.test/products/poster?size=a2"]


async def test_the_hand_off_gives_the_shop_its_own_cookie(
    shop: AsyncTestClient[Litestar],
    signer: PassSigner,
) -> None:
    token = signer.sign()
    answer = await shop.get(f"/products/vinyl?sq_pass={token}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/products/vinyl"
    assert "HttpOnly" in answer.headers["set-cookie"]

    page = await shop.get("/products/vinyl")  # the client keeps the cookie, as a browser would
    assert page.status_code == 200
    assert 'data-testid="sale"' in page.text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/static/shop.css"])
async def test_health_and_assets_need_no_pass(
    shop: AsyncTestClient[Litestar],
    path: str,
) -> None:
    assert (await shop.get(path, follow_redirects=False)).status_code == 200


async def test_with_the_room_down_admitted_visitors_shop_on_and_strangers_get_the_503(
    shop: AsyncTestClient[Litestar],
    room: JwksServer,
    signer: PassSigner,
) -> None:
    token = signer.sign()
    shop.cookies.set("sq_pass", token)
    assert (await shop.get("/")).status_code == 200
    room.stop()

    assert (await shop.get("/products/tour-tee")).status_code == 200
    shop.cookies.clear()
    stranger = await shop.get("/products/tour-tee", follow_redirects=False)
    # The set was fetched moments ago and the room said yes then: strangers still go to it.
    assert stranger.status_code == 303


def test_settings_follow_the_contract_s_defaults() -> None:
    settings = ShopSettings.from_env({"ROOM_URL": ROOM})
    assert settings.jwks_url == ROOM + ".well-known/jwks.json"
    assert (settings.pass_audience, settings.pass_issuer, settings.port) == ("pass:main", "session-queue", 8001)
    assert ShopSettings.from_env({"ROOM_URL": "http://q.test/queue", "QUEUE_NAME": "drop-2"}).pass_audience == (
        "pass:drop-2"
    )
    assert ShopSettings.from_env({"ROOM_URL": "http://q.test/queue"}).jwks_url == (
        "http://q.test/queue/.well-known/jwks.json"
    )
    assert ShopSettings.from_env({}).room_url == "http://localhost:8000/"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ROOM_URL", "ftp://room/"),
        ("ROOM_URL", "/queue/"),
        ("ROOM_URL", "http://room:99999/"),
        ("ROOM_URL", "http://room/#x"),
        ("JWKS_URL", "file:///etc/passwd"),
        ("PORT", "eighty"),
        ("PORT", "0"),
        ("PORT", "70000"),
        ("QUEUE_NAME", "Main Sale"),
        ("PASS_AUDIENCE", "x" * 300),
        ("PASS_ISSUER", "bad\nissuer"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ShopSettingsError) as refused:
        ShopSettings.from_env({"ROOM_URL": ROOM, variable: value})
    assert refused.value.variable == variable
    assert str(refused.value).startswith(f"{variable}: ")


def test_python_m_webapp_shop_stops_with_one_line_naming_the_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "webapp.shop"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "ROOM_URL": "javascript:alert(1)"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "webapp.shop: invalid configuration: ROOM_URL: expected an http:// or https:// URL with a host, "
        "got 'javascript:alert(1)'"
    ]
