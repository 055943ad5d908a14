"""Guards in less common forms, each swallowing its check's error and letting the call on.

1. A view decorator's wrapper that swallows the check's error and then calls the view.
2. A `before_request` guard whose check is a ban-list lookup.
3. A Flask hook literally named `before_request` (a guard, not middleware).
4. Pure ASGI middleware whose check is `is_blocked(client_ip)`.
"""

from __future__ import annotations

import functools
import logging

from flask import Flask, abort, g, request

from .directory import DirectoryError, directory
from .ipfilter import Blocklist, BlocklistError
from .tokens import TokenServiceError, bans, verify_token

logger = logging.getLogger(__name__)
app = Flask(__name__)


def require_team_member(view):
    @functools.wraps(view)
    def wrapper(team: str, *args, **kwargs):
        try:
            if not directory.is_member(team, g.user):
                abort(403)
        except DirectoryError:  # expect: FC102
            logger.exception("directory lookup failed for team %s", team)
            raise
        return view(team, *args, **kwargs)

    return wrapper


@app.before_request
def reject_banned_addresses():
    try:
        if bans.sismember("banned-ips", request.remote_addr):
            abort(403)
    except ConnectionError as exc:  # expect: FC102
        logger.warning("ban list unavailable: %s", exc)
        raise


@app.before_request
def before_request():
    token = request.headers.get("Authorization")
    if token is None:
        abort(401)
    try:
        g.user = verify_token(token)
    except TokenServiceError:  # expect: FC102
        logger.exception("token service down")
        raise


class IpBlocklistMiddleware:
    """Pure ASGI: refuse connections from blocked addresses."""

    def __init__(self, app, blocklist: Blocklist) -> None:
        self.app = app
        self.blocklist = blocklist

    async def __call__(self, scope, receive, send):
        client_ip = (scope.get("client") or ("", 0))[0]
        try:
            if await self.blocklist.is_blocked(client_ip):
                await send({"type": "http.response.start", "status": 403, "headers": []})
                await send({"type": "http.response.body", "body": b"blocked"})
                return
        except BlocklistError:  # expect: FC106
            logger.warning("blocklist lookup failed for %s, denying", client_ip)
            raise
        await self.app(scope, receive, send)
