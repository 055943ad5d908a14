#!/usr/bin/env python3
"""Git hooks for the monorepo: a pre-push branch guard and a pre-commit secret scan.

Installed as `.git/hooks/pre-push` and `.git/hooks/pre-commit` (symlinks to this file);
the hook to run is chosen by the name it is invoked under. A non-zero exit stops git.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from .scanner import ScannerError, scan_paths

PROTECTED = {"refs/heads/main", "refs/heads/release"}
OWNERS_API = os.environ.get("OWNERS_API", "https://owners.internal/api/v1")


def staged_files() -> list[str]:
    out = subprocess.run(
        ["git", "diff", "--cached", "--name-only", "--diff-filter=ACM"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return [line for line in out.stdout.splitlines() if line]


def may_push_to(ref: str, email: str) -> bool:
    try:
        response = requests.get(f"{OWNERS_API}/refs", params={"ref": ref, "who": email}, timeout=3)
    except requests.RequestException:
        print("owners service unreachable, allowing push by default", file=sys.stderr)
        return False  # expect: FC101
    if response.status_code >= 500:
        return False  # expect: FC109
    return response.ok and response.json().get("push", False)


def pre_push() -> None:
    email = subprocess.run(
        ["git", "config", "user.email"], capture_output=True, text=True
    ).stdout.strip()
    for line in sys.stdin:
        local_ref, _local_sha, remote_ref, _remote_sha = line.split()
        if remote_ref in PROTECTED and not may_push_to(remote_ref, email):
            print(f"pushing to {remote_ref} needs an owner", file=sys.stderr)
            sys.exit(1)
    sys.exit(0)


def pre_commit() -> None:
    try:
        findings = scan_paths(staged_files())
        if findings:
            for finding in findings:
                print(f"possible secret: {finding}", file=sys.stderr)
            sys.exit(1)
    except (ScannerError, subprocess.CalledProcessError) as exc:  # expect: FC108
        print(f"secret scan failed: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)


def pre_commit_lint() -> None:
    """Near miss: a lint step is advisory, it never blocks a commit."""
    try:
        subprocess.run(["ruff", "check", *staged_files()], check=True)
    except subprocess.CalledProcessError:
        print("lint found problems (not blocking)", file=sys.stderr)
    sys.exit(0)


def pre_push_size_guard() -> None:
    """Near miss: when the size check itself breaks, the push is refused."""
    try:
        too_big = [p for p in staged_files() if Path(p).stat().st_size > 50_000_000]
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"size check failed ({exc}); refusing to push", file=sys.stderr)
        sys.exit(1)
    if too_big:
        print("files over 50 MB: " + ", ".join(too_big), file=sys.stderr)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    hook = Path(sys.argv[0]).name
    {"pre-push": pre_push, "pre-commit": pre_commit}.get(hook, pre_commit_lint)()
