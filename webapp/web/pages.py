"""The visitor's pages: the waiting room, its polled status fragment, and the protected checkout.

One fragment template (``_status.html``) is included by the full page and returned alone to htmx
polls; polling stops when the fragment is rendered without its trigger. Every page works without
JavaScript: forms post normally and the waiting page refreshes itself.

``GET /?return_to=URL`` remembers where the visitor was going (a signed cookie beside the ticket, so it
survives the join POST and the polls); on admission the visitor is sent there instead of ``/checkout``,
with the one-time hand-off ``sq_pass=<pass>`` when the pass cookie cannot reach that site. Every URL
written here comes from :func:`webapp.web.paths.url_for`, so it carries ``ROOT_PATH``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.plugins.htmx import ClientRedirect, HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_400_BAD_REQUEST, HTTP_503_SERVICE_UNAVAILABLE
from redis.exceptions import RedisError

from webapp import metrics
from webapp.queue import window
from webapp.queue.joinlimit import JoinLimited
from webapp.queue.window import Status
from webapp.return_to import cookie_reaches, host_of, own_origin, return_to_param, safe_return_to, with_handoff
from webapp.room import (
    OPENING_POLL_DELAY,
    Admission,
    EarlierEpochError,
    PrequeueNotOpenError,
    TicketStatus,
    WaitingRoom,
    WindowUnknownError,
)
from webapp.tokens import AccessPass, Ticket, TokenError
from webapp.web.clients import client_address
from webapp.web.cookies import (
    PASS_COOKIE,
    RETURN_COOKIE,
    TICKET_COOKIE,
    expired_cookie,
    pass_cookie,
    read_cookie,
    read_return_cookie,
    return_cookie,
    ticket_cookie,
)
from webapp.web.deps import room_of
from webapp.web.errors import RETRY_AFTER_SECONDS
from webapp.web.guards import same_origin
from webapp.web.head import is_head
from webapp.web.paths import url_for

NOTICES = {
    "used": "That ticket has already been used to enter the sale, so it cannot let anyone else in.",
    "rejoined": "You are back in the queue. Keep this page open: it updates by itself.",
}

MAX_QUANTITY = 4
STATUS_FRAGMENT = "_status.html"
"""The polled status region's template (also included by ``room.html``); :mod:`webapp.web.lane` renders it too."""
T = TypeVar("T")


def _verified(request: Request[Any, Any, State], cookie: str, read: Callable[[str], T]) -> T | None:
    """What a cookie's token says, or None when it is absent or not valid (a bad cookie is no cookie)."""
    token = read_cookie(request, cookie)
    if token is None:
        return None
    try:
        return read(token)
    except TokenError:
        return None


def _ticket_of(request: Request[Any, Any, State], room: WaitingRoom) -> Ticket | None:
    return _verified(request, TICKET_COOKIE, room.read_ticket)


def _pass_of(request: Request[Any, Any, State], room: WaitingRoom) -> AccessPass | None:
    return _verified(request, PASS_COOKIE, room.read_pass)


def status_context(room: WaitingRoom, status: TicketStatus | None, state: str) -> dict[str, Any]:
    """Everything ``_status.html`` renders; ``state`` is join | waiting | paused | expired | used | reset | reconnecting."""
    pace = room.pace()
    poll = pace.window_interval / 2 if status is None else status.poll_after
    polled = state in ("waiting", "paused", "reconnecting", "prequeue", "early")
    early = room.too_early()
    if state == "early" and early is not None:  # ask again when the pre-queue opens, at most every 20 s
        poll = min(window.MAX_POLL_SECONDS, early.opens_at - room.clock() + OPENING_POLL_DELAY)
    return {
        "state": state,
        "status": status,
        "poll_ms": max(100, round(poll * 1000)) if polled else None,
        "refresh_seconds": max(1, round(poll)) if polled else None,
        "event_name": room.settings.event_name,
        "window_size": pace.window_size,
        "window_interval": pace.window_interval,
        "message": room_message(room),
        "updated_at": room.clock(),
        **_draw_context(room, status),
    }


