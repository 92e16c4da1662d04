"""SALE_OPENS_AT and PREQUEUE_OPENS_AT: RFC 3339 with a zone, checked against each other, named when refused."""

from __future__ import annotations

import pytest

from webapp.settings import Settings, SettingsError

SECRET = {"JWT_SECRET": "s" * 40}


def settings(**env: str) -> Settings:
    return Settings.from_env({**SECRET, **env})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-12-03T10:00:00Z", 1796292000.0),
        ("2026-12-03T10:00:00z", 1796292000.0),
        ("2026-12-03t11:00:00+01:00", 1796292000.0),
        ("2026-12-03 05:00:00-05:00", 1796292000.0),
        ("2026-12-03T10:00:00.250Z", 1796292000.25),
        ("2026-12-03T10:00:00.123456789Z", 1796292000.123456),
    ],
)
def test_rfc3339_instants_are_read(raw: str, expected: float) -> None:
    assert settings(SALE_OPENS_AT=raw).sale_opens_at == pytest.approx(expected)


def test_unset_means_no_scheduled_sale() -> None:
    unset = settings()
    assert unset.sale_opens_at is None
    assert unset.prequeue_opens_at is None


@pytest.mark.parametrize(
    "raw",
    [
        "2026-12-03T10:00:00",
        "2026-12-03",
        "10:00",
        "tomorrow",
        "2026-13-03T10:00:00Z",
        "2026-12-03T25:00:00Z",
        "1796292000",
    ],
)
def test_a_bad_opening_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(SALE_OPENS_AT=raw)
    assert caught.value.variable == "SALE_OPENS_AT"


def test_the_prequeue_needs_a_sale_and_may_not_open_after_it() -> None:
    with pytest.raises(SettingsError) as alone:
        settings(PREQUEUE_OPENS_AT="2026-12-03T09:00:00Z")
    assert alone.value.variable == "PREQUEUE_OPENS_AT"
    with pytest.raises(SettingsError) as late:
        settings(SALE_OPENS_AT="2026-12-03T09:00:00Z", PREQUEUE_OPENS_AT="2026-12-03T10:00:00Z")
    assert late.value.variable == "PREQUEUE_OPENS_AT"
    with pytest.raises(SettingsError) as zoneless:
        settings(SALE_OPENS_AT="2026-12-03T09:00:00Z", PREQUEUE_OPENS_AT="2026-12-03T08:00:00")
    assert zoneless.value.variable == "PREQUEUE_OPENS_AT"
    both = settings(SALE_OPENS_AT="2026-12-03T10:00:00Z", PREQUEUE_OPENS_AT="2026-12-03T09:00:00Z")
    assert both.prequeue_opens_at == both.sale_opens_at - 3600  # type: ignore[operator]
