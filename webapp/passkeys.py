"""The keys that sign access passes (ES256, P-256), their public key set, and the operator's rotation commands.

A pass must be verifiable by a separate origin that holds no secret of the room, so passes are signed with
a private key and the public halves are published as a JWKS (``GET /.well-known/jwks.json``). Keys come
from one of:

- ``PASS_KEYS_DIR``: a directory of ``<kid>.pem`` files (PKCS#8 P-256 private keys) and a ``signing``
  file naming the kid that signs. Every key in it is published, so a *next* key is announced before it
  signs and the *previous* one stays until its last pass expires; ``python -m webapp.passkeys`` manages it.
- ``PASS_KEY``: one PEM private key in the variable itself (no rotation); ``python -m webapp`` uses it to
  share a key it generated with its workers.
- neither, with ``JWT_SECRET`` set: a key derived from that secret (HKDF), so every replica of an
  existing deployment signs and accepts the same passes with no new setting; it rotates with the secret.
- none of these (development): a key generated for this run, which the log reports.

Rotation without downtime, with rolling restarts of the room in between (docs/passes.md):
``add`` (published, not signing) → wait ≥ JWKS max-age + the verifiers' cool-down → ``promote`` → wait
``SESSION_DURATION`` and the leeway → ``retire`` the old kid. Each step is safe while replicas differ.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALGORITHM: Final = "ES256"
SIGNING_FILE: Final = "signing"
KID_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
JWKS_MAX_AGE: Final = 60
"""Seconds a verifier may cache the key set (``Cache-Control: public, max-age``)."""
VERIFIER_COOLDOWN: Final = 30
"""Seconds PyJWT's JWKS client (and our gate) wait before refetching the set for an unknown kid."""
PUBLISH_BEFORE_SIGNING: Final = JWKS_MAX_AGE + VERIFIER_COOLDOWN
DERIVATION_INFO: Final = b"session-queue pass signing key v1"
P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
"""How long a new key must be published before it signs, so every verifier knows it by then."""


class PassKeyError(ValueError):
    """The pass key configuration cannot be used; the message says what to fix."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _coordinates(public: ec.EllipticCurvePublicKey) -> tuple[str, str]:
    numbers = public.public_numbers()
    return _b64url(numbers.x.to_bytes(32, "big")), _b64url(numbers.y.to_bytes(32, "big"))


def thumbprint(public: ec.EllipticCurvePublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url): the kid of a generated key, stable and checkable."""
    x, y = _coordinates(public)
    canonical = json.dumps({"crv": "P-256", "kty": "EC", "x": x, "y": y}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True)
class PassKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    public: ec.EllipticCurvePublicKey

    @classmethod
    def generate(cls) -> PassKey:
        private = ec.generate_private_key(ec.SECP256R1())
        return cls(thumbprint(private.public_key()), private, private.public_key())

    @classmethod
    def from_pem(cls, kid: str, pem: bytes, where: str) -> PassKey:
        """Parse a P-256 private key; ``where`` names its origin in the error."""
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise PassKeyError(f"{where} is not an unencrypted PEM private key") from None
        if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(private.curve, ec.SECP256R1):
            raise PassKeyError(f"{where} is not a P-256 (ES256) key")
        return cls(kid, private, private.public_key())

    def pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def jwk(self) -> dict[str, str]:
        x, y = _coordinates(self.public)
        return {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


@dataclass(frozen=True)
class PassKeys:
    """The key that signs new passes and every key whose passes are still accepted (it included)."""

    signing: PassKey
    published: tuple[PassKey, ...]
    source: str
    """Where they came from, for the start-up log: a directory, ``PASS_KEY``, or ``generated``."""

    @classmethod
    def generate(cls) -> PassKeys:
        key = PassKey.generate()
        return cls(key, (key,), "generated")

    @classmethod
    def derived(cls, secret: bytes) -> PassKeys:
        """The key every holder of ``secret`` derives alike (HKDF-SHA256 to a scalar in [1, n-1])."""
        material = HKDF(algorithm=hashes.SHA256(), length=48, salt=None, info=DERIVATION_INFO).derive(secret)
        private = ec.derive_private_key(int.from_bytes(material, "big") % (P256_ORDER - 1) + 1, ec.SECP256R1())
        key = PassKey(thumbprint(private.public_key()), private, private.public_key())
        return cls(key, (key,), "derived from JWT_SECRET")

    @classmethod
    def from_pem(cls, pem: str, where: str = "PASS_KEY") -> PassKeys:
        private = PassKey.from_pem("", pem.encode(), where)
        key = PassKey(thumbprint(private.public), private.private, private.public)
        return cls(key, (key,), where)

    @classmethod
    def from_directory(cls, directory: Path) -> PassKeys:
        keys = read_directory(directory)
        if not keys:
            raise PassKeyError(
                f"no <kid>.pem key in {directory} (create one with: python -m webapp.passkeys init --dir {directory})"
            )
        signing_kid = read_signing(directory)
        if signing_kid not in keys:
            raise PassKeyError(f"{directory / SIGNING_FILE} names key {signing_kid!r}, which has no .pem file here")
        ordered = (keys[signing_kid], *(key for kid, key in sorted(keys.items()) if kid != signing_kid))
        return cls(keys[signing_kid], ordered, str(directory))

    def key(self, kid: str) -> PassKey | None:
        """The published key named ``kid``; None for a key never published here or already retired."""
        return next((key for key in self.published if key.kid == kid), None)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.jwk() for key in self.published]}


