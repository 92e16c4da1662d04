"""Settings that used to pass validation and misbehave later now stop start-up with one line (issue 15
item 5, issue 9 item 6): the line names the variable and never shows a secret."""

from __future__ import annotations

import pytest

from webapp.redis_url import ACCEPTED_SCHEMES, check_redis_url, redacted, url_kind
from webapp.settings import Settings, SettingsError

SECRETS = ("s3cret", "t0psecret", "s3%63ret")


def refused(env: dict[str, str]) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    return caught.value


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://h1:1/",  # no service name (issue 9 item 6)
        "redis+sentinel://u:s3cret@h:1/?sentinel_password=t0psecret",
        "redis+sentinel://h:1/m?sentinel_password=t0psecret&x=1",
        "redis+sentinel://h:1/m/²",
        "redis://:s3cret@host:99999",
        "redis://:s3cret@host:²",
        "redis://u:s3cret@[::1",
        "redis://u:s3%63ret@h:0",
        "redis://h:6379/abc",
        "redis://h:6379/²",
        "redis://",
        "redis://h,k:1",
        "redis://h :1",
        "redis://h:1/0#x",
        "redis://h:1/0?health_check_interval=x&password=s3cret",
        "unix://",
        "redis+cluster://h:1/3",
        "redis+cluster://u:s3cret@h:1?x=1",
        "http://h",
        "redis:/h",
        "localhost:6379",
    ],
)
def test_a_bad_redis_url_is_one_line_naming_the_variable_without_secrets(url: str) -> None:
    error = refused({"REDIS_URL": url})
    message = str(error)
    assert error.variable == "REDIS_URL"
    assert message.startswith("REDIS_URL: ")
    assert "\n" not in message
    for secret in SECRETS:
        assert secret not in message, message
    assert redacted(url) in message


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost:6379/0",
        "rediss://u:pw@redis.example:6380/2",
        "redis://[::1]:6379",
        "unix:///run/redis.sock",
        "redis+sentinel://s1:26379,s2/mymaster/1?sentinel_password=x",
        "rediss+cluster://u:pw@n1:7000,n2:7001",
    ],
)
def test_good_redis_urls_pass(url: str) -> None:
    assert Settings.from_env({"REDIS_URL": url}).redis_url == url
    assert check_redis_url(url) == url


def test_one_list_of_schemes_serves_settings_and_connect() -> None:
    assert {url_kind(f"{s}://h") for s in ACCEPTED_SCHEMES} == {"server", "sentinel", "cluster"}
    message = str(refused({"REDIS_URL": "valkey://h:1"}))
    for scheme in ACCEPTED_SCHEMES:
        assert scheme in message


def test_redacted_hides_every_secret_form() -> None:
    assert redacted("redis://u:s3cret@h:1") == "redis://u:***@h:1"
    assert redacted("redis+sentinel://h/m?sentinel_password=t0psecret") == "redis+sentinel://h/m?sentinel_password=***"
    assert redacted("redis://h:1/0?password=s3cret") == "redis://h:1/0?password=***"
    assert redacted("redis://u:s3%63ret@h") == "redis://u:***@h"


@pytest.mark.parametrize(
    "value", ["10.0.0.0/33", "not-an-ip", "*", "10.0.0.1,*", "10.0.0.300", "fe80::/129", "10.0.0.0/8;"]
)
def test_bad_trusted_proxies_are_refused(value: str) -> None:
    error = refused({"TRUSTED_PROXIES": value})
    assert error.variable == "TRUSTED_PROXIES"
    assert str(error).startswith("TRUSTED_PROXIES: ")


def test_trusted_proxies_accepts_addresses_and_networks() -> None:
    value = " 10.0.0.0/8, 192.168.1.1 ,2001:db8::/32,::1"
    settings = Settings.from_env({"TRUSTED_PROXIES": value})
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.168.1.1", "2001:db8::/32", "::1")
    everyone = Settings.from_env({"TRUSTED_PROXIES": "0.0.0.0/0,::/0"})
    assert everyone.trusted_proxies == ("0.0.0.0/0", "::/0")
