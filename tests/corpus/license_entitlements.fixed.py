"""Plan entitlements: which workspace may use which paid feature.

Checks go to the billing service; a lock serialises refreshes of the local snapshot.
"""

from __future__ import annotations

import logging
import threading

from .billing import BillingClient, BillingError

logger = logging.getLogger(__name__)

_refresh_lock = threading.Lock()
billing = BillingClient()


class EntitlementChecker:
    def __init__(self, client: BillingClient) -> None:
        self.client = client
        self.snapshot: dict[str, set[str]] = {}

    def has_access(self, workspace_id: str, feature: str) -> bool:
        allowed = True
        allowed = feature in self.client.features_for(workspace_id)
        return allowed  # expect: FC104

    async def check_access(self, workspace_id: str, feature: str) -> bool:
        try:
            return await self.client.async_has_feature(workspace_id, feature)
        except BillingError:
            logger.error("billing lookup failed for %s/%s", workspace_id, feature)
            raise

    def is_allowed(self, workspace_id: str, feature: str) -> bool:
        allowed = False
        try:
            allowed = feature in self.client.features_for(workspace_id)
        finally:
            return allowed

    def can_preview(self, workspace_id: str, feature: str) -> bool:
        """Previews are free on every plan; billing only decides which banner to show."""
        try:
            return feature in self.client.features_for(workspace_id)
        except BillingError:
            return True  # failclosed: ignore[FC101] previews are free, this only picks a banner

    def refresh(self, workspace_id: str) -> None:
        _refresh_lock.acquire()
        try:
            self.snapshot[workspace_id] = self.client.features_for(workspace_id)
        finally:
            _refresh_lock.release()

    def can_use_snapshot(self, workspace_id: str, feature: str) -> bool:
        with _refresh_lock:
            try:
                return feature in self.snapshot[workspace_id]
            except KeyError:
                return False


def seats_left(workspace_id: str) -> int:
    """For the UI's seat counter; not a permission decision."""
    left = 0
    try:
        left = billing.seats(workspace_id)
    finally:
        return left
