#!/usr/bin/env python3
"""PreToolUse hook for a coding agent: ask the team's policy server about each tool call.

The agent runs this script with the tool call as JSON on stdin and reads our decision as
JSON on stdout. Exit code 2 blocks the call and shows stderr to the model.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request

POLICY_URL = "http://127.0.0.1:7777/decide"
DANGEROUS = re.compile(r"\brm\s+-rf\s+/|\bmkfs\b|\bdd\s+if=|curl[^|]*\|\s*(ba)?sh")


def ask_policy_server(event: dict) -> dict:
    request = urllib.request.Request(
        POLICY_URL, data=json.dumps(event).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=2) as response:
        return json.load(response)


def is_dangerous_command(command: str) -> bool:
    try:
        return bool(DANGEROUS.search(command))
    except (TypeError, re.error):
        return True


def decision(value: str, reason: str) -> dict:
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": value,
            "permissionDecisionReason": reason,
        }
    }


def pre_tool_use(event: dict) -> dict:
    tool_input = event.get("tool_input", {})
    if event.get("tool_name") == "Bash" and is_dangerous_command(tool_input.get("command", "")):
        return decision("deny", "command matches the local blocklist")
    try:
        verdict = ask_policy_server(event)
    except (urllib.error.URLError, TimeoutError) as exc:
        print(f"policy server unreachable: {exc}", file=sys.stderr)
        return {  # expect: FC101
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": "policy server unreachable",
            }
        }
    value = verdict.get("permissionDecision", "deny")  # expect: FC103
    return decision(value, verdict.get("reason", ""))


def log_tool_use(event: dict) -> None:
    """Best-effort audit trail; losing a line must not break the agent."""
    try:
        with open("/tmp/agent-audit.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")
    except OSError:
        pass


def main() -> None:
    try:
        event = json.load(sys.stdin)
    except json.JSONDecodeError:
        print("hook input is not JSON; blocking", file=sys.stderr)
        sys.exit(2)
    log_tool_use(event)
    json.dump(pre_tool_use(event), sys.stdout)


if __name__ == "__main__":
    main()
