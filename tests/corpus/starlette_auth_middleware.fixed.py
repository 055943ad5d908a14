"""Starlette middleware: API-key authentication and per-tenant access, in front of every route."""

from __future__ import annotations

import logging

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .keys import KeyStore, KeyStoreError
from .tenants import TenantDirectory

logger = logging.getLogger("app.auth")

PUBLIC_PATHS = ("/healthz", "/metrics", "/docs", "/openapi.json")


class ApiKeyMiddleware(BaseHTTPMiddleware):
    def __init__(self, app, keys: KeyStore) -> None:
        super().__init__(app)
        self.keys = keys

    async def dispatch(self, request: Request, call_next) -> Response:
        if request.url.path.startswith(PUBLIC_PATHS):
            return await call_next(request)
        key = request.headers.get("x-api-key")
        if not key:
            return JSONResponse({"detail": "missing API key"}, status_code=401)
        try:
            request.state.principal = await self.keys.verify(key)
        except KeyStoreError:  # expect: FC106
            logger.exception("key store error, denying")
            raise
        return await call_next(request)


class TenantAccessMiddleware(BaseHTTPMiddleware):
    def __init__(self, app, directory: TenantDirectory) -> None:
        super().__init__(app)
        self.directory = directory

    async def dispatch(self, request: Request, call_next) -> Response:
        tenant = request.path_params.get("tenant") or request.headers.get("x-tenant")
        principal = getattr(request.state, "principal", None)
        if tenant is None or principal is None:
            return JSONResponse({"detail": "no tenant"}, status_code=403)
        try:
            allowed = await self.directory.check_access(principal, tenant)
        except Exception:
            logger.exception("tenant directory failed for %s", tenant)
            return JSONResponse({"detail": "authorization unavailable"}, status_code=503)
        if not allowed:
            return JSONResponse({"detail": "forbidden"}, status_code=403)
        return await call_next(request)


class RequestTimingMiddleware(BaseHTTPMiddleware):
    """Not an auth check: the try wraps the downstream call."""

    async def dispatch(self, request: Request, call_next) -> Response:
        try:
            response = await call_next(request)
        except Exception:
            logger.exception("unhandled error in %s", request.url.path)
            return JSONResponse({"detail": "internal error"}, status_code=500)
        response.headers["x-served-by"] = "api"
        return response


class OptionalUserMiddleware(BaseHTTPMiddleware):
    """Attaches the user when a session cookie is valid; anonymous otherwise (by design)."""

    async def dispatch(self, request: Request, call_next) -> Response:
        request.state.user = None
        try:
            request.state.user = await load_session_user(request.cookies.get("session"))
        except Exception:
            logger.info("no usable session on %s", request.url.path)
        return await call_next(request)


async def load_session_user(cookie: str | None):
    raise NotImplementedError
