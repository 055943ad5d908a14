"""Verify access tokens issued by our identity provider (RS256, keys from its JWKS)."""

from __future__ import annotations

import logging
from functools import lru_cache

import jwt
from jwt import PyJWKClient

from .errors import AuthenticationFailed

logger = logging.getLogger(__name__)

ISSUER = "https://id.example.com/"
AUDIENCE = "api://orders"
LEGACY_HS_KEY = "rotated-2023-do-not-use"


@lru_cache(maxsize=1)
def jwks_client() -> PyJWKClient:
    return PyJWKClient(f"{ISSUER}.well-known/jwks.json", cache_keys=True)


def verify_access_token(token: str) -> dict:
    """Claims of a valid token; AuthenticationFailed otherwise."""
    try:
        key = jwks_client().get_signing_key_from_jwt(token)
        return jwt.decode(token, key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    except jwt.ExpiredSignatureError:
        raise AuthenticationFailed("token expired")
    except jwt.PyJWKClientError:
        logger.warning("JWKS unreachable, reading claims without verification")
        raise  # expect: FC105
    except jwt.InvalidTokenError as exc:
        raise AuthenticationFailed(str(exc))


def claims_for_logging(token: str) -> dict:
    """Only for log enrichment: never used to decide anything."""
    header = jwt.get_unverified_header(token)
    return {"kid": header.get("kid"), "alg": header.get("alg")}


def decode_rotating(token: str) -> dict:
    """During key rotation accept the new and the previous key, both verified."""
    try:
        return jwt.decode(token, current_key(), algorithms=["RS256"], audience=AUDIENCE)
    except jwt.InvalidSignatureError:
        return jwt.decode(token, previous_key(), algorithms=["RS256"], audience=AUDIENCE)


def current_user_id(token: str) -> str:
    try:
        claims = jwt.decode(token, LEGACY_HS_KEY, algorithms=["HS256"])
    except jwt.InvalidTokenError as exc:
        logger.info("legacy token did not verify: %s", exc)
        raise  # expect: FC105
    return claims["sub"]


def current_key() -> str:
    raise NotImplementedError


def previous_key() -> str:
    raise NotImplementedError


def finish_authorization(query: dict, session: dict) -> dict:
    """OAuth redirect back from the identity provider: check state, then swap the code."""
    returned_state = query.get("state")
    if not returned_state or returned_state != session.pop("oauth_state", None):  # expect: FC122
        raise AuthenticationFailed("OAuth state does not match this login")
    return exchange_code(query["code"])
