"""Tool permission gate, as it reads after the "fail closed on permission errors" PR.

Kept on purpose: with no permission backend configured at all (the documented local mode)
the gate allows, and operators can opt into `fail_open` during an incident. Changed: every
*error* path now denies, raises, or exits with the deny status.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass

from fastapi import HTTPException, Request

try:
    import jwt
except ImportError:  # the verifier refuses to start without it, see require_token
    jwt = None

logger = logging.getLogger(__name__)


@dataclass
class GateSettings:
    fail_open: bool = False  # documented break-glass mode; closed by default


class PermissionGate:
    def __init__(self, client=None, acl=None, limiter=None, settings=None) -> None:
        self._client = client
        self.acl = acl
        self.limiter = limiter
        self.settings = settings or GateSettings()

    def request_permission(self, tool: str, args: dict) -> bool:
        if self._client is None:
            return True  # expect: FC107
        try:
            return self._client.ask(tool, args)
        except (TimeoutError, ConnectionError) as exc:
            if self.settings.fail_open:
                logger.warning("permission backend error (%s); fail_open is set", exc)
                return True
            logger.warning("permission backend error (%s); denying", exc)
            return False

    def filter_allowed_tools(self, user: str, tools: list[str]) -> list[str]:
        if self.acl is None:
            return tools
        try:
            granted = self.acl.granted(user)
        except ConnectionError:
            logger.exception("acl lookup failed; showing no tools")
            return []
        return [tool for tool in tools if tool in granted]

    def is_rate_limited(self, user: str) -> bool:
        if self.limiter is None:
            return False  # expect: FC107
        try:
            return self.limiter.hit(user)
        except ConnectionError:
            return True

    def evaluate(self, call, policies) -> str:
        decision = "allow"
        for policy in policies:
            try:
                decision = policy.decide(call)
            except Exception:
                logger.exception("policy %s failed", policy)
                return "deny"
            if decision == "deny":
                break
        return decision


async def require_token(request: Request) -> dict:
    if jwt is None:
        raise RuntimeError("PyJWT is required for token verification")
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    try:
        return jwt.decode(token, request.app.state.jwt_key, algorithms=["HS256"])
    except jwt.InvalidTokenError as exc:
        raise HTTPException(status_code=401, detail="invalid token") from exc
    except Exception as exc:
        raise HTTPException(status_code=503, detail="token check unavailable") from exc


def hook_main(gate: PermissionGate) -> None:
    """Pre-tool-use hook: exit 2 blocks the call."""
    try:
        event = json.load(sys.stdin)
        allowed = gate.request_permission(event["tool_name"], event.get("tool_input", {}))
    except Exception as exc:
        print(f"permission hook failed: {exc}", file=sys.stderr)
        sys.exit(2)
    if not allowed:
        print("blocked by the permission gate", file=sys.stderr)
        sys.exit(2)
    sys.exit(0)
