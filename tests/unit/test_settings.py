"""Settings.from_env on plain dicts: defaults, every variable's bad values, and the start-up refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from webapp.settings import MIN_SECRET_BYTES, Settings, SettingsError

SECRET = "s" * MIN_SECRET_BYTES
REPO_ROOT = Path(__file__).resolve().parents[2]


def settings(**variables: str) -> Settings:
    return Settings.from_env({"JWT_SECRET": SECRET, **variables})


def refused(variable: str, raw: str) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        settings(**{variable: raw})
    assert caught.value.variable == variable
    assert variable in str(caught.value)
    return caught.value


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.redis_url is None
    assert s.port == 8000
    assert s.host == "127.0.0.1"
    assert s.workers == 1
    assert s.window_size == 10
    assert s.window_interval == 30.0
    assert s.active_window_count == 2
    assert s.session_duration == 600.0
    assert s.ticket_ttl == 21_600.0
    assert s.queue_name == "main"
    assert s.event_name
    assert s.lease_ttl == 5.0
    assert s.snapshot_refresh == 0.1
    assert s.redis_timeout == 1.0
    assert s.cookie_secure is None
    assert s.theme_dir is None
    assert s.join_rate_limit == 20
    assert s.trusted_proxies == ()
    assert s.cliff_edge is False


def test_blank_values_mean_the_default() -> None:
    s = settings(PORT="", WINDOW_SIZE="  ", WINDOW_INTERVAL="", QUEUE_NAME="", COOKIE_SECURE="")
    assert (s.port, s.window_size, s.window_interval, s.queue_name, s.cookie_secure) == (8000, 10, 30.0, "main", None)


def test_values_are_read() -> None:
    s = settings(
        PORT="9000",
        HOST="10.0.0.5",
        WEB_CONCURRENCY="4",
        WINDOW_SIZE="250",
        WINDOW_INTERVAL="2.5",
        ACTIVE_WINDOW_COUNT="3",
        SESSION_DURATION="900",
        TICKET_TTL="3600",
        QUEUE_NAME="spring-sale_2",
        EVENT_NAME="  Spring Sale  ",
        LEADER_LEASE_TTL="2",
        SNAPSHOT_REFRESH="0.25",
        REDIS_TIMEOUT="0.5",
        JOIN_RATE_LIMIT="0",
        TRUSTED_PROXIES="10.0.0.1, 10.0.0.2,,",
    )
    assert s.port == 9000
    assert s.host == "10.0.0.5"
    assert s.workers == 4
    assert s.window_size == 250
    assert s.window_interval == 2.5
    assert s.active_window_count == 3
    assert s.session_duration == 900.0
    assert s.ticket_ttl == 3600.0
    assert s.queue_name == "spring-sale_2"
    assert s.event_name == "Spring Sale"
    assert s.lease_ttl == 2.0
    assert s.snapshot_refresh == 0.25
    assert s.redis_timeout == 0.5
    assert s.join_rate_limit == 0
    assert s.trusted_proxies == ("10.0.0.1", "10.0.0.2")


def test_settings_are_frozen() -> None:
    s = settings()
    with pytest.raises(AttributeError):
        s.window_size = 3  # type: ignore[misc]


def test_secret_is_not_in_repr() -> None:
    assert SECRET not in repr(settings())


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        *[("PORT", raw) for raw in ["abc", "80.5", "-1", "0", "65536", "1e3", "80 80"]],
        *[("WEB_CONCURRENCY", raw) for raw in ["two", "0", "-2", "65", "1.0"]],
        *[("WINDOW_SIZE", raw) for raw in ["abc", "0", "-10", "2.5", "10000001", "nan", "ten"]],
        *[
            ("WINDOW_INTERVAL", raw)
            for raw in ["abc", "0", "-1", "0.05", "0.0999", "nan", "NaN", "inf", "-inf", "infinity", "86401", "30s"]
        ],
        *[("ACTIVE_WINDOW_COUNT", raw) for raw in ["abc", "0", "-1", "1.5", "1001"]],
        *[("SESSION_DURATION", raw) for raw in ["abc", "0", "-600", "9.9", "nan", "inf", "86401"]],
        *[("TICKET_TTL", raw) for raw in ["abc", "0", "-1", "59", "nan", "inf", "604801"]],
        *[("LEADER_LEASE_TTL", raw) for raw in ["abc", "0", "-5", "0.2", "nan", "inf", "601"]],
        *[("SNAPSHOT_REFRESH", raw) for raw in ["abc", "0", "-0.1", "0.001", "nan", "inf", "6"]],
        *[("REDIS_TIMEOUT", raw) for raw in ["abc", "0", "-1", "0.01", "nan", "inf", "31"]],
        *[("JOIN_RATE_LIMIT", raw) for raw in ["abc", "-1", "2.5", "1000001"]],
        *[("COOKIE_SECURE", raw) for raw in ["maybe", "2", "secure", "truee"]],
    ],
)
def test_bad_value_is_refused_naming_the_variable(variable: str, raw: str) -> None:
    refused(variable, raw)


def test_refusal_message_quotes_the_bad_value() -> None:
    error = refused("WINDOW_SIZE", "abc")
    assert "'abc'" in str(error)
    assert str(error).startswith("WINDOW_SIZE:")


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize(
    ("raw", "expected"), [("0.5", 0.5), ("0.1", 0.1), (" 2 ", 2.0), ("1e1", 10.0), ("86400", 86_400)]
)
def test_window_interval_accepts_fractions(raw: str, expected: float) -> None:
    assert settings(WINDOW_INTERVAL=raw).window_interval == expected


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("65535", 65535), (" 8080 ", 8080)])
def test_port_range_is_inclusive(raw: str, expected: int) -> None:
    assert settings(PORT=raw).port == expected


# JWT_SECRET


@pytest.mark.parametrize("raw", ["secret", "x", "s" * (MIN_SECRET_BYTES - 1)])
def test_short_secret_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"JWT_SECRET": raw})
    assert caught.value.variable == "JWT_SECRET"
    assert "JWT_SECRET" in str(caught.value)


def test_short_secret_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"JWT_SECRET": "Tr0ub4dor&3"})
    assert "Tr0ub4dor&3" not in str(caught.value)


def test_secret_length_counts_bytes_not_characters() -> None:
    # 16 two-byte characters are 32 bytes.
    s = Settings.from_env({"JWT_SECRET": "é" * 16})
    assert s.jwt_secret == ("é" * 16).encode()


def test_secret_of_exactly_32_bytes_is_accepted() -> None:
    s = Settings.from_env({"JWT_SECRET": SECRET})
    assert s.jwt_secret == SECRET.encode()
    assert s.secret_generated is False


def test_missing_secret_is_generated() -> None:
    first = Settings.from_env({})
    second = Settings.from_env({"JWT_SECRET": ""})
    assert first.secret_generated
    assert second.secret_generated
    assert len(first.jwt_secret) >= MIN_SECRET_BYTES
    assert first.jwt_secret != second.jwt_secret


# Redis location


def test_redis_addr_becomes_a_url() -> None:
    assert settings(REDIS_ADDR="localhost:6379").redis_url == "redis://localhost:6379"
    assert settings(REDIS_ADDR="10.1.2.3:6380").redis_url == "redis://10.1.2.3:6380"
    assert settings(REDIS_ADDR="[::1]:6379").redis_url == "redis://[::1]:6379"


@pytest.mark.parametrize(
    "raw",
    [
        "localhost",
        "localhost:",
        ":6379",
        "localhost:abc",
        "localhost:0",
        "localhost:65536",
        "localhost:-1",
        "redis://localhost:6379",
        "local host:6379",
        "user@localhost:6379",
        "localhost:6379/0",
        "::1:6379",
        "localhost:\uff16\uff13\uff17\uff19",  # full-width digits
    ],
)
def test_bad_redis_addr_is_refused(raw: str) -> None:
    refused("REDIS_ADDR", raw)


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost:6379/0",
        "rediss://user:pw@cache.example:6380/1",
        "unix:///run/redis.sock",
        "redis+sentinel://sentinel:26379/mymaster",
        "redis+cluster://node-1:7000",
    ],
)
def test_redis_url_schemes_accepted(url: str) -> None:
    assert settings(REDIS_URL=url).redis_url == url


@pytest.mark.parametrize("url", ["http://localhost:6379", "localhost:6379", "memcached://x", "//localhost:6379"])
def test_bad_redis_url_scheme_is_refused(url: str) -> None:
    refused("REDIS_URL", url)


def test_redis_url_wins_over_redis_addr() -> None:
    s = settings(REDIS_URL="redis://primary:6379/0", REDIS_ADDR="other:6380")
    assert s.redis_url == "redis://primary:6379/0"


def test_redis_url_wins_even_over_a_bad_redis_addr() -> None:
    assert settings(REDIS_URL="redis://primary:6379/0", REDIS_ADDR="nonsense").redis_url == "redis://primary:6379/0"


# Queue, event, cookies, theme


@pytest.mark.parametrize("name", ["main", "a", "sale-2026", "x_y", "0", "a" * 32])
def test_queue_name_accepted(name: str) -> None:
    assert settings(QUEUE_NAME=name).queue_name == name


@pytest.mark.parametrize("name", ["Main", "-main", "_main", "a" * 33, "sale 1", "sale{1}", "a:b", "ünï", "main\nx"])
def test_bad_queue_name_is_refused(name: str) -> None:
    refused("QUEUE_NAME", name)


def test_long_event_name_is_refused() -> None:
    refused("EVENT_NAME", "x" * 121)
    assert settings(EVENT_NAME="x" * 120).event_name == "x" * 120


@pytest.mark.parametrize(("count", "cliff"), [("1", True), ("2", False), ("5", False)])
def test_cliff_edge_only_with_one_active_window(count: str, cliff: bool) -> None:
    assert settings(ACTIVE_WINDOW_COUNT=count).cliff_edge is cliff


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("auto", None),
        ("AUTO", None),
        ("1", True),
        ("true", True),
        ("True", True),
        ("yes", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("OFF", False),
    ],
)
def test_cookie_secure(raw: str, expected: bool | None) -> None:
    assert settings(COOKIE_SECURE=raw).cookie_secure is expected


def test_theme_dir_must_exist(tmp_path: Path) -> None:
    assert settings(THEME_DIR=str(tmp_path)).theme_dir == tmp_path
    refused("THEME_DIR", str(tmp_path / "missing"))
    a_file = tmp_path / "theme.css"
    a_file.write_text("body {}")
    refused("THEME_DIR", str(a_file))


# python -m webapp refuses to start


def _run_webapp(variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1", **variables}
    return subprocess.run(
        [sys.executable, "-m", "webapp"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"WINDOW_SIZE": "abc", "JWT_SECRET": SECRET}, {"WINDOW_SIZE"}),
        ({"JWT_SECRET": "secret"}, {"JWT_SECRET"}),
        ({"WINDOW_SIZE": "abc", "JWT_SECRET": "secret"}, {"WINDOW_SIZE", "JWT_SECRET"}),
    ],
)
def test_module_exits_with_one_line_naming_the_variable(variables: dict[str, str], named: set[str]) -> None:
    # No REDIS_URL: had validation passed, an embedded server would start and uvicorn would serve forever
    # (the timeout would fire); exiting at once with status 2 shows nothing was started.
    result = _run_webapp(variables)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert any(variable in lines[0] for variable in named), lines[0]
    assert "embedded" not in result.stderr
    assert result.stdout == ""
