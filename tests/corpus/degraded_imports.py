"""Optional imports in permission code: a decision that degrades to allow when they fail.

1. An `except ImportError` in a visibility check returns True (FC111); the fix denies.
2. A scope filter documented as "None (see-all)" returns None on ImportError (FC111); the
   fix re-raises the import error.
3. A fallback viewer whose `is_admin` defaults to True (FC111); the fix makes it non-admin.
4. A safety gate that degrades to a "basic" keyword check (FC111); the fix denies.
5. A policy gate that allows when its loader's `except` set `self.loaded = False` (FC111).
6. A webhook verifier that accepts when the `HAS_JWT` flag it imported is False (FC111).
Valid: an import fallback that asks whether the layer is deployed before degrading, and an
optional renderer that is no permission check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Viewer:
    user_id: int = 0
    tenant_id: int = 0
    is_admin: bool = True


def can_view_sample(user, sha256: str) -> bool:
    try:
        from tenancy.visibility import can_view
    except ImportError:
        return True  # expect: FC111
    return can_view(user, sha256)


def viewer_scope(user):
    """Mongo `$match` for what `user` may read, or None (no tenant filtering / see-all)."""
    try:
        from tenancy.scopes import entitled_scope_filter
    except ImportError:
        return None  # expect: FC111
    return entitled_scope_filter(user)


def viewer_for(user):
    try:
        from tenancy.viewers import viewer_for as real
    except ImportError:
        return Viewer()  # expect: FC111
    return real(user)


def tenant_viewer_for(user):
    try:
        from tenancy.viewers import viewer_for as real
    except ImportError:
        if tenancy_enabled():
            return Viewer(is_admin=False)
        return Viewer()
    return real(user)


class Sandbox:
    def _is_safe_code(self, code: str) -> tuple[bool, str | None]:
        try:
            from verifier.ast_checks import CodeVerifier
        except ImportError:
            logger.warning("CodeVerifier not available, using basic validation")
            return self._keyword_check(code)  # expect: FC111
        issues = CodeVerifier().issues(code)
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
            return True  # expect: FC111
        return self.engine.allows(user, action)


class ChatConnector:
    def verify_webhook(self, headers: dict[str, str]) -> bool:
        if not headers.get("Authorization", "").startswith("Bearer "):
            return False
        try:
            from .jwt_verify import HAS_JWT, verify_bearer
        except ImportError:
            return False
        if HAS_JWT:
            return verify_bearer(headers["Authorization"])
        else:
            return True  # expect: FC111


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
