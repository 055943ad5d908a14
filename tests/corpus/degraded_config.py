"""Degraded capability: policies that fail to load, verifiers without their library or key.

1. A policy file that fails to load leaves the deny rules empty, so every check passes
   (module level, and in a checker's `__init__` read through `any(...)`): FC115, the fix
   re-raises the load error.
2. `if not JWT_AVAILABLE:` logs before `return True` (FC111).
3. With the library missing, the payload is base64-decoded by hand (FC111).
4. With no key loaded, the token is decoded without verification (FC111); the fix raises.
"""

from __future__ import annotations

import base64
import json
import logging
import os

import yaml

try:
    import jwt

    JWT_AVAILABLE = True
except ImportError:
    JWT_AVAILABLE = False

logger = logging.getLogger(__name__)
POLICY_PATH = os.environ.get("TOOL_POLICY_PATH", "/etc/agent/tool-policy.yaml")

try:
    with open(POLICY_PATH, encoding="utf-8") as fh:
        DENY_RULES = yaml.safe_load(fh)["deny"]
except (OSError, yaml.YAMLError, KeyError):
    logger.warning("could not load %s; no deny rules active", POLICY_PATH)
    DENY_RULES = []  # expect: FC115


def is_tool_allowed(user: str, tool: str) -> bool:
    for rule in DENY_RULES:
        if rule["tool"] == tool and user in rule.get("users", ["*"]):
            return False
    return True


class CommandChecker:
    def __init__(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as fh:
                self.blocked = json.load(fh)["blocked"]
        except (OSError, ValueError):
            self.blocked = []  # expect: FC115

    def is_blocked_command(self, command: str) -> bool:
        return any(command.startswith(prefix) for prefix in self.blocked)


def verify_session_token(token: str) -> bool:
    if not JWT_AVAILABLE:
        logger.warning("PyJWT not installed; skipping token verification")
        return True  # expect: FC111
    try:
        jwt.decode(token, os.environ["SESSION_KEY"], algorithms=["HS256"])
    except jwt.InvalidTokenError:
        return False
    return True


def verify_claims(token: str) -> dict:
    if not JWT_AVAILABLE:
        payload = token.split(".")[1]  # expect: FC111
        return json.loads(base64.urlsafe_b64decode(payload + "=="))
    return jwt.decode(token, os.environ["SESSION_KEY"], algorithms=["HS256"])


class PartnerVerifier:
    def __init__(self, public_key: str | None) -> None:
        self.public_key = public_key

    def verify_partner_claims(self, token: str) -> dict:
        if self.public_key is None:
            return jwt.decode(token, options={"verify_signature": False})  # expect: FC111
        return jwt.decode(token, self.public_key, algorithms=["RS256"])
