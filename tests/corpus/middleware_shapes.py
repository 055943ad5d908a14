"""Middleware that lets the request through on an auth error, in two less obvious forms.

1. A pure ASGI middleware that rejects with `await send(...)` (status 401) is a guard, so
   swallowing the verifier's error before `await self.app(...)` fails open.
2. A Django `MiddlewareMixin.process_request` returning None on error passes the request
   on to the view (None means "continue").
"""

from __future__ import annotations

import logging

from django.http import HttpResponseForbidden
from django.utils.deprecation import MiddlewareMixin

from .tokens import BackendError, TokenBackend, TokenVerifier, VerifierUnavailable

logger = logging.getLogger(__name__)


async def send_status(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


class ServiceTokenMiddleware:
    """Every request to the internal API must carry a service token."""

    def __init__(self, app, verifier: TokenVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        token = headers.get(b"x-service-token")
        if token is None:
            await send_status(send, 401, b"missing service token")
            return
        try:
            scope["service"] = await self.verifier.verify_token(token.decode())
        except VerifierUnavailable:  # expect: FC106
            logger.warning("service token verifier unavailable")
        await self.app(scope, receive, send)


class InternalTokenMiddleware(MiddlewareMixin):
    """Old-style Django middleware guarding /internal/."""

    backend = TokenBackend()

    def process_request(self, request):
        if not request.path.startswith("/internal/"):
            return None
        try:
            if not self.backend.token_is_valid(request.headers.get("Authorization", "")):
                return HttpResponseForbidden("invalid token")
        except BackendError:
            logger.exception("token backend failed")
            return None  # expect: FC106
        return None
