"""Tool-call authorization for an MCP server.

Before a tool runs, the server asks the workspace's authorization service whether the
calling client may use it. Answers are dicts: {"allowed": bool, "reason": str}.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from mcp.server import Server

logger = logging.getLogger("mcp.authz")

server = Server("workspace-tools")

READ_ONLY_TOOLS = frozenset({"list_files", "read_file", "search"})


class AuthzService:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=3.0)

    def query(self, client_id: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(
            "/authorize", json={"client": client_id, "tool": tool, "arguments": arguments}
        )
        response.raise_for_status()
        return response.json()


authz = AuthzService("http://authz.internal")


def authorize_tool_call(client_id: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    if tool in READ_ONLY_TOOLS:
        return {"allowed": True, "reason": "read-only tool"}
    try:
        return authz.query(client_id, tool, arguments)
    except httpx.HTTPError as exc:
        logger.warning("authz service error for %s: %s", tool, exc)
        return {"allowed": False, "reason": "authz unavailable"}  # expect: FC101


def tool_permission_for(client_id: str, tool: str, arguments: dict[str, Any]) -> bool:
    answer = authorize_tool_call(client_id, tool, arguments)
    return bool(answer.get("allowed", False))  # expect: FC103


def can_use_tool(client_id: str, tool: str) -> bool:
    try:
        answer = authz.query(client_id, tool, {})
    except httpx.HTTPError:
        logger.exception("authz query failed for %s", tool)
        return False
    return bool(answer.get("allowed", False))


def format_denial(answer: dict[str, Any]) -> str:
    """The text shown to the model when a tool is refused (not a decision)."""
    return f"Tool refused: {answer.get('reason', 'no reason given')}"


@server.call_tool()
async def call_tool(name: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
    client_id = server.request_context.session.client_params.clientInfo.name
    if not tool_permission_for(client_id, name, arguments):
        return [{"type": "text", "text": format_denial({"reason": "policy"})}]
    return await dispatch_tool(name, arguments)


async def dispatch_tool(name: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
    raise NotImplementedError(name)


class StubAuthzService(AuthzService):
    """In-memory stand-in used by the server's self-test command."""

    def __init__(self) -> None:
        self.rules: dict[str, bool] = {}

    def authorize_tool_call(self, client_id: str, tool: str) -> dict[str, Any]:
        try:
            return {"allowed": self.rules[tool]}
        except KeyError:
            return {"allowed": True}
