"""Which MCP tools, resources and prompts a connected agent may see.

The entitlement service answers per principal; the server narrows its catalogue to that
answer before listing anything to the client.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

logger = logging.getLogger(__name__)

READ_ONLY_TOOLS = frozenset({"search_docs", "read_file", "list_directory"})


@dataclass(frozen=True)
class Tool:
    name: str
    destructive: bool = False


class EntitlementError(Exception):
    pass


class Entitlements:
    def __init__(self, base_url: str, fail_open: bool = False) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=2.0)
        self.fail_open = fail_open  # off unless the operator opts in (see docs/ops.md)

    async def granted(self, principal: str) -> set[str]:
        response = await self.http.get(f"/principals/{principal}/tools")
        response.raise_for_status()
        return set(response.json()["tools"])


entitlements = Entitlements("http://entitlements.internal")


async def filter_allowed_tools(principal: str, tools: list[Tool]) -> list[Tool]:
    try:
        granted = await entitlements.granted(principal)
    except (httpx.HTTPError, KeyError) as exc:
        logger.warning("entitlements unavailable for %s: %s", principal, exc)
        return tools  # expect: FC110
    return [tool for tool in tools if tool.name in granted]


async def visible_resources(principal: str, resources: list[str]) -> list[str]:
    visible = resources
    try:
        granted = await entitlements.granted(principal)
        visible = [uri for uri in resources if uri.split("/", 1)[0] in granted]
    except httpx.HTTPError:  # expect: FC110
        logger.exception("resource ACL lookup failed")
    return visible


def allowed_prompts(principal: str, prompts: list[str], grants: dict[str, set[str]]) -> list[str]:
    try:
        names = grants[principal]
    except KeyError:
        return list(prompts)  # expect: FC110
    return [p for p in prompts if p in names]


async def list_tools_for_principal(principal: str, tools: list[Tool]) -> list[Tool]:
    """Near miss: on failure, fall back to the stricter, read-only subset."""
    try:
        granted = await entitlements.granted(principal)
    except httpx.HTTPError:
        logger.warning("entitlements down; offering read-only tools to %s", principal)
        return [tool for tool in tools if tool.name in READ_ONLY_TOOLS]
    return [tool for tool in tools if tool.name in granted]


async def filter_permitted_tools(principal: str, tools: list[Tool]) -> list[Tool]:
    """Near miss: the documented fail-open switch, off by default."""
    try:
        granted = await entitlements.granted(principal)
    except httpx.HTTPError:
        if entitlements.fail_open:
            return tools
        raise
    return [tool for tool in tools if tool.name in granted]


def restrict_destructive_tools(tools: list[Tool], confirmed: bool) -> list[Tool]:
    """Near miss: not an error path; unconfirmed sessions simply lose destructive tools."""
    if confirmed:
        return tools
    return [tool for tool in tools if not tool.destructive]
