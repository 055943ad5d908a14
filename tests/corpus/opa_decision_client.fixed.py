"""Client for the OPA sidecar and the abuse service, used by the document API.

Both answer over HTTP; either may return an error status, an error body, or nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import httpx
import requests

logger = logging.getLogger(__name__)
OPA_URL = "http://127.0.0.1:8181/v1/data/docs/authz"
ABUSE_URL = "http://abuse.internal/v2"


@dataclass
class Decision:
    allowed: bool
    error: str | None = None


def with_retries(func, attempts: int = 3):
    for attempt in range(attempts):
        try:
            return func()
        except requests.RequestException as exc:
            logger.info("attempt %d failed: %s", attempt + 1, exc)
            time.sleep(0.2 * 2**attempt)
    return None


def can_read_document(user: str, doc_id: str) -> bool:
    response = requests.post(OPA_URL, json={"input": {"user": user, "doc": doc_id}}, timeout=2)
    if response.status_code != 200:
        return False  # expect: FC109
    return bool(response.json().get("result", {}).get("allow"))


def can_edit_document(user: str, doc_id: str) -> bool:
    decision = query_decision(user, doc_id, "edit")
    if decision.error is not None:
        return False  # expect: FC109
    return decision.allowed


def authorize_share(user: str, doc_id: str, target: str) -> dict:
    answer = requests.post(
        f"{OPA_URL}/share", json={"input": {"user": user, "doc": doc_id, "to": target}}, timeout=2
    ).json()
    if "error" in answer:
        return {"allowed": False, "reason": answer["error"]}  # expect: FC109
    return {"allowed": bool(answer.get("result")), "reason": "opa"}


async def is_rate_limited(client: httpx.AsyncClient, user: str) -> bool:
    reply = await client.get(f"{ABUSE_URL}/limits/{user}")
    if reply.status_code >= 500:
        return True  # expect: FC109
    return reply.json()["limited"]


def can_delete_document(user: str, doc_id: str) -> bool:
    response = with_retries(
        lambda: requests.post(OPA_URL, json={"input": {"user": user, "doc": doc_id}}, timeout=2)
    )
    if response is None:
        return False
    if not response.ok:
        return False
    return bool(response.json().get("result", {}).get("allow"))


def query_decision(user: str, doc_id: str, action: str) -> Decision:
    """Near miss: the error is data here; the callers above decide what it means."""
    try:
        body = requests.post(
            OPA_URL, json={"input": {"user": user, "doc": doc_id, "action": action}}, timeout=2
        ).json()
    except (requests.RequestException, ValueError) as exc:
        return Decision(allowed=False, error=str(exc))
    return Decision(allowed=bool(body.get("result", {}).get("allow")))


def can_comment(user: str, doc_id: str) -> bool:
    """Near miss: an error result is raised, not read as permission."""
    decision = query_decision(user, doc_id, "comment")
    if decision.error:
        raise RuntimeError(f"policy decision failed: {decision.error}")
    return decision.allowed
