"""How the e2e suite and ``scripts/screenshots`` launch chromium on these machines and on a laptop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


def launch_args() -> dict[str, Any]:
    """Debian's chromium where it exists (these machines), else Playwright's own browser (a laptop)."""
    if CHROMIUM.exists():
        return {"executable_path": str(CHROMIUM), "args": list(CHROMIUM_ARGS)}
    return {}
