"""A real multi-container deployment on one host: a Redis container and three app containers from the image.

All four share the host network on distinct 127.0.0.1 ports (what a pod network would give them, minus the
addresses). Through them: concurrent joins spread over the replicas, one slider at a time, a replica killed
with SIGKILL, and a browser carried from the room to the sale page through one replica.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from playwright.async_api import async_playwright, expect

from tests.deploy.conftest import BUILD_LIMIT, StartContainer, app_env, wait_ready
from tests.support import AppProcess, free_port, wait_until_sync
from tests.support.browser import launch_args
from tests.support.containers import Container
from webapp.queue.keys import queue_keys

pytestmark = pytest.mark.timeout(BUILD_LIMIT)

REPLICAS = 3
JOINS = 60
SLID = re.compile(r"window slid to (\d+)")


@dataclass
class Replica:
    container: Container
    api: AppProcess
    """The JSON API helpers of tests.support, pointed at this container's port (never started by it)."""


@dataclass
class Deployment:
    redis: Container
    redis_url: str
    replicas: list[Replica]

    def slides(self) -> dict[str, list[int]]:
        """The window ends each replica's log says it slid to, by container name."""
        return {r.container.name: [int(n) for n in SLID.findall(r.container.logs())] for r in self.replicas}

    def leader(self) -> Replica:
        """The replica holding the lease, by the instance id its log announced when it took the lead."""
        with redis.Redis.from_url(self.redis_url) as client:
            holder = client.get(queue_keys("main").leader)
        assert holder is not None, "nobody holds the lease"
        [leading] = [r for r in self.replicas if f"leadership taken by {holder.decode()}" in r.container.logs()]
        return leading


Deploy = Callable[..., Deployment]


def redis_answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def deploy(image: str, redis_image: str, start_container: StartContainer) -> Deploy:
    """Start Redis and :data:`REPLICAS` app containers (with extra app environment); all removed after the test."""

    def start(**env: str) -> Deployment:
        redis_port = free_port()
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        server = start_container(
            redis_image,
            prefix="sq-test-redis",
            command=[
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        wait_until_sync(lambda: redis_answers(redis_url), 30, what="the Redis container answering PING")
        replicas = []
        for _ in range(REPLICAS):
            port = free_port()
            container = start_container(image, prefix="sq-test-app", env=app_env(redis_url, port, **env))
            api = AppProcess({}, log_path=Path(os.devnull), port=port)
            replicas.append(Replica(container, api))
        for replica in replicas:
            wait_ready(replica.container, replica.api.base_url)
        return Deployment(server, redis_url, replicas)

    return start


def test_three_replicas_share_one_line_and_one_slider_and_survive_a_sigkill(deploy: Deploy) -> None:
    # A lease short enough that a killed leader's lease runs out within the test.
    deployment = deploy(LEADER_LEASE_TTL="2")
    replicas = deployment.replicas
    with ThreadPoolExecutor(max_workers=12) as pool:
        tickets = list(pool.map(lambda i: replicas[i % REPLICAS].api.join(), range(JOINS)))
    positions = sorted(int(t["position"]) for t in tickets)
    assert positions == list(range(1, JOINS + 1)), "joins across the replicas must be unique and contiguous"

    # One slider: the window slides, and only the leader's log says it slid.
    window_now = int(replicas[0].api.status(tickets[0]["token"])["window_end"])
    replicas[0].api.wait_for_window(tickets[0]["token"], window_now + 3, timeout=20)
    leader = deployment.leader()
    sliders = {name for name, ends in deployment.slides().items() if ends}
    assert sliders == {leader.container.name}, deployment.slides()

    # SIGKILL the leader: nothing is released, the lease has to run out; nobody's place may change.
    slid_before = deployment.slides()[leader.container.name]
    leader.container.kill()
    survivors = [r for r in replicas if r is not leader]
    for index, ticket in enumerate(tickets):
        seen = survivors[index % len(survivors)].api.status(ticket["token"])
        assert seen["position"] == ticket["position"], (ticket, seen)
    # Another replica takes the lead and the window moves on from where it was, with no slide repeated.
    last = max(slid_before)
    survivors[0].api.wait_for_window(tickets[0]["token"], last + 2, timeout=30)
    after = {name: ends for name, ends in deployment.slides().items() if name != leader.container.name}
    taken_over = [ends for ends in after.values() if ends]
    assert len(taken_over) == 1, after
    every_slide = slid_before + taken_over[0]
    assert every_slide == sorted(set(every_slide)), f"a window end was slid to twice: {every_slide}"
    # The line continues after the last place handed out before the kill.
    assert survivors[1].api.join()["position"] == JOINS + 1


async def test_a_browser_is_carried_from_the_room_to_the_sale_page_through_one_replica(deploy: Deploy) -> None:
    deployment = deploy(WINDOW_INTERVAL="2")
    replica = deployment.replicas[1].api
    # Right after a slide with nobody waiting (as in e2e/test_room.py): the browser's turn is a slide away.
    first, second = replica.join_many(2)
    assert first["status"] == "active"
    replica.wait_for_status(second["token"], "active")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(headless=True, **launch_args())
        try:
            page = await browser.new_page(base_url=replica.base_url)
            await page.goto("/")
            await expect(page.get_by_test_id("queue-position")).to_have_text("3")
            await expect(page.get_by_test_id("checkout")).to_be_visible(timeout=15_000)
            await expect(page).to_have_url(replica.url("/checkout"))
        finally:
            await browser.close()
