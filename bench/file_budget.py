"""What running each file's analysis in a child process costs a job (issue 11 item 1).

    python bench/file_budget.py [--jobs 100] [--files 1]

Each job analyses `--files` changed files (examples/agent_permissions.py, head and base,
as the App does): once in this process (how jobs ran before), once through a new
`IsolatedAnalyzer` per job (how they run now: one child per job, reused for its files).
Prints wall and parent-CPU milliseconds per job, median and mean, and the difference.
The fork server's start (once per process) is shown apart.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analyzers.compare import base_findings  # noqa: E402
from analyzers.config import Config  # noqa: E402
from analyzers.engine import analyze_source  # noqa: E402
from analyzers.isolation import IsolatedAnalyzer  # noqa: E402

HEAD = (ROOT / "examples" / "agent_permissions.py").read_bytes()
BASE = HEAD.replace(b"return True", b"return False")


def in_process(files: int) -> None:
    """The job's analysis as it ran before: in the worker thread."""
    for i in range(files):
        path = f"app/f{i}.py"
        analyze_source(HEAD, path, Config(), with_fixes=True)
        base_findings(BASE, path, path, Config())


def isolated(files: int) -> None:
    """The job's analysis now: one child for the job, every file in it."""
    with IsolatedAnalyzer() as analyzer:
        for i in range(files):
            path = f"app/f{i}.py"
            result = analyzer.analyze_change(HEAD, path, BASE, path, Config())
            assert not result.report.errors, result.report.errors


def measure(job: Callable[[int], None], jobs: int, files: int) -> tuple[list[float], list[float]]:
    """Wall and parent-CPU milliseconds of each job."""
    walls, cpus = [], []
    for _ in range(jobs):
        wall, cpu = time.perf_counter(), time.process_time()
        job(files)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return walls, cpus


def line(name: str, values: list[float]) -> str:
    median, mean = statistics.median(values), statistics.mean(values)
    return f"{name:<24} median {median:7.1f} ms   mean {mean:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--files", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    isolated(1)  # starts the fork server (once per process)
    print(f"fork server start + first job: {(time.perf_counter() - started) * 1000:.0f} ms")
    in_process(1)  # the same warm-up for the in-process side
    before = measure(in_process, args.jobs, args.files)
    after = measure(isolated, args.jobs, args.files)
    print(f"{args.jobs} jobs of {args.files} file(s) each")
    print(line("in-process wall", before[0]))
    print(line("isolated wall", after[0]))
    print(line("in-process parent CPU", before[1]))
    print(line("isolated parent CPU", after[1]))
    extra = statistics.median(after[0]) - statistics.median(before[0])
    print(f"overhead per job (median wall): {extra:+.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
