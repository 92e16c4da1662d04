"""Tickets and passes: round trips, then every way a token must be refused — always with TokenError."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.tokens import b64url, b64url_json, es256_by_hand
from webapp.passkeys import PassKey, PassKeys
from webapp.tokens import (
    ISSUER,
    LEEWAY_SECONDS,
    MAX_TOKEN_LENGTH,
    PASS,
    TICKET,
    AccessPass,
    Ticket,
    TokenCodec,
    TokenError,
)

SECRET = b"unit-test-secret-of-at-least-32-bytes!"
OTHER_SECRET = b"another-secret-also-32-bytes-long!!!"
QUEUE = "main"
NOW = 1_700_000_000
TTL = 3600
KEYS = PassKeys.generate()


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec(SECRET, QUEUE, KEYS)


def unb64url_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def hs256_by_hand(header: dict[str, Any], claims: dict[str, Any], secret: bytes = SECRET) -> str:
    """A token whose signature is a valid HMAC-SHA256 of its header and payload, whatever the header says."""
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def ticket_claims(now: int = NOW, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": TICKET,
        "q": QUEUE,
        "sub": "42",
        "jti": "ticket-id-0001",
        "iat": now,
        "nbf": now,
        "exp": now + TTL,
        "w0": 10,
    }
    claims.update(changes)
    return claims


def pass_claims(now: int = NOW, **changes: Any) -> dict[str, Any]:
    claims = ticket_claims(now, aud=f"{PASS}:{QUEUE}", jti="pass-id-00001", tid="ticket-id-0001")
    del claims["w0"]
    claims.update(changes)
    return claims


def sign(claims: dict[str, Any], secret: bytes = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def sign_pass(claims: dict[str, Any], key: PassKey = KEYS.signing, header: dict[str, Any] | None = None) -> str:
    """A pass signed ES256 by ``key`` whatever its claims or header say (PyJWT would refuse some claims)."""
    return es256_by_hand(claims, key, header)


def without(claims: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if k != name}


# Round trips and controls


def test_ticket_round_trip(codec: TokenCodec) -> None:
    token = codec.issue_ticket(position=7, window_end=20, now=NOW, ttl=TTL)
    ticket = codec.read_ticket(token, now=NOW + 10)
    assert isinstance(ticket, Ticket)
    assert ticket.position == 7
    assert ticket.window_end_at_join == 20
    assert ticket.issued_at == NOW
    assert ticket.expires_at == NOW + TTL
    assert 8 <= len(ticket.ticket_id) <= 64


def test_pass_round_trip(codec: TokenCodec) -> None:
    ticket = codec.read_ticket(codec.issue_ticket(3, 10, NOW, TTL), NOW)
    token = codec.issue_pass(ticket, now=NOW + 100, ttl=600)
    access = codec.read_pass(token, now=NOW + 101)
    assert isinstance(access, AccessPass)
    assert access.position == 3
    assert access.ticket_id == ticket.ticket_id
    assert access.pass_id != ticket.ticket_id
    assert access.issued_at == NOW + 100
    assert access.expires_at == NOW + 700


def test_each_token_has_its_own_id(codec: TokenCodec) -> None:
    ids = {codec.read_ticket(codec.issue_ticket(1, 10, NOW, TTL), NOW).ticket_id for _ in range(20)}
    assert len(ids) == 20


def test_tickets_are_hs256_and_fit_the_size_limit(codec: TokenCodec) -> None:
    token = codec.issue_ticket(10**15, 10**15, NOW, TTL)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert len(token) <= MAX_TOKEN_LENGTH


def test_passes_are_es256_with_the_signing_kid_and_fit_the_size_limit(codec: TokenCodec) -> None:
    ticket = codec.read_ticket(codec.issue_ticket(10**15, 10**15, NOW, TTL), NOW)
    token = codec.issue_pass(ticket, NOW, 86_400)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "typ": "JWT", "kid": KEYS.signing.kid}
    assert len(token) <= MAX_TOKEN_LENGTH


def test_ttl_shorter_than_a_second_still_expires_later(codec: TokenCodec) -> None:
    ticket = codec.read_ticket(codec.issue_ticket(1, 10, NOW, 0.2), NOW)
    assert ticket.expires_at == NOW + 1


def test_hand_built_tokens_are_accepted_when_valid(codec: TokenCodec) -> None:
    # The controls for the rejection tests below: the same builders, nothing broken.
    assert codec.read_ticket(sign(ticket_claims()), NOW).position == 42
    assert codec.read_ticket(hs256_by_hand({"alg": "HS256", "typ": "JWT"}, ticket_claims()), NOW).position == 42
    assert codec.read_pass(sign_pass(pass_claims()), NOW).ticket_id == "ticket-id-0001"


# Rejections: malformed


@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        "a.b.c",
        "...",
        "Bearer x",
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9.e30",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        "W10.e30.",  # header is a JSON list
        "bnVsbA.e30.",  # header is null
        "e30.e30.e30.e30",
        "\x00",
        "é.é.é",
        "\ud800",  # a lone surrogate cannot even be encoded as UTF-8
        "a.b.\udfff",
    ],
)
def test_garbage_is_refused(codec: TokenCodec, garbage: str) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(garbage, NOW)
    with pytest.raises(TokenError):
        codec.read_pass(garbage, NOW)


def test_empty_is_refused(codec: TokenCodec) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket("", NOW)
    with pytest.raises(TokenError):
        codec.read_pass("", NOW)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_alg_none_is_refused(codec: TokenCodec, alg: str) -> None:
    unsigned = f"{b64url_json({'alg': alg, 'typ': 'JWT'})}.{b64url_json(ticket_claims())}."
    with pytest.raises(TokenError):
        codec.read_ticket(unsigned, NOW)


def test_hs512_with_the_same_secret_is_refused() -> None:
    secret = b"s" * 64  # long enough for HS512, so the only thing wrong is the algorithm
    codec = TokenCodec(secret, QUEUE)
    assert codec.read_ticket(sign(ticket_claims(), secret), NOW).position == 42
    with pytest.raises(TokenError):
        codec.read_ticket(sign(ticket_claims(), secret, algorithm="HS512"), NOW)


def test_rs256_header_over_an_hmac_signature_is_refused(codec: TokenCodec) -> None:
    # Algorithm confusion: the signature is a valid HMAC with our secret, but the header claims RS256.
    token = hs256_by_hand({"alg": "RS256", "typ": "JWT"}, ticket_claims())
    with pytest.raises(TokenError):
        codec.read_ticket(token, NOW)


def test_missing_alg_header_is_refused(codec: TokenCodec) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(hs256_by_hand({"typ": "JWT"}, ticket_claims()), NOW)


def test_tampered_payload_is_refused(codec: TokenCodec) -> None:
    token = codec.issue_ticket(500, 10, NOW, TTL)
    header, payload, signature = token.split(".")
    claims = unb64url_json(payload)
    claims["sub"] = "1"  # jump the queue, keeping the signature
    tampered = f"{header}.{b64url_json(claims)}.{signature}"
    with pytest.raises(TokenError):
        codec.read_ticket(tampered, NOW)


def test_tampered_signature_is_refused(codec: TokenCodec) -> None:
    token = codec.issue_ticket(5, 10, NOW, TTL)
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(TokenError):
        codec.read_ticket(f"{header}.{payload}.{flipped}", NOW)


def test_wrong_secret_is_refused(codec: TokenCodec) -> None:
    foreign = TokenCodec(OTHER_SECRET, QUEUE).issue_ticket(1, 10, NOW, TTL)
    with pytest.raises(TokenError):
        codec.read_ticket(foreign, NOW)


def test_pass_presented_as_ticket_is_refused(codec: TokenCodec) -> None:
    ticket = codec.read_ticket(codec.issue_ticket(1, 10, NOW, TTL), NOW)
    access = codec.issue_pass(ticket, NOW, 600)
    with pytest.raises(TokenError):
        codec.read_ticket(access, NOW)


def test_ticket_presented_as_pass_is_refused(codec: TokenCodec) -> None:
    with pytest.raises(TokenError):
        codec.read_pass(codec.issue_ticket(1, 10, NOW, TTL), NOW)


def test_another_queues_ticket_is_refused(codec: TokenCodec) -> None:
    other = TokenCodec(SECRET, "other-sale").issue_ticket(1, 10, NOW, TTL)
    with pytest.raises(TokenError):
        codec.read_ticket(other, NOW)


def test_another_queues_pass_is_refused(codec: TokenCodec) -> None:
    other = TokenCodec(SECRET, "other-sale")
    access = other.issue_pass(other.read_ticket(other.issue_ticket(1, 10, NOW, TTL), NOW), NOW, 600)
    with pytest.raises(TokenError):
        codec.read_pass(access, NOW)


def test_wrong_issuer_is_refused(codec: TokenCodec) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(sign(ticket_claims(iss="someone-else")), NOW)


# Rejections: missing claims


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "sub", "jti", "aud", "iss", "q", "w0"])
def test_ticket_missing_a_required_claim_is_refused(codec: TokenCodec, claim: str) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(sign(without(ticket_claims(), claim)), NOW)


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "sub", "jti", "aud", "iss", "q", "tid"])
def test_pass_missing_a_required_claim_is_refused(codec: TokenCodec, claim: str) -> None:
    with pytest.raises(TokenError):
        codec.read_pass(sign_pass(without(pass_claims(), claim)), NOW)


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "sub", "jti", "q", "w0"])
def test_ticket_with_a_null_claim_is_refused(codec: TokenCodec, claim: str) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(sign({**ticket_claims(), claim: None}), NOW)


# Rejections: malformed claims


def test_numeric_sub_is_refused(codec: TokenCodec) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(sign(ticket_claims(sub=42)), NOW)


@pytest.mark.parametrize("sub", ["abc", "4x2", "-1", "+1", " 1", "1.0", "", "\u0664\u0662", "1" * 19])
def test_non_digit_sub_is_refused(codec: TokenCodec, sub: str) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(sign(ticket_claims(sub=sub)), NOW)


@pytest.mark.parametrize("sub", ["0", "00"])
def test_zero_position_is_refused(codec: TokenCodec, sub: str) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(sign(ticket_claims(sub=sub)), NOW)


def test_negative_position_is_refused(codec: TokenCodec) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(sign(ticket_claims(sub="-5")), NOW)


@pytest.mark.parametrize("w0", [-1, "10", 1.5, True, [10]])
def test_bad_join_window_is_refused(codec: TokenCodec, w0: object) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(sign(ticket_claims(w0=w0)), NOW)


@pytest.mark.parametrize("tid", ["", 7, ["x"]])
def test_bad_pass_ticket_id_is_refused(codec: TokenCodec, tid: object) -> None:
    with pytest.raises(TokenError):
        codec.read_pass(sign_pass(pass_claims(tid=tid)), NOW)


@pytest.mark.parametrize("jti", ["short", "x" * 65, 12345678, ["ticket-id-0001"]])
def test_bad_token_id_is_refused(codec: TokenCodec, jti: object) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(sign(ticket_claims(jti=jti)), NOW)


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", ["1700000000", 1.7e9, True])
def test_non_integer_time_claim_is_refused(codec: TokenCodec, claim: str, value: object) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(sign({**ticket_claims(), claim: value}), NOW)


# Time, always from the caller's clock


def test_expired_beyond_the_leeway_is_refused(codec: TokenCodec) -> None:
    token = codec.issue_ticket(1, 10, NOW, TTL)
    with pytest.raises(TokenError):
        codec.read_ticket(token, NOW + TTL + LEEWAY_SECONDS)
    with pytest.raises(TokenError):
        codec.read_ticket(token, NOW + TTL + 3600)


def test_expired_within_the_leeway_is_accepted(codec: TokenCodec) -> None:
    token = codec.issue_ticket(1, 10, NOW, TTL)
    assert codec.read_ticket(token, NOW + TTL).position == 1
    assert codec.read_ticket(token, NOW + TTL + LEEWAY_SECONDS - 1).position == 1


def test_expired_pass_is_refused(codec: TokenCodec) -> None:
    ticket = codec.read_ticket(codec.issue_ticket(1, 10, NOW, TTL), NOW)
    access = codec.issue_pass(ticket, NOW, 600)
    assert codec.read_pass(access, NOW + 600).position == 1
    with pytest.raises(TokenError):
        codec.read_pass(access, NOW + 600 + LEEWAY_SECONDS)


def test_not_yet_valid_is_refused(codec: TokenCodec) -> None:
    token = codec.issue_ticket(1, 10, NOW, TTL)
    with pytest.raises(TokenError):
        codec.read_ticket(token, NOW - LEEWAY_SECONDS - 1)
    assert codec.read_ticket(token, NOW - LEEWAY_SECONDS).position == 1


def test_iat_in_the_future_is_refused(codec: TokenCodec) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(sign(ticket_claims(iat=NOW + 60)), NOW)


def test_nbf_in_the_future_is_refused(codec: TokenCodec) -> None:
    with pytest.raises(TokenError):
        codec.read_ticket(sign(ticket_claims(nbf=NOW + 60)), NOW)


def test_wall_clock_is_not_used(codec: TokenCodec) -> None:
    # Issued and read far in the past: valid for the caller's clock although long expired by the real one.
    past = 1_000_000
    assert codec.read_ticket(codec.issue_ticket(9, 10, past, 60), past + 30).position == 9


# Size


def test_oversized_token_is_refused_even_when_validly_signed(codec: TokenCodec) -> None:
    by_length = {len(t): t for t in (sign(ticket_claims(pad="x" * n)) for n in range(500, 620))}
    longest_allowed = max(n for n in by_length if n <= MAX_TOKEN_LENGTH)
    shortest_refused = min(n for n in by_length if n > MAX_TOKEN_LENGTH)
    assert longest_allowed >= MAX_TOKEN_LENGTH - 3
    assert codec.read_ticket(by_length[longest_allowed], NOW).position == 42
    with pytest.raises(TokenError):
        codec.read_ticket(by_length[shortest_refused], NOW)
    with pytest.raises(TokenError):
        codec.read_ticket("a" * 100_000, NOW)


# Whatever comes in, only TokenError comes out


def _refused_or_read(codec: TokenCodec, token: str) -> None:
    for read in (codec.read_ticket, codec.read_pass):
        with contextlib.suppress(TokenError):
            read(token, NOW)


@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_token_error(token: str) -> None:
    _refused_or_read(TokenCodec(SECRET, QUEUE), token)


# Hypothesis never draws lone surrogates from characters(); add them explicitly.
_ANY_CODE_POINT = st.characters() | st.integers(min_value=0xD800, max_value=0xDFFF).map(chr)


@given(st.lists(_ANY_CODE_POINT, max_size=64).map("".join))
def test_text_with_any_code_point_even_surrogates_raises_only_token_error(token: str) -> None:
    _refused_or_read(TokenCodec(SECRET, QUEUE), token)


_B64URL = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=80)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(st.lists(_B64URL, min_size=1, max_size=5))
def test_jwt_shaped_garbage_raises_only_token_error(segments: list[str]) -> None:
    _refused_or_read(TokenCodec(SECRET, QUEUE), ".".join(segments))


@given(_JSON, _JSON)
def test_hand_built_json_segments_raise_only_token_error(header: object, payload: object) -> None:
    token = f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(b'x' * 32)}"
    _refused_or_read(TokenCodec(SECRET, QUEUE), token)


_CLAIM_NAMES = st.sampled_from(["exp", "iat", "nbf", "sub", "jti", "aud", "iss", "q", "w0", "tid"])


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_CLAIM_NAMES, _JSON, max_size=10), st.booleans())
def test_validly_signed_arbitrary_claims_raise_only_token_error(changes: dict[str, Any], as_pass: bool) -> None:
    # Signed with our own secret, so only the claim checks stand between these values and a Ticket.
    codec = TokenCodec(SECRET, QUEUE, KEYS)
    claims = {**(pass_claims() if as_pass else ticket_claims()), **changes}
    token = sign_pass(claims) if as_pass else hs256_by_hand({"alg": "HS256", "typ": "JWT"}, claims)
    try:
        result: Ticket | AccessPass = codec.read_pass(token, NOW) if as_pass else codec.read_ticket(token, NOW)
    except TokenError:
        return
    assert isinstance(result.position, int)
    assert result.position >= 1
    assert isinstance(result.issued_at, int)
    assert isinstance(result.expires_at, int)
    if isinstance(result, Ticket):
        assert isinstance(result.window_end_at_join, int)
        assert result.window_end_at_join >= 0
    else:
        assert isinstance(result.ticket_id, str)
        assert result.ticket_id