def _draw_context(room: WaitingRoom, status: TicketStatus | None) -> dict[str, Any]:
    """What the pre-queue partials show: the draw (its commitment from the first moment) and the opening."""
    view = room.watcher.view()
    drawn = view.draw if view is not None else None
    early = room.too_early()
    return {
        "draw": drawn,
        "opens_at": drawn.opens_at_ms / 1000 if drawn is not None else room.settings.sale_opens_at,
        "prequeue_opens_at": early.opens_at if early is not None else None,
        "arrival": status.arrival if status is not None else 0,
    }


def state_of(room: WaitingRoom, ticket: Ticket | None) -> tuple[str, TicketStatus | None]:
    if ticket is None:
        return ("early" if room.too_early() is not None else "join"), None
    try:
        status = room.status(ticket)
    except WindowUnknownError:
        return "reconnecting", None
    if status.reconnecting:
        return "reconnecting", status
    if status.status is Status.PREQUEUE:
        return "prequeue", status
    if status.paused and status.status is not Status.EXPIRED:
        return "paused", status
    return status.status.value, status


def room_message(room: WaitingRoom) -> str:
    """The operator's message for every waiting page ('' when none); rendered escaped."""
    view = room.watcher.view()
    return view.controls.message if view is not None else ""


def _refused_for_reset(request: Request[Any, Any, State], room: WaitingRoom) -> bool:
    """Whether the ticket cookie holds a good ticket of an epoch before the operator's reset."""
    token = read_cookie(request, TICKET_COOKIE)
    if token is None:
        return False
    try:
        room.read_ticket(token)
    except EarlierEpochError:
        return True
    except TokenError:
        return False
    return False


def _page(room: WaitingRoom, state: str, status: TicketStatus | None, notice: str | None = None) -> Template:
    context = status_context(room, status, state)
    context["notice"] = NOTICES.get(notice or "")
    code = HTTP_503_SERVICE_UNAVAILABLE if state == "reconnecting" and status is None else 200
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if code != 200 else {}
    return Template("room.html", context=context, status_code=code, headers=headers)


def _see_other(request: HTMXRequest, name: str, query: str = "") -> Redirect:
    """303 to one of the room's own routes, under its prefix."""
    return Redirect(url_for(request, name) + query, status_code=HTTP_303_SEE_OTHER)


def _return_to(request: HTMXRequest, room: WaitingRoom, raw: str | None) -> str | None:
    """``raw`` rebuilt if it may be a return target: a path, the room's own origin or one of RETURN_ORIGINS."""
    if not raw:
        return None
    own = own_origin(request.scope.get("scheme", "http"), request.headers.get("host", ""))
    origins = room.settings.return_origins
    return safe_return_to(raw, (*origins, own) if own is not None else origins)


def _remembered(request: HTMXRequest, room: WaitingRoom) -> str | None:
    """Where this visitor asked to be sent on admission (the return cookie), if still allowed."""
    return _return_to(request, room, read_return_cookie(request, room.settings.jwt_secret))


def _send_to(request: HTMXRequest, room: WaitingRoom, target: str, pass_token: str) -> Response[Any]:
    """Send an admitted visitor to ``target`` (303, or ``HX-Redirect`` for htmx), the return cookie spent.

    The pass goes along as ``sq_pass`` only when the pass cookie does not reach the target's host.
    """
    settings = room.settings
    if not cookie_reaches(target, host_of(request.headers.get("host", "")), settings.cookie_domain):
        target = with_handoff(target, pass_token)
    response: Response[Any] = (
        ClientRedirect(target) if request.htmx else Redirect(target, status_code=HTTP_303_SEE_OTHER)
    )
    response.cookies.append(expired_cookie(RETURN_COOKIE, settings.root_path))
    return response