def read_directory(directory: Path) -> dict[str, PassKey]:
    """Every ``<kid>.pem`` in ``directory``, parsed; a file that is not a P-256 key stops everything."""
    if not directory.is_dir():
        raise PassKeyError(f"expected an existing directory, got {str(directory)!r}")
    keys: dict[str, PassKey] = {}
    for path in sorted(directory.glob("*.pem")):
        if not KID_PATTERN.match(path.stem):
            raise PassKeyError(f"{path}: a key's file name is its kid: 1-64 of A-Z, a-z, 0-9, '-', '_'")
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise PassKeyError(f"{path} cannot be read: {exc.strerror}") from None
        keys[path.stem] = PassKey.from_pem(path.stem, pem, str(path))
    return keys


def read_signing(directory: Path) -> str:
    path = directory / SIGNING_FILE
    try:
        kid = path.read_text().strip()
    except OSError:
        raise PassKeyError(
            f"{path} is missing: it names the kid that signs (python -m webapp.passkeys promote)"
        ) from None
    if not KID_PATTERN.match(kid):
        raise PassKeyError(f"{path} must hold one kid, got {kid[:70]!r}")
    return kid


def pass_keys_from_env(environ: Mapping[str, str], secret: bytes | None) -> tuple[PassKeys, bool]:
    """The configured keys and whether they were generated here; :class:`PassKeyError` names no variable
    (the caller, the settings, does). ``secret`` is the operator's ``JWT_SECRET`` (None when generated)."""
    directory = environ.get("PASS_KEYS_DIR", "").strip()
    pem = environ.get("PASS_KEY", "").strip()
    if directory and pem:
        raise PassKeyError("set PASS_KEYS_DIR or PASS_KEY, not both")
    if directory:
        return PassKeys.from_directory(Path(directory)), False
    if pem:
        return PassKeys.from_pem(pem), False
    if secret is not None:
        return PassKeys.derived(secret), False
    return PassKeys.generate(), True


# The operator's commands: python -m webapp.passkeys {init,add,promote,retire,list} --dir DIR


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only (never briefly world-readable), then move it in place."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def _new_key(directory: Path) -> PassKey:
    key = PassKey.generate()
    _write_private(directory / f"{key.kid}.pem", key.pem())
    return key


def init(directory: Path) -> str:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if read_directory(directory):
        raise PassKeyError(f"{directory} already holds keys; use add / promote / retire to rotate")
    key = _new_key(directory)
    _write_private(directory / SIGNING_FILE, f"{key.kid}\n".encode())
    return key.kid


