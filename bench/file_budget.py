"""What running each file's analysis in a child process costs a job (issue 11 item 1).

    python bench/file_budget.py [--jobs 100] [--files 1]

Each job analyses `--files` changed files (examples/agent_permissions.py, head and base,
as the App does): in this process (how jobs ran before); through a new `IsolatedAnalyzer`
per job (a child of its own, started for the job); and through one whose child comes
from a `ChildPool` shared by the jobs (how the App runs them now). Prints wall and
parent-CPU milliseconds per job, median and mean, and the differences. The fork
server's start (once per process) is shown apart.
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

from failclosed.analyzers.compare import base_findings  # noqa: E402
from failclosed.analyzers.engine import analyze_source  # noqa: E402
from failclosed.analyzers.isolation import ChildPool, IsolatedAnalyzer  # noqa: E402
from failclosed.analyzers.settings import Config  # noqa: E402

HEAD = (ROOT / "examples" / "agent_permissions.py").read_bytes()
BASE = HEAD.replace(b"return True", b"return False")


def in_process(files: int) -> None:
    """The job's analysis as it ran before: in the worker thread."""
    for i in range(files):
        path = f"app/f{i}.py"
        analyze_source(HEAD, path, Config(), with_fixes=True)
        base_findings(BASE, path, path, Config())


POOL = ChildPool()


def own_child(files: int) -> None:
    """One child started for the job, every file in it."""
    isolated(files, IsolatedAnalyzer())


def pooled(files: int) -> None:
    """The job's analysis as the App runs it: a child from the pool, every file in it."""
    isolated(files, IsolatedAnalyzer(pool=POOL))


def isolated(files: int, analyzer: IsolatedAnalyzer) -> None:
    with analyzer:
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
    own_child(1)  # starts the fork server (once per process)
    print(f"fork server start + first job: {(time.perf_counter() - started) * 1000:.0f} ms")
    in_process(1)  # the same warm-up for the other sides
    pooled(1)
    print(f"{args.jobs} jobs of {args.files} file(s) each")
    runs = {
        "in-process": measure(in_process, args.jobs, args.files),
        "own child": measure(own_child, args.jobs, args.files),
        "pooled child": measure(pooled, args.jobs, args.files),
    }
    for name, (walls, _) in runs.items():
        print(line(f"{name} wall", walls))
    for name, (_, cpus) in runs.items():
        print(line(f"{name} parent CPU", cpus))
    base = statistics.median(runs["in-process"][0])
    for name in ("own child", "pooled child"):
        extra = statistics.median(runs[name][0]) - base
        print(f"overhead per job, {name} (median wall): {extra:+.1f} ms")
    POOL.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