async def _enter(request: HTMXRequest, room: WaitingRoom, ticket: Ticket, target: str) -> Response[Any] | None:
    """An active visitor with a return target: sent there with the pass they hold, or one exchanged now.

    None when this cannot be done here (the ticket was used meanwhile, the window moved, or this is a
    HEAD, which changes nothing): the caller answers as without a target, through ``/checkout``.
    """
    if is_head(request):
        return None
    held = read_cookie(request, PASS_COOKIE)
    if held is not None and _pass_of(request, room) is not None:
        return _send_to(request, room, target, held)
    try:
        result = await room.admit(ticket)
    except WindowUnknownError:
        return None
    if result.outcome is not Admission.ADMITTED or result.pass_token is None or result.access is None:
        return None
    response = _send_to(request, room, target, result.pass_token)
    access = result.access
    response.cookies.append(pass_cookie(result.pass_token, access.expires_at, room.now(), room.settings.cookie_domain))
    return response


@get("/", name="room", tags=["pages"])
async def room_page(
    request: HTMXRequest, m: FromQuery[str | None] = None, return_to: FromQuery[str | None] = None
) -> Response[Any]:
    """The waiting room. A GET never takes a place: a visitor without a ticket is offered the join form.

    A ``return_to`` the allow-list accepts is remembered for this visitor; any other is ignored.
    """
    room = room_of(request)
    settings = room.settings
    query = request.scope.get("query_string", b"").decode("latin-1")
    asked = _return_to(request, room, return_to_param(query, return_to))
    target = asked or _remembered(request, room)
    held = read_cookie(request, PASS_COOKIE)
    if held is not None and _pass_of(request, room) is not None:  # already admitted
        if target is not None and not is_head(request):
            return _send_to(request, room, target, held)
        return _see_other(request, "checkout")
    ticket = _ticket_of(request, room)
    state, status = state_of(room, ticket)
    if ticket is None and _refused_for_reset(request, room):
        state = "reset"
    if state == "active" and ticket is not None:
        if not await room.ticket_used(ticket):
            entered = await _enter(request, room, ticket, target) if target is not None else None
            return entered or _see_other(request, "checkout")
        state, m = "used", "used"
    response = _page(room, state, status, m)
    if ticket is None and read_cookie(request, TICKET_COOKIE) is not None:
        response.cookies.append(expired_cookie(TICKET_COOKIE, settings.root_path))
    if asked is not None:
        response.cookies.append(return_cookie(asked, settings.jwt_secret, settings.ticket_ttl, settings.root_path))
    return response


@get("/room/status", name="room-status", tags=["pages"])
async def room_status(request: HTMXRequest) -> Response[Any]:
    """The polled fragment; admission is an ``HX-Redirect`` so htmx loads the sale page (or the return target)."""
    room = room_of(request)
    if not request.htmx:
        return _see_other(request, "room")
    ticket = _ticket_of(request, room)
    state, status = state_of(room, ticket)
    metrics.STATUS_POLLS.inc()
    if state == "active" and ticket is not None:
        target = _remembered(request, room)
        entered = await _enter(request, room, ticket, target) if target is not None else None
        return entered or ClientRedirect(url_for(request, "checkout"))
    return HTMXTemplate(template_name=STATUS_FRAGMENT, context=status_context(room, status, state))


async def _issue(request: HTMXRequest, presented: str | None, then: str = "") -> Response[Any]:
    """Join (or keep the presented ticket), set the cookie, and answer htmx with the fragment.

    htmx swaps no error response, so a refused htmx join is answered 200 with a fragment that says
    why and tries again by itself (a 429 left "Taking your place in line…" on screen for ever).
    ``then`` is the query of the room page a plain form post is sent back to.
    """
    room = room_of(request)
    try:
        joined = await room.join(presented, client_address(request))
    except (RedisError, WindowUnknownError):
        if request.htmx:
            return HTMXTemplate(template_name=STATUS_FRAGMENT, context=status_context(room, None, "reconnecting"))
        raise
    except PrequeueNotOpenError:
        if not request.htmx:
            return Redirect("/", status_code=HTTP_303_SEE_OTHER)  # the room page says when to come back
        return HTMXTemplate(template_name=STATUS_FRAGMENT, context=status_context(room, None, "early"))
    except JoinLimited as limited:
        if not request.htmx:
            raise
        context = {**status_context(room, None, "limited"), "retry_after": limited.retry_after}
        return HTMXTemplate(
            template_name=STATUS_FRAGMENT, context=context, headers={"Retry-After": str(limited.retry_after)}
        )
    cookie = ticket_cookie(joined.token, joined.ticket.expires_at, room.now(), room.settings.root_path)
    state, status = state_of(room, joined.ticket)
    response: Response[Any]
    if not request.htmx:
        response = _see_other(request, "room", then)
    elif state == "active":
        target = _remembered(request, room)
        entered = await _enter(request, room, joined.ticket, target) if target is not None else None
        response = entered or ClientRedirect(url_for(request, "checkout"))
    else:
        response = HTMXTemplate(template_name=STATUS_FRAGMENT, context=status_context(room, status, state))
    response.cookies.append(cookie)
    return response


