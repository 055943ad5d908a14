"""An agent's editor-permission client, as it is often first written: it fails open.

Run `failclosed scan examples/` to see the findings and the fail-closed patches.
"""

import logging

logger = logging.getLogger(__name__)


class EditorPermissions:
    def __init__(self, conn=None):
        self._conn = conn

    async def request_permission(self, tool: str, args: dict) -> bool:
        if self._conn is None:
            return True  # no editor attached: documented, reported only as a note
        try:
            reply = await self._conn.request_permission(tool=tool, args=args)
        except Exception as e:
            logger.warning("Permission request failed: %s, auto-allowing", e)
            return True
        return reply.get("allowed", True)


def is_rate_limited(redis, key: str, limit: int) -> bool:
    try:
        return redis.incr(key) > limit
    except ConnectionError:
        return False  # redis down: everyone unlimited
