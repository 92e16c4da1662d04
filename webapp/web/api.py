"""The seed's JSON API: ``POST /join`` issues a ticket, ``GET /status`` reads it (Bearer token)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import ClientException, NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from webapp import metrics
from webapp.queue.window import Status
from webapp.room import Joined, PrequeueNotOpenError, TicketStatus, WaitingRoom, WindowUnknownError
from webapp.tokens import Ticket, TokenError
from webapp.web.clients import client_address
from webapp.web.deps import room_of

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="session-queue"'}


@dataclass(frozen=True)
class StatusBody:
    position: int
    status: str
    ahead: int
    window_end: int
    estimated_wait_seconds: float | None
    active_seconds_left: float
    poll_after_seconds: float
    reconnecting: bool
    paused: bool
    message: str
    arrival_index: int | None = None
    """For a place drawn from the pre-queue: the arrival index it was drawn from (check it with /draw)."""

    @classmethod
    def of(cls, status: TicketStatus) -> StatusBody:
        return cls(
            position=status.position,
            status=status.status.value,
            ahead=status.ahead,
            window_end=status.window_end,
            # No estimate while admission is paused: nobody knows when the operator resumes.
            estimated_wait_seconds=None if status.paused else round(status.estimated_wait, 1),
            active_seconds_left=round(status.active_time_left, 1),
            poll_after_seconds=round(status.poll_after, 2),
            reconnecting=status.reconnecting,
            paused=status.paused,
            message=status.message,
            arrival_index=status.arrival or None,
        )


def rfc3339(seconds: float) -> str:
    """An instant as RFC 3339 in UTC with milliseconds (``2026-12-03T10:00:00.000Z``)."""
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class PrequeueBody:
    """A pre-queue ticket before the draw: an arrival index, no position yet."""

    status: str
    arrival_index: int
    opens_at: str
    opens_in_seconds: float
    prequeue_size: int
    poll_after_seconds: float
    reconnecting: bool
    message: str

    @classmethod
    def of(cls, status: TicketStatus) -> PrequeueBody:
        opens_at = status.opens_at or 0.0
        return cls(
            status=status.status.value,
            arrival_index=status.arrival,
            opens_at=rfc3339(opens_at),
            opens_in_seconds=round(status.estimated_wait, 1),
            prequeue_size=status.prequeue_size,
            poll_after_seconds=round(status.poll_after, 2),
            reconnecting=status.reconnecting,
            message=status.message,
        )


@dataclass(frozen=True)
class PrequeueJoinBody:
    token: str
    status: str
    arrival_index: int
    opens_at: str
    prequeue_size: int


@dataclass(frozen=True)
class DrawBody:
    """The draw as published: the commitment from the first moment, the seed and size once it is made."""

    commitment: str
    seed: str | None
    size: int | None
    opened_at: str | None
    opens_at: str


@dataclass(frozen=True)
class JoinBody:
    token: str
    position: int
    status: str
    ahead: int
    estimated_wait_seconds: float


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None when absent, 400 when malformed."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ClientException(detail="Authorization header must be 'Bearer <token>'", headers=_CHALLENGE)
    return token.strip()


def _ticket(room: WaitingRoom, token: str | None) -> Ticket:
    if token is None:
        raise NotAuthorizedException(detail="missing bearer token", headers=_CHALLENGE)
    try:
        return room.read_ticket(token)
    except TokenError as exc:
        raise NotAuthorizedException(detail=f"invalid ticket: {exc}", headers=_CHALLENGE) from None


@post("/join", summary="Take a place in the queue", tags=["queue"], security=[{"bearer": []}])
async def join(request: Request[Any, Any, State]) -> Response[JoinBody | PrequeueJoinBody]:
    """Issue a ticket; a client that presents a valid ticket of this queue gets it back unchanged."""
    failed = request.scope.get("state", {}).get(LANE_JOIN_FAILURE)
    if failed is not None:  # the lane tried this join and it failed: answered here, not tried again
        raise failed
    room = room_of(request)
    presented: str | None = None
    try:
        presented = bearer_token(request.headers.get("authorization"))
    except ClientException:
        presented = None
    try:
        joined = await room.join(presented, client_address(request))
    except PrequeueNotOpenError as early:
        raise PermissionDeniedException(
            detail=f"the pre-queue opens at {rfc3339(early.opens_at)}; come back then",
            headers={"Retry-After": str(early.retry_after)},
        ) from None
    code, body = join_body(room, joined)
    return Response(body, status_code=code)


LANE_JOIN_FAILURE = "sq.lane_join_failure"
"""Where :mod:`webapp.web.lane` leaves the exception of a join it tried, for :func:`join` to raise."""


def join_body(room: WaitingRoom, joined: Joined) -> tuple[int, JoinBody | PrequeueJoinBody]:
    """The answer to a join: 201 and the new ticket's place, or 200 and the presented one's."""
    status = room.status(joined.ticket)
    code = HTTP_201_CREATED if joined.created else HTTP_200_OK
    if status.status is Status.PREQUEUE:
        early_body = PrequeueJoinBody(
            token=joined.token,
            status=status.status.value,
            arrival_index=status.arrival,
            opens_at=rfc3339(status.opens_at or 0.0),
            prequeue_size=status.prequeue_size,
        )
        return code, early_body
    body = JoinBody(
        token=joined.token,
        position=status.position,
        status=status.status.value,
        ahead=status.ahead,
        estimated_wait_seconds=round(status.estimated_wait, 1),
    )
    return code, body


@get("/status", summary="Where a ticket stands", tags=["queue"], security=[{"bearer": []}])
async def status(request: Request[Any, Any, State]) -> StatusBody | PrequeueBody:
    """Answer waiting, active, expired or prequeue for the Bearer ticket, from this replica's copy of the window."""
    room = room_of(request)
    ticket = _ticket(room, bearer_token(request.headers.get("authorization")))
    metrics.STATUS_POLLS.inc()
    answer = room.status(ticket)
    if answer.status is Status.PREQUEUE:
        return PrequeueBody.of(answer)
    return StatusBody.of(answer)


@get("/draw", name="draw", summary="The scheduled sale's draw", tags=["queue"])
async def draw(request: Request[Any, Any, State]) -> DrawBody:
    """The commitment sha256(seed) from the first moment; the seed, size and opening once the draw is made.

    Read from this replica's copy of the window (no Redis command); 404 when no sale is scheduled.
    """
    room = room_of(request)
    view = room.watcher.view()
    if view is None:
        raise WindowUnknownError("the window has not been read from Redis yet")
    made = view.draw
    if made is None:
        raise NotFoundException(detail="no scheduled sale: this queue has no draw")
    opened = made.opened_at_ms
    return DrawBody(
        commitment=made.commitment,
        seed=made.seed.hex() if made.opened else None,
        size=made.size,
        opened_at=None if opened is None else rfc3339(opened / 1000),
        opens_at=rfc3339(made.opens_at_ms / 1000),
    )
