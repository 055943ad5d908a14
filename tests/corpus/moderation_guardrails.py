"""Guardrails in front of the chat model: moderation, user bans and output scanning.

Helpers talk to the backends; the public checks turn their answers into allow/deny.
"""

from __future__ import annotations

import logging
import re

import httpx

logger = logging.getLogger(__name__)
MODERATION_URL = "http://moderation.internal/v1/classify"
SECRET_PATTERN = re.compile(r"(?i)(api[_-]?key|secret|password)\s*[:=]\s*\S+")


def _first_violation(prompt: str) -> dict | None:
    try:
        response = httpx.post(MODERATION_URL, json={"input": prompt}, timeout=3)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        logger.warning("moderation unavailable: %s", exc)
        return None  # expect: FC113
    flagged = [c for c in response.json()["categories"] if c["flagged"]]  # expect: FC140
    return flagged[0] if flagged else None


def is_prompt_allowed(prompt: str) -> bool:
    violation = _first_violation(prompt)
    if violation is None:
        return True
    logger.info("prompt blocked: %s", violation["name"])
    return False


class BanList:
    def __init__(self, store) -> None:
        self.store = store

    def _active_ban(self, user_id: str):
        try:
            return self.store.get_ban(user_id)
        except (ConnectionError, TimeoutError):  # expect: FC113
            logger.exception("ban store unreachable")

    def is_banned(self, user_id: str) -> bool:
        ban = self._active_ban(user_id)
        if ban is None:
            return False
        return not ban.expired


def _leaked_secrets(client: httpx.Client, text: str) -> list[str]:
    try:
        response = client.post("/scan", json={"text": text})
        return response.json()["findings"]
    except (httpx.HTTPError, KeyError, ValueError):
        return []  # expect: FC113


def may_send_output(client: httpx.Client, text: str) -> bool:
    findings = _leaked_secrets(client, text)
    if not findings:
        return True
    return False


def load_blocked_phrases(path: str = "/etc/guardrails/blocked.txt") -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return [line.strip().lower() for line in fh if line.strip()]
    except OSError:
        logger.warning("blocked phrase list unreadable at %s", path)
        return []  # expect: FC115


def is_output_allowed(text: str) -> bool:
    lowered = text.lower()
    for phrase in load_blocked_phrases():
        if phrase in lowered:
            return False
    return True


def _parse_session(token: str) -> dict | None:
    """Near miss: None means "not a valid session", and the caller denies on it."""
    try:
        user_id, issued = token.split(":", 1)
        return {"user": user_id, "issued": int(issued)}
    except ValueError:
        return None


def is_session_valid(token: str) -> bool:
    session = _parse_session(token)
    if session is None:
        return False
    return session["issued"] > 0


def _local_secret_match(text: str):
    """Near miss: None here is the checked answer "no match", not an error."""
    match = SECRET_PATTERN.search(text)
    return match.group(0) if match else None


def may_log_text(text: str) -> bool:
    hit = _local_secret_match(text)
    if hit is None:
        return True
    return False


def screen_output(output: str) -> tuple[bool, str]:
    """A judge model grades the output; its reply starts with PASS or FAIL."""
    reply = judge.complete(GRADING_PROMPT + output).strip().upper()
    if reply.startswith("PASS"):
        return True, output
    elif reply.startswith("FAIL"):
        return False, f"output rejected: {reply[5:]}"
    else:
        log.warning("judge reply not understood: %.40s", reply)
        return True, output  # expect: FC121
