"""What the tests of the HTTP surface share: the client types and reading a page's CSRF token."""

from __future__ import annotations

import re
from collections.abc import Callable

from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]
ClientFactory = Callable[..., Client]
"""The ``make_client`` fixture: ``make_client(**env)`` starts an app (lifespan included) on the flushed Redis."""


def csrf_of(html: str) -> str:
    """The CSRF token a page's form carries; fails the test if there is none."""
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "page carries no CSRF token"
    return found.group(1)
