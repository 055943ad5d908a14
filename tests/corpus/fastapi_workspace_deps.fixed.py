"""FastAPI dependencies for the workspace service: sessions, workspace roles and quotas."""

from __future__ import annotations

import logging
import os

import httpx
from fastapi import Depends, Header, HTTPException, Request, status

from .sessions import Session, SessionStore, SessionStoreError

logger = logging.getLogger(__name__)
store = SessionStore(os.environ["SESSION_DSN"])
ROLES_URL = os.environ.get("ROLES_URL", "http://roles.internal:8080")
roles = httpx.AsyncClient(base_url=ROLES_URL, timeout=1.5)


async def current_session(request: Request, x_session: str = Header(...)) -> Session:
    session = await store.get(x_session)
    if session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown session")
    try:
        await store.touch(session)
        session.principal = await store.verify_principal(session)
    except SessionStoreError:
        logger.warning("could not refresh session %s", session.id)
        raise  # expect: FC101
    return session


def workspace_role(session: Session) -> str:
    return session.claims.get("role", None)  # expect: FC114


def require_workspace_role(minimum: str):
    async def dependency(workspace: str, session: Session = Depends(current_session)) -> None:
        try:
            response = await roles.get(f"/workspaces/{workspace}/roles/{session.user_id}")
            granted = response.json()["role"]
            if RANK[granted] < RANK[minimum]:
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"{minimum} role required")
        except (httpx.HTTPError, KeyError, ValueError):  # expect: FC102
            raise

    return dependency


async def is_over_quota(workspace: str) -> bool:
    try:
        response = await roles.get(f"/workspaces/{workspace}/quota")
        response.raise_for_status()
    except httpx.HTTPError:
        logger.warning("quota service unreachable, denying")
        return True  # expect: FC101
    body = response.json()
    return body["used"] >= body["limit"]


async def enforce_quota(workspace: str) -> None:
    if await is_over_quota(workspace):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "workspace quota exceeded")


RANK = {"viewer": 0, "editor": 1, "admin": 2, "owner": 3}


async def require_service_token(authorization: str = Header(...)) -> str:
    """Near miss: an outage of the token service becomes the guard's own 503."""
    try:
        response = await roles.post("/tokens/introspect", data={"token": authorization})
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "token service down") from exc
    if not response.json().get("active"):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "inactive token")
    return response.json()["sub"]


def session_role_or_viewer(session: Session) -> str:
    """Near miss: the default is the least privileged role."""
    return session.claims.get("role", "viewer")


async def optional_session(request: Request) -> Session | None:
    """Near miss: None means "anonymous"; every route using it checks for None itself."""
    token = request.cookies.get("session")
    if not token:
        return None
    try:
        return await store.get(token)
    except SessionStoreError:
        return None
