"""Middleware in front of the multi-tenant gateway: tenant tokens and view ACLs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.http import HttpResponseForbidden
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse

from .directory import DirectoryError, TenantDirectory

logger = logging.getLogger(__name__)


class TenantMiddleware(BaseHTTPMiddleware):
    def __init__(self, app, directory: TenantDirectory) -> None:
        super().__init__(app)
        self.directory = directory

    async def dispatch(self, request, call_next):
        token = request.headers.get("x-tenant-token")
        if token is None:
            return JSONResponse({"error": "tenant token required"}, status_code=401)
        try:
            request.state.tenant = await self.directory.tenant_for_token(token)
        except DirectoryError:
            logger.exception("tenant directory unavailable")
            raise  # expect: FC106
        if request.state.tenant is None:
            return JSONResponse({"error": "unknown tenant"}, status_code=403)
        return await call_next(request)


class ViewAclMiddleware:
    """Django: consult the ACL service before the view runs."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        try:
            if not acl_service.permits(request.user.pk, view_func.__name__):
                return HttpResponseForbidden("not allowed")
        except DirectoryError:
            logger.error("acl service error for %s", request.path)
            raise  # expect: FC106
        return None


@dataclass
class GatewaySettings:
    auth_fail_open: bool = False  # incident break-glass; closed unless an operator flips it


class BreakGlassTenantMiddleware(BaseHTTPMiddleware):
    """Near miss: passing on during an outage is an explicit, named, default-off choice."""

    def __init__(self, app, directory: TenantDirectory, settings: GatewaySettings) -> None:
        super().__init__(app)
        self.directory = directory
        self.settings = settings

    async def dispatch(self, request, call_next):
        try:
            request.state.tenant = await self.directory.tenant_for_token(
                request.headers["x-tenant-token"]
            )
        except (DirectoryError, KeyError):
            if not self.settings.auth_fail_open:
                return JSONResponse({"error": "tenant check unavailable"}, status_code=503)
        return await call_next(request)


class AnonymousTenantMiddleware(BaseHTTPMiddleware):
    """Near miss: optional tenant resolution; it never rejects, the routes decide."""

    async def dispatch(self, request, call_next):
        try:
            request.state.tenant = await self.app.state.directory.tenant_for_host(
                request.url.hostname
            )
        except DirectoryError:
            request.state.tenant = None
        return await call_next(request)


acl_service = None
