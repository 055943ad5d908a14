"""Noise on real code nobody here wrote: a few popular auth, agent and MCP packages.

Slow (downloads sdists from PyPI into bench/.cache), so it is excluded by default; run it
with `pytest -m slow`. The full list and a triage listing: `bench/real_code.py --list`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load_real_code() -> ModuleType:
    """Import bench/real_code.py (bench/ is a folder of scripts, not a package)."""
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("real_code", BENCH / "real_code.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["real_code"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_popular_packages_report_at_most_one_error_or_warning_per_100k_lines() -> None:
    """The subset's error + warning findings stay within the goal's rate."""
    real_code = load_real_code()
    scans, failures = real_code.scan_all(real_code.select(real_code.SUBSET))
    if failures:
        pytest.skip(f"PyPI unreachable or sdist missing: {'; '.join(failures)}")
    assert all(s.files > 0 for s in scans), [(s.package.name, s.files) for s in scans]
    noisy = [
        f"{real_code.shown_path(s, f.path)}:{f.line}: {f.rule} {f.message}"
        for s in scans
        for f in s.findings
        if f.severity in ("error", "warning")
    ]
    rate = real_code.rate(scans)
    assert rate <= real_code.MAX_RATE, f"{rate:.2f} per 100k lines:\n" + "\n".join(noisy)
