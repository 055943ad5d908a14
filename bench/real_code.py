"""Noise check on code nobody here wrote: popular auth-heavy, agent and MCP packages.

Goal: scanning these packages' sources reports at most 1 error/warning finding per 100k
lines. Each pinned sdist is downloaded from PyPI with pip into `bench/.cache` (git-ignored)
the first time, unpacked, and its package folder scanned with `analyze_paths` from the
sdist's root, so paths look as they would in that project and its test folders are
skipped the way the engine skips them.

    .venv/bin/python bench/real_code.py                # per-package table and the rate
    .venv/bin/python bench/real_code.py --list         # every finding, for triage
    .venv/bin/python bench/real_code.py --json out.json --check
    .venv/bin/python bench/real_code.py --only pyjwt --only mcp
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scan_speed import CACHE, DownloadError, download_sdist, extract_sdist

from failclosed.analyzers.engine import analyze_paths, collect_files
from failclosed.analyzers.model import AnalysisError, Finding
from failclosed.analyzers.settings import Config

MAX_RATE = 1.0  # error + warning findings per 100k lines
PER_LINES = 100_000


@dataclass(frozen=True)
class Package:
    """A pinned sdist and the folders, relative to its root, that hold its source."""

    name: str
    version: str
    sources: tuple[str, ...]
    kind: str = "auth"


PACKAGES: tuple[Package, ...] = (
    Package("django", "5.2.8", ("django",)),
    Package("djangorestframework", "3.18.3", ("rest_framework",)),
    Package("django-allauth", "65.21.1", ("allauth",)),
    Package("django-guardian", "3.5.2", ("guardian",)),
    Package("django-oauth-toolkit", "3.4.1", ("oauth2_provider",)),
    Package("flask", "3.1.3", ("src/flask",)),
    Package("flask-login", "0.6.3", ("src/flask_login",)),
    Package("authlib", "1.9.10", ("authlib",)),
    Package("pyjwt", "2.15.1", ("jwt",)),
    Package("python-jose", "3.5.0", ("jose",)),
    Package("oauthlib", "4.0.1", ("oauthlib",)),
    Package("requests-oauthlib", "2.0.0", ("requests_oauthlib",)),
    Package("itsdangerous", "2.2.0", ("src/itsdangerous",)),
    Package("starlette", "1.10.0", ("starlette",)),
    Package("fastapi", "0.165.0", ("fastapi",)),
    Package("casbin", "1.43.0", ("casbin",)),
    Package("mcp", "2.3.0", ("src/mcp",), kind="mcp"),
    Package("fastmcp", "4.2.3", ("fastmcp_slim/fastmcp",), kind="mcp"),
    Package("langchain-core", "1.8.4", ("langchain_core",), kind="agent"),
    Package("openai-agents", "0.24.0", ("src/agents",), kind="agent"),
    Package("claude-agent-sdk", "0.2.188", ("src/claude_agent_sdk",), kind="agent"),
    # analyzer round 3: more web frameworks, the rate limiters (where fail-open is a
    # documented option) and more agent frameworks, so precision is judged on more code
    Package("werkzeug", "3.1.9", ("src/werkzeug",)),
    Package("requests", "2.34.2", ("src/requests",)),
    Package("jupyter-server", "2.21.1", ("jupyter_server",)),
    Package("tornado", "6.6.1", ("tornado",)),
    Package("aiohttp", "3.14.5", ("aiohttp",)),
    Package("django-axes", "8.3.1", ("axes",)),
    Package("flask-limiter", "4.1.1", ("flask_limiter",), kind="limiter"),
    Package("limits", "5.8.0", ("limits",), kind="limiter"),
    Package("slowapi", "0.1.10", ("slowapi",), kind="limiter"),
    Package("django-ratelimit", "4.1.0", ("django_ratelimit",), kind="limiter"),
    Package("langgraph", "1.2.24", ("langgraph",), kind="agent"),
    Package("pydantic-ai-slim", "2.68.0", ("pydantic_ai",), kind="agent"),
    Package("crewai", "1.15.30", ("src/crewai",), kind="agent"),
    # scanners and CI gates (session 23): where "a scan that could not run passes" lives
    Package("bandit", "1.9.4", ("bandit",), kind="scanner"),
    Package("detect-secrets", "1.5.0", ("detect_secrets",), kind="scanner"),
    Package("pip-audit", "2.10.1", ("pip_audit",), kind="scanner"),
    Package("guarddog", "3.2.0", ("guarddog",), kind="scanner"),
    Package("pre-commit", "4.7.0", ("pre_commit",), kind="scanner"),
    Package("checkov", "3.3.30", ("checkov",), kind="scanner"),
    Package("safety", "3.8.1", ("safety",), kind="scanner"),
)
# A quicker mix of auth, agent and MCP packages for the slow test.
SUBSET = ("flask-login", "pyjwt", "oauthlib", "starlette", "mcp", "claude-agent-sdk")


@dataclass
class Scan:
    """What scanning one package found."""

    package: Package
    root: Path
    files: int = 0
    lines: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[AnalysisError] = field(default_factory=list)

    @property
    def noisy(self) -> int:
        """Findings that count against the goal: severity error or warning."""
        return sum(f.severity in ("error", "warning") for f in self.findings)


def select(names: Iterable[str] | None) -> list[Package]:
    """The packages called `names` (all of them when None); unknown names are an error."""
    if not names:
        return list(PACKAGES)
    known = {p.name: p for p in PACKAGES}
    missing = sorted(set(names) - set(known))
    if missing:
        raise SystemExit(f"unknown package(s) {missing}; known: {sorted(known)}")
    return [known[n] for n in names]


def fetch(package: Package, cache: Path = CACHE) -> Path:
    """The unpacked sdist root of `package` (downloaded with pip if not cached)."""
    root = extract_sdist(download_sdist(package.name, package.version, cache), cache)
    missing = [s for s in package.sources if not (root / s).is_dir()]
    if missing:
        raise DownloadError(f"{package.name}=={package.version}: no folder {missing} in sdist")
    return root


def count_lines(files: Sequence[str]) -> int:
    """Physical lines in `files` (paths relative to the current directory)."""
    return sum(len(Path(path).read_bytes().splitlines()) for path in files)


def scan(package: Package, root: Path, jobs: int = 0) -> Scan:
    """Scan the package's source folders from its sdist root, as its own CI would."""
    result = Scan(package, root)
    with contextlib.chdir(root):
        files = [shown for shown, _ in collect_files(list(package.sources), Config())[0]]
        report = analyze_paths(list(package.sources), Config(), jobs=jobs)
        result.files, result.lines = len(files), count_lines(files)
    result.findings, result.errors = report.findings, report.errors
    return result


