#!/usr/bin/env python3
"""A PreToolUse hook that answers with JSON on stdout.

The agent reads `{"decision": "approve" | "block", "reason": ...}` from stdout; exit 2
also blocks. Exiting 0 after printing "block" is a deny in this protocol.

1. The handler prints `approve` and then exits 0: FC108, the fix flips the verdict.
2. A regex error sets `matched = None`, after which `if matched:` is skipped and the
   hook approves through its `answer()` helper: FC108, the fix exits 2 in the handler.
3. Near miss: after the decision, a failed audit-log write is swallowed before the final
   `exit(0)`: the decision was already made, so it is not a finding.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

RULES_FILE = Path(os.environ.get("CLAUDE_PROJECT_DIR", ".")) / ".claude/write-rules.json"
AUDIT_LOG = Path.home() / ".claude" / "write-guard.log"


def answer(decision: str, reason: str) -> None:
    print(json.dumps({"decision": decision, "reason": reason}))


try:
    event = json.load(sys.stdin)
    path = event["tool_input"]["file_path"]
    rules = json.loads(RULES_FILE.read_text(encoding="utf-8"))
except (OSError, ValueError, KeyError):
    print(json.dumps({"decision": "block", "reason": "write guard unavailable"}))  # expect: FC108
    sys.exit(2)

try:
    matched = next((p for p in rules["protected"] if re.search(p, path)), None)
except re.error as exc:  # expect: FC108
    print(f"write guard: bad pattern ({exc})", file=sys.stderr)
    matched = None
    sys.exit(2)

if matched:
    answer("block", f"{path} is protected by {matched!r}")
    sys.exit(2)
answer("approve", "not a protected path")

try:
    with AUDIT_LOG.open("a", encoding="utf-8") as log:
        log.write(f"approved write to {path}\n")
except OSError:
    pass
sys.exit(0)
