"""A content-safety gate that asks a moderation service before a prompt reaches the model."""

import json
import logging

import httpx

logger = logging.getLogger(__name__)


class ContentBlocked(Exception):
    pass


def shield_prompt(endpoint, text):
    response = httpx.post(f"{endpoint}/shieldPrompt", json={"userPrompt": text})
    response.raise_for_status()
    data = response.json()
    attack = data["userPromptAnalysis"]["attackDetected"]  # expect: FC140
    if attack:
        raise ContentBlocked("prompt attack detected")
    return text


def shield_prompt_strict(endpoint, text):
    response = httpx.post(f"{endpoint}/shieldPrompt", json={"userPrompt": text})
    response.raise_for_status()
    attack = response.json()["userPromptAnalysis"]["attackDetected"]
    if not isinstance(attack, bool):
        raise ContentBlocked("malformed moderation reply")
    if attack:
        raise ContentBlocked("prompt attack detected")
    return text


def categories_of(raw):
    """Which categories a stored moderation record names; display only."""
    record = json.loads(raw)
    return sorted(record.get("categories", {}))


def gate(endpoint, text):
    try:
        return shield_prompt(endpoint, text)
    except httpx.HTTPError:
        logger.warning("moderation unavailable: refusing the prompt")
        raise ContentBlocked("moderation unavailable") from None
