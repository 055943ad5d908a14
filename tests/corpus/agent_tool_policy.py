"""Tool policy of an agent runner: which tools a session may call.

The policy file lists the tools each workspace denies; the runner asks `tool_permitted`
before every call, and the MCP bridge asks `server_blocked` before it connects.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def load_policy(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def tool_permitted(tool: str, workspace: Path) -> bool:
    """True when the workspace's policy does not deny the tool."""
    try:
        policy = load_policy(workspace / ".agent" / "policy.json")
    except (OSError, ValueError):  # expect: FC145
        log.warning("policy unreadable for %s, using an empty one", workspace)
        policy = {}
    denied = policy.get("deny", [])
    return tool not in denied


def server_blocked(url: str, registry) -> bool:
    """True when the MCP server is on the organisation's block list."""
    try:
        blocked = registry.blocked_servers()
    except ConnectionError:  # expect: FC145
        blocked = set()
    return any(url.startswith(prefix) for prefix in blocked)


def tool_budget(tool: str, workspace: Path) -> int:
    """Calls a session may make to the tool; a broken policy allows none."""
    try:
        policy = load_policy(workspace / ".agent" / "policy.json")
    except (OSError, ValueError):
        log.error("policy unreadable for %s: no calls", workspace)
        return 0
    return int(policy.get("budgets", {}).get(tool, 10))
