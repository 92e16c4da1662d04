"""The pass profile (ES256, kid, required claims), the key set, rotation in a key directory, and the settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.tokens import b64url, b64url_json
from tests.unit.test_tokens import pass_claims, sign_pass
from webapp import passkeys
from webapp.passkeys import PassKey, PassKeyError, PassKeys, thumbprint
from webapp.settings import Settings, SettingsError
from webapp.tokens import LEEWAY_SECONDS, Ticket, TokenCodec, TokenError

SECRET = b"unit-test-secret-of-at-least-32-bytes!"
NOW = 1_700_000_000
TICKET = Ticket(position=42, ticket_id="ticket-id-0001", issued_at=NOW, expires_at=NOW + 3600, window_end_at_join=10)


@pytest.fixture
def keys() -> PassKeys:
    return PassKeys.generate()


@pytest.fixture
def codec(keys: PassKeys) -> TokenCodec:
    return TokenCodec(SECRET, "main", keys)


def claims(**changes: Any) -> dict[str, Any]:
    return pass_claims(NOW, **changes)


# The profile: what a pass looks like


def test_a_pass_carries_the_contract_claims(codec: TokenCodec, keys: PassKeys) -> None:
    token = codec.issue_pass(TICKET, NOW, 600)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "typ": "JWT", "kid": keys.signing.kid}
    body = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert set(body) == {"iss", "aud", "sub", "jti", "iat", "nbf", "exp", "tid", "q"}
    assert body["iss"] == "session-queue"
    assert body["aud"] == "pass:main"
    assert body["sub"] == "42"
    assert body["tid"] == "ticket-id-0001"
    assert body["q"] == "main"
    assert body["iat"] == body["nbf"] == NOW
    assert body["exp"] == NOW + 600


def test_an_origin_verifies_a_pass_with_the_key_set_alone(codec: TokenCodec, keys: PassKeys) -> None:
    """What docs/passes.md tells an origin to do, with PyJWT and nothing of the room."""
    token = codec.issue_pass(TICKET, NOW, 600)
    key_set = jwt.PyJWKSet.from_dict(json.loads(json.dumps(keys.jwks())))
    key = key_set[jwt.get_unverified_header(token)["kid"]]
    verified = jwt.decode(
        token,
        key,
        algorithms=["ES256"],
        audience="pass:main",
        issuer="session-queue",
        options={"require": ["exp", "iat", "nbf", "sub", "jti", "aud", "iss"], "verify_iat": False},
        leeway=10**10,  # NOW is in the past of the real clock
    )
    assert verified["sub"] == "42"


def test_issuer_and_audience_come_from_the_settings(keys: PassKeys) -> None:
    mine = TokenCodec(SECRET, "main", keys, pass_issuer="https://queue.example", pass_audience="shop")
    token = mine.issue_pass(TICKET, NOW, 600)
    assert mine.read_pass(token, NOW).position == 42
    with pytest.raises(TokenError):
        TokenCodec(SECRET, "main", keys).read_pass(token, NOW)


# The profile: everything refused


def test_hand_signed_control_is_accepted(codec: TokenCodec) -> None:
    assert codec.read_pass(sign_pass(claims(), codec.pass_keys.signing), NOW).position == 42


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "pass:other-sale"},
        {"aud": "pass"},
        {"aud": "ticket"},
        {"aud": ["pass:main", "pass:other"]},
        {"iss": "someone-else"},
        {"q": "other-sale"},
        {"exp": NOW - LEEWAY_SECONDS},
        {"nbf": NOW + LEEWAY_SECONDS + 1},
        {"iat": NOW + LEEWAY_SECONDS + 1},
    ],
    ids=["other-aud", "bare-aud", "ticket-aud", "aud-list", "iss", "queue", "expired", "nbf-future", "iat-future"],
)
def test_a_validly_signed_pass_with_a_wrong_claim_is_refused(codec: TokenCodec, changes: dict[str, Any]) -> None:
    with pytest.raises(TokenError):
        codec.read_pass(sign_pass(claims(**changes), codec.pass_keys.signing), NOW)


@pytest.mark.parametrize("missing", ["exp", "iat", "nbf", "sub", "jti", "aud", "iss"])
def test_a_pass_missing_a_required_claim_is_refused(codec: TokenCodec, missing: str) -> None:
    token = sign_pass({k: v for k, v in claims().items() if k != missing}, codec.pass_keys.signing)
    with pytest.raises(TokenError):
        codec.read_pass(token, NOW)


def test_a_pass_past_its_exp_is_refused_by_the_callers_clock(codec: TokenCodec) -> None:
    token = codec.issue_pass(TICKET, NOW, 600)
    assert codec.read_pass(token, NOW + 600).position == 42
    with pytest.raises(TokenError):
        codec.read_pass(token, NOW + 600 + LEEWAY_SECONDS)
    with pytest.raises(TokenError):
        codec.read_pass(token, NOW - LEEWAY_SECONDS - 1)


def _kid_header(codec: TokenCodec, **changes: Any) -> dict[str, Any]:
    return {"alg": "ES256", "typ": "JWT", "kid": codec.pass_keys.signing.kid, **changes}


@pytest.mark.parametrize(
    "header",
    [
        {"kid": "not-published"},
        {"kid": None},
        {"kid": ["x"]},
        {"kid": 7},
        {"alg": "ES384"},
        {"alg": "ES256K"},
        {"alg": "HS256"},
    ],
)
def test_a_good_signature_under_a_wrong_header_is_refused(codec: TokenCodec, header: dict[str, Any]) -> None:
    token = sign_pass(claims(), codec.pass_keys.signing, _kid_header(codec, **header))
    with pytest.raises(TokenError):
        codec.read_pass(token, NOW)


def test_a_pass_without_a_kid_is_refused(codec: TokenCodec) -> None:
    token = sign_pass(claims(), codec.pass_keys.signing, {"alg": "ES256", "typ": "JWT"})
    with pytest.raises(TokenError):
        codec.read_pass(token, NOW)


def test_a_pass_signed_by_another_key_under_our_kid_is_refused(codec: TokenCodec) -> None:
    stranger = PassKey.generate()
    with pytest.raises(TokenError):
        codec.read_pass(sign_pass(claims(), stranger, _kid_header(codec)), NOW)


def test_another_rooms_pass_is_refused(codec: TokenCodec) -> None:
    other = TokenCodec(SECRET, "main")  # same queue name and secret, its own pass key
    with pytest.raises(TokenError):
        codec.read_pass(other.issue_pass(TICKET, NOW, 600), NOW)


def test_hs256_signed_with_the_public_key_as_secret_is_refused(codec: TokenCodec) -> None:
    """The classic confusion: a verifier that trusts the header would check this HMAC with the public key."""
    public_pem = codec.pass_keys.signing.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    x_y = codec.pass_keys.signing.jwk()
    for secret in (public_pem, json.dumps(x_y).encode(), x_y["x"].encode()):
        signing_input = f"{b64url_json(_kid_header(codec, alg='HS256'))}.{b64url_json(claims())}"
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        with pytest.raises(TokenError):
            codec.read_pass(f"{signing_input}.{b64url(signature)}", NOW)


def test_a_pass_signed_hs256_with_the_ticket_secret_is_refused(codec: TokenCodec) -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": codec.pass_keys.signing.kid})
    with pytest.raises(TokenError):
        codec.read_pass(token, NOW)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none_is_refused(codec: TokenCodec, alg: str) -> None:
    unsigned = f"{b64url_json(_kid_header(codec, alg=alg))}.{b64url_json(claims())}."
    with pytest.raises(TokenError):
        codec.read_pass(unsigned, NOW)


def test_a_truncated_or_malformed_signature_is_refused(codec: TokenCodec) -> None:
    token = codec.issue_pass(TICKET, NOW, 600)
    head, body, signature = token.split(".")
    for broken in (
        signature[:-2],
        signature[:40],
        "",
        "A" * 86,
        signature + "AA",
        b64url(b"\x30\x06\x02\x01\x01\x02\x01\x01"),
    ):
        with pytest.raises(TokenError):
            codec.read_pass(f"{head}.{body}.{broken}", NOW)


def test_a_ticket_is_not_a_pass_and_a_pass_is_not_a_ticket(codec: TokenCodec) -> None:
    with pytest.raises(TokenError):
        codec.read_pass(codec.issue_ticket(1, 10, NOW, 600), NOW)
    with pytest.raises(TokenError):
        codec.read_ticket(codec.issue_pass(TICKET, NOW, 600), NOW)


# The key set


def test_the_key_set_is_the_public_half_in_the_contract_shape(keys: PassKeys) -> None:
    (jwk,) = keys.jwks()["keys"]
    assert set(jwk) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"], jwk["kid"]) == (
        "EC",
        "P-256",
        "sig",
        "ES256",
        keys.signing.kid,
    )
    assert "d" not in jwk
    numbers = keys.signing.public.public_numbers()
    assert base64.urlsafe_b64decode(jwk["x"] + "=") == numbers.x.to_bytes(32, "big")
    assert base64.urlsafe_b64decode(jwk["y"] + "=") == numbers.y.to_bytes(32, "big")


def test_a_generated_kid_is_the_rfc7638_thumbprint(keys: PassKeys) -> None:
    jwk = keys.signing.jwk()
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    assert keys.signing.kid == b64url(hashlib.sha256(canonical.encode()).digest())
    assert thumbprint(keys.signing.public) == keys.signing.kid


# Rotation in a key directory (the operator's commands)


def _issue(directory: Path) -> tuple[TokenCodec, str]:
    codec = TokenCodec(SECRET, "main", PassKeys.from_directory(directory))
    return codec, codec.issue_pass(TICKET, NOW, 600)


def _kids(directory: Path) -> list[str]:
    return [key["kid"] for key in PassKeys.from_directory(directory).jwks()["keys"]]


def test_rotation_publishes_before_signing_and_keeps_the_previous_key(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    first = passkeys.init(directory)
    assert _kids(directory) == [first]
    _, old_pass = _issue(directory)

    second = passkeys.add(directory)  # published, not signing
    assert set(_kids(directory)) == {first, second}
    codec, still_old = _issue(directory)
    assert jwt.get_unverified_header(still_old)["kid"] == first
    assert codec.read_pass(old_pass, NOW).position == 42

    assert passkeys.promote(directory, second) == first
    codec, new_pass = _issue(directory)
    assert jwt.get_unverified_header(new_pass)["kid"] == second
    assert _kids(directory)[0] == second  # the signing key first, the previous one still there
    assert set(_kids(directory)) == {first, second}
    assert codec.read_pass(old_pass, NOW).position == 42

    passkeys.retire(directory, first)
    codec, _ = _issue(directory)
    assert _kids(directory) == [second]
    assert codec.read_pass(new_pass, NOW).position == 42
    with pytest.raises(TokenError):
        codec.read_pass(old_pass, NOW)


def test_a_keys_age_is_its_files_age(tmp_path: Path) -> None:
    kid = passkeys.init(tmp_path)
    added = (tmp_path / f"{kid}.pem").stat().st_mtime
    assert passkeys.published_for(tmp_path, kid, added + 120) == pytest.approx(120)


def test_key_files_are_private_to_their_owner(tmp_path: Path) -> None:
    kid = passkeys.init(tmp_path / "keys")
    assert stat.S_IMODE((tmp_path / "keys" / f"{kid}.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700


def test_the_signing_key_cannot_be_retired_and_unknown_kids_are_refused(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    first = passkeys.init(directory)
    with pytest.raises(PassKeyError, match="signing key"):
        passkeys.retire(directory, first)
    with pytest.raises(PassKeyError, match="no key"):
        passkeys.promote(directory, "nope")
    with pytest.raises(PassKeyError, match="no key"):
        passkeys.retire(directory, "nope")
    with pytest.raises(PassKeyError, match="already holds keys"):
        passkeys.init(directory)


def test_the_command_line_walks_a_rotation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = str(tmp_path / "keys")
    assert passkeys.main(["init", "--dir", directory]) == 0
    assert passkeys.main(["add", "--dir", directory]) == 0
    added = capsys.readouterr().out.split("added ")[1].split(":")[0]
    assert passkeys.main(["promote", "--dir", directory, added]) == 0
    assert "was added 0 s ago" in capsys.readouterr().err  # promoted too early: said, not refused
    assert passkeys.main(["list", "--dir", directory]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert f"{added}  signing" in listing
    assert len(listing) == 2
    old = next(line for line in listing if "signing" not in line)
    assert passkeys.main(["retire", "--dir", directory, added]) == 2
    assert "promote another key first" in capsys.readouterr().err
    assert passkeys.main(["retire", "--dir", directory, old]) == 0


def test_the_command_line_takes_a_kid_that_begins_with_a_dash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One thumbprint in 64 begins with '-' (base64url): argparse must not read it as an option."""
    directory = tmp_path / "keys"
    assert passkeys.main(["init", "--dir", str(directory)]) == 0
    assert passkeys.main(["add", "--dir", str(directory)]) == 0
    added = capsys.readouterr().out.split("added ")[1].split(":")[0]
    dashed = "-" + added[1:]
    (directory / f"{added}.pem").rename(directory / f"{dashed}.pem")
    assert passkeys.main(["promote", "--dir", str(directory), dashed]) == 0
    assert passkeys.main(["promote", dashed, f"--dir={directory}"]) == 0
    assert PassKeys.from_directory(directory).signing.kid == dashed
    assert passkeys.main(["retire", "--dir", str(directory), dashed]) == 2  # refused as the signing key, not unparsed
    assert "promote another key first" in capsys.readouterr().err


