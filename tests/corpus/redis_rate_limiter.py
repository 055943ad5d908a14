"""Sliding-window rate limiting and a ban list, both kept in Redis."""

from __future__ import annotations

import logging
import time

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
LIMIT_PER_WINDOW = 120


class RateLimiter:
    def __init__(self, client: redis.Redis, prefix: str = "rl") -> None:
        self.client = client
        self.prefix = prefix

    def _key(self, identity: str) -> str:
        return f"{self.prefix}:{identity}:{int(time.time() // WINDOW_SECONDS)}"

    def is_rate_limited(self, identity: str) -> bool:
        key = self._key(identity)
        try:
            pipe = self.client.pipeline()
            pipe.incr(key)
            pipe.expire(key, WINDOW_SECONDS)
            count, _ = pipe.execute()
        except (RedisConnectionError, TimeoutError):
            log.warning("redis unavailable, not limiting %s", identity)
            return False  # expect: FC101
        return count > LIMIT_PER_WINDOW

    def is_throttled(self, identity: str, cost: int = 1) -> bool:
        """Expensive endpoints: when Redis is down we refuse rather than overload the backend."""
        try:
            used = self.client.incrby(self._key(identity), cost)
        except RedisError:
            log.exception("rate limiter store failed for %s", identity)
            return True
        return used > LIMIT_PER_WINDOW

    def remaining(self, identity: str) -> int:
        """For the X-RateLimit-Remaining header only; not used for decisions."""
        try:
            used = int(self.client.get(self._key(identity)) or 0)
        except RedisError:
            return 0
        return max(LIMIT_PER_WINDOW - used, 0)


class BanList:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def is_banned(self, user_id: str) -> bool:
        try:
            if self.client.sismember("banned-users", user_id):
                return True
        except RedisError:  # expect: FC102
            log.error("ban list lookup failed for %s", user_id)
        return False

    def is_banned_ip(self, address: str) -> bool:
        try:
            return bool(self.client.sismember("banned-ips", address))
        except RedisError:
            log.error("ip ban lookup failed for %s", address)
            raise

    def ban(self, user_id: str, reason: str) -> None:
        try:
            self.client.sadd("banned-users", user_id)
            self.client.hset("ban-reasons", user_id, reason)
        except RedisError:
            log.exception("could not persist ban of %s", user_id)
            raise


def should_retry(exc: Exception, attempt: int) -> bool:
    """Retry policy for the Redis client: connection resets only, three attempts."""
    try:
        return isinstance(exc, RedisConnectionError) and attempt < 3
    except Exception:
        return False
