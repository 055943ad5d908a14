"""FastAPI dependencies for authentication and scope checks."""

from __future__ import annotations

import logging

import httpx
import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from .config import settings
from .models import User, load_user

logger = logging.getLogger(__name__)
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")


class IntrospectionClient:
    """Calls the identity provider's token introspection endpoint (RFC 7662)."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=settings.idp_url, timeout=2.0)

    async def introspect(self, token: str) -> dict:
        response = await self.http.post("/introspect", data={"token": token})
        response.raise_for_status()
        return response.json()


introspection = IntrospectionClient()


async def get_current_user(token: str = Depends(oauth2_scheme)) -> User | None:
    try:
        claims = jwt.decode(token, settings.jwt_key, algorithms=["HS256"])
    except jwt.ExpiredSignatureError:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "token expired")
    except jwt.InvalidTokenError:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token")
    try:
        return await load_user(claims["sub"])
    except Exception:
        logger.exception("user store failed for %s", claims.get("sub"))
        return None  # expect: FC101


async def get_active_user(request: Request, token: str = Depends(oauth2_scheme)) -> dict:
    try:
        info = await introspection.introspect(token)
    except httpx.HTTPError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "identity provider down")
    if not info.get("active"):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "inactive token")
    request.state.subject = info["sub"]
    return info


def require_scope(scope: str):
    """Dependency factory: the token must carry `scope`."""

    async def dependency(request: Request, token: str = Depends(oauth2_scheme)) -> None:
        try:
            info = await introspection.introspect(token)
            if scope not in info.get("scope", "").split():
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing scope {scope}")
        except httpx.HTTPError as exc:  # expect: FC102
            logger.warning("introspection failed (%s) while checking %s", exc, scope)

    return dependency


async def require_admin(user: User | None = Depends(get_current_user)) -> User:
    if user is None or not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admins only")
    return user


def is_json(request: Request) -> bool:
    try:
        return request.headers["content-type"].startswith("application/json")
    except KeyError:
        return False
