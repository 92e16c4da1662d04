"""Static assets (``/static``, ``/vendor``): only plain, existing files inside their directories, else 404.

Litestar's static router handed odd names straight to the OS (a NUL byte, a 300-character name, a
file used as a directory) and answered the resulting ``ValueError``/``OSError`` with a 500 and a long
traceback in the log. Here a name is checked before any file system call, every call that can still
fail is answered 404, and a file whose real path lies outside its directory (a symlink in a theme
pointing elsewhere) is not served: the operator's theme holds files, not links out of it.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File

MAX_ASSET_PATH = 200
MAX_SEGMENTS = 6
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

STATIC_MAX_AGE = 300
"""Our own CSS and JS are not fingerprinted: a short life, so a deploy reaches browsers within minutes."""
VENDOR_MAX_AGE = 86_400
"""htmx is pinned to one release and changes only with a deploy that upgrades it: a day."""


def asset_segments(file_path: str) -> list[str] | None:
    """The path's segments when every one is a plain file name (ASCII, no dot-only or hidden names)."""
    path = file_path.lstrip("/")
    if not path or len(path) > MAX_ASSET_PATH:
        return None
    segments = path.split("/")
    if len(segments) > MAX_SEGMENTS or not all(_SEGMENT.fullmatch(s) for s in segments):
        return None
    return segments


def find_asset(directories: Sequence[Path], file_path: str) -> Path | None:
    """The first regular file named ``file_path`` inside one of ``directories`` (its real path), or None."""
    segments = asset_segments(file_path)
    if segments is None:
        return None
    for directory in directories:
        try:
            base = directory.resolve(strict=True)
            found = base.joinpath(*segments).resolve(strict=True)
            if found.is_relative_to(base) and found.is_file():
                return found
        except (OSError, ValueError):
            continue
    return None


def asset_router(path: str, name: str, directories: Sequence[Path | os.PathLike[Any] | str], max_age: int) -> Router:
    """A router serving ``path/<file>`` from ``directories`` (first match wins), cacheable for ``max_age``."""
    roots = [Path(d) for d in directories]
    cache = f"public, max-age={max_age}"

    @get("/{file_path:path}", name=name, include_in_schema=False, sync_to_thread=False)
    def serve(file_path: FromPath[str]) -> Response[Any]:
        found = find_asset(roots, file_path)
        if found is None:
            raise NotFoundException()
        media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        return File(found, media_type=media_type, content_disposition_type="inline", headers={"Cache-Control": cache})

    return Router(path=path, route_handlers=[serve])
