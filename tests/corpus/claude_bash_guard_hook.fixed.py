#!/usr/bin/env python3
"""PreToolUse hook: vet Bash commands against the repository's command policy.

Claude Code runs this with the tool call as JSON on stdin. Exit 2 blocks the call and
shows stderr to the model; exit 0 lets it run. `.claude/command-policy.json` lists the
forbidden command patterns.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

POLICY_FILE = Path(os.environ.get("CLAUDE_PROJECT_DIR", ".")) / ".claude/command-policy.json"
# Opt-in escape hatch for people hacking on the policy file itself; off by default.
HOOK_FAIL_OPEN = os.environ.get("BASH_GUARD_FAIL_OPEN") == "1"


def load_patterns(path: Path) -> list[re.Pattern[str]]:
    with path.open(encoding="utf-8") as handle:
        return [re.compile(p) for p in json.load(handle)["forbidden"]]


def first_match(patterns: list[re.Pattern[str]], command: str) -> str | None:
    for pattern in patterns:
        if pattern.search(command):
            return pattern.pattern
    return None


try:
    event = json.load(sys.stdin)
except ValueError:
    print("bash guard: unreadable hook input", file=sys.stderr)
    sys.exit(2)  # expect: FC108

if event.get("tool_name") != "Bash":
    sys.exit(0)
command = event.get("tool_input", {}).get("command", "")

try:
    patterns = load_patterns(POLICY_FILE)
except (OSError, KeyError, ValueError, re.error) as exc:
    if not HOOK_FAIL_OPEN:
        print(f"bash guard: policy unavailable ({exc}); blocking", file=sys.stderr)
        sys.exit(2)
    patterns = []

try:
    matched = first_match(patterns, command)
except re.error as exc:
    print(f"bash guard: bad pattern in policy ({exc}), denying", file=sys.stderr)
    sys.exit(2)  # expect: FC108

if matched:
    print(f"Blocked by command policy: matches {matched!r}", file=sys.stderr)
    sys.exit(2)

try:
    with open(os.path.expanduser("~/.claude/bash-guard.log"), "a", encoding="utf-8") as log:
        log.write(command + "\n")
except KeyboardInterrupt:
    sys.exit(130)
sys.exit(0)
