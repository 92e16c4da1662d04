"""A room's signing side for origin tests: P-256 keys that sign passes, and a real JWKS HTTP server.

The gate and the demo shop are tested against these instead of a whole room: the server is a real HTTP
server on a free loopback port (so fetches, timeouts and outages are real), serving whatever keys the test
publishes; stopping it is "the room is down".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.ports import free_port

AUDIENCE = "pass:main"
ISSUER = "session-queue"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class PassSigner:
    """One ES256 key with its ``kid``, signing passes with the contract's claims (overridable)."""

    kid: str = field(default_factory=lambda: "k-" + secrets.token_hex(4))
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
        }

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(self, now: float | None = None, ttl: int = 600, position: int = 7, **overrides: Any) -> dict[str, Any]:
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(position),
            "jti": secrets.token_urlsafe(12),
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl,
            "tid": secrets.token_urlsafe(12),
            "q": "main",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, now: float | None = None, *, kid: str | None = None, **claims: Any) -> str:
        """A pass; ``claims`` override the defaults (``None`` removes one), ``kid`` the header's key id."""
        return jwt.encode(
            self.claims(now, **claims), self.private_key, algorithm="ES256", headers={"kid": kid or self.kid}
        )

    def hs256_with_public_key(self, now: float | None = None) -> str:
        """The classic algorithm confusion: HS256 keyed with this key's public PEM (PyJWT refuses to make it)."""
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": self.kid}).encode())
        body = _b64(json.dumps(self.claims(now)).encode())
        signature = hmac.new(self.public_pem(), f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"

    def unsigned(self, now: float | None = None) -> str:
        """``alg: none``, no signature."""
        header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": self.kid}).encode())
        return f"{header}.{_b64(json.dumps(self.claims(now)).encode())}."


class JwksServer:
    """Serves ``{"keys": [...]}`` at any path on 127.0.0.1; counts requests; can be stopped and started again."""

    def __init__(self, *signers: PassSigner, max_age: int = 60) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/queue/.well-known/jwks.json"
        self.keys: list[dict[str, str]] = [signer.jwk() for signer in signers]
        self.max_age = max_age
        self.requests = 0
        self.hold = threading.Event()  # cleared: answers wait until it is set (a slow room)
        self.hold.set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def publish(self, *signers: PassSigner) -> None:
        self.keys = [signer.jwk() for signer in signers]

    def start(self) -> JwksServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                owner.hold.wait(10)
                body = json.dumps({"keys": owner.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", f"public, max-age={owner.max_age}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="jwks-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """The room goes down: the port stops answering."""
        self.hold.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