def add(directory: Path) -> str:
    PassKeys.from_directory(directory)  # a broken directory is reported before anything is added to it
    return _new_key(directory).kid


def promote(directory: Path, kid: str) -> str:
    """Make ``kid`` the signing key; returns the kid that signed before (still published)."""
    keys = PassKeys.from_directory(directory)
    if keys.key(kid) is None:
        raise PassKeyError(f"no key {kid!r} in {directory}")
    _write_private(directory / SIGNING_FILE, f"{kid}\n".encode())
    return keys.signing.kid


def published_for(directory: Path, kid: str, now: float) -> float:
    """Seconds since ``kid`` was added (its file's age): an upper bound on how long verifiers can know it."""
    return now - (directory / f"{kid}.pem").stat().st_mtime


def retire(directory: Path, kid: str) -> None:
    """Delete ``kid``: passes it signed are refused once the room restarts. The signing key cannot be retired."""
    keys = PassKeys.from_directory(directory)
    if keys.key(kid) is None:
        raise PassKeyError(f"no key {kid!r} in {directory}")
    if kid == keys.signing.kid:
        raise PassKeyError(f"{kid!r} is the signing key: promote another key first")
    (directory / f"{kid}.pem").unlink()


def _kid_last(argv: Sequence[str]) -> list[str]:
    """``promote``/``retire`` arguments with the kid after ``--``.

    A thumbprint kid is base64url, so one in 64 begins with '-', which argparse would take for an option
    and refuse ("the following arguments are required: kid").
    """
    args = list(argv)
    if not args or args[0] not in ("promote", "retire") or "--" in args:
        return args
    options, rest, i = [args[0]], list[str](), 1
    while i < len(args):
        if args[i] == "--dir":
            options += args[i : i + 2]
            i += 2
            continue
        (options if args[i].startswith("--dir=") or args[i] in ("-h", "--help") else rest).append(args[i])
        i += 1
    return [*options, "--", *rest]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webapp.passkeys",
        description="Manage the pass signing keys in PASS_KEYS_DIR. Restart (roll) the room after each step.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("init", "create the directory with a first key, which signs"),
        ("add", "add a next key: published at the next restart, not signing"),
        ("list", "list the keys, marking the one that signs"),
    ):
        commands.add_parser(name, help=text).add_argument("--dir", type=Path, required=True)
    for name, text in (
        ("promote", f"make KID the signing key (publish it for at least {PUBLISH_BEFORE_SIGNING} s first)"),
        ("retire", "delete KID (once SESSION_DURATION has passed since it stopped signing)"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--dir", type=Path, required=True)
        command.add_argument("kid")
    args = parser.parse_args(_kid_last(sys.argv[1:] if argv is None else argv))
    directory: Path = args.dir
    try:
        if args.command == "init":
            print(f"created {directory} with signing key {init(directory)}")
        elif args.command == "add":
            kid = add(directory)
            print(
                f"added {kid}: restart the room so it is published, wait at least {PUBLISH_BEFORE_SIGNING} s, then "
                f"run: python -m webapp.passkeys promote --dir {directory} {kid}"
            )
        elif args.command == "promote":
            age = published_for(directory, args.kid, time.time()) if (directory / f"{args.kid}.pem").is_file() else 0
            if 0 <= age < PUBLISH_BEFORE_SIGNING:
                print(
                    f"passkeys: warning: {args.kid} was added {age:.0f} s ago; passes it signs are refused by "
                    f"verifiers that have not seen it yet: let the room publish it for {PUBLISH_BEFORE_SIGNING} s first",
                    file=sys.stderr,
                )
            previous = promote(directory, args.kid)
            print(
                f"{args.kid} signs after the next restart; {previous} stays published: retire it once "
                f"SESSION_DURATION has passed since that restart"
            )
        elif args.command == "retire":
            retire(directory, args.kid)
            print(f"retired {args.kid}: its passes are refused after the next restart")
        else:
            keys = PassKeys.from_directory(directory)
            for key in keys.published:
                print(f"{key.kid}{'  signing' if key is keys.signing else ''}")
    except PassKeyError as exc:
        print(f"passkeys: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
