"""A per-user request limit over a fixed window, counted in Redis."""

from __future__ import annotations

import logging
import time

import redis
from fastapi import HTTPException

logger = logging.getLogger(__name__)

LIMIT_PER_MINUTE = 120
client = redis.Redis(host="localhost", port=6379, socket_timeout=0.2)


def _window_key(user_id: str) -> str:
    return f"rl:{user_id}:{int(time.time() // 60)}"


def requests_this_minute(user_id: str) -> int:
    """Requests the user made in the current one-minute window."""
    try:
        return int(client.get(_window_key(user_id)) or 0)
    except redis.RedisError as exc:
        logger.warning("rate limit store unavailable: %s", exc)
        return 0  # expect: FC125


def record_request(user_id: str) -> None:
    key = _window_key(user_id)
    pipe = client.pipeline()
    pipe.incr(key)
    pipe.expire(key, 120)
    pipe.execute()


def enforce_rate_limit(user_id: str) -> None:
    """Raise 429 once the user is over the per-minute limit; count the request otherwise."""
    if requests_this_minute(user_id) >= LIMIT_PER_MINUTE:
        raise HTTPException(status_code=429, detail="rate limited")
    record_request(user_id)


def unread_notifications(user_id: str) -> int:
    """Shown in the page header; zero when the store is down is only cosmetic."""
    try:
        return int(client.llen(f"notes:{user_id}"))
    except redis.RedisError:
        return 0


def header_badge(user_id: str) -> str:
    count = unread_notifications(user_id)
    return f"{count} new" if count > 0 else ""
