"""Queue tickets and access passes: JWTs with a pinned algorithm and required claims.

A ticket (HS256 with ``JWT_SECRET``, audience ``ticket``) holds a queue position and is the room's own
business. A pass (ES256 with the room's pass key, ``kid`` in its header, audience ``PASS_AUDIENCE``) lets an
admitted visitor use the sale for its own duration, and any origin can verify it offline with the public
key set (``webapp.passkeys``). Algorithms and audiences differ, so neither is accepted as the other; both
name the queue they belong to, so a token of another sale is refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from webapp.passkeys import PassKeys

ALGORITHM: Final = "HS256"
PASS_ALGORITHM: Final = "ES256"  # noqa: S105 - an algorithm name, not a password
ISSUER: Final = "session-queue"
TICKET: Final = "ticket"
PASS: Final = "pass"  # noqa: S105 - the prefix of access passes' audience, not a password
MAX_TOKEN_LENGTH: Final = 1024
LEEWAY_SECONDS: Final = 5
_REQUIRED: Final = ["exp", "iat", "nbf", "sub", "jti", "aud", "iss", "q"]


class TokenError(ValueError):
    """The token is not one this server issued for this queue and purpose, or is no longer valid."""


class Ticket(NamedTuple):
    """What a ticket says. A named tuple of plain values: a replica remembers every ticket it verified
    (hundreds of thousands while a sale is on), and such tuples are not tracked by the garbage collector,
    so they add nothing to its full collections (each one paused every poll in flight)."""

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


def default_audience(queue: str) -> str:
    return f"{PASS}:{queue}"


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


class TokenCodec:
    """Signs and verifies the tickets of one queue with its secret, and its passes with its pass keys.

    Without ``pass_keys`` a key is generated for this codec (fine for one process; the settings share one).
    """

    def __init__(
        self,
        secret: bytes,
        queue: str,
        pass_keys: PassKeys | None = None,
        pass_issuer: str = ISSUER,
        pass_audience: str | None = None,
    ) -> None:
        self._secret = secret
        self.queue = queue
        self.pass_keys = pass_keys if pass_keys is not None else PassKeys.generate()
        self.pass_issuer = pass_issuer
        self.pass_audience = pass_audience or default_audience(queue)

    def _claims(
        self, issuer: str, audience: str, position: int, now: int, ttl: float, extra: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "iss": issuer,
            "aud": audience,
            "q": self.queue,
            "sub": str(position),
            "jti": secrets.token_urlsafe(12),
            "iat": now,
            "nbf": now,
            "exp": now + max(1, int(ttl)),
            **extra,
        }

    def _encode(
        self, audience: str, position: int, now: int, ttl: float, extra: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        claims = self._claims(ISSUER, audience, position, now, ttl, extra)
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), claims

    def _decode(self, token: str, audience: str, now: int) -> dict[str, Any]:
        header = _header(token)
        if header.get("alg") != ALGORITHM:
            raise TokenError("unexpected signing algorithm")
        return self._verify(token, self._secret, ALGORITHM, ISSUER, audience, now)

    def _verify(
        self,
        token: str,
        key: bytes | ec.EllipticCurvePublicKey,
        algorithm: str,
        issuer: str,
        audience: str,
        now: int,
    ) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer,
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
        """A pass signed ES256 by the current signing key, its kid in the header (the shared pass contract)."""
        key = self.pass_keys.signing
        claims = self._claims(
            self.pass_issuer, self.pass_audience, ticket.position, now, ttl, {"tid": ticket.ticket_id}
        )
        token = jwt.encode(claims, key.private, algorithm=PASS_ALGORITHM, headers={"kid": key.kid, "typ": "JWT"})
        return token, AccessPass(ticket.position, claims["jti"], ticket.ticket_id, now, claims["exp"])

    def read_pass(self, token: str, now: int) -> AccessPass:
        """Verify a pass with the published key its ``kid`` names; only ES256, only a key still published."""
        header = _header(token)
        if header.get("alg") != PASS_ALGORITHM:
            raise TokenError("unexpected signing algorithm")
        kid = header.get("kid")
        key = self.pass_keys.key(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenError("pass signed by a key this room does not publish (unknown or retired kid)")
        claims = self._verify(token, key.public, PASS_ALGORITHM, self.pass_issuer, self.pass_audience, now)
        tid = claims.get("tid")
        if not isinstance(tid, str) or not tid:
            raise TokenError("pass lacks its ticket id")
        return AccessPass(int(claims["sub"]), claims["jti"], tid, claims["iat"], claims["exp"])


def _header(token: str) -> dict[str, Any]:
    """The unverified header of a plausible JWT; :class:`TokenError` for anything else."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("token is empty or too long")
    # A JWT is ASCII; anything else (a lone surrogate would even break PyJWT's UTF-8 encoding) is refused here.
    if not token.isascii():
        raise TokenError("token is not ASCII")
    try:
        header: dict[str, Any] = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from None
    return header
