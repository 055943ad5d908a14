"""Human approval for an agent's tool calls: which calls must wait for a person."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

DANGEROUS_PATHS = ("/etc/", "~/.ssh/", "/var/lib/")


@dataclass
class ToolCall:
    name: str
    arguments: str
    call_id: str


@dataclass
class Tool:
    name: str
    always_ask: bool = False


def approval_policy(tool: Tool, args: dict[str, Any]) -> bool:
    """True when a person must approve this call before it runs."""
    if tool.always_ask:
        return True
    path = str(args.get("path", ""))
    return any(path.startswith(prefix) for prefix in DANGEROUS_PATHS)


def tool_needs_approval(tool: Tool, call: ToolCall) -> bool:
    """Whether the call waits for a person; its arguments decide for most tools."""
    try:
        args = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        logger.warning("could not parse arguments of %s", call.call_id)
        args = {}  # expect: FC123
    needs = approval_policy(tool, args)
    return bool(needs)


def describe_call(call: ToolCall) -> str:
    """A one-line summary for the approval prompt; unreadable arguments are shown raw."""
    try:
        args = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        args = {}
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items()) or call.arguments
    return f"{call.name}({shown})"


def must_confirm(tool: Tool, call: ToolCall) -> bool:
    """The strict variant: arguments nobody can read always go to a person."""
    try:
        args = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return True
    return approval_policy(tool, args)
