"""The gate is a module a shop can vendor alone: importing it loads nothing else of the room."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT

ROOM_ONLY = ("litestar", "redis", "jinja2", "uvicorn", "limits", "prometheus_client", "msgspec")


def loaded_by(statement: str) -> set[str]:
    probe = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(result.stdout))


def test_importing_the_gate_loads_only_pyjwt_and_the_standard_library() -> None:
    added = loaded_by("import webapp.gate") - loaded_by("pass")

    assert {name for name in added if name.startswith("webapp")} == {"webapp", "webapp.gate"}
    assert "jwt" in added
    assert "cryptography" in added  # ES256 needs PyJWT[crypto]
    assert not {name for name in added if name.split(".")[0] in ROOM_ONLY}
    others = {name.split(".")[0] for name in added} - set(sys.stdlib_module_names)
    assert others <= {"webapp", "jwt", "cryptography", "_cffi_backend", "_openssl"}, others
