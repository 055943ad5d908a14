"""The settings object the analysis reads: what counts as a permission path, which files are
left out, how findings are graded.

It sits at the bottom of `analyzers/` and knows no rule; `analyzers.config` reads it from a
pyproject.toml and checks its rule codes against the rules.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from failclosed.analyzers.model import Severity


@dataclass(frozen=True)
class Config:
    """Settings that change what counts as a permission path and how findings are graded."""

    permission_functions: tuple[re.Pattern[str], ...] = ()
    deny_functions: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)

    def is_excluded(self, relpath: str) -> bool:
        """True when `relpath` (POSIX, relative to the project root) matches an exclude glob."""
        return any(
            fnmatch.fnmatch(relpath, pattern) or relpath.startswith(pattern.rstrip("/") + "/")
            for pattern in self.exclude
        )
