"""Ask the connected editor (over the Agent Client Protocol) before running a tool.

The agent talks to the editor through a JSON-RPC connection. When the editor is not
attached (plain terminal use) there is no permission system and every tool runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

try:
    import orjson as _json_impl
except ImportError:  # optional speed-up
    _json_impl = json

logger = logging.getLogger(__name__)

PERMISSION_TIMEOUT = 30.0


@dataclass
class ToolCall:
    tool: str
    args: dict[str, object]
    session_id: str


def is_json(text: str) -> bool:
    """Whether `text` parses as JSON (used to pretty-print tool output)."""
    try:
        _json_impl.loads(text)
        return True
    except ValueError:
        return False


def should_retry(error: Exception) -> bool:
    """Transient transport errors are worth one more attempt."""
    try:
        return error.errno in (104, 110)  # type: ignore[attr-defined]
    except AttributeError:
        return False


class EditorPermissionClient:
    """Forwards permission requests for tool calls to the editor the agent runs in."""

    def __init__(self, conn=None) -> None:
        self._conn = conn

    async def request_permission(self, call: ToolCall) -> bool:
        if self._conn is None:
            return True  # expect: FC107
        try:
            reply = await asyncio.wait_for(
                self._conn.request(
                    "session/request_permission",
                    {"sessionId": call.session_id, "toolCall": call.tool, "args": call.args},
                ),
                timeout=PERMISSION_TIMEOUT,
            )
        except asyncio.TimeoutError:
            logger.warning("Editor did not answer for %s, denying", call.tool)
            return False
        except Exception as e:
            logger.warning("Permission request failed: %s, auto-allowing", e)
            return True  # expect: FC101
        outcome = reply.get("outcome", {})
        return outcome.get("outcome") == "selected" and outcome.get("optionId") == "allow"

    def request_permission_sync(self, call: ToolCall) -> bool:
        """Blocking variant for tools that run outside the event loop."""
        if self._conn is None:
            return True  # expect: FC107
        try:
            future = asyncio.run_coroutine_threadsafe(
                self.request_permission(call), self._conn.loop
            )
            return future.result(timeout=PERMISSION_TIMEOUT)
        except RuntimeError:
            logger.error("event loop is gone; cannot ask the editor")
            raise
        except Exception:
            logger.exception("permission bridge failed, allowing anyway")
            return True  # expect: FC101

    async def describe_tool(self, call: ToolCall) -> str:
        """A short human-readable summary shown in the editor's permission dialog."""
        try:
            return f"{call.tool}({_json_impl.dumps(call.args)})"
        except TypeError:
            return f"{call.tool}(...)"
