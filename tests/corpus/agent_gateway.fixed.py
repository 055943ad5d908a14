"""A small agent gateway: tool filtering, a policy service, token checks and a hook.

Round-2 shapes: error results, filters, degraded capability, fallback secrets, privileged
defaults, helpers whose None reads as "allowed", and a hook that exits 0 on failure.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import httpx

try:
    import jwt

    HAVE_JWT = True
except ImportError:
    HAVE_JWT = False

logger = logging.getLogger(__name__)

GATEWAY_SECRET = os.environ["GATEWAY_SECRET"]  # expect: FC112
POLICY_URL = os.environ.get("POLICY_URL", "http://127.0.0.1:8181/v1/data/tools/allow")


def verify_gateway_token(token: str) -> bool:
    if not HAVE_JWT:
        return False  # expect: FC111
    try:
        jwt.decode(token, GATEWAY_SECRET, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        return False
    return True


def role_of(claims: dict) -> str:
    return claims.get("role", None)  # expect: FC114


def is_tool_allowed(tool: str, user: str) -> bool:
    response = httpx.post(POLICY_URL, json={"input": {"tool": tool, "user": user}})
    if response.status_code != 200:
        return False  # expect: FC109
    return bool(response.json().get("result"))


def filter_allowed_tools(user: str, tools: list[str]) -> list[str]:
    try:
        grants = set(httpx.get(f"{POLICY_URL}/grants/{user}").json()["grants"])
    except (httpx.HTTPError, KeyError):
        logger.warning("grant lookup failed for %s", user)
        return []  # expect: FC110
    return [tool for tool in tools if tool in grants]


def _open_violation(tool: str, args: dict):
    try:
        return httpx.post(f"{POLICY_URL}/violations", json={"tool": tool, "args": args}).json()
    except httpx.HTTPError:
        raise  # expect: FC113


def may_run(tool: str, args: dict) -> bool:
    violation = _open_violation(tool, args)
    if violation is None:
        return True
    return False


def is_read_only(tool: str) -> bool:
    """Not a permission check: a missing registry entry means "unknown", handled elsewhere."""
    try:
        return TOOL_REGISTRY[tool]["read_only"]
    except KeyError:
        return False


def main() -> None:
    """The gateway's pre-tool-use hook: exit 2 blocks the call."""
    try:
        event = json.load(sys.stdin)
        allowed = may_run(event["tool_name"], event.get("tool_input", {}))
    except Exception:
        sys.exit(2)  # expect: FC108
    if not allowed:
        print("blocked by gateway policy", file=sys.stderr)
        sys.exit(2)


TOOL_REGISTRY: dict[str, dict] = {}

if __name__ == "__main__":
    main()
