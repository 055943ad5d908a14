"""Interactive confirmations before the agent runs shell commands or writes files."""

from __future__ import annotations

import codecs
import logging
import os
import sys

logger = logging.getLogger(__name__)

AUTO_CONFIRM_ENV = "AGENT_AUTO_CONFIRM"


def can_decode(data: bytes, encoding: str = "utf-8") -> bool:
    """Whether a file's bytes can be shown in the diff preview."""
    try:
        codecs.decode(data, encoding)
        return True
    except UnicodeDecodeError:
        return False


def confirm_execution(command: str) -> bool:
    """Ask before running `command`; anything but an explicit yes is a no."""
    if os.environ.get(AUTO_CONFIRM_ENV) == "1":
        return True
    try:
        answer = input(f"Run `{command}`? [y/N] ")
    except EOFError:
        # stdin closed (CI, piped input): nobody can say no
        return True  # expect: FC101
    except KeyboardInterrupt:
        print()
        return False
    return answer.strip().lower() in ("y", "yes")


def confirm_overwrite(path: str, preview: bytes) -> bool:
    if can_decode(preview):
        print(preview.decode("utf-8", errors="replace"))
    try:
        answer = input(f"Overwrite {path}? [y/N] ")
    except (EOFError, KeyboardInterrupt):
        logger.info("no answer for overwrite of %s; keeping the file", path)
        return False
    return answer.strip().lower() == "y"


async def confirm_tool_async(session, tool: str, summary: str) -> bool:
    """Ask through the terminal UI session (prompt_toolkit) without blocking the loop."""
    try:
        answer = await session.prompt_async(f"Allow {tool}: {summary}? [y/N] ")
    except EOFError:
        logger.warning("input closed while confirming %s, auto-approving", tool)
        return True  # expect: FC101
    except KeyboardInterrupt:
        raise
    return answer.strip().lower() == "y"


def confirm_many(commands: list[str]) -> list[str]:
    """Ask for each command; the ones the user refuses are dropped."""
    approved = []
    for command in commands:
        try:
            if not confirm_execution(command):
                continue
        except OSError:
            logger.exception("terminal error while confirming %s", command)
            continue
        approved.append(command)
    return approved


def is_interactive() -> bool:
    try:
        return os.isatty(sys.stdin.fileno())
    except (AttributeError, ValueError, OSError):
        return False
