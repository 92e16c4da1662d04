"""The seed's JSON API: ``POST /join`` issues a ticket, ``GET /status`` reads it (Bearer token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import ClientException, NotAuthorizedException
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from webapp import metrics
from webapp.room import TicketStatus, WaitingRoom
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
        )


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
async def join(request: Request[Any, Any, State]) -> Response[JoinBody]:
    """Issue a ticket; a client that presents a valid ticket of this queue gets it back unchanged."""
    room = room_of(request)
    presented: str | None = None
    try:
        presented = bearer_token(request.headers.get("authorization"))
    except ClientException:
        presented = None
    joined = await room.join(presented, client_address(request))
    status = room.status(joined.ticket)
    body = JoinBody(
        token=joined.token,
        position=status.position,
        status=status.status.value,
        ahead=status.ahead,
        estimated_wait_seconds=round(status.estimated_wait, 1),
    )
    return Response(body, status_code=HTTP_201_CREATED if joined.created else HTTP_200_OK)


@get("/status", summary="Where a ticket stands", tags=["queue"], security=[{"bearer": []}])
async def status(request: Request[Any, Any, State]) -> StatusBody:
    """Answer waiting, active or expired for the Bearer ticket, from this replica's copy of the window."""
    room = room_of(request)
    ticket = _ticket(room, bearer_token(request.headers.get("authorization")))
    metrics.STATUS_POLLS.inc()
    return StatusBody.of(room.status(ticket))
