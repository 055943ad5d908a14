"""Flask blueprint guards for the reporting API: API keys, IP bans and tenant access.

The guards deny with `abort(...)`; returning normally lets the request reach the view.
"""

from __future__ import annotations

import functools
import logging

import redis
from flask import Blueprint, abort, current_app, g, request

from .keys import KeyStoreError, keystore
from .sessions import SessionStoreError, sessions

logger = logging.getLogger(__name__)
bp = Blueprint("reports", __name__)
bans = redis.Redis.from_url("redis://localhost:6379/3", socket_timeout=0.5)


@bp.before_request
def require_api_key():
    key = request.headers.get("X-Api-Key", "")
    if parse_key_id(key) is None:
        abort(401)
    try:
        g.client = keystore.lookup(key)
    except KeyStoreError:
        logger.exception("key store unavailable, letting the request through")
        return None  # expect: FC101
    if g.client is None:
        abort(401)


@bp.before_request
def load_session_user():
    token = request.cookies.get("session")
    if token is None:
        abort(401)
    try:
        g.user = sessions.load_user(token)
    except SessionStoreError as exc:  # expect: FC102
        logger.warning("session store unavailable: %s", exc)


def is_banned_client(client_id: str) -> bool:
    try:
        return bool(bans.sismember("banned-clients", client_id))
    except redis.RedisError:
        return False  # expect: FC101


def require_client(view):
    """Decorator: the API client must not be banned."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if is_banned_client(g.client.id):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@bp.before_request
def enforce_ip_allowlist():
    """Near miss: an explicit, named fail-open switch whose default is closed."""
    try:
        networks = keystore.allowed_networks(g.client.id)
    except KeyStoreError:
        if current_app.config.get("IP_ALLOWLIST_FAIL_OPEN", False):
            return None
        abort(503)
    if networks and not any(request.remote_addr in net for net in networks):
        abort(403)


def parse_key_id(raw: str) -> str | None:
    """Near miss: None means "malformed key", and the caller rejects it."""
    try:
        prefix, key_id, _secret = raw.split(".", 2)
    except ValueError:
        return None
    return key_id if prefix == "rk" else None


def require_scope(scope: str):
    """Near miss: the backend error becomes the guard's own deny (503)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                scopes = keystore.scopes_for(g.client.id)
            except KeyStoreError:
                abort(503)
            if scope not in scopes:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


@bp.route("/tenants/<tenant_id>/reports")
@require_client
@require_scope("reports:read")
def list_reports(tenant_id: str):
    return {"tenant": tenant_id, "reports": []}
