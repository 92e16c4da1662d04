"""The waiting room: what the HTTP handlers ask of the queue, in the queue's own words.

Handlers decode a request, call one method here and render the answer; tokens, the window copy and
the Redis store meet only in this module.
"""

from __future__ import annotations

import functools
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from webapp.draw import Draw
from webapp.queue import window
from webapp.queue.activity import Activity
from webapp.queue.batcher import JoinBatcher
from webapp.queue.controls import Pace
from webapp.queue.joinlimit import JoinRateLimit
from webapp.queue.store import QueueStore
from webapp.queue.watcher import WindowWatcher
from webapp.queue.window import Status
from webapp.settings import Settings
from webapp.tokens import LEEWAY_SECONDS, AccessPass, Ticket, TokenCodec, TokenError

OPENING_POLL_DELAY = 0.4
"""A pre-queue page asks again this long after the opening time: the leader's opening step and one window
refresh (``SNAPSHOT_REFRESH``) land within it, so the answer already holds the drawn position."""

CLAIM_MARGIN_SECONDS = 65
"""Kept beyond a ticket's expiry and leeway: covers clock skew between the replicas that read the ticket."""


def claim_lifetime(ticket_expires_at: int, now: int) -> int:
    """How long an admission claim must live: as long as its ticket can still be read, and a margin.

    A ticket stays active for up to ``ACTIVE_WINDOW_COUNT * WINDOW_INTERVAL`` once its window comes,
    and for ever while slides pause (nobody waiting); neither is bounded by ``SESSION_DURATION``. The
    only bound that holds whatever the settings is the ticket's own ``exp``: past it (and the leeway)
    the ticket is refused before any claim is looked at, so the claim need not outlive it.
    """
    return max(1, ticket_expires_at - now) + LEEWAY_SECONDS + CLAIM_MARGIN_SECONDS


class WindowUnknownError(RuntimeError):
    """This replica has not read the window from Redis yet (it is starting, or Redis is down)."""


class EarlierEpochError(TokenError):
    """A valid ticket taken before the operator reset the queue: its place no longer counts."""


class OtherDrawError(TokenError):
    """A pre-queue ticket of a draw this queue no longer holds: it cannot be given a place in another one."""


class PrequeueNotOpenError(RuntimeError):
    """Before ``PREQUEUE_OPENS_AT`` nobody gets a ticket: come back at ``opens_at`` (seconds since the epoch)."""

    def __init__(self, opens_at: float, now: float) -> None:
        super().__init__("the pre-queue is not open yet")
        self.opens_at = opens_at
        self.retry_after = max(1, math.ceil(opens_at - now))


@dataclass(frozen=True)
class Joined:
    token: str
    ticket: Ticket
    created: bool


@dataclass(frozen=True)
class TicketStatus:
    """Where a ticket stands, with everything a visitor or API client is shown."""

    position: int
    status: Status
    ahead: int
    window_end: int
    estimated_wait: float
    active_time_left: float
    progress: float
    poll_after: float
    reconnecting: bool
    paused: bool = False
    message: str = ""
    arrival: int = 0
    """The pre-queue arrival index the position was drawn from (0 for a ticket issued with a position)."""
    opens_at: float | None = None
    """While in the pre-queue: when the sale opens (seconds since the epoch), and how many wait for it."""
    prequeue_size: int = 0


class Admission(Enum):
    ADMITTED = "admitted"
    NOT_ACTIVE = "not-active"
    PAUSED = "paused"
    ALREADY_USED = "already-used"


@dataclass(frozen=True)
class AdmitResult:
    outcome: Admission
    status: TicketStatus
    pass_token: str | None = None
    access: AccessPass | None = None
    """What the minted pass says (set with ``pass_token``), so nobody decodes what was just signed."""


