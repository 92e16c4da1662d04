"""ROOT_PATH, COOKIE_DOMAIN and RETURN_ORIGINS: read, normalised, and refused with the variable named."""

from __future__ import annotations

import pytest

from webapp.settings import MIN_SECRET_BYTES, Settings, SettingsError


def settings(**variables: str) -> Settings:
    return Settings.from_env({"JWT_SECRET": "s" * MIN_SECRET_BYTES, **variables})


def test_defaults_change_nothing() -> None:
    s = settings()
    assert s.root_path == ""
    assert s.cookie_domain is None
    assert s.return_origins == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("/queue", "/queue"), ("/shop/queue", "/shop/queue"), (" /q-1_x.y~ ", "/q-1_x.y~"), ("/", ""), ("", "")],
)
def test_root_path(raw: str, expected: str) -> None:
    assert settings(ROOT_PATH=raw).root_path == expected


@pytest.mark.parametrize(
    "raw",
    [
        "queue",
        "/queue/",
        "//queue",
        "/queue//x",
        "/..",
        "/queue/..",
        "/./queue",
        "/.hidden",
        "/que ue",
        "/qu%65ue",
        "/queue?x",
        "/queue#x",
        "/caf\u00e9",
        "/a\\b",
        "/" + "a" * 250,
    ],
)
def test_bad_root_path_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(ROOT_PATH=raw)
    assert caught.value.variable == "ROOT_PATH"
    assert "ROOT_PATH" in str(caught.value)


def test_cookie_domain_is_normalised() -> None:
    assert settings(COOKIE_DOMAIN=".Shop.Example").cookie_domain == "shop.example"


@pytest.mark.parametrize("raw", ["localhost", "10.0.0.1", "https://shop.example", "shop.example:80"])
def test_bad_cookie_domain_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(COOKIE_DOMAIN=raw)
    assert caught.value.variable == "COOKIE_DOMAIN"
    assert str(caught.value).startswith("COOKIE_DOMAIN: ")


def test_return_origins_are_normalised() -> None:
    s = settings(RETURN_ORIGINS="https://Shop.Example/, http://127.0.0.1:9000")
    assert s.return_origins == ("https://shop.example", "http://127.0.0.1:9000")


@pytest.mark.parametrize("raw", ["*", "https://shop.example/sale", "shop.example", "https://a.example,javascript:x"])
def test_bad_return_origins_are_refused(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(RETURN_ORIGINS=raw)
    assert caught.value.variable == "RETURN_ORIGINS"
    assert str(caught.value).startswith("RETURN_ORIGINS: ")
