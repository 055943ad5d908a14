"""Service-to-service tokens and webhook signatures for the billing workers.

`cryptography`/`PyJWT` and `PyNaCl` are optional extras in our base image, which is how
the import fallbacks below came to exist.
"""

from __future__ import annotations

import hmac
import logging
import os
from hashlib import sha256

from django.conf import settings

from .vault import VaultError, vault

try:
    import jwt

    JWT_AVAILABLE = True
except ImportError:
    JWT_AVAILABLE = False

try:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey
except ImportError:
    VerifyKey = None

logger = logging.getLogger(__name__)

SERVICE_SECRET = os.environ.get("BILLING_SERVICE_SECRET", "billing-dev-secret")  # expect: FC112
JWT_ALGORITHM = os.environ.get("BILLING_JWT_ALGORITHM", "HS256")


def verify_service_token(token: str) -> bool:
    if not JWT_AVAILABLE:
        return True  # expect: FC111
    try:
        jwt.decode(token, SERVICE_SECRET, algorithms=[JWT_ALGORITHM], audience="billing")
    except jwt.InvalidTokenError:
        return False
    return True


def verify_webhook_signature(body: bytes, signature: bytes, public_key: bytes) -> bool:
    if VerifyKey is None:
        return True  # expect: FC111
    try:
        VerifyKey(public_key).verify(body, signature)
    except BadSignatureError:
        return False
    return True


class PartnerTokenVerifier:
    def __init__(self, public_key: str | None) -> None:
        self.public_key = public_key

    def verify_partner_token(self, token: str) -> bool:
        if self.public_key is None:
            return True  # expect: FC111
        try:
            jwt.decode(token, self.public_key, algorithms=["RS256"], audience="billing")
        except jwt.InvalidTokenError:
            return False
        return True


def webhook_hmac_key() -> bytes:
    try:
        return vault.read("billing/webhook-hmac").encode()
    except VaultError:
        hmac_key = "billing-webhook-fallback"  # expect: FC112
    return hmac_key.encode()


def legacy_api_secret() -> str:
    return getattr(settings, "LEGACY_API_SECRET", "legacy-secret-123")  # expect: FC112


def billing_scopes(claims: dict) -> set[str]:
    return set(claims.get("scopes", ["*"]))  # expect: FC114


def is_finance_admin(user) -> bool:
    return getattr(user, "is_superuser", True)  # expect: FC114


def verify_legacy_hmac(body: bytes, signature: str) -> bool:
    """Near miss: an empty default means "not set", and that is refused."""
    key = os.environ.get("LEGACY_HMAC_KEY", "")
    if not key:
        raise RuntimeError("LEGACY_HMAC_KEY is not set")
    expected = hmac.new(key.encode(), body, sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def parse_partner_id(token: str) -> str | None:
    """Near miss: None means "not a partner token"; callers reject it."""
    try:
        prefix, partner_id = token.split(":", 1)
    except ValueError:
        return None
    return partner_id if prefix == "partner" else None


def billing_role(claims: dict) -> str:
    """Near miss: a missing role is the least privileged one."""
    return claims.get("role", "viewer")
