"""Filters that return everything, and a verdict read through a comparison.

1. An ACL filter that returns its unfiltered input when the deciding value is missing
   (no tenant on the request, no grant entry for the role): FC110.
2. A ViewSet's `get_queryset` that checks access and returns the unfiltered queryset on a
   directory error: FC110 with `qs.none()`.
3. A verdict loop whose answer is `return decision == "allow"` after a swallowed timeout:
   FC102.
"""

from __future__ import annotations

import logging

from rest_framework.filters import BaseFilterBackend
from rest_framework.viewsets import ModelViewSet

from .directory import DirectoryError, directory
from .models import Project

logger = logging.getLogger(__name__)
ROLE_GRANTS: dict[str, set[str]] = {"viewer": {"search_docs"}, "editor": {"search_docs", "edit"}}


class TenantScopedFilter(BaseFilterBackend):
    def filter_queryset(self, request, queryset, view):
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            return queryset.none()  # expect: FC110
        return queryset.filter(tenant=tenant)


def filter_allowed_tools(role: str, tools: list[str]) -> list[str]:
    grants = ROLE_GRANTS.get(role)
    if grants is None:
        return []  # expect: FC110
    return [tool for tool in tools if tool in grants]


class ProjectViewSet(ModelViewSet):
    queryset = Project.objects.all()

    def get_queryset(self):
        qs = super().get_queryset()
        try:
            teams = directory.teams_of(self.request.user.username)
        except DirectoryError:
            logger.exception("directory lookup failed")
            return qs.none()  # expect: FC110
        return qs.filter(team__slug__in=teams)


class ToolPolicyChain:
    def __init__(self, policies) -> None:
        self.policies = policies

    def should_allow(self, call) -> bool:
        decision = "allow"
        for policy in self.policies:
            try:
                decision = policy.decide(call)
            except TimeoutError:  # expect: FC102
                logger.warning("policy %s timed out", policy.name)
                return False
            if decision == "deny":
                return False
        return decision == "allow"
