"""Pure ASGI middleware that authenticates bearer tokens for HTTP and WebSocket scopes."""

from __future__ import annotations

import logging

from .tokens import TokenVerifier, VerifierUnavailable

logger = logging.getLogger(__name__)


async def send_status(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


def bearer_token(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value.startswith(b"Bearer "):
            return value[7:].decode("latin-1")
    return None


class BearerTokenMiddleware:
    def __init__(self, app, verifier: TokenVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if token is None:
            await send_status(send, 401, b"missing token")
            return
        try:
            scope["user"] = await self.verifier.verify_token(token)
        except VerifierUnavailable:  # expect: FC106
            logger.warning("token verifier down, failing closed for %s", scope.get("path"))
            raise
        await self.app(scope, receive, send)


class StrictBearerTokenMiddleware:
    """Same, but a verifier outage answers 503 instead of passing the request on."""

    def __init__(self, app, verifier: TokenVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope, receive, send):
        token = bearer_token(scope)
        if token is None:
            await send_status(send, 401, b"missing token")
            return
        try:
            scope["user"] = await self.verifier.verify_token(token)
        except VerifierUnavailable:
            logger.error("token verifier down")
            await send_status(send, 503, b"authentication unavailable")
            return
        except Exception:
            await send_status(send, 401, b"invalid token")
            return
        await self.app(scope, receive, send)


async def auth_middleware(scope, receive, send, app, verifier: TokenVerifier):
    """Function-style variant used by the lightweight worker entry point."""
    token = bearer_token(scope)
    try:
        await verifier.verify_token(token)
    except Exception:  # expect: FC106
        logger.warning("token check failed, denying")
        raise
    await app(scope, receive, send)
