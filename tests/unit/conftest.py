"""Fixtures shared by the gate's and the demo shop's unit tests: pass keys and a real JWKS server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.jwks import JwksServer, PassSigner


@pytest.fixture
def signer() -> PassSigner:
    """Keys that sign passes the way the room does."""
    return PassSigner()


@pytest.fixture
def room(signer: PassSigner) -> Iterator[JwksServer]:
    """A real HTTP server publishing ``signer``'s key set, stopped (the room "down") after the test."""
    server = JwksServer(signer).start()
    yield server
    server.stop()
