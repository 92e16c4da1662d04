"""Fuzz the admin API with the right token: whatever the body or query, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.support import AppProcess, RedisServer, app_process

ADMIN = "fuzz-admin-token-" + "z" * 32


@pytest.fixture(scope="module")
def server(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    with redis.Redis.from_url(redis_server.url) as raw:
        raw.flushall()
    app = app_process(
        redis_server.url,
        Path(tmp_path_factory.mktemp("admin-fuzz")) / "app.log",
        WINDOW_INTERVAL="3600",
        ADMIN_TOKEN=ADMIN,
    )
    yield app.start()
    app.stop()


@pytest.fixture(scope="module")
def cases(server: AppProcess) -> st.SearchStrategy[schemathesis.Case[Any]]:
    schema = schemathesis.openapi.from_url(server.url("/schema/openapi.json"))
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        if result.ok().path.startswith("/admin/api/"):
            operations.append(result.ok())
    assert {op.path for op in operations} >= {"/admin/api/pace", "/admin/api/message", "/admin/api/reset"}
    return st.one_of([op.as_strategy() for op in operations])


@given(data=st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_admin_call_answers_5xx(
    data: st.DataObject, cases: st.SearchStrategy[schemathesis.Case[Any]], server: AppProcess
) -> None:
    case = data.draw(cases)
    case.call_and_validate(
        base_url=server.base_url, headers={"Authorization": f"Bearer {ADMIN}"}, checks=[not_a_server_error]
    )