def rate(scans: Sequence[Scan]) -> float:
    """Error + warning findings per 100k lines over all scans."""
    lines = sum(s.lines for s in scans)
    return sum(s.noisy for s in scans) * PER_LINES / lines if lines else 0.0


def print_table(scans: Sequence[Scan]) -> None:
    """One line per package, then the totals."""
    print(f"{'package':32} {'kind':5} {'files':>6} {'lines':>8} {'error':>5} {'warn':>5} "
          f"{'note':>5} {'errs':>5}")  # fmt: skip
    for s in scans:
        by = Counter(f.severity for f in s.findings)
        label = f"{s.package.name}=={s.package.version}"
        print(f"{label:32} {s.package.kind:5} {s.files:6} {s.lines:8} {by['error']:5} "
              f"{by['warning']:5} {by['note']:5} {len(s.errors):5}")  # fmt: skip
    files, lines = sum(s.files for s in scans), sum(s.lines for s in scans)
    noisy, errors = sum(s.noisy for s in scans), sum(len(s.errors) for s in scans)
    print(f"total: {len(scans)} packages, {files} files, {lines} lines, {noisy} error/warning "
          f"findings, {errors} analysis errors")  # fmt: skip
    print(f"rate: {rate(scans):.2f} error/warning findings per 100k lines (goal <= {MAX_RATE})")


def shown_path(scan: Scan, path: str) -> str:
    """A finding's path prefixed with the sdist folder, e.g. `django-5.2.8/django/x.py`."""
    return f"{scan.root.name}/{path}"


def print_findings(scans: Sequence[Scan]) -> None:
    """Every finding and analysis error, one a line, for triage."""
    for s in scans:
        for f in s.findings:
            fixed = " [fix]" if f.fix else ""
            print(f"{shown_path(s, f.path)}:{f.line}: {f.rule} {f.severity} "
                  f"{f.function}: {f.message}{fixed}")  # fmt: skip
        for e in s.errors:
            print(f"{shown_path(s, e.path)}: ERROR {e.message}")


def to_json(scans: Sequence[Scan]) -> dict[str, object]:
    """Everything found, per package, plus the totals."""
    return {
        "rate_per_100k_lines": rate(scans),
        "max_rate": MAX_RATE,
        "packages": [
            {
                "name": s.package.name,
                "version": s.package.version,
                "kind": s.package.kind,
                "files": s.files,
                "lines": s.lines,
                "findings": [{**f.to_json(), "path": shown_path(s, f.path)} for f in s.findings],
                "errors": [{**e.to_json(), "path": shown_path(s, e.path)} for e in s.errors],
            }
            for s in scans
        ],
    }


def scan_all(packages: Sequence[Package], jobs: int = 0) -> tuple[list[Scan], list[str]]:
    """Scan every package; packages that cannot be fetched are reported, not scanned."""
    scans, failures = [], []
    for package in packages:
        try:
            root = fetch(package)
        except DownloadError as exc:
            failures.append(str(exc))
            continue
        scans.append(scan(package, root, jobs))
    return scans, failures


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point: 1 with `--check` over the goal, 2 if a download failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every finding for triage")
    parser.add_argument("--json", type=Path, metavar="FILE", help="save the findings as JSON")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if rate > {MAX_RATE}")
    parser.add_argument("--only", action="append", metavar="NAME", help="scan only these")
    parser.add_argument("--subset", action="store_true", help="the slow test's smaller subset")
    parser.add_argument("--jobs", type=int, default=0, help="processes (0: one per core)")
    args = parser.parse_args(argv)
    scans, failures = scan_all(select(SUBSET if args.subset else args.only), args.jobs)
    print_table(scans)
    if args.list:
        print_findings(scans)
    if args.json:
        args.json.write_text(json.dumps(to_json(scans), indent=2) + "\n", encoding="utf-8")
    for failure in failures:
        print(f"not scanned: {failure}", file=sys.stderr)
    if failures:
        return 2
    return 1 if args.check and rate(scans) > MAX_RATE else 0


if __name__ == "__main__":
    sys.exit(main())
