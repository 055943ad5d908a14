"""Near misses: fail-closed or non-security code that must not be flagged.

1. A fail-open setting whose default is closed, written as `if not fail_open: raise`
   followed by `return True`: the same documented choice as
   `if self.settings.fail_open: return True`.
2. `should_retry` is not a permission check, even though its debug log says "allowing a
   retry".
3. A build-lock helper named `is_locked` is not an account-lockout check; a missing lock
   file is the answer "not locked", not a failure of a permission system.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass
class Settings:
    fail_open: bool = False  # break-glass switch for incidents; off by default


class QuotaGate:
    def __init__(self, client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def check_access(self, account_id: str) -> bool:
        try:
            return self.client.within_quota(account_id)
        except Exception:
            if not self.settings.fail_open:
                raise
            logger.critical("quota service down and fail_open set; letting %s in", account_id)
            return True


def should_retry(response, attempt: int) -> bool:
    """Whether the HTTP client should retry a 429/503 answer."""
    try:
        retry_after = int(response.headers["Retry-After"])
    except (KeyError, ValueError):
        logger.debug("no usable Retry-After header, allowing a retry")
        return True
    return retry_after < 30 and attempt < 3


class BuildLock:
    def __init__(self, path: str) -> None:
        self.path = path

    def is_locked(self) -> bool:
        """Whether another build process holds the lock file."""
        try:
            with open(self.path, encoding="ascii") as fh:
                pid = int(fh.read())
        except FileNotFoundError:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
