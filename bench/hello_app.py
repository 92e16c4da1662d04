"""The real app with one extra route, ``GET /bench/hello``: the framework's floor, served side by side.

Benchmarks only (``uvicorn bench.hello_app:create_app --factory``): the hello route goes through the
same process, middleware and plugins as our routes, so ``status ÷ hello`` isolates what our handler costs.
Like the JSON API (``CSRF_EXEMPT_PATHS`` in ``webapp.app``), it skips the CSRF middleware, which would
otherwise sign a token cookie for every cookieless GET: hello and ``GET /status`` pay the same middleware.
"""

from __future__ import annotations

import os

from litestar import Litestar, get

from webapp.app import create_app as create_real_app
from webapp.settings import Settings

HELLO_PATH = "/bench/hello"


@get(HELLO_PATH, include_in_schema=False, exclude_from_csrf=True)
async def hello() -> dict[str, str]:
    """The smallest JSON answer the framework can give."""
    return {"hello": "world"}


def create_app() -> Litestar:
    app = create_real_app(Settings.from_env(os.environ))
    app.register(hello)
    return app
