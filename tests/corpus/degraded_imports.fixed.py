"""Optional imports in permission code: a decision that degrades to allow when they fail.

1. An `except ImportError` in a visibility check returns True (FC111); the fix denies.
2. A scope filter documented as "None (no filtering)" returns None on ImportError (FC111); the
   fix re-raises the import error.
3. A fallback scope whose `is_admin` defaults to True (FC111); the fix makes it non-admin.
4. A safety gate that degrades to a "basic" keyword check (FC111); the fix denies.
5. A policy gate that allows when its loader's `except` set `self.loaded = False` (FC111).
6. A webhook verifier that accepts when the `HAS_NACL` flag it imported is False (FC111).
Valid: an import fallback that asks whether the layer is deployed before degrading, and an
optional renderer that is no permission check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessScope:
    user_id: int = 0
    tenant_id: int = 0
    is_admin: bool = True


def may_read_sample(user, sha256: str) -> bool:
    try:
        from tenancy.sharing import may_read
    except ImportError:
        return False  # expect: FC111
    return may_read(user, sha256)


def read_filter(user):
    """Query filter for what `user` may read, or None (no filtering at all)."""
    try:
        from tenancy.filters import tenant_filter_for
    except ImportError:
        raise  # expect: FC111
    return tenant_filter_for(user)


def scope_for(user):
    try:
        from tenancy.scoping import scope_for as real
    except ImportError:
        return AccessScope(is_admin=False)  # expect: FC111
    return real(user)


def tenant_scope_for(user):
    try:
        from tenancy.scoping import scope_for as real
    except ImportError:
        if tenancy_enabled():
            return AccessScope(is_admin=False)
        return AccessScope()
    return real(user)


class ScriptRunner:
    def _may_execute(self, code: str) -> tuple[bool, str | None]:
        try:
            from audit.static import ScriptAuditor
        except ImportError:
            logger.warning("ScriptAuditor missing, falling back to basic screening")
            return False, "a required check is unavailable"  # expect: FC111
        issues = ScriptAuditor().issues(code)
        if issues:
            return False, f"unsafe: {issues[0]}"
        return True, None

    def _keyword_check(self, code: str) -> tuple[bool, str | None]:
        """Basic keyword screen."""
        for word in ("exec", "eval", "subprocess"):
            if word in code:
                return False, f"calls {word}"
        return True, None


class PolicyGate:
    def __init__(self, path: str) -> None:
        self.loaded = True
        try:
            self.engine = load_policy_engine(path)
        except OSError:
            logger.exception("could not load the policy engine from %s", path)
            self.loaded = False

    def is_allowed(self, user, action: str) -> bool:
        if not self.loaded:
            return False  # expect: FC111
        return self.engine.allows(user, action)


class ChatConnector:
    def verify_callback(self, headers: dict[str, str]) -> bool:
        if not headers.get("Authorization", "").startswith("Bearer "):
            return False
        try:
            from .signing import HAS_NACL, verify_signature
        except ImportError:
            return False
        if HAS_NACL:
            return verify_signature(headers["Authorization"])
        else:
            return False  # expect: FC111


def render_markdown(text: str) -> str | None:
    try:
        import markdown
    except ImportError:
        return None
    return markdown.markdown(text)


def load_policy_engine(path: str):
    from policy.engine import PolicyEngine

    return PolicyEngine.from_file(path)


def tenancy_enabled() -> bool:
    try:
        from tenancy.config import enabled
    except ImportError:
        return False
    return enabled()
