"""`[tool.failclosed]` in pyproject.toml: names, exclusions and severities a team can tune.

This is the loader: it reads the table into `analyzers.settings.Config` and checks the rule
codes it names against the rules, so it sits above them (the rules read only the settings).

Bad configuration is an error with a clear message, never a silently weaker check.
"""

from __future__ import annotations

import re

# the structure of a pattern, to bound its cost; typeshed has no stubs for re's private
# modules (its sre_* stubs name the deprecated aliases, which warn on import)
import re._constants as re_constants  # type: ignore[import-not-found]
import re._parser as re_parser  # type: ignore[import-not-found]
import stat
import tomllib
from pathlib import Path

from failclosed.analyzers.model import SEVERITIES
from failclosed.analyzers.rules import all_rules
from failclosed.analyzers.settings import Config


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


KNOWN_KEYS = {"permission-functions", "deny-functions", "exclude", "severity"}


def load_config(path: Path | None = None, start: Path | None = None) -> Config:
    """Read `path`, or the nearest pyproject.toml above `start`; no file means defaults."""
    if path is None:
        path = find_pyproject(start or Path.cwd())
        if path is None:
            return Config()
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the read for ever
            raise ConfigError(f"{path}: not a regular file")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    return config_from_toml(text, source=str(path))


def config_from_toml(text: str, source: str = "pyproject.toml") -> Config:
    """The `[tool.failclosed]` table of a pyproject.toml's text; defaults when absent."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    tool = data.get("tool", {})
    section = tool.get("failclosed", {}) if isinstance(tool, dict) else {}
    return config_from_mapping(section, source=source)


def find_pyproject(start: Path) -> Path | None:
    """The first pyproject.toml in `start` or its parents."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def config_from_mapping(section: object, source: str = "config") -> Config:
    """Validate a `[tool.failclosed]` table and build a Config from it."""
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: [tool.failclosed] must be a table")
    unknown = set(section) - KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {sorted(unknown)} in [tool.failclosed]; "
            f"known: {sorted(KNOWN_KEYS)}"
        )
    severity = section.get("severity", {})
    if not isinstance(severity, dict) or any(v not in SEVERITIES for v in severity.values()):
        raise ConfigError(f"{source}: severity must map rule codes to one of {list(SEVERITIES)}")
    unknown_codes = {str(code).upper() for code in severity} - known_rule_codes()
    if unknown_codes:
        raise ConfigError(
            f"{source}: severity names unknown rule(s) {sorted(unknown_codes)}; "
            "see `failclosed rules`"
        )
    return Config(
        permission_functions=_patterns(section, "permission-functions", source),
        deny_functions=_patterns(section, "deny-functions", source),
        exclude=tuple(_strings(section, "exclude", source)),
        severity={str(k).upper(): v for k, v in severity.items()},
    )


def known_rule_codes() -> set[str]:
    """Codes of all rules."""
    return {rule.code for rule in all_rules()}


def _strings(section: dict[str, object], key: str, source: str) -> list[str]:
    value = section.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: {key} must be a list of strings")
    return value


def _patterns(section: dict[str, object], key: str, source: str) -> tuple[re.Pattern[str], ...]:
    """Each entry is a function name or a regular expression matched against the whole name."""
    compiled = []
    for text in _strings(section, key, source):
        try:
            compiled.append(re.compile(text))
        except re.error as exc:
            raise ConfigError(f"{source}: {key}: bad pattern {text!r}: {exc}") from exc
        if _nested_repeat(re_parser.parse(text)):
            raise ConfigError(
                f"{source}: {key}: pattern {text!r} repeats a repetition or an alternation "
                "(like `(\\w+_?)+` or `(_|__)+`), which can take exponential time on a long "
                "name; write it without it (e.g. `check_\\w+_permission`, `check_+x`)"
            )
    return tuple(compiled)


REPEATS = (re_constants.MAX_REPEAT, re_constants.MIN_REPEAT)


def _nested_repeat(parsed: object, inside: bool = False) -> bool:
    """A quantifier over something that itself holds an unbounded quantifier, or an
    alternation: the shapes that make a backtracking engine take exponential time
    (`(a+)+`, `(\\w+_?)*`, `(_|__)+`, whose alternatives can match the same text)."""
    for op, arg in parsed:  # type: ignore[attr-defined]
        if op in REPEATS:
            _low, high, sub = arg
            unbounded = high == re_constants.MAXREPEAT or high > 1
            if (unbounded and inside) or _nested_repeat(sub, inside or unbounded):
                return True
            continue
        if op == re_constants.BRANCH and inside:
            return True
        if op == re_constants.SUBPATTERN:
            children = [arg[-1]]
        elif op == re_constants.BRANCH:
            children = list(arg[1])
        else:
            children = []
        if any(_nested_repeat(child, inside) for child in children):
            return True
    return False
