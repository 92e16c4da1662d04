"""A hypothesis state machine over the real Redis scripts: joins, polls, slides, leader changes, time
passing and Redis losing its data, checking the queue's invariants after every step."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from redis.asyncio import Redis

from webapp.queue.keys import queue_keys
from webapp.queue.leader import Lease
from webapp.queue.store import QueueStore, SlideOutcome
from webapp.queue.window import Status, status_of

SIZE = 2
COUNT = 2
RANK = {Status.WAITING: 0, Status.ACTIVE: 1, Status.EXPIRED: 2}


class QueueMachine(RuleBasedStateMachine):
    redis_url: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.redis = Redis.from_url(self.redis_url)
        self.run(self.redis.flushall())
        self.keys = queue_keys("model")
        self.store = QueueStore(self.redis, self.keys, SIZE, interval=60.0)
        self.leases = [Lease(self.redis, self.keys.leader, f"replica-{i}", ttl=60.0) for i in range(2)]
        self.leader = 0
        assert self.run(self.leases[0].acquire())
        self.run(self.store.seed())
        self.issued: list[int] = []
        self.window_end = SIZE
        self.seen_status: dict[int, Status] = {}

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def teardown(self) -> None:
        self.run(self.redis.aclose())
        self.loop.close()

    @rule(count=st.integers(min_value=1, max_value=4))
    def join(self, count: int) -> None:
        issued = self.run(self.store.join(count))
        fresh = list(range(issued.first, issued.last + 1))
        assert not set(fresh) & set(self.issued), "a position was issued twice"
        assert issued.first > max(self.issued, default=0), "a position went backwards"
        self.issued.extend(fresh)
        assert issued.window_end >= self.window_end

    @rule()
    def time_passes(self) -> None:
        """The slide becomes due (by Redis' clock, which the script reads)."""
        if not self.run(self.redis.hexists(self.keys.window, "window_end")):
            return  # nothing to make due: the queue is re-seeded by the next operation
        now_s, now_us = self.run(self.redis.time())
        self.run(self.redis.hset(self.keys.window, "next_due", now_s * 1000 + now_us // 1000 - 1))

    @rule(by=st.integers(min_value=0, max_value=1))
    def slide(self, by: int) -> None:
        waiting = max(self.issued, default=0) > self.window_end
        due_before = self.run(self.redis.hget(self.keys.window, "next_due"))
        result = self.run(self.store.slide(f"replica-{by}"))
        if by != self.leader:
            assert result.outcome is SlideOutcome.NOT_LEADER, "a replica without the lease slid"
            return
        if result.outcome is SlideOutcome.NOT_SEEDED:
            self.run(self.store.seed())
            return
        if result.outcome is SlideOutcome.NOT_DUE:
            assert due_before is not None
            return
        if waiting:
            assert result.outcome is SlideOutcome.SLID
            assert result.window_end == self.window_end + SIZE
        else:
            assert result.outcome is SlideOutcome.SKIPPED, "the window slid with nobody waiting"
            assert result.window_end == self.window_end
        self.window_end = result.window_end

    @rule()
    def slide_twice_in_one_interval(self) -> None:
        """Once a slide ran, a second call in the same interval (a paused leader resuming) does nothing."""
        self.time_passes()
        self.slide(self.leader)
        second = self.run(self.store.slide(f"replica-{self.leader}"))
        assert second.outcome in (SlideOutcome.NOT_DUE, SlideOutcome.NOT_SEEDED)

    @rule()
    def leader_changes(self) -> None:
        self.run(self.leases[self.leader].release())
        self.leader = 1 - self.leader
        assert self.run(self.leases[self.leader].acquire())

    @rule()
    def redis_loses_everything(self) -> None:
        self.run(self.redis.flushall())
        assert self.run(self.leases[self.leader].acquire())  # the lease holder re-takes the empty lease

    @precondition(lambda self: bool(self.issued))
    @rule()
    def poll(self) -> None:
        snap = self.run(self.store.snapshot())
        if not snap.seeded:
            self.run(self.store.seed())
            snap = self.run(self.store.snapshot())
        assert snap.window_end >= self.window_end, "the window moved backwards"
        assert snap.last_position >= max(self.issued), "the counter forgot issued positions"
        self.window_end = snap.window_end
        for position in self.issued:
            status = status_of(position, snap.window_end, SIZE, COUNT)
            before = self.seen_status.get(position, Status.WAITING)
            assert RANK[status] >= RANK[before], f"position {position} went from {before} back to {status}"
            self.seen_status[position] = status

    @invariant()
    def fifo(self) -> None:
        ranks = [RANK[self.seen_status.get(p, Status.WAITING)] for p in sorted(self.issued)]
        assert ranks == sorted(ranks, reverse=True), "a later position is ahead of an earlier one"


def test_queue_invariants_hold_through_joins_slides_leader_changes_and_data_loss(redis_url: str) -> None:
    QueueMachine.redis_url = redis_url
    run_state_machine_as_test(QueueMachine, settings=settings(max_examples=150, stateful_step_count=40, deadline=None))
