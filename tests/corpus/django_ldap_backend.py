"""Django authentication backend that maps LDAP groups to permissions.

Group memberships are cached in Redis for five minutes; the directory is the source of
truth whenever the cache cannot answer.
"""

from __future__ import annotations

import logging

import ldap
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

logger = logging.getLogger("accounts.ldap")

GROUP_PERMISSIONS = {
    "cn=editors,ou=groups,dc=example,dc=org": {"wiki.change_page", "wiki.add_page"},
    "cn=admins,ou=groups,dc=example,dc=org": {"wiki.delete_page", "wiki.change_page"},
}


class CacheMiss(Exception):
    pass


class LdapGroupBackend(ModelBackend):
    def __init__(self) -> None:
        self.directory = ldap.initialize("ldaps://ldap.example.org")

    def authenticate(self, request, username=None, password=None, **kwargs):
        try:
            self.directory.simple_bind_s(f"uid={username},ou=people,dc=example,dc=org", password)
        except ldap.INVALID_CREDENTIALS:
            return None
        except ldap.LDAPError:
            logger.exception("directory unavailable during login of %s", username)
            return None
        return self.get_or_create_user(username)

    def _cached_groups(self, user_obj) -> set[str]:
        groups = cache.get(f"ldap-groups:{user_obj.pk}")
        if groups is None:
            raise CacheMiss(user_obj.pk)
        return groups

    def _directory_groups(self, user_obj) -> set[str]:
        result = self.directory.search_s(
            "ou=groups,dc=example,dc=org", ldap.SCOPE_SUBTREE, f"(member=uid={user_obj.username})"
        )
        groups = {dn for dn, _ in result}
        cache.set(f"ldap-groups:{user_obj.pk}", groups, 300)
        return groups

    def has_perm(self, user_obj, perm, obj=None):
        if not user_obj.is_active:
            return False
        try:
            groups = self._cached_groups(user_obj)
        except CacheMiss:
            groups = self._directory_groups(user_obj)
        return any(perm in GROUP_PERMISSIONS.get(g, ()) for g in groups)

    def has_module_perms(self, user_obj, app_label):
        try:
            groups = self._directory_groups(user_obj)
        except ldap.SERVER_DOWN:
            logger.warning("LDAP down while checking module %s", app_label)
            return True  # expect: FC101
        return any(
            p.startswith(f"{app_label}.") for g in groups for p in GROUP_PERMISSIONS.get(g, ())
        )

    def has_wiki_admin(self, user_obj):
        try:
            ok = "cn=admins,ou=groups,dc=example,dc=org" in self._directory_groups(user_obj)
        except ldap.LDAPError:
            logger.error("cannot read admin group for %s", user_obj.username)
            ok = True  # expect: FC101
        return ok


class FakeLdapBackend(LdapGroupBackend):
    """Used by the local dev server, where no directory exists."""

    def __init__(self) -> None:
        self.directory = None

    def has_perm(self, user_obj, perm, obj=None):
        try:
            return perm in self.fixtures[user_obj.username]
        except KeyError:
            return True
