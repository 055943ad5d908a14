"""The benchmark scripts still run against the current engine (figures are not checked here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def bench(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run bench/<script> with `args` from the repository's root."""
    return subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_scan_speed_runs_on_a_small_tree() -> None:
    done = bench("scan_speed.py", "--path", "examples", "--repeat", "1", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ratio" in done.stdout
    assert "files: 1 " in done.stdout


@pytest.mark.parametrize("tls", [[], ["--tls"]], ids=["http", "https"])
def test_github_client_bench_runs_real_jobs_before_and_after(tls: list[str]) -> None:
    """Figures are printed, not checked; what the jobs sent is: 6 port calls and 6 HTTP
    requests a job both ways, over one HTTP client a job now, one a request before."""
    done = bench("github_client.py", "--jobs", "2", "--latency-ms", "0", *tls, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split()[0]: line.split()[5:] for line in done.stdout.splitlines()[3:5]}
    assert rows == {"before": ["6.0", "6.0", "6.0"], "after": ["6.0", "6.0", "1.0"]}
