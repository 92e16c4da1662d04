"""Waiting on a condition with a deadline and a message, instead of sleeping for a guessed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

from webapp.queue.loops import stop_if_cancelled

Condition = Callable[[], bool | Awaitable[bool]]


async def wait_until(
    condition: Condition,
    within: float,
    *,
    what: str = "condition",
    every: float = 0.01,
    ignore: tuple[type[BaseException], ...] = (),
) -> float:
    """Poll ``condition`` (sync or async) until it is true; return the seconds it took.

    Fails with ``AssertionError("<what> did not hold within N s")`` at the deadline. Exceptions listed in
    ``ignore`` count as "not yet". Each turn checks for a cancellation a Redis call may have lost.
    """
    start = time.monotonic()
    while True:
        stop_if_cancelled()
        try:
            result = condition()
            held = await result if inspect.isawaitable(result) else result
        except ignore:
            held = False
        stop_if_cancelled()
        if held:
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"{what} did not hold within {within:g} s")
        await asyncio.sleep(every)


def wait_until_sync(
    condition: Callable[[], bool],
    within: float,
    *,
    what: str = "condition",
    every: float = 0.05,
    ignore: tuple[type[BaseException], ...] = (),
) -> float:
    """The blocking twin of :func:`wait_until`, for synchronous tests and fixtures."""
    start = time.monotonic()
    while True:
        try:
            held = condition()
        except ignore:
            held = False
        if held:
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"{what} did not hold within {within:g} s")
        time.sleep(every)
