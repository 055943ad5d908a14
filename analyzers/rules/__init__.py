"""All rules, discovered from the modules in this package (one rule per `fc*.py` file)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from failclosed.analyzers.rules.base import Hit, Invalid, Rule

__all__ = ["Hit", "Invalid", "Rule", "all_rules", "rule_by_code"]


@cache
def all_rules() -> tuple[type[Rule], ...]:
    """Every rule class, ordered by code."""
    found: list[type[Rule]] = []
    for module_info in pkgutil.iter_modules(__path__):
        if not module_info.name.startswith("fc"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        found.extend(
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, Rule)
            and obj is not Rule
            and obj.__module__ == module.__name__
        )
    codes = [r.code for r in found]
    if len(codes) != len(set(codes)):
        raise RuntimeError(f"duplicate rule codes: {sorted(codes)}")
    return tuple(sorted(found, key=lambda r: r.code))


def rule_by_code(code: str) -> type[Rule] | None:
    return next((r for r in all_rules() if r.code == code.upper()), None)
