"""What handlers take from the application: the waiting room (which holds the join limit).

Plain accessors rather than dependency injection: on the hottest routes Litestar's injection (a task
group per request when a handler has two dependencies) cost 10-25% of throughput (docs/performance.md).
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from webapp.room import WaitingRoom


def room_of(request: Request[Any, Any, Any]) -> WaitingRoom:
    room: WaitingRoom = request.app.state.room
    return room
