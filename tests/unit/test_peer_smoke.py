"""bench/peer.py end to end, briefly, against a stand-in peer: our own app behind a two-line wrapper that
reads the seed's settings (REDIS_ADDR). Real redis-servers, real processes, about twenty seconds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.peer import NO_LIMIT, OURS, PEER, PeerOptions, run
from tests.support import ROOT, require_binary


def stand_in_peer(directory: Path) -> Path:
    """An executable that starts our app the way a peer is started (REDIS_ADDR, PORT, JWT_SECRET, window)."""
    wrapper = directory / "stand-in-peer"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"cd '{ROOT}' || exit 1\n"
        f"REDIS_URL=\"redis://$REDIS_ADDR/0\" JOIN_RATE_LIMIT=0 exec '{sys.executable}' -m webapp\n"
    )
    wrapper.chmod(0o755)
    return wrapper


def row(lines: list[str], label: str, server: str) -> list[str]:
    found = [line for line in lines if line.startswith(f"{label:<22} {server:<24}")]
    assert len(found) == 1, "\n".join(lines)
    return found[0][47:].split()


@pytest.mark.timeout(150)
def test_peer_mode_measures_both_servers_and_compares_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_binary()
    options = PeerOptions(peer=str(stand_in_peer(tmp_path)), seconds=1.0, rounds=1, connections=8, tickets=50)
    assert run(options) == 0
    lines = capsys.readouterr().out.splitlines()
    ours = [
        row(lines, "GET /livez", OURS),
        row(lines, "GET /status", OURS),
        row(lines, "GET /room/status", OURS),
        row(lines, "POST /join", OURS),
        row(lines, "POST /join (no limit)", NO_LIMIT),
    ]
    peer = [row(lines, label, PEER) for label in ("GET /livez", "GET /status", "POST /join")]
    for columns in ours + peer:
        assert float(columns[0]) > 0  # req/s
        assert columns[7] == "0", "\n".join(lines)  # no failed request
    for columns in ours:
        assert float(columns[-1]) > 0  # peer ÷ ours was computed
    assert float(peer[2][6]) > 0  # the stand-in's joins reach its own Redis
    assert not any("note:" in line for line in lines), "\n".join(lines)
