"""Dependencies handlers declare by name (Litestar 2.23+ wants them marked explicitly)."""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency

from webapp.room import WaitingRoom
from webapp.web.ratelimit import JoinRateLimit

Room: TypeAlias = NamedDependency[WaitingRoom]
JoinLimit: TypeAlias = NamedDependency[JoinRateLimit]