# The settings


def _pem(private: Any) -> bytes:
    return bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def test_zero_config_generates_a_key_and_says_so() -> None:
    settings = Settings.from_env({})
    assert settings.pass_keys_generated
    assert settings.pass_keys.source == "generated"
    assert settings.pass_aud == "pass:main"
    assert Settings.from_env({"QUEUE_NAME": "presale"}).pass_aud == "pass:presale"
    assert Settings.from_env({"PASS_AUDIENCE": "shop"}).pass_aud == "shop"


def test_without_pass_keys_replicas_sharing_jwt_secret_share_a_derived_key() -> None:
    secret = "a-shared-jwt-secret-of-at-least-32-bytes"
    one, other = Settings.from_env({"JWT_SECRET": secret}), Settings.from_env({"JWT_SECRET": secret})
    assert not one.pass_keys_generated
    assert one.pass_keys.source == "derived from JWT_SECRET"
    assert one.pass_keys.signing.kid == other.pass_keys.signing.kid
    assert one.pass_keys.signing.pem() == other.pass_keys.signing.pem()
    assert Settings.from_env({"JWT_SECRET": secret + "!"}).pass_keys.signing.kid != one.pass_keys.signing.kid
    codec = TokenCodec(secret.encode(), "main", one.pass_keys)
    assert TokenCodec(secret.encode(), "main", other.pass_keys).read_pass(codec.issue_pass(TICKET, NOW, 60), NOW)
    key = PassKey.generate()
    assert Settings.from_env({"JWT_SECRET": secret, "PASS_KEY": key.pem().decode()}).pass_keys.signing.kid == key.kid


