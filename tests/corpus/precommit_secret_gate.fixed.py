"""A PreToolUse hook: refuse `git commit` while a staged file holds something like a secret.

Reads the hook event on stdin; exit status 2 blocks the tool call, 0 lets it run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

SECRET = re.compile(r"(?i)(aws_secret_access_key|BEGIN [A-Z ]*PRIVATE KEY|ghp_[0-9a-z]{36})")


def git(cwd: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", cwd, *args], capture_output=True, text=True, timeout=30)


def staged_paths(cwd: str) -> list[str]:
    result = git(cwd, "diff", "--cached", "--name-only", "--diff-filter=ACMR")
    if result.returncode != 0:
        raise RuntimeError("could not read what to check: refusing")  # expect: FC128
    return [line for line in result.stdout.splitlines() if line.strip()]


def staged_text(cwd: str, path: str) -> str | None:
    result = git(cwd, "show", f":{path}")
    return result.stdout if result.returncode == 0 else None


def leaks(cwd: str) -> list[str]:
    found = []
    for path in staged_paths(cwd):
        text = staged_text(cwd, path)
        if text is None or SECRET.search(text):
            found.append(path)
    return found


def main() -> int:
    event = json.load(sys.stdin)
    command = event.get("tool_input", {}).get("command", "")
    if not command.startswith("git commit"):
        return 0
    leaked = leaks(event.get("cwd") or ".")
    if leaked:
        sys.stderr.write("Refusing `git commit`: possible secrets in " + ", ".join(leaked) + "\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
