"""The benchmark scripts still run against the current engine (figures are not checked here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_scan_speed_runs_on_a_small_tree() -> None:
    done = subprocess.run(
        [sys.executable, "bench/scan_speed.py", "--path", "examples", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ratio" in done.stdout
    assert "files: 1 " in done.stdout
