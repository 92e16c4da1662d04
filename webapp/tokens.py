"""Queue tickets and access passes: HMAC-signed JWTs with a pinned algorithm and required claims.

A ticket (audience ``ticket``) holds a queue position; a pass (audience ``pass``) lets an admitted
visitor use the sale page for its own duration. The audiences differ, so neither is accepted as the
other; both name the queue they belong to, so a ticket of another sale is refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Final

import jwt

ALGORITHM: Final = "HS256"
ISSUER: Final = "session-queue"
TICKET: Final = "ticket"
PASS: Final = "pass"  # noqa: S105 - the audience of access passes, not a password
MAX_TOKEN_LENGTH: Final = 1024
LEEWAY_SECONDS: Final = 5
_REQUIRED: Final = ["exp", "iat", "nbf", "sub", "jti", "aud", "iss", "q"]


class TokenError(ValueError):
    """The token is not one this server issued for this queue and purpose, or is no longer valid."""


@dataclass(frozen=True)
class Ticket:
    position: int
    ticket_id: str
    issued_at: int
    expires_at: int
    window_end_at_join: int
    epoch: int = 0
    arrival: int = 0
    """A pre-queue ticket's arrival index (0 for a ticket issued with a position)."""
    draw: str = ""
    """While the draw is not made: the draw a pre-queue ticket entered (see ``webapp.draw.Draw.tag``)."""


_DRAW_TAG = 16


@dataclass(frozen=True)
class AccessPass:
    position: int
    pass_id: str
    ticket_id: str
    issued_at: int
    expires_at: int


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


class TokenCodec:
    """Signs and verifies the tokens of one queue with one secret."""

    def __init__(self, secret: bytes, queue: str) -> None:
        self._secret = secret
        self.queue = queue

    def _encode(
        self, audience: str, position: int, now: int, ttl: float, extra: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "q": self.queue,
            "sub": str(position),
            "jti": secrets.token_urlsafe(12),
            "iat": now,
            "nbf": now,
            "exp": now + max(1, int(ttl)),
            **extra,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), claims

    def _decode(self, token: str, audience: str, now: int) -> dict[str, Any]:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("token is empty or too long")
        # A JWT is ASCII; anything else (a lone surrogate would even break PyJWT's UTF-8 encoding) is refused here.
        if not token.isascii():
            raise TokenError("token is not ASCII")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM:
                raise TokenError("unexpected signing algorithm")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": _REQUIRED, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from None
        # Time claims are checked here against the caller's clock, so tests control time.
        for claim in ("exp", "iat", "nbf"):
            if not isinstance(claims[claim], int) or isinstance(claims[claim], bool):
                raise TokenError(f"{claim} must be an integer")
        if claims["exp"] + LEEWAY_SECONDS <= now:
            raise TokenError("token has expired")
        if claims["nbf"] - LEEWAY_SECONDS > now or claims["iat"] - LEEWAY_SECONDS > now:
            raise TokenError("token is not valid yet")
        if not isinstance(claims["aud"], str):
            raise TokenError("audience must be a single value")
        if claims["q"] != self.queue:
            raise TokenError("token belongs to another queue")
        sub = claims["sub"]
        if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) <= 18 and int(sub) >= 1):
            raise TokenError("subject is not a queue position")
        if not isinstance(claims["jti"], str) or not 8 <= len(claims["jti"]) <= 64:
            raise TokenError("token id is malformed")
        return claims

    def issue_ticket(self, position: int, window_end: int, now: int, ttl: float, epoch: int = 0) -> str:
        return self.mint_ticket(position, window_end, now, ttl, epoch)[0]

    def mint_ticket(
        self, position: int, window_end: int, now: int, ttl: float, epoch: int = 0, draw: str = ""
    ) -> tuple[str, Ticket]:
        """A new ticket and what it says, without decoding what was just signed.

        ``ep`` is the queue's epoch (see the operator's reset): a ticket of an earlier epoch is refused.
        With ``draw`` (the draw's tag, claim ``pq``) the ticket is a pre-queue ticket and ``sub`` is its
        arrival index: its position is computed from the draw once the sale opens, never re-signed.
        """
        extra: dict[str, Any] = {"w0": window_end, "ep": epoch}
        if draw:
            extra["pq"] = draw
        token, claims = self._encode(TICKET, position, now, ttl, extra)
        arrival = position if draw else 0
        return token, Ticket(position, claims["jti"], now, claims["exp"], window_end, epoch, arrival, draw)

    def read_ticket(self, token: str, now: int) -> Ticket:
        claims = self._decode(token, TICKET, now)
        w0 = claims.get("w0")
        if not isinstance(w0, int) or isinstance(w0, bool) or w0 < 0:
            raise TokenError("ticket lacks its join window")
        epoch = claims.get("ep", 0)  # tickets signed before epochs existed belong to the first one
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise TokenError("ticket epoch is malformed")
        draw = claims.get("pq", "")
        if not isinstance(draw, str) or (draw and not (len(draw) == _DRAW_TAG and _is_hex(draw))):
            raise TokenError("ticket draw is malformed")
        position = int(claims["sub"])
        return Ticket(position, claims["jti"], claims["iat"], claims["exp"], w0, epoch, position if draw else 0, draw)

    def issue_pass(self, ticket: Ticket, now: int, ttl: float) -> str:
        return self.mint_pass(ticket, now, ttl)[0]

    def mint_pass(self, ticket: Ticket, now: int, ttl: float) -> tuple[str, AccessPass]:
        token, claims = self._encode(PASS, ticket.position, now, ttl, {"tid": ticket.ticket_id})
        return token, AccessPass(ticket.position, claims["jti"], ticket.ticket_id, now, claims["exp"])

    def read_pass(self, token: str, now: int) -> AccessPass:
        claims = self._decode(token, PASS, now)
        tid = claims.get("tid")
        if not isinstance(tid, str) or not tid:
            raise TokenError("pass lacks its ticket id")
        return AccessPass(int(claims["sub"]), claims["jti"], tid, claims["iat"], claims["exp"])
