"""Pre-queue tickets: the ``pq`` claim names the draw and makes ``sub`` an arrival index; a bad one is refused."""

from __future__ import annotations

import jwt
import pytest

from webapp.tokens import ALGORITHM, TokenCodec, TokenError

SECRET = b"unit-test-secret-of-at-least-32-bytes!"
NOW = 1_800_000_000
TAG = "0123456789abcdef"


def test_a_prequeue_ticket_round_trips_with_its_arrival_index_and_draw() -> None:
    codec = TokenCodec(SECRET, "main")
    token, minted = codec.mint_ticket(7, 0, NOW, 3600, draw=TAG)
    read = codec.read_ticket(token, NOW)
    assert read == minted
    assert (read.position, read.arrival, read.draw) == (7, 7, TAG)


def test_an_ordinary_ticket_has_no_arrival_index() -> None:
    codec = TokenCodec(SECRET, "main")
    read = codec.read_ticket(codec.issue_ticket(7, 0, NOW, 3600), NOW)
    assert (read.arrival, read.draw) == (0, "")


@pytest.mark.parametrize("draw", [1, "ABCDEF0123456789", "0123", "0123456789abcdeg", ["0123456789abcdef"]])
def test_a_malformed_draw_claim_is_refused(draw: object) -> None:
    claims = {
        "iss": "session-queue",
        "aud": "ticket",
        "q": "main",
        "sub": "3",
        "jti": "abcdefghijkl",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 60,
        "w0": 0,
        "pq": draw,
    }
    token = jwt.encode(claims, SECRET, algorithm=ALGORITHM)
    with pytest.raises(TokenError):
        TokenCodec(SECRET, "main").read_ticket(token, NOW)
