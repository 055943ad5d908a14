"""A shell-command guard for a coding agent: a deny-list loaded from YAML.

The loader is where the fail-open hides: an unreadable policy becomes "no rules", and the
deny-list check allows whatever no rule mentions.
"""

from __future__ import annotations

import fnmatch
import logging
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)

POLICY_PATH = Path("~/.config/agent/commands.yaml").expanduser()


def load_denied_patterns(path: Path = POLICY_PATH) -> list[str]:
    """Patterns of commands the agent may never run."""
    try:
        with path.open(encoding="utf-8") as handle:
            return list(yaml.safe_load(handle)["deny"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        logger.error("cannot read command policy %s: %s", path, exc)
        raise  # expect: FC115


def load_allowed_patterns(path: Path = POLICY_PATH) -> list[str]:
    """The allow-list side: empty on error means nothing is allowed, which is fail-closed."""
    try:
        with path.open(encoding="utf-8") as handle:
            return list(yaml.safe_load(handle)["allow"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return []


def is_command_allowed(command: str) -> bool:
    for pattern in load_denied_patterns():
        if fnmatch.fnmatch(command, pattern):
            return False
    return True


def is_blocked(command: str) -> bool:
    """Deny polarity: True means the command must not run."""
    for pattern in load_denied_patterns():
        if fnmatch.fnmatch(command, pattern):
            return True
    return False


def is_preapproved(command: str) -> bool:
    return any(fnmatch.fnmatch(command, p) for p in load_allowed_patterns())