class WaitingRoom:
    def __init__(
        self,
        settings: Settings,
        codec: TokenCodec,
        store: QueueStore,
        watcher: WindowWatcher,
        limit: JoinRateLimit,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.limit = limit
        self.codec = codec
        self.store = store
        self.watcher = watcher
        self.clock = clock
        self.batcher = JoinBatcher(functools.partial(store.join_many, limit=limit))
        self.activity: Activity | None = None  # counts joins and admissions for the console and /metrics
        self._verified: dict[str, Ticket] = {}
        self._verified_passes: dict[str, AccessPass] = {}

    MAX_VERIFIED = 250_000
    """Tickets (and passes) a replica remembers as verified: more than one replica's share of a big sale's
    waiting crowd (a ticket that falls out is verified again on its next poll, ~0.1 ms). About 0.6 KB each."""

    def now(self) -> int:
        return int(self.clock())

    def pace(self) -> Pace:
        """The pace in effect: Redis' (through the window copy), or this replica's own before the first read."""
        view = self.watcher.view()
        return view.controls.pace if view is not None else Pace.of(self.settings)

    def read_ticket(self, token: str) -> Ticket:
        """Verify a ticket; its position also raises this replica's high-water mark for re-seeding.

        Polls repeat the same token, so a verified token is remembered (bounded, oldest dropped
        first) and only its expiry is checked again: the signature check is done once per replica.
        """
        known = self.known_ticket(token)
        if known is not None:
            return known
        ticket = self._current_epoch(self.codec.read_ticket(token, self.now()))
        self.store.observe(last_position=ticket.position)  # a pre-queue ticket's arrival index is a counter value
        self._remember(token, ticket)
        return self._drawn(ticket)

    def _remember(self, token: str, ticket: Ticket) -> None:
        """Keep a verified (or just signed) ticket, dropping the oldest one kept when the cache is full."""
        if len(self._verified) >= self.MAX_VERIFIED:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = ticket

    def known_ticket(self, token: str) -> Ticket | None:
        """The ticket for ``token`` if this replica has verified it before and it has not expired, else None.

        Never verifies a signature (that is :meth:`read_ticket`'s); like it, it refuses a ticket of an
        earlier epoch or of another draw (:class:`TokenError`) and gives a drawn ticket its position.
        """
        ticket = self._verified.get(token)
        if ticket is None or ticket.expires_at + LEEWAY_SECONDS <= self.now():
            return None
        return self._drawn(self._current_epoch(ticket))

    def _drawn(self, ticket: Ticket) -> Ticket:
        """A pre-queue ticket with its drawn position once the sale has opened (computed, never re-signed).

        Until then (or before this replica has read the window) it stays a pre-queue ticket: ``draw`` set,
        ``position`` its arrival index.
        """
        if not ticket.draw:
            return ticket
        view = self.watcher.view()
        if view is None:
            return ticket
        drawn = view.draw
        if drawn is None or drawn.tag != ticket.draw:
            raise OtherDrawError("this ticket belongs to a draw this queue does not hold")
        if not drawn.opened:
            return ticket
        return ticket._replace(position=drawn.position_of(ticket.arrival), draw="")

    def too_early(self) -> PrequeueNotOpenError | None:
        """Why nobody may join yet (before ``PREQUEUE_OPENS_AT``, by this replica's clock), or None."""
        opens = self.settings.prequeue_opens_at
        now = self.clock()
        if opens is not None and now < opens:
            return PrequeueNotOpenError(opens, now)
        return None

    def _current_epoch(self, ticket: Ticket) -> Ticket:
        """Refuse a ticket of an epoch before the queue's (a later one only means our copy lags a reset)."""
        view = self.watcher.view()
        if view is not None and ticket.epoch < view.controls.epoch:
            raise EarlierEpochError("the queue was restarted by its organiser; this ticket is from before the restart")
        return ticket

    def read_pass(self, token: str) -> AccessPass:
        """Verify a pass, remembering it like a ticket: forward-auth asks about the same pass on every request
        the visitor makes, and an ES256 verify costs about twice an HS256 one. No Redis is involved.
        """
        now = self.now()
        access = self._verified_passes.get(token)
        if access is not None and access.expires_at + LEEWAY_SECONDS > now:
            return access
        access = self.codec.read_pass(token, now)
        if len(self._verified_passes) >= self.MAX_VERIFIED:
            del self._verified_passes[next(iter(self._verified_passes))]
        self._verified_passes[token] = access
        return access

    def existing(self, presented: str | None) -> Joined | None:
        """The place a presented ticket already holds, if it is a valid ticket of this queue."""
        if not presented:
            return None
        try:
            return Joined(presented, self.read_ticket(presented), created=False)
        except TokenError:
            return None

    async def join(self, presented: str | None, client: str) -> Joined:
        """Give back the place a valid presented ticket holds (free), else a new place for ``client``.

        Only new places count against the join limit; over it, :class:`JoinLimited` says when to retry.
        """
        return self.existing(presented) or await self.issue(client)

    async def issue(self, client: str) -> Joined:
        """A new place at the back of the queue, if ``client`` is within its join limit.

        Concurrent calls share one Redis round trip, which also counts each client against its limit:
        over it, :class:`JoinLimited` says when to retry and no place is taken.
        """
        early = self.too_early()
        if early is not None:
            raise early
        issued = await self.batcher.join(client)
        if self.activity is not None:
            self.activity.joined()
        now = self.now()
        ttl, tag = self.settings.ticket_ttl, ""
        if issued.prequeue:
            # An arrival index: its position is drawn at opening, so the ticket must live past the opening.
            view = self.watcher.view()
            if view is None or view.draw is None:
                raise WindowUnknownError("the draw has not been read from Redis yet")
            tag = view.draw.tag
            ttl += max(0.0, view.draw.opens_at_ms / 1000 - now)
        token, ticket = self.codec.mint_ticket(issued.last, issued.window_end, now, ttl, issued.epoch, tag)
        self._remember(token, ticket)  # signed here: its first poll on this replica needs no verification
        return Joined(token, ticket, created=True)

    def status(self, ticket: Ticket) -> TicketStatus:
        view = self.watcher.view()
        if view is None:
            raise WindowUnknownError("the window has not been read from Redis yet")
        if ticket.draw and view.draw is not None:
            return self._prequeue_status(ticket, view.draw, view.last_position, view.stale, view.controls.message)
        # The pace Redis holds (the operator's, or the first replica's environment), never this replica's own.
        pace = view.controls.pace
        size, count, interval = pace.window_size, pace.active_window_count, pace.window_interval
        paused = view.controls.paused
        status = window.status_of(ticket.position, view.window_end, size, count)
        wait = window.estimated_wait(ticket.position, view.window_end, size, interval, view.seconds_to_next_slide)
        left = 0.0
        if status is Status.ACTIVE:
            left = window.active_time_left(
                ticket.position, view.window_end, size, count, interval, view.seconds_to_next_slide
            )
        return TicketStatus(
            position=ticket.position,
            status=status,
            ahead=window.people_ahead(ticket.position, view.window_end),
            window_end=view.window_end,
            estimated_wait=wait,
            active_time_left=left,
            progress=window.progress(ticket.position, ticket.window_end_at_join, view.window_end),
            poll_after=_poll_after(status, wait, interval, paused, left),
            reconnecting=view.stale,
            paused=paused,
            message=view.controls.message,
            arrival=ticket.arrival,
        )

    def _prequeue_status(self, ticket: Ticket, drawn: Draw, size: int, stale: bool, message: str) -> TicketStatus:
        """Before the draw: no position, no wait; ask again when the sale opens (or every 20 s until then)."""
        opens_at = drawn.opens_at_ms / 1000
        until = max(0.0, opens_at - self.clock())
        return TicketStatus(
            position=0,
            status=Status.PREQUEUE,
            ahead=0,
            window_end=0,
            estimated_wait=until,
            active_time_left=0.0,
            progress=0.0,
            poll_after=min(window.MAX_POLL_SECONDS, until + OPENING_POLL_DELAY),
            reconnecting=stale,
            message=message,
            arrival=ticket.arrival,
            opens_at=opens_at,
            prequeue_size=max(size, ticket.arrival),
        )

    async def place_order(self, access: AccessPass, quantity: int) -> tuple[str, int]:
        """The demo sale's order for this pass: placed once, returned unchanged on a repeat submit."""
        order = f"SQ-{access.position:06d}-{secrets.token_hex(2).upper()}:{quantity}"
        kept = await self.store.record_order(access.pass_id, order, max(1, access.expires_at - self.now()))
        number, _, kept_quantity = kept.rpartition(":")
        return number, int(kept_quantity)

    async def ticket_used(self, ticket: Ticket) -> bool:
        """Whether this ticket has already been exchanged for a pass (one Redis read)."""
        return await self.store.admission_claimed(ticket.ticket_id)

    async def admit(self, ticket: Ticket) -> AdmitResult:
        """Exchange an active ticket for an access pass, at most once per ticket."""
        now = self.now()
        status = self.status(ticket)
        if status.status is not Status.ACTIVE or status.reconnecting or ticket.draw:
            return AdmitResult(Admission.NOT_ACTIVE, status)
        if status.paused:  # nobody new enters while paused; passes already given stay valid
            return AdmitResult(Admission.PAUSED, status)
        pass_token, access = self.codec.mint_pass(ticket, now, self.settings.session_duration)
        lifetime = claim_lifetime(ticket.expires_at, now)
        if not await self.store.claim_admission(ticket.ticket_id, access.pass_id, lifetime):
            return AdmitResult(Admission.ALREADY_USED, status)
        if self.activity is not None:
            await self.activity.admitted()
        return AdmitResult(Admission.ADMITTED, status, pass_token, access)


def _poll_after(status: Status, wait: float, interval: float, paused: bool, active_left: float) -> float:
    """While paused nothing moves until a resume, and then not before one interval: ask every half interval."""
    if paused:
        return min(window.MAX_POLL_SECONDS, interval / 2)
    if status is Status.WAITING:
        return window.poll_delay(wait, interval)
    return window.settled_poll_delay(active_left, interval)
