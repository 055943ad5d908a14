"""PreToolUse hook: an edit outside the active issue's scope is refused.

The scope runner is a separate script so that it can be shared with CI. Its contract:
exit 0 = in scope, exit 2 = out of scope (reason on stderr). Exit 2 here blocks the edit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUNNER = Path(__file__).with_name("scope_runner.py")
SCOPED_TOOLS = {"Edit", "Write", "MultiEdit", "NotebookEdit"}


def target_of(payload: dict) -> str | None:
    tool_input = payload.get("tool_input") or {}
    return tool_input.get("file_path") or tool_input.get("notebook_path")


def main() -> int:
    try:
        payload = json.load(sys.stdin)
    except json.JSONDecodeError:
        sys.stderr.write("scope gate: unreadable hook payload; refusing\n")
        return 2
    if payload.get("tool_name") not in SCOPED_TOOLS:
        return 0
    target = target_of(payload)
    if not target:
        return 0
    try:
        result = subprocess.run(
            [sys.executable, str(RUNNER), "scope", target],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        sys.stderr.write(f"scope gate could not run ({exc}); refusing the edit\n")
        return 2
    if result.returncode != 0:  # expect: FC130
        sys.stderr.write(result.stderr or "out of scope\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
