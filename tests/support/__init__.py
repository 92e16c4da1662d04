"""What every test suite shares (unit, web, integration, HA, deploy, fuzz, model, e2e, bench).

Import it absolutely, ``from tests.support import free_port, wait_until``; the pytest fixtures built on it
(``redis_server``, ``redis_url``, ``make_client``, ``client``, ``keys``) live in the conftest files.
"""

from tests.support.app_process import FAST_WINDOW_ENV, ROOT, AppProcess, app_process, inherited_environ
from tests.support.background import background, repeat, stop_task
from tests.support.config import BASE_ENV, TEST_SECRET, settings_for
from tests.support.ports import free_port
from tests.support.redis_clock import redis_now_ms
from tests.support.redis_servers import (
    ClusterSetup,
    RedisServer,
    SentinelSetup,
    cluster_setup,
    require_binary,
    sentinel_setup,
)
from tests.support.waiting import wait_until, wait_until_sync

__all__ = [
    "BASE_ENV",
    "FAST_WINDOW_ENV",
    "ROOT",
    "TEST_SECRET",
    "AppProcess",
    "ClusterSetup",
    "RedisServer",
    "SentinelSetup",
    "app_process",
    "background",
    "cluster_setup",
    "free_port",
    "inherited_environ",
    "redis_now_ms",
    "repeat",
    "require_binary",
    "sentinel_setup",
    "settings_for",
    "stop_task",
    "wait_until",
    "wait_until_sync",
]
