"""Building JWTs by hand, so tests can sign what PyJWT would refuse to (odd headers, odd claims)."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from webapp.passkeys import PassKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: object) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def es256_by_hand(claims: dict[str, Any], key: PassKey, header: dict[str, Any] | None = None) -> str:
    """A token signed ES256 by ``key`` whatever its claims or header say (default: the room's pass header)."""
    signing_input = f"{b64url_json(header or {'alg': 'ES256', 'typ': 'JWT', 'kid': key.kid})}.{b64url_json(claims)}"
    r, s = decode_dss_signature(key.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
