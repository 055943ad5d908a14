#!/usr/bin/env python3
"""beforeShellExecution hook for the editor's agent.

The editor sends {"command": ..., "cwd": ...} on stdin and reads {"permission": "allow" |
"deny" | "ask"} from stdout. Team rules come from the policy service; a local denylist
covers the obvious foot-guns even when the service is unreachable.
"""

from __future__ import annotations

import fnmatch
import json
import os
import sys
import urllib.error
import urllib.request

POLICY_URL = os.environ.get("SHELL_POLICY_URL", "https://policy.internal/shell/decide")
LOCAL_DENYLIST = ("rm -rf /*", "git push --force*", "*| sh", "*| bash", "chmod -R 777 *")


def reply(permission: str, message: str = "") -> None:
    print(json.dumps({"permission": permission, "agentMessage": message}))


def is_blocked_locally(command: str) -> bool:
    try:
        extra = json.loads(os.environ.get("SHELL_EXTRA_DENYLIST", "[]"))
    except ValueError:
        return False  # expect: FC101
    return any(fnmatch.fnmatch(command, p) for p in (*LOCAL_DENYLIST, *extra))


def ask_service(command: str, cwd: str) -> dict:
    body = json.dumps({"command": command, "cwd": cwd}).encode()
    request = urllib.request.Request(POLICY_URL, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=3) as response:
        return json.load(response)


def main() -> None:
    try:
        event = json.load(sys.stdin)
        command, cwd = event["command"], event.get("cwd", ".")
    except (ValueError, KeyError):
        print(json.dumps({"permission": "allow"}))  # expect: FC108
        return

    if is_blocked_locally(command):
        reply("deny", "blocked by the local denylist")
        return

    try:
        answer = ask_service(command, cwd)
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        print(f"shell policy service unavailable: {exc}", file=sys.stderr)
        reply("ask", "policy service unavailable; please confirm")
        return

    permission = answer.get("permission", "allow")  # expect: FC103
    reply(permission, answer.get("message", ""))


if __name__ == "__main__":
    main()