@post("/room/join", name="room-join", guards=[same_origin], tags=["pages"])
async def room_join(request: HTMXRequest) -> Response[Any]:
    """Place the visitor in the queue; a visitor who already holds a valid ticket keeps it."""
    return await _issue(request, read_cookie(request, TICKET_COOKIE))


@post("/room/rejoin", name="room-rejoin", guards=[same_origin], tags=["pages"])
async def room_rejoin(request: HTMXRequest) -> Response[Any]:
    """A visitor who missed their turn, or holds a ticket already used, goes to the back; one still
    waiting or active (and unused) keeps their place."""
    room = room_of(request)
    ticket = _ticket_of(request, room)
    state, _ = state_of(room, ticket)
    if state == "expired" or (state == "active" and ticket is not None and await room.ticket_used(ticket)):
        # A used ticket reads as active for as long as it lives: it gets a new place too, or the
        # "already used" page's button would lead back to itself.
        return await _issue(request, None, then="?m=rejoined")
    return await _issue(request, read_cookie(request, TICKET_COOKIE))


def _checkout(room: WaitingRoom, access: AccessPass, **extra: Any) -> Template:
    return Template(
        "checkout.html",
        context={
            "event_name": room.settings.event_name,
            "pass": access,
            "seconds_left": max(0, access.expires_at - room.now()),
            "max_quantity": MAX_QUANTITY,
            **extra,
        },
    )


@get("/checkout", name="checkout", tags=["pages"])
async def checkout(request: HTMXRequest) -> Response[Any]:
    """The protected sale page: open with a valid pass, or by exchanging an active ticket for one."""
    room = room_of(request)
    access = _pass_of(request, room)
    if access is not None:
        return _checkout(room, access)
    ticket = _ticket_of(request, room)
    if ticket is None or is_head(request):  # HEAD changes nothing: no admission, no claim
        return _see_other(request, "room")
    try:
        result = await room.admit(ticket)
    except WindowUnknownError:
        return _see_other(request, "room")
    if result.outcome is Admission.ALREADY_USED:
        return _see_other(request, "room", "?m=used")
    if result.outcome is not Admission.ADMITTED or result.pass_token is None or result.access is None:
        return _see_other(request, "room")
    access = result.access
    response = _checkout(room, access)
    response.cookies.append(pass_cookie(result.pass_token, access.expires_at, room.now(), room.settings.cookie_domain))
    return response


def parse_quantity(raw: str) -> int:
    """The quantity a form sent, or 0 when it is not a short run of ASCII digits.

    ``str.isdigit`` alone accepts superscripts and other Unicode digits that ``int`` refuses ("²").
    """
    text = raw.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else 0


@dataclass
class PurchaseForm:
    quantity: str = "1"


@post("/checkout/buy", name="checkout-buy", guards=[same_origin], tags=["pages"])
async def buy(
    request: HTMXRequest,
    data: Annotated[PurchaseForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    """Complete the demo purchase for a visitor holding a valid pass."""
    room = room_of(request)
    access = _pass_of(request, room)
    if access is None:
        return _see_other(request, "room")
    quantity = parse_quantity(data.quantity)
    if not 1 <= quantity <= MAX_QUANTITY:
        response = _checkout(room, access, error=f"Choose between 1 and {MAX_QUANTITY} tickets.")
        response.status_code = HTTP_400_BAD_REQUEST
        return response
    order, quantity = await room.place_order(access, quantity)
    return _checkout(room, access, order=order, quantity=quantity)
