"""Fixes that need care: reworded log text, a suppressed deny, a retry loop.

1. Log text that says the code allows ("granting access", "proceeding without a check",
   "skipping the permission check") is reworded along with the fix.
2. `contextlib.suppress(PermissionDenied)` is fixed by dropping the `with` and dedenting
   its body, so the deny propagates.
3. In a retry loop the allow after the loop is flipped, keeping the retries: only running
   out of attempts reaches it.
"""

from __future__ import annotations

import contextlib
import logging

from django.core.exceptions import PermissionDenied

from .pdp import PolicyClient

logger = logging.getLogger(__name__)
pdp = PolicyClient()


class DocumentPermission:
    def has_permission(self, user, document) -> bool:
        try:
            return pdp.check(user.pk, "read", document.pk)
        except Exception as exc:
            logger.error("pdp down (%s), granting access", exc)
            return True  # expect: FC101

    def can_edit(self, user, document) -> bool:
        try:
            return pdp.check(user.pk, "edit", document.pk)
        except Exception:
            logger.error("pdp down, proceeding without a check")
            return True  # expect: FC101

    def can_delete(self, user, document) -> bool:
        try:
            return pdp.check(user.pk, "delete", document.pk)
        except Exception:
            logger.error("pdp down, skipping the permission check")
            return True  # expect: FC101


def publish(request, post):
    with contextlib.suppress(PermissionDenied):  # expect: FC102
        pdp.enforce(request.user.pk, "publish", post.pk)
    post.publish()


def check_access(user, resource) -> bool:
    for _attempt in range(3):
        try:
            return pdp.check(user.pk, "access", resource)
        except TimeoutError:  # expect: FC102
            continue
    return True
