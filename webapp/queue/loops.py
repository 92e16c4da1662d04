"""What the background loops (window watcher, slider) share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]


def stop_if_cancelled() -> None:
    """Raise the cancellation a Redis call may have lost.

    On Python 3.11, ``asyncio.wait_for`` inside redis-py can swallow a cancellation that arrives as a
    command completes (or turn it into a ``ConnectionError``); the task is still marked as cancelling,
    so the loop checks that mark itself instead of looping on and hanging the app's shutdown.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
