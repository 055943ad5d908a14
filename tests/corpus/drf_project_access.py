"""Project access for the DRF API: permission classes, filter backends and a decorator.

Membership lives in an external directory service; the API must never show a project to
someone the directory could not vouch for.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from rest_framework import permissions
from rest_framework.filters import BaseFilterBackend
from rest_framework.throttling import SimpleRateThrottle

from .directory import DirectoryError, directory
from .models import Project

logger = logging.getLogger(__name__)


class IsProjectMember(permissions.BasePermission):
    message = "You are not a member of this project."

    def has_object_permission(self, request, view, obj):
        try:
            return directory.is_member(request.user.username, obj.slug)
        except DirectoryError:
            logger.warning("directory unavailable, allowing access by default")
            return True  # expect: FC101


class ProjectAclFilter(BaseFilterBackend):
    """Only the projects the caller belongs to."""

    def filter_queryset(self, request, queryset, view):
        try:
            slugs = directory.projects_of(request.user.username)
        except DirectoryError:
            logger.exception("directory lookup failed for %s", request.user)
            return queryset  # expect: FC110
        return queryset.filter(slug__in=slugs)


def visible_projects_for(user, queryset=None):
    queryset = Project.objects.all() if queryset is None else queryset
    try:
        archived_ok = directory.can_see_archived(user.username)
    except DirectoryError:
        return queryset.all()  # expect: FC110
    return queryset if archived_ok else queryset.filter(archived=False)


class BurstThrottle(SimpleRateThrottle):
    scope = "burst"

    def is_rate_limited(self, request) -> bool:
        try:
            history = self.cache.get(self.get_cache_key(request, None), [])
        except DatabaseError:
            return False  # expect: FC101
        return len(history) >= self.num_requests


def require_project_admin(view_func):
    def wrapper(request, slug, *args, **kwargs):
        try:
            if not directory.is_admin(request.user.username, slug):
                raise PermissionDenied("project admins only")
        except DirectoryError:
            raise PermissionDenied("directory unavailable")
        return view_func(request, slug, *args, **kwargs)

    return wrapper


class OwnerOnlyFilter(BaseFilterBackend):
    """Near miss: a failing lookup shows nothing."""

    def filter_queryset(self, request, queryset, view):
        try:
            owned = directory.owned_projects(request.user.username)
        except DirectoryError:
            logger.exception("directory lookup failed")
            return queryset.none()
        return queryset.filter(slug__in=owned)


class IsProjectAuditor(permissions.BasePermission):
    """Near miss: the cache is a shortcut, the database is the authoritative source."""

    def has_permission(self, request, view):
        try:
            return directory.cached_is_auditor(request.user.username)
        except DirectoryError:
            return request.user.groups.filter(name="auditors").exists()


class DirectoryHealth(permissions.BasePermission):
    """Near miss: the documented fail-open mode is opt-in and off by default."""

    def has_permission(self, request, view):
        try:
            return directory.ping()
        except DirectoryError:
            if getattr(settings, "DIRECTORY_FAIL_OPEN", False):
                return True
            raise


def check_object_permissions_or_404(request, project):
    """Near miss: a deny exception converted into a deny answer."""
    try:
        IsProjectMember().has_object_permission(request, None, project)
    except PermissionDenied:
        return None
    return project
