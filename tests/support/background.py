"""Loops a test runs beside the code under test, stopped for sure when the test is done.

redis-py 8.1 + hiredis on Python 3.11 sometimes loses a ``task.cancel()`` that lands while a command is
in flight (the command returns, or raises ``ConnectionError`` instead). A loop that does not check for
that itself can run on forever and hang the test's teardown; so every loop here goes through the
product's own guard, ``webapp.queue.loops.stop_if_cancelled``, and every wait for a stop is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from webapp.queue.loops import stop_if_cancelled

STOP_WITHIN = 5.0
"""Seconds a cancelled loop gets to finish before the test fails loudly."""


async def stop_task(task: asyncio.Task[Any], within: float = STOP_WITHIN) -> None:
    """Cancel ``task`` (again every 0.1 s, in case a Redis call lost the cancellation) and wait for it,
    at most ``within`` seconds.

    Fails (``AssertionError``) if it is still running then. An error the task had already ended with
    before it was cancelled is re-raised, so a loop that broke during the test does not pass unnoticed;
    a ``RedisError`` raised after the cancellation is how redis-py reports a cancellation it lost, and
    counts as stopped.
    """
    if task.done():
        if not task.cancelled() and (broke := task.exception()) is not None:
            raise broke
        return
    deadline = time.monotonic() + within
    while not task.done() and time.monotonic() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.done():
        raise AssertionError(f"task {task.get_name()!r} was still running {within:g} s after it was cancelled")
    if not task.cancelled() and (error := task.exception()) is not None and not isinstance(error, RedisError):
        raise error


def repeat(turn: Callable[[], Awaitable[object]], *, every: float = 0.0, name: str | None = None) -> asyncio.Task[None]:
    """Start a task running ``await turn()`` in a loop, ``every`` seconds apart, until it is cancelled.

    Each turn checks the cancellation guard before and after ``turn()``, also when ``turn()`` raised (a
    lost cancellation can surface as a ``ConnectionError``). Stop it with :func:`stop_task`, or use
    :func:`background`, which does.
    """

    async def loop() -> None:
        while True:
            stop_if_cancelled()
            try:
                await turn()
            finally:
                stop_if_cancelled()
            await asyncio.sleep(every)

    return asyncio.create_task(loop(), name=name or getattr(turn, "__qualname__", "background loop"))


@contextlib.asynccontextmanager
async def background(
    turn: Callable[[], Awaitable[object]],
    *,
    every: float = 0.0,
    stop_within: float = STOP_WITHIN,
    name: str | None = None,
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``await turn()`` in a loop (see :func:`repeat`) for the body of the ``async with``, then stop it."""
    task = repeat(turn, every=every, name=name)
    try:
        yield task
    finally:
        await stop_task(task, stop_within)
