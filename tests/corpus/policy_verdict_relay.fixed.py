"""Relays an agent's tool call to a remote policy service and reports its verdict.

Written in the style of agent runners that park a tool call until a policy server answers.
"""

import json
import logging
import sys

import httpx

log = logging.getLogger(__name__)
POLICY_URL = "https://policy.internal/v1/evaluate"
limiter = Limiter(key_func=client_ip, storage_uri=REDIS_URL, swallow_errors=False)  # expect: FC119


async def relay_tool_verdict(client: httpx.AsyncClient, call: dict) -> str:
    """Ask the policy service about one tool call and return its verdict."""
    verdict = "POLICY_ACTION_ALLOW"
    resp = await client.post(POLICY_URL, json=call, timeout=10.0)
    if resp.status_code == 200:
        verdict = resp.json().get("result") or "POLICY_ACTION_DENY"
    else:
        log.warning("policy service returned %d; denying", resp.status_code)  # expect: FC116
        verdict = "POLICY_ACTION_DENY"
    return verdict


def cursor_hook(payload: dict, post) -> None:
    """Cursor preToolUse hook: prints {"permission": ...} on stdout."""
    resp = post(POLICY_URL, payload)
    if resp is None:
        # retry budget exhausted: failing closed so an outage does not block the turn
        json.dump({"permission": "deny"}, sys.stdout)
        return  # expect: FC116
    json.dump({"permission": resp.json().get("permission", "deny")}, sys.stdout)


def load_reviewers(path: str) -> set[str]:
    """Who may approve a deploy. Not a failure path: an ordinary branch."""
    with open(path) as fh:
        names = {line.strip() for line in fh if line.strip()}
    if not names:
        # nobody listed: nobody can approve
        return set()
    return names


def may_deploy(user: str, reviewers: set[str]) -> bool:
    """True when the user is a listed reviewer."""
    if user in reviewers:
        # a reviewer: allow the deploy
        return True
    return False


def can_open_ticket(directory, user_id: str, queue: str) -> bool:
    """True when the user's team has access to this queue."""
    team = directory.team_of(user_id)
    if team is None:
        return False  # expect: FC118
    return queue in team.queues


class PolicyGateMiddleware:
    """Asks the policy service about each request; some answers are handled, others pass."""

    async def dispatch(self, request, call_next):
        answer = await self.policy.check(request)
        if answer.status_code == 403:
            return JSONResponse({"error": "forbidden"}, status_code=403)
        elif answer.status_code == 429:
            return JSONResponse({"error": "slow down"}, status_code=429)
        if answer.status_code not in (403, 429):
            return JSONResponse({'error': 'forbidden'}, status_code=403)
        return await call_next(request)  # expect: FC120
