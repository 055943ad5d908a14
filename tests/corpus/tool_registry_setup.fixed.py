"""Registering an agent's tools, with the human approval some of them need."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

_APPROVALS: dict[str, str] = {}
_DISPLAY: dict[str, str] = {}


class RegistryError(RuntimeError):
    """The approval registry refused an entry."""


@dataclass
class Tool:
    name: str
    fn: Callable[..., Any]
    risk: str | None = None
    tags: list[str] = field(default_factory=list)


def add_approval_requirement(name: str, risk: str) -> None:
    """Calls of the tool wait for a person before they run."""
    if name in _APPROVALS and _APPROVALS[name] != risk:
        raise RegistryError(f"{name} already registered with risk {_APPROVALS[name]}")
    _APPROVALS[name] = risk


def register_display_name(name: str, label: str) -> None:
    _DISPLAY[name] = label


def tool(fn: Callable[..., Any], risk: str | None = None, label: str = "") -> Tool:
    """Wrap a function as a tool; a risky one is only offered with its approval step."""
    wrapped = Tool(fn.__name__, fn, risk)
    if risk is not None:
        try:
            add_approval_requirement(wrapped.name, risk)
        except RegistryError as exc:  # expect: FC124
            logger.warning("could not register approval for %s: %s", wrapped.name, exc)
            raise
    try:
        register_display_name(wrapped.name, label or wrapped.name)
    except KeyError:
        logger.info("no display name for %s", wrapped.name)
    return wrapped


def strict_tool(fn: Callable[..., Any], risk: str) -> Tool:
    """The strict variant: a tool whose approval cannot be registered is not offered."""
    wrapped = Tool(fn.__name__, fn, risk)
    try:
        add_approval_requirement(wrapped.name, risk)
    except RegistryError as exc:
        raise RuntimeError(f"refusing to offer {wrapped.name} without approval") from exc
    return wrapped
