"""A FastAPI bearer dependency that verifies a token against the identity provider's keys."""

import logging

import jwt
from fastapi import HTTPException, Request

logger = logging.getLogger(__name__)


def unauthorized(detail):
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


class ProviderBearer:
    def __init__(self, provider, audience):
        self.provider = provider
        self.audience = audience

    async def __call__(self, request: Request) -> dict:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token:
            raise unauthorized("missing bearer token")
        await self.provider.refresh_keys()
        for key in self.provider.signing_keys:  # expect: FC142
            try:
                return jwt.decode(token, key=key, algorithms=["RS256"], audience=self.audience)
            except jwt.ExpiredSignatureError:
                raise unauthorized("token expired") from None
            except jwt.InvalidSignatureError:
                logger.debug("signature did not match key %s, trying the next", key)
                continue


class StrictProviderBearer(ProviderBearer):
    async def __call__(self, request: Request) -> dict:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        for key in self.provider.signing_keys:
            try:
                return jwt.decode(token, key=key, algorithms=["RS256"], audience=self.audience)
            except jwt.InvalidSignatureError:
                continue
        raise unauthorized("no signing key verified the token")


def describe_keys(provider) -> list:
    return [key.key_id for key in provider.signing_keys]