def test_pass_key_in_the_environment_is_shared_as_is() -> None:
    key = PassKey.generate()
    settings = Settings.from_env({"PASS_KEY": key.pem().decode()})
    assert not settings.pass_keys_generated
    assert settings.pass_keys.signing.kid == key.kid


def test_a_key_directory_is_loaded(tmp_path: Path) -> None:
    kid = passkeys.init(tmp_path)
    settings = Settings.from_env({"PASS_KEYS_DIR": str(tmp_path)})
    assert settings.pass_keys.signing.kid == kid
    assert not settings.pass_keys_generated


def _broken_directories(tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    no_signing = tmp_path / "no-signing"
    no_signing.mkdir()
    (no_signing / "k1.pem").write_bytes(PassKey.generate().pem())
    dangling = tmp_path / "dangling"
    passkeys.init(dangling)
    (dangling / "signing").write_text("gone\n")
    rsa_dir = tmp_path / "rsa"
    rsa_dir.mkdir()
    (rsa_dir / "k1.pem").write_bytes(_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    (rsa_dir / "signing").write_text("k1")
    p384 = tmp_path / "p384"
    p384.mkdir()
    (p384 / "k1.pem").write_bytes(_pem(ec.generate_private_key(ec.SECP384R1())))
    (p384 / "signing").write_text("k1")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "k1.pem").write_text("not a key")
    (garbage / "signing").write_text("k1")
    bad_name = tmp_path / "bad-name"
    bad_name.mkdir()
    (bad_name / "a b.pem").write_bytes(PassKey.generate().pem())
    return {
        "missing": ({"PASS_KEYS_DIR": str(tmp_path / "nope")}, "existing directory"),
        "empty": ({"PASS_KEYS_DIR": str(empty)}, "passkeys init"),
        "no-signing": ({"PASS_KEYS_DIR": str(no_signing)}, "signing"),
        "dangling": ({"PASS_KEYS_DIR": str(dangling)}, "'gone'"),
        "rsa": ({"PASS_KEYS_DIR": str(rsa_dir)}, "P-256"),
        "p384": ({"PASS_KEYS_DIR": str(p384)}, "P-256"),
        "garbage": ({"PASS_KEYS_DIR": str(garbage)}, "PEM"),
        "bad-name": ({"PASS_KEYS_DIR": str(bad_name)}, "kid"),
        "both": ({"PASS_KEYS_DIR": str(dangling), "PASS_KEY": "x"}, "not both"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "empty", "no-signing", "dangling", "rsa", "p384", "garbage", "bad-name", "both"]
)
def test_a_bad_key_directory_stops_start_up_naming_it(tmp_path: Path, case: str) -> None:
    environ, why = _broken_directories(tmp_path)[case]
    with pytest.raises(SettingsError, match=r"^PASS_KEYS_DIR: ") as raised:
        Settings.from_env(environ)
    assert why in str(raised.value)


def test_a_bad_pass_key_stops_start_up_naming_it() -> None:
    with pytest.raises(SettingsError, match=r"^PASS_KEY: "):
        Settings.from_env({"PASS_KEY": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"})


@pytest.mark.parametrize("variable", ["PASS_ISSUER", "PASS_AUDIENCE"])
def test_claim_settings_are_plain_ascii(variable: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{variable}: "):
        Settings.from_env({variable: "caf\u00e9"})
    with pytest.raises(SettingsError, match=rf"^{variable}: "):
        Settings.from_env({variable: "x" * 121})
