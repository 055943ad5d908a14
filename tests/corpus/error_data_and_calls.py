"""Error answers, cross-call empties, and a named audit mode.

1. A non-200 branch that logs before `return True` (FC109).
2. A retry helper gives up and returns None; the caller reads None as allowed (FC113, at
   the caller: the retries stay, the caller denies).
3. An async helper answers [] on error and its caller (`await helper(...)`) reads an
   empty answer as allowed (FC113, at the helper).
4. Near miss: an explicit `mode == "audit"` setting (default "enforce") that allows on
   backend errors is a named, configured choice.
"""

from __future__ import annotations

import logging
import time

import httpx
import requests

logger = logging.getLogger(__name__)
OPA_URL = "http://127.0.0.1:8181/v1/data/docs/authz"


def can_read_document(user: str, doc_id: str) -> bool:
    response = requests.post(OPA_URL, json={"input": {"user": user, "doc": doc_id}}, timeout=2)
    if response.status_code != 200:
        logger.error("opa answered %s", response.status_code)
        return True  # expect: FC109
    return bool(response.json().get("result", {}).get("allow"))


def with_retries(func, attempts: int = 3):
    for attempt in range(attempts):
        try:
            return func()
        except requests.RequestException as exc:
            logger.info("attempt %d failed: %s", attempt + 1, exc)
            time.sleep(0.2 * 2**attempt)
    return None


def can_archive_document(user: str, doc_id: str) -> bool:
    response = with_retries(
        lambda: requests.post(OPA_URL, json={"input": {"user": user, "doc": doc_id}}, timeout=2)
    )
    if response is None:
        return True  # expect: FC113
    return bool(response.json().get("result", {}).get("allow"))


async def _leaked_secrets(client: httpx.AsyncClient, text: str) -> list[str]:
    try:
        response = await client.post("/scan", json={"text": text})
        return response.json()["findings"]
    except (httpx.HTTPError, KeyError, ValueError):
        return []  # expect: FC113


async def may_send_output(client: httpx.AsyncClient, text: str) -> bool:
    findings = await _leaked_secrets(client, text)
    if not findings:
        return True
    return False


class DocumentAuthorizer:
    def __init__(self, backend, mode: str = "enforce") -> None:
        self.backend = backend
        self.mode = mode  # "enforce" (default) or "audit": log decisions, never block

    def has_permission(self, user: str, doc_id: str) -> bool:
        try:
            return self.backend.has_perm(user, doc_id)
        except ConnectionError:
            if self.mode == "audit":
                logger.warning("authz backend down; audit mode does not block")
                return True
            raise
