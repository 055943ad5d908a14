"""What counts as a permission path, what "allow" means in it, and which way it points.

Everything here reads the stdlib `ast`, which is fast enough to run on every file; libcst
is only used later, to build fixes (see `analyzers.fixes`).
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from failclosed.analyzers.model import split_lines
from failclosed.analyzers.settings import Config

Polarity = Literal["allow", "deny"]
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

# What an agent or user confirms or approves: `confirm_tool_call`, not `confirm_delivery`.
ACTIONS = (
    r"(tool|action|command|request|access|call|execution|operation|run|write|delete|edit"
    r"|change|permission|payment|transfer|deploy|install|exec\w*)"
)
# Names whose True means "allowed". Matched against the whole function name.
ALLOW_NAME = re.compile(
    r"""(?x)_*(
        has_(object_)?perms?|has_(object_)?permissions?|has_access|has_scopes?|has_role
      | (check|verify|validate|enforce|ensure|require|assert)_\w*(perm|access|auth|acl|polic|scope
          |role|token|key|signature|sig|hmac|credential|password|otp|session|csrf|origin|ip|host
          |rule|grant|allow|privilege|rights|quota|limit|rate|webhook|request|jwt|claims|admin)\w*
      | check_permissions?|check_access|check_policy|check_acl
      | verify_\w+|validate_(api_)?(key|token|signature|request|webhook|credentials?|session|jwt)\w*
      | authori[sz]e\w*|is_authori[sz]ed\w*|is_authenticated|authenticate_request
      | is_allowed\w*|is_permitted\w*|is_granted|is_\w+_(allowed|permitted|authori[sz]ed|granted)
      | (polic(y|ies)|rules?|acl|rbac|guard|gate)_(allows?|permits?)|[a-z]\w*_(allowed|permitted)
      | is_trusted\w*|is_safe_\w+|is_valid_(token|signature
          |key|api_key|session|jwt|request|webhook|origin|credentials?|password|otp|hmac)\w*
      | is_(admin|owner|member|staff|superuser)|is_whitelisted|is_allowlisted
      | allow_\w+
      | allowed_to_\w+|permits?|permit_(request|access|action|tool|call)\w*|grant_access\w*
      | may_(?!(have|be|contain|need|include|return|raise|exist|require|overflow|fail|block
          |differ|vary|match|apply|take|change)(_|$))\w+
      | can_(access|view|edit|read|write|delete|execute|exec|run|manage|modify|change|add
          |create|update|publish|invoke|call|approve|see|perform|act|send|join|post|admin
          |archive|share|download|upload|export|import|merge|push|deploy|transfer|invite
          |comment|moderate|impersonate|sign|install|configure|review)\w*
      | request_permission\w*|ask_permission\w*|ask_user_(permission|approval|confirmation)\w*
      | confirm|_?confirm_with_user\w*|confirm_{A}\w*
      | approve|approve_{A}\w*|should_(allow|permit|approve|grant|proceed)\w*
      | evaluate_polic\w*|evaluate_access|check_rate_limit|under_rate_limit|within_(limit|quota)\w*
      | pre_tool_use|before_tool_call|tool_permission\w*|permission_callback|can_use_tool
    )""".replace("{A}", ACTIONS),
)
# Names whose True means "denied": returning False on error is the fail-open bug here.
DENY_NAME = re.compile(
    r"""(?x)_*(
        is_(rate_?limited|throttled|banned|blocked|blacklisted|blocklisted|denylisted|denied
          |forbidden|revoked|expired|locked_out|suspended|over_(limit|quota)
          |private_(address|ip|host|network)|internal_(address|ip|host)|reserved_(address|ip)
          |malicious|dangerous|unsafe_(url|path|host|command|redirect|address|ip|file|upload)\w*
          |spam|abusive|compromised|tampered|untrusted
          |restricted|prohibited|quarantined)\w*
      | (should|must)_(block|deny|reject|throttle|ban|refuse|forbid)\w*
      | (rate_?limit|quota|limit)_(exceeded|reached|hit)\w*|exceeds_\w*(limit|quota)\w*
      | over_(limit|quota)\w*|too_many_\w+|needs_(block|deny)\w*
      | (is_)?(token|key|session|cert|certificate)_(revoked|expired|invalid)\w*
      | \w*(auth|authentication|login|permission|approval|confirmation|mfa|2fa|otp|captcha
          |consent|reauth)\w*_(required|needed)|(requires|needs)_(auth|login|approval|mfa|reauth)\w*
    )""",
)
# Methods that decide when they sit in a class with one of these base names.
# (a `Backend` counts only as an auth backend: not a cache or e-mail backend; validators of
# input data are not permission checks)
PERMISSION_BASES = re.compile(
    r"(BasePermission|Permission\w*|\w*Throttle\w*|(Base|Model|RemoteUser|Auth\w*|Permission"
    r"|Access|Acl|Token|Ldap|OAuth\w*|Jwt|JWT|ApiKey|Session)Backend|\w*Polic(y|ies)\w*|\w*Authori[sz]\w*"
    r"|\w*Guard|\w*Enforcer|\w*Voter|AccessControl\w*|\w*Acl|\w*Authenticator|\w*RateLimiter"
    r"|\w*Limiter|(Signature|Token|Webhook|Jwt|JWT)Verifier)$"
)
PERMISSION_METHODS_IN_BASES = re.compile(
    r"(has_\w+|check\w*|allow\w*|evaluate|enforce|decide|vote|authori[sz]e\w*|verify\w*"
    r"|validate\w*|is_\w+|can_\w+|permit\w*|__call__)$"
)
MIDDLEWARE_NAME = re.compile(
    r"(dispatch|__call__|process_request|process_view|middleware|\w+_middleware"
    r"|on_request|handle_request|intercept\w*)$"
)
MIDDLEWARE_NEXT_PARAMS = {"call_next", "get_response", "next_handler", "handler", "nxt", "next_"}
# Exceptions that mean "denied". Catching and ignoring one of them lets the action through.
DENY_EXCEPTION = re.compile(
    r"(PermissionDenied|PermissionError|Forbidden|Unauthori[sz]ed|NotAuthenticated|AuthenticationFailed"
    r"|AccessDenied|AccessError|NotAuthori[sz]ed|AuthorizationError|AuthorisationError"
    r"|AuthenticationError|Unauthenticated|InvalidSignature\w*|InvalidToken|PolicyViolation"
    r"|NotAllowed|Disallowed\w*|HTTPForbidden|HTTPUnauthorized|SuspiciousOperation"
    r"|RateLimitExceeded|Throttled|TooManyRequests|BadSignature|SignatureExpired"
    r"|ExpiredSignatureError|InvalidSignatureError|DecodeError|InvalidTokenError|JWTError"
    r"|InvalidAudienceError|InvalidIssuerError|ImmatureSignatureError"
    # a project's own denial: `SSRFBlockedError`, `ToolCallRejected`, `QuotaExceededError`
    r"|\w*(Blocked|Denied|Rejected|Refused|Violation|Forbidden)(Error|Exception)?"
    r"|\w*(Quota|RateLimit|Budget)Exceeded\w*)$"
)
# Words in a callee's name that say it authenticates or authorizes.
AUTH_WORDS = re.compile(
    r"(?i)auth|token|verify|permission|credential|session|jwt|api_?key|login|signature|acl"
    r"|polic|access|principal|identity|user|secret|hmac|scope|role|valid|key|permit|allow"
    r"|ban|block|deny|member|grant|owner|tenant|quota|team|group|directory|ldap|pdp|opa|casbin"
    r"|cedar|enforce|(^|\.)(check|decide|evaluate|authorize|verify)\w*$"
)
# An argument that is a credential makes a call an auth check: `introspect(token)`.
CREDENTIAL_ARG = re.compile(
    r"(?i)token|credential|api_?key|jwt|secret|signature|passw|cookie|session_?id|bearer"
)
# Calls that only record: never the check itself.
RECORDING_CALL = re.compile(r"(?i)(^|\.)(audit|metrics?|statsd|telemetry|logger|log|logging)\.")
# Helpers that send the deny themselves: `await send_403(send)`, `respond_unauthorized()`.
DENY_HELPER = re.compile(
    r"(?i)^_*(send|respond|reply|return|deny|reject|abort|create|build|make)_?(401|402|403|429"
    r"|forbidden|unauthori[sz]ed|denied|deny|reject\w*|payment_required)"
    # a helper that builds the refusal itself: `_blocked_response(id)`, `denied_result(...)`
    r"|^_*(blocked|denied|rejected|refused|forbidden)_(response|result|reply|answer|message)"
)
DENY_STATUS = {401, 402, 403, 407, 429, 451, 503}
DENY_RESPONSES = re.compile(
    r"HttpResponse(Forbidden|NotAllowed|Unauthorized|TooManyRequests)|Http40[13]"
    r"|HTTP(Forbidden|Unauthorized|TooManyRequests)|TooManyRequests"
)
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}
# Handlers catching only these do not come from a permission system failing.
NON_FAILURE_EXCEPTIONS = IMPORT_ERRORS | {"StopIteration", "StopAsyncIteration", "GeneratorExit"}
# Exceptions a program raises to steer itself, not because something failed.
CONTROL_SIGNAL = re.compile(r"_*(Skip|Stop|Break|Continue|Halt|Done|Finish)[A-Z]\w*|\w*Signal")
# A lookup that finds nothing is an answer ("no such row"), not the permission system failing.
NOT_FOUND = re.compile(r"\w*DoesNotExist|NotFound\w*|\w*NotFoundError")

ALLOW_MEMBERS = {
    "ALLOW": ("DENY", "DISALLOW", "REJECT", "BLOCK", "FORBID"),
    "ALLOWED": ("DENIED", "DISALLOWED", "REJECTED", "BLOCKED", "FORBIDDEN"),
    "PERMIT": ("DENY", "FORBID", "REJECT"),
    "PERMITTED": ("DENIED", "FORBIDDEN", "REJECTED"),
    "GRANT": ("DENY", "REVOKE", "REJECT"),
    "GRANTED": ("DENIED", "REVOKED", "REJECTED"),
    "APPROVE": ("REJECT", "DENY", "BLOCK"),
    "APPROVED": ("REJECTED", "DENIED", "BLOCKED"),
    "ACCEPT": ("REJECT", "DENY"),
    "ACCEPTED": ("REJECTED", "DENIED"),
}
ALLOW_STRINGS = {
    "allow": "deny",
    "allowed": "denied",
    "approve": "block",
    "approved": "blocked",
    "permit": "deny",
    "permitted": "denied",
    "grant": "deny",
    "granted": "denied",
    "accept": "reject",
}
ALLOW_KEYS = {
    "allowed", "allow", "granted", "permitted", "authorized", "authorised", "approved",
    "is_allowed", "is_authorized", "is_permitted", "has_permission", "has_access", "should_allow",
}  # fmt: skip
DENY_KEYS = {
    "denied", "deny", "blocked", "banned", "forbidden", "rate_limited", "ratelimited",
    "throttled", "revoked", "is_blocked", "is_banned", "is_denied", "should_block", "should_deny",
}  # fmt: skip
# Fields that decide only inside a permission function (`is_authenticated` is also UI state).
WEAK_ALLOW_KEYS = {"authenticated", "is_authenticated", "valid", "is_valid", "verified", "trusted",
                   "safe", "is_safe", "clean", "is_clean"}  # fmt: skip
WEAK_DENY_KEYS = {"expired", "rejected", "limited", "locked", "flagged", "is_flagged", "malicious",
                  "is_malicious", "unsafe", "is_unsafe", "infected", "is_infected"}  # fmt: skip
VERDICT_KEYS = {"permission", "decision", "permissiondecision", "verdict", "effect", "action",
                "result", "outcome", "access"}  # fmt: skip
# Phrases that say the code lets things through, each with the words a fix puts instead.
# Detection and rewording share this table, so every phrase that makes a finding also
# gets reworded by its fix.
ALLOW_PHRASES: list[tuple[str, str]] = [
    (r"auto[- _]?(allow|approv|grant|accept)\w*", "denying"),
    (r"allow(ing)? (it |them |the request |access )?(anyway|by default)", "denying"),
    (r"allowed (anyway|by default)", "denied"),
    (r"default(ing)? to allow\w*", "denying"),
    (r"fail(ing|s|ed)?[- ]open", "failing closed"),
    (r"let(ting)? (the |this |it |them )?(\w+ )?through", "denying"),
    (r"grant(ing)? (access|permission)\w*", "denying"),
    (r"proceed(ing)? (anyway|without (a |the )?(\w+ )?(check|verification|auth\w*))", "denying"),
    (r"permit(ting)? (it |them )?(anyway|by default)", "denying"),
    (r"assum(e|ing) (it'?s |it is )?(allowed|ok|safe|valid|authori[sz]ed)", "denying"),
    (r"skip(ping)? (the )?(\w+ )?(permission|auth\w*|signature|token|policy)"
     r"( check| verification| validation)?", "denying"),
    (r"allowing (the |this |all )?(request|access|call|action|tool|command|everything|all|query"
     r"|queries|message|input|prompt|operation|user|traffic|write|read|upload|login|webhook"
     r"|event|payload|content|connection|it|them)s?(?![\w-])", "denying"),
    (r"accepting (the |this |all )?\w+( \w+)? without (\w+ )?(verification|validation|check"
     r"|auth\w*|signature)", "rejecting it"),
    # a bare verdict word closing a clause: "lookup failed for %s, allowing"
    (r"(?<=[,;:(\-\u2013\u2014] )(allow|approv|accept|permitt|grant)ing"
     r"(?=\s*($|[.,;:!)\-\u2013\u2014'\"%{]))", "denying"),
    (r"(?<![\w-])(be(ing)? )?(more )?permissive(?! (mode|license|licence))", "deny"),
    (r"allow(ing)? (it |them )?all(?![\w-])", "denying"),
    (r"\(allow(ed)?\)", "(deny)"),
    (r"(?:(?<=and )|(?<=, ))pass(ing)? (it |them )?through", "denying"),  # "log and pass through"
    (r"pass(ing)? through (this|the|that) (\w+ )?(call|request|tool|command|action|event"
     r"|message|operation)s?(?![\w-])", "denying"),
    (r"(?:(?<=raised[;,:] )|(?<=failed[;,:] )|(?<=error[;,:] ))skipp(ing|ed)", "denying"),
    (r"(do ?n[o']t|never) block(ing)? (the |this |any )?(request|user|access|tool|call|action"
     r"|command|agent|auth\w*|login|traffic|write|read|turn|operation)s?(?![\w-])", "denying"),
    (r"let(ting)? (it|them|the \w+|this \w+) (pass|go|proceed)", "denying"),
    (r"fall(ing|s)?[- ]?back to (the )?(owner|admin\w*|root|superuser|full|elevated)"
     r"( role| access| privileges?| permissions?| rights)?(?![\w-])", "denying"),
    (r"skip(ping)? (the |this )?(\w+ ){0,3}(check(s|ing)?|verification|validation)(?![\w-])",
     "denying"),
    (r"allow(ing|ed|s)? (it |them |this |the \w+ )?through(?![\w-])", "denying"),
    (r"(?<![\w-])allow (it|them)(?= but | and |,|;|\.|\s*$| anyway)", "deny it"),
    (r"treat(ing|ed)? (it |this |them )?as (allowed|approved|authori[sz]ed|passed|safe|valid"
     r"|trusted)", "denying"),
    (r"(?:(?<=, )|(?<=: )|(?<=then ))allow (the |this |all )?(request|access|call|action|tool"
     r"|command|server|user|upload|write|read|message|operation|it|them|everything)s?(?![\w-])",
     "deny"),
    # "continuing without 2FA check", "defaulting to 'all' for every zone"
    (r"continu(e|es|ing) without (a |the |any )?(\w+ ){0,2}(check|verification|validation"
     r"|auth\w*|enforcement|scan|review)s?(?![\w-])", "denying"),
    (r"default(ing|s)? to '?(all|everything|unrestricted|no restrictions?|open)'?(?![\w-])",
     "denying"),
    (r"treat(ing|ed)? (it |this |them )?as (no decision|no objection|clean|not blocked"
     r"|unrestricted)", "denying"),
    (r"(do ?n[o']t|never) block on (\w+ )?(failures?|errors?|exceptions?|timeouts?|crash\w*)",
     "block on failures"),
    (r"(apply|run|execute|merge|approve|send)(ing)? (it |them )?(immediately|anyway)(?![\w-])",
     "refusing"),
    # "allow execution without sandbox", "serving it without redaction"
    (r"(allow|run|execut|accept|serv|send|return)\w* (it |them |the \w+ |\w+ )?without (a |the "
     r"|any )?(\w+ )?(sandbox\w*|confinement|isolation|verification|signature|auth\w*|scan\w*"
     r"|redaction|masking|enforcement)(?![\w-])", "refusing"),
    # "log warning but allow", "warn but proceed"
    (r"(warn|log)\w*( a| the)?( \w+)? but (still )?(allow|accept|proceed|continu|let)\w*",
     "deny"),
    # "accept on trust", "accepting unsigned registration"
    (r"accept(s|ed|ing)? (it |them |the \w+ |\w+ )?(on trust|unsigned|unverified"
     r"|unauthenticated|untrusted)(?![\w-])", "rejecting"),
    # "Allow if country cannot be determined", "allow on error", "pass when the lookup fails"
    (r"(?<![\w-])(allow|accept|permit|pass)(s|ed|ing)? (it |them |the \w+ )?(if|when|on) (\w+ )"
     r"{0,4}(cannot|can ?n[o']t|could ?n[o']t|fails?|failed|errors?|unavailable|unreachable"
     r"|is down|times? ?out|timed out)(?![\w-])", "deny"),
    (r"(?<![\w-])(hook|check|guard\w*|gate|policy|rule|validator|verification|scan)s? "
     r"(will be |is |are |was )?(ignored|skipped|bypassed|a no-?op)", "check failed, denying"),
]  # fmt: skip
# Every allow phrase contains one of these: a cheap test before the regular expression.
ALLOW_STEMS = ("allow", "approv", "grant", "accept", "open", "through", "proceed", "permit",
               "assum", "skip", "let", "treat", "block", "pass", "ignor", "bypass",
               "no-op", "noop", "back to", "without")  # fmt: skip
ALLOW_LANGUAGE = re.compile("|".join(f"(?:{p})" for p, _ in ALLOW_PHRASES), re.IGNORECASE)
REWORDINGS = [(re.compile(p, re.IGNORECASE), r) for p, r in ALLOW_PHRASES]
FAIL_OPEN_FLAG = re.compile(
    r"(?i)fail_?open|fail_?safe|allow_on_(error|failure)|permissive|lenient|soft_?fail|strict"
    r"|dry_?run|enforce|insecure|allow_unverified|bypass|audit|monitor|shadow|report_only"
    r"|log_only|observe|break_?glass"
)
# Names of what a scan finds: an empty list of them reads as "all clear".
DENIAL_LIST = re.compile(
    r"(?i)(errors|violations|findings|issues|threats|problems|denials|detections|matches"
    r"|hits|Error\]|Violation\]|Finding\]|Issue\])$|(errors|violations|findings|threats)_"
)
SECURITY_CONTEXT = re.compile(
    r"(?i)(?<![a-z])(security|secure|safety|safe|policy|policies|guard\w*|permission\w*|threat\w*"
    r"|malicious|attack\w*|secret\w*|vuln\w*|moderation|injection|unsafe|sandbox\w*|taint\w*)"
)
TEST_PATH = re.compile(r"(^|/)(tests?|testing)/|(^|/)(test_[^/]*|[^/]*_tests?|conftest)\.py$")
TEST_DOUBLE = re.compile(r"^(Fake|Mock|Stub|Dummy|Test|Noop|NoOp|Null|AllowAll|Permissive)")


@dataclass(frozen=True)
class AllowValue:
    """An expression that means "allowed" here, and how to write its deny counterpart.

    `node` is the smallest expression a fix replaces; `deny` is its replacement source or
    None when no deny value is known (then the fix re-raises instead).
    """

    node: ast.expr
    deny: str | None
    shown: str


@dataclass
class FunctionInfo:
    """A function with what the analyzer decided about it.

    Cheap facts (name-based) are decided up front; facts that need a walk of the body are
    computed on first use, so the many functions no rule looks at cost almost nothing.
    """

    node: FunctionNode
    qualname: str
    class_node: ast.ClassDef | None
    test_double: bool
    config: Config
    module: ModuleInfo | None = None

    @cached_property
    def polarity(self) -> Polarity | None:
        """ "allow" or "deny" for a permission check by name, class, config or evidence."""
        return _polarity(
            self.node, self.class_node, self.config, self._callers, self._tested, self.statements
        )

    @cached_property
    def polarity_from_callers(self) -> bool:
        """Only what callers do with the answer makes this a check: an inference."""
        return (
            self.polarity is not None
            and _polarity(self.node, self.class_node, self.config, statements=self.statements)
            is None
        )

    def _tested(self) -> set[str]:
        """Names of functions the module calls right in an `if` test (one regex pass)."""
        if self.module is None:
            return set()
        memo = self.module.memo
        if "tested" not in memo:
            memo["tested"] = set(IF_CALL.findall(self.module.source))
        return memo["tested"]  # type: ignore[return-value]

    def _callers(self) -> dict[str, Counter[Polarity]]:
        if self.module is None:
            return {}
        memo = self.module.memo
        if "callers" not in memo:
            memo["callers"] = caller_votes(self.module.tree)
        return memo["callers"]  # type: ignore[return-value]

    @cached_property
    def collects_denials(self) -> bool:
        """It answers with the problems it found (`security_errors`, `find_violations`):
        an empty answer means "nothing to block"."""
        name = self.node.name[:MAX_NAME]
        returns = ast.unparse(self.node.returns) if self.node.returns else ""
        if not DENIAL_LIST.search(name) and not DENIAL_LIST.search(returns):
            return False
        context = " ".join([name, returns, self.class_node.name if self.class_node else ""])
        return bool(SECURITY_CONTEXT.search(context.replace("_", " ")))

    @cached_property
    def middleware(self) -> bool:
        """Takes `call_next`/`get_response`, or is `dispatch`/`__call__` of a middleware."""
        return _is_middleware(self.node, self.class_node)

    @cached_property
    def nodes(self) -> list[ast.AST]:
        """`own_nodes` of the function, walked once for every rule that asks."""
        return list(own_nodes(self.node))

    @cached_property
    def statements(self) -> list[ast.AST]:
        """The function's own statements and except handlers, nested blocks included."""
        return list(own_statements(self.node))

    @cached_property
    def guard(self) -> bool:
        """Denies by raising or by answering 401/403: returning normally is the allow."""
        return _denies_by_raising(self.statements)

    @cached_property
    def returns_bool(self) -> bool:
        """Answers with `return True/False` somewhere: a predicate, not a guard."""
        return any(
            isinstance(n, ast.Return)
            and isinstance(n.value, ast.Constant)
            and isinstance(n.value.value, bool)
            for n in self.statements
        )

    @property
    def pure_guard(self) -> bool:
        """Denies by raising and never answers with a bool: returning at all is the allow."""
        return self.guard and not self.returns_bool and not self.middleware


@dataclass
class ModuleInfo:
    """Module-wide facts rules need: source lines, enum members in use, the config."""

    tree: ast.Module
    lines: list[str]
    path: str
    config: Config
    source: str = ""
    members: dict[str, set[str]] = field(default_factory=dict)
    memo: dict[str, object] = field(default_factory=dict)  # per-module facts rules compute once

    def file_matches(self, pattern: re.Pattern[str]) -> bool:
        """Does the whole file match `pattern`? Searched once per file and pattern."""
        key = f"matches:{pattern.pattern}"
        if key not in self.memo:
            self.memo[key] = pattern.search(self.source) is not None
        return bool(self.memo[key])

    def segment(self, node: ast.AST) -> str:
        """Source text of `node`'s lines (whole lines; cheap, no tokenizing)."""
        start = getattr(node, "lineno", 1)
        end = getattr(node, "end_lineno", start) or start
        return "".join(self.lines[start - 1 : end])


def is_test_path(path: str) -> bool:
    """`tests/...`, `test_x.py`, `x_test.py`, `conftest.py`: test code, not reported."""
    return bool(TEST_PATH.search(path))


def module_info(tree: ast.Module, source: str, path: str, config: Config) -> ModuleInfo:
    """Collect the facts rules share about a module."""
    return ModuleInfo(tree, split_lines(source), path, config, source)


def enum_members(info: ModuleInfo) -> dict[str, set[str]]:
    """`Decision` -> {"ALLOW", "DENY"}: members defined in classes or used as `X.MEMBER`."""
    if info.members:
        return info.members
    members: dict[str, set[str]] = {}
    for node in ast.walk(info.tree):
        if isinstance(node, ast.Attribute) and node.attr.isupper():
            base = dotted_name(node.value)
            if base:
                members.setdefault(base.rsplit(".", 1)[-1], set()).add(node.attr)
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else []
                if isinstance(stmt, ast.AnnAssign):
                    targets = [stmt.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        members.setdefault(node.name, set()).add(target.id)
    info.members = members
    return members


def dotted_name(node: ast.AST) -> str | None:
    """`a.b.c` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def call_name(node: ast.AST) -> str:
    """The last name of a call's callee: `self.app.check(x)` -> `check`."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def _blocks(node: ast.AST) -> Iterator[ast.AST]:
    """Children that sit in statement blocks (and handlers, match cases)."""
    for name in BLOCKS:
        block = getattr(node, name, None)
        if isinstance(block, list):
            yield from block


def own_statements(node: ast.AST) -> Iterator[ast.AST]:
    """Statements in `node`'s blocks, nested blocks included, not nested functions or classes."""
    stack = list(_blocks(node))
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            stack.extend(_blocks(child))


MODULE = "<module>"


def module_function(tree: ast.Module) -> FunctionNode | None:
    """The module's own top-level code as a pseudo-function (None for an empty module).

    Hook scripts often do their work at module level (`try: ... except: sys.exit(0)`), and
    settings modules read their secrets there.
    """
    if not tree.body:
        return None
    last = tree.body[-1]
    node = ast.FunctionDef(
        name=MODULE,
        args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=tree.body,
        decorator_list=[],
        returns=None,
        type_comment=None,
    )
    node.lineno, node.col_offset = tree.body[0].lineno, 0
    node.end_lineno, node.end_col_offset = last.end_lineno, last.end_col_offset
    return node


def iter_functions(info: ModuleInfo) -> Iterator[FunctionInfo]:
    """Every function and method, with its qualified name and classification.

    The module's top-level code comes first, as the pseudo-function `<module>`.
    """
    top = module_function(info.tree)
    if top is not None:
        yield classify(top, MODULE, None, False, info.config, info)
    stack: list[tuple[ast.AST, str, ast.ClassDef | None, bool]] = [(info.tree, "", None, False)]
    while stack:
        parent, prefix, cls, double = stack.pop()
        for child in _blocks(parent):
            if isinstance(child, ast.ClassDef):
                is_double = double or bool(TEST_DOUBLE.match(child.name))
                stack.append((child, f"{prefix}{child.name}.", child, is_double))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield classify(child, f"{prefix}{child.name}", cls, double, info.config, info)
                stack.append((child, f"{prefix}{child.name}.", None, double))
            else:
                stack.append((child, prefix, cls, double))


def classify(
    node: FunctionNode,
    qualname: str,
    cls: ast.ClassDef | None,
    double: bool,
    config: Config,
    module: ModuleInfo | None = None,
) -> FunctionInfo:
    """A function as the rules see it; its facts are decided when first asked for."""
    is_double = double or node.name.startswith("test_")
    return FunctionInfo(node, qualname, cls, is_double, config, module)


def _polarity(
    node: FunctionNode,
    cls: ast.ClassDef | None,
    config: Config,
    callers: Callable[[], dict[str, Counter[Polarity]]] | None = None,
    tested: Callable[[], set[str]] | None = None,
    statements: list[ast.AST] | None = None,
) -> Polarity | None:
    """Decisive names and configured patterns first; otherwise the evidence, weighed."""
    name = node.name[:MAX_NAME]  # names are matched in bounded time, whatever their length
    if any(p.fullmatch(name) for p in config.deny_functions) or DENY_NAME.fullmatch(name):
        return "deny"
    if (
        any(p.fullmatch(name) for p in config.permission_functions)
        or ALLOW_NAME.fullmatch(name)
        or (
            cls is not None
            and _has_permission_base(cls)
            and PERMISSION_METHODS_IN_BASES.match(name)
        )
    ):
        return "allow"
    return weighed_polarity(node, cls, callers, tested, statements)


MAX_NAME = 120  # longer names are cut before any pattern looks at them
# A name shaped like a yes/no question or a check: `can_refund`, `is_accessible`, `_check_list`.
PREDICATE_NAME = re.compile(
    r"_*(can|may|is|has|should|check|verify|validate|allow|allows|authori[sz]e|ensure|require"
    r"|permit|grant|enforce|guard|gate|assert)(_|$)",
    re.IGNORECASE,
)
# A check verb inside the name: `resolve_and_validate_url`, `token_is_valid`, `user_can_edit`.
PREDICATE_TOKEN = re.compile(
    r"(?i)_(can|may|check|verify|validate|authori[sz]e|enforce|is_(valid|allowed|safe|permitted))"
    r"(_|$)"
)
# Words that say what is decided is access: in names, docstrings, class names.
DECISION_WORD = re.compile(
    r"(?i)(?<![a-z])(allow|allows|allowed|permi(t|ts|tted|ssions?)|authori[sz]\w*|access\w*"
    r"|grant\w*|acl|rbac|roles?|polic(y|ies)|guards?|gated?|quota\w*|rate.?limit\w*"
    r"|entitle\w*|privilege\w*|auth|authenticat\w*|signature|token|scopes?|consent|approv\w*"
    r"|whitelist\w*|allowlist\w*|blocklist\w*|blacklist\w*|denylist\w*"
    r"|membership|payment|paid|billing|credits?|subscri\w*|licen[cs]e\w*|forbid\w*|deny"
    r"|denied|blocked|banned|restrict\w*|tenant\w*|sandbox\w*|trusted|verified|governance)"
    r"(?![a-z])"
)
# Words in a name that make True mean "denied": `is_blocked_host`, `head_on_protected_tip`.
DENY_WORD = re.compile(
    r"(?i)(?<![a-z])(block(ed)?|bann?(ed)?|den(y|ied)|forbidden|revoked|expired|throttled"
    r"|limited|exceed(s|ed)?|over|private|internal|reserved|unsafe|malicious|escape[sd]?"
    r"|violat\w*|protected|restricted|prohibited|untrusted|suspended|locked|tampered"
    r"|dangerous|spam|abuse|abusive)(?![a-z])"
)
# State words in a name that say which answer it gives: `tool_is_allowed`
# (True = yes) and `contains_pii`, `is_flagged` (True = no).
ALLOW_STATE = re.compile(
    r"(?i)(?<![a-z])(allowed|permitted|authori[sz]ed|approved|granted)(?![a-z])"
)
# Weaker: `is_within_range`, `is_cache_clean` are ordinary predicates too.
WEAK_STATE = re.compile(r"(?i)(?<![a-z])(safe|clean|trusted|verified|within)(?![a-z])")
DENY_STATE = re.compile(
    r"(?i)(?<![a-z])(flagged|infected|toxic|pii|phishing|injection|leaked|compromised"
    r"|suspicious|blocklisted|denylisted|blacklisted)(?![a-z])"
)
# Names of functions that do something and report whether it worked.
DOING_NAME = re.compile(
    r"_*(add|remove|delete|update|set|save|create|insert|put|clear|load|register|unregister"
    r"|store|write|send|emit|parse|build|make|fetch|list|sync|reset|refresh|init|setup|run"
    r"|handle|process|resolve|start|stop|close|open|connect|render|format|serialize)(_|$)",
    re.IGNORECASE,
)
# `if not self.can_edit(`, `if await is_blocked(`: a call right in an `if` test.
IF_CALL = re.compile(r"\bif\s+(?:[\w.]+\s+and\s+)?(?:not\s+)?(?:await\s+)?(?:[\w.]+\.)?(\w+)\(")
EVIDENCE_NEEDED = 5  # points; a name or a docstring alone is never enough
# "Returns True if a hook blocked execution", "True when the domain is allowed": the
# docstring says which way the answer points.
DOC_TRUE_MEANS = re.compile(
    r"(?is)\btrue\b[^.]{0,60}?\b(if|when|only if|only when|means)\b(?P<what>[^.]{0,120})"
)
DOC_DENY = re.compile(
    r"(?i)\b(block(s|ed)?|den(y|ies|ied)|reject(s|ed)?|forbid(s|den)?|(rate.)?limited|throttled"
    r"|bann?ed|exceed(s|ed)|violat\w*|unsafe|malicious|revoked|expired)\b"
)
DOC_ALLOW = re.compile(
    r"(?i)\b(allow(s|ed)?|permit(s|ted)?|authori[sz]ed|accessible|grant(s|ed)?|may|can|has access"
    r"|is valid|verified|passes|proceed|clean|safe|trusted)\b"
)


def weighed_polarity(
    node: FunctionNode,
    cls: ast.ClassDef | None,
    callers: Callable[[], dict[str, Counter[Polarity]]] | None = None,
    tested: Callable[[], set[str]] | None = None,
    statements: list[ast.AST] | None = None,
) -> Polarity | None:
    """Whether the function decides on access, from several signals weighed together.

    Real code names its checks as it likes (`can_refund_emea`, `is_accessible`,
    `_check_x402_payment`), so the name counts as one signal among the return annotation,
    the docstring, whether the function answers both yes and no or denies by raising, its
    class, and what callers do with its answer (`if not x(...): raise Forbidden`).
    """
    name = node.name[:MAX_NAME]
    if statements is None:
        statements = list(own_statements(node))
    answers = _bool_answers(statements)
    annotated = _annotated_bool(node)
    if not (answers or annotated) and (tested is None or name not in tested()):
        return None  # neither answers yes/no nor is tested by a caller: not a check (fast path)
    words = name.replace("_", " ")
    doc = (ast.get_docstring(node, clean=False) or "")[:2000]
    points = 0
    predicate = PREDICATE_NAME.match(name) is not None
    inner_check = not predicate and PREDICATE_TOKEN.search(name) is not None
    decision = DECISION_WORD.search(words) is not None
    state = ALLOW_STATE.search(words) is not None or DENY_STATE.search(words) is not None
    points += predicate + inner_check + decision + (predicate and decision)
    if state and (predicate or inner_check):
        points += 3  # `tool_is_allowed`, `contains_pii`: the name says which answer is yes
    elif WEAK_STATE.search(words) and (predicate or inner_check):
        points += 1  # `is_within_root`: a hint, not enough alone
    if DOING_NAME.match(name) and not inner_check:
        points -= 2  # `add_policy` answers "was it added?", not "is it allowed?"
    if answers == {True, False} and _gives_reasons(statements):
        points += 3  # `return False, "blocked: private address"` / `return True, None`
    if annotated:
        points += 1
    if doc and DECISION_WORD.search(doc):
        points += 2
    said = _doc_polarity(doc) if "true" in doc.lower() else None
    if said is not None:
        points += 3
    relays = decision and _relays_a_check(node)
    if answers == {True, False} or (len(answers) == 1 and (relays or _computed_answer(statements))):
        points += 1  # it answers yes and no, one of them worked out (`path.is_relative_to(root)`)
    if cls is not None and DECISION_WORD.search(cls.name.replace("_", " ")):
        points += 1
    if relays:
        points += 2  # `try: return get_trust()` / `except Exception: return True`
    doing = DOING_NAME.match(name) is not None
    own = _own_denials(statements)
    if own and not doing and len(own) == 1:
        points += 3  # `if not acl.has_role(user): return False`: it denies on a check's "no"
    if 2 <= points < EVIDENCE_NEEDED and not doing and _consults_a_check(node):
        points += 2  # `if not acl.has_role(user, "admin"): return False`
    asked = callers is not None and points >= 1 and (tested is None or name in tested())
    votes = (
        callers().get(node.name) if asked and callers is not None else None
    )  # the walk only when an `if` calls it
    if votes:
        points += 3
    if points < EVIDENCE_NEEDED or not (answers or annotated or votes):
        return None
    if said is not None:
        return said
    if own and len(own) == 1:
        return next(iter(own))
    if votes and votes["deny"] > votes["allow"]:
        return "deny"
    if votes and votes["allow"] > votes["deny"]:
        return "allow"
    if (DENY_WORD.search(words) or DENY_STATE.search(words)) and not re.search(
        r"(?i)(?<![a-z])(allow\w*|permi\w*)", words
    ):
        return "deny"
    return "allow"


BUILTIN_NAMES = frozenset(dir(builtins))


def _relays_a_check(node: FunctionNode) -> bool:
    """The function only asks another function and answers with its answer, or with a
    constant yes/no when asking fails: a wrapper around a check, whose constant is a verdict."""
    body = [s for s in node.body if not isinstance(s, ast.Expr | ast.Import | ast.ImportFrom)]
    if len(body) != 1 or not isinstance(body[0], ast.Try) or not body[0].handlers:
        return False
    last = body[0].body[-1]
    value = last.value if isinstance(last, ast.Return) else None
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call) or call_name(value) in BUILTIN_NAMES:
        return False  # `return bool(Version(v) >= Version(check))` computes, it asks no one
    return any(
        isinstance(stmt, ast.Return)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, bool)
        for handler in body[0].handlers
        for stmt in handler.body
    )


def _doc_polarity(doc: str) -> Polarity | None:
    """Which way True points, when the docstring says so."""
    m = DOC_TRUE_MEANS.search(doc)
    if m is None:
        return None
    what = re.split(r"(?i)\bfalse\b|;|, (?:and |or )?(?:otherwise|else)\b", m.group("what"))[0]
    deny, allow = DOC_DENY.search(what), DOC_ALLOW.search(what)
    if deny and not (allow and allow.start() < deny.start()):
        return "deny"
    if allow:
        return "allow"
    return None


def _annotated_bool(node: FunctionNode) -> bool:
    """`-> bool`, `-> Optional[bool]`, `-> tuple[bool, ...]`."""
    returns = node.returns
    if returns is None:
        return False
    text = ast.unparse(returns)
    return text == "bool" or text.startswith(
        ("Optional[bool]", "bool |", "tuple[bool", "Tuple[bool")
    )


# Calls whose answer is a yes/no: `path.is_relative_to(root)`, `hmac.compare_digest(a, b)`.
BOOL_CALL = re.compile(
    r"(?i)^(bool|all|any|isinstance|issubclass|callable|compare_digest|exists|startswith"
    r"|endswith|is_relative_to|issubset|issuperset|isdisjoint|fullmatch|(is|has|can)_\w+)$"
)


def _computed_answer(statements: Iterable[ast.AST]) -> bool:
    """The function returns a worked-out yes/no somewhere: a comparison, a `not`, a
    membership test, a predicate call."""
    for stmt in statements:
        if not isinstance(stmt, ast.Return) or stmt.value is None:
            continue
        value = stmt.value
        if isinstance(value, ast.Compare | ast.BoolOp) or (
            isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not)
        ):
            return True
        if isinstance(value, ast.Call) and BOOL_CALL.match(call_name(value)):
            return True
    return False


def _bool_answers(statements: Iterable[ast.AST]) -> set[bool]:
    """The constant booleans the function returns (a tuple's first item counts)."""
    found: set[bool] = set()
    for stmt in statements:
        if not isinstance(stmt, ast.Return) or stmt.value is None:
            continue
        value = stmt.value
        if isinstance(value, ast.Tuple) and value.elts:
            value = value.elts[0]
        if isinstance(value, ast.Constant) and isinstance(value.value, bool):
            found.add(value.value)
    return found


# A call that asks for a decision: `acl.has_role`, `verify_signature`, `policy.evaluate`.
CHECK_CALL = re.compile(
    r"(?i)(?<![a-z])(verify\w*|validate\w*|authori[sz]e\w*|check\w*|evaluate|decide|enforce\w*"
    r"|has_(role|perm\w*|access|scope)|is_(member|owner|admin|allowed|authori[sz]ed|permitted))"
    r"(?![a-z])"
)


def _consults_a_check(node: FunctionNode) -> bool:
    """The function asks something else whether to allow (an ACL, a policy, a verifier)."""
    for n in own_nodes(node):
        if not isinstance(n, ast.Call):
            continue
        callee = dotted_name(n.func) or ""
        if RECORDING_CALL.search(callee):
            continue
        last = callee.rsplit(".", 1)[-1]
        if CHECK_CALL.search(last) or (
            "." in callee and DECISION_WORD.search(callee.rsplit(".", 2)[-2].replace("_", " "))
        ):
            return True
    return False


def _own_denials(statements: Iterable[ast.AST]) -> Counter[Polarity]:
    """Which way the function's own denials point: `if not verifier.check(t): return False`
    makes False its "no" (an allow-style check); `if limiter.is_blocked(ip): return True`
    makes True its "no" (a deny-style one)."""
    found: Counter[Polarity] = Counter()
    for stmt in statements:
        if not isinstance(stmt, ast.If) or not stmt.body:
            continue
        first = stmt.body[0]
        if not (
            isinstance(first, ast.Return)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, bool)
        ):
            continue
        tested = tested_call(stmt.test)
        if tested is None:
            continue
        call, negated = tested
        last = (dotted_name(call.func) or "").rsplit(".", 1)[-1][:MAX_NAME]
        if negated and (CHECK_CALL.search(last) or PREDICATE_NAME.match(last)):
            denied = first.value.value  # the answer when the check said no
        elif not negated and DENY_WORD.search(last.replace("_", " ")):
            denied = first.value.value
        else:
            continue
        found["allow" if denied is False else "deny"] += 1
    return found


def _gives_reasons(statements: Iterable[ast.AST]) -> bool:
    """It answers `(False, "why not")`: a verdict with its reason, the shape of a validator."""
    for stmt in statements:
        value = stmt.value if isinstance(stmt, ast.Return) else None
        if (
            isinstance(value, ast.Tuple)
            and len(value.elts) >= 2
            and isinstance(value.elts[0], ast.Constant)
            and value.elts[0].value is False
            and _is_text(value.elts[1])
        ):
            return True
    return False


def _is_text(expr: ast.expr) -> bool:
    """A string literal, an f-string, or `str(...)`: a message."""
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str) and bool(expr.value)
    if isinstance(expr, ast.JoinedStr):
        return True
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "str"


def caller_votes(tree: ast.Module) -> dict[str, Counter[Polarity]]:
    """What callers in the module do with each function's answer.

    `if not f(...): raise PermissionDenied` votes "allow" for `f` (True lets through);
    `if f(...): return 403-response` votes "deny".
    """
    votes: dict[str, Counter[Polarity]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.If) or not _denies(node.body):
            continue
        tested = tested_call(node.test)
        if tested is not None and (callee := call_name(tested[0])):
            votes.setdefault(callee, Counter())["allow" if tested[1] else "deny"] += 1
    return votes


def tested_call(test: ast.expr) -> tuple[ast.Call, bool] | None:
    """(call, negated) for `f(...)`, `not f(...)`, `await f(...)`, `not await f(...)`, also
    as the one call of an `and` (`tc_id and gate(tc_id)`: the body runs on the call's yes)."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        calls = [t for v in test.values if (t := tested_call(v)) is not None]
        return calls[0] if len(calls) == 1 else None
    negated = False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, negated = test.operand, True
    if isinstance(test, ast.Await):
        test = test.value
    return (test, negated) if isinstance(test, ast.Call) else None


def _denies(body: list[ast.stmt]) -> bool:
    """The block answers with a denial: a deny exception, a 401/403/429 response, an abort."""
    return _denies_by_raising(list(body[:3]))


def _is_middleware(node: FunctionNode, cls: ast.ClassDef | None) -> bool:
    params = {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
    return bool(params & MIDDLEWARE_NEXT_PARAMS) or bool(
        MIDDLEWARE_NAME.fullmatch(node.name)
        and (cls is None or "iddleware" in cls.name or _has_base(cls, "iddleware"))
    )


def _has_base(cls: ast.ClassDef, fragment: str) -> bool:
    return any(fragment in (dotted_name(b) or "") for b in cls.bases)


def _has_permission_base(cls: ast.ClassDef) -> bool:
    """Whether the class or one of its bases is named like a permission class."""
    names = [cls.name, *(dotted_name(b) or "" for b in cls.bases)]
    return any(PERMISSION_BASES.fullmatch(n.rsplit(".", 1)[-1]) for n in names)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _children(node: ast.AST) -> list[ast.AST]:
    """`ast.iter_child_nodes` as a list, without its generator per field: the scan's
    hottest loop."""
    found: list[ast.AST] = []
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            found.append(value)
        elif isinstance(value, list):
            found.extend(item for item in value if isinstance(item, ast.AST))
    return found


def own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes inside `node` that belong to it, not to nested functions, classes or lambdas."""
    stack = _children(node)
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(child, _SCOPES):
            stack.extend(_children(child))


def _denies_by_raising(statements: list[ast.AST]) -> bool:
    """A guard: it raises a deny exception or answers 401/403 itself."""
    for stmt in statements:
        if (
            isinstance(stmt, ast.Raise)
            and stmt.exc is not None
            and (is_deny_raise(stmt.exc) or _deny_message(stmt.exc))
        ):
            return True
        if isinstance(stmt, ast.Return) and stmt.value is not None and is_deny_response(stmt.value):
            return True
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(call, ast.Await):
            call = call.value
        if isinstance(call, ast.Call) and _sends_deny_status(call):
            return True
        if isinstance(stmt, ast.ExceptHandler) and _passes_denials_on(stmt):
            return True
    return False


def _passes_denials_on(handler: ast.ExceptHandler) -> bool:
    """`except HTTPException: raise`: the function's denials come from what it calls."""
    types = handler_types(handler)
    return (
        bool(types)
        and all(t == "HTTPException" or DENY_EXCEPTION.search(t) for t in types)
        and len(handler.body) == 1
        and isinstance(handler.body[0], ast.Raise)
        and handler.body[0].exc is None
    )


def _sends_deny_status(call: ast.Call) -> bool:
    """`abort(403)`, `await send_status(send, 401, ...)`, `await send({"status": 403, ...})`."""
    if call_name(call) == "abort":
        return _status_of(call) in DENY_STATUS
    if DENY_HELPER.search(call_name(call)):
        return True
    for arg in call.args:
        if isinstance(arg, ast.Constant) and arg.value in (401, 403):
            return True
        if isinstance(arg, ast.Dict) and any(
            isinstance(k, ast.Constant)
            and k.value == "status"
            and isinstance(v, ast.Constant)
            and v.value in (401, 403)
            for k, v in zip(arg.keys, arg.values, strict=True)
        ):
            return True
    return any(
        k.arg in ("status", "status_code")
        and isinstance(k.value, ast.Constant)
        and k.value.value in (401, 403)
        for k in call.keywords
    )


def _status_of(call: ast.Call) -> int | None:
    """The HTTP status a call passes, positionally or as status/status_code."""
    candidates = list(call.args[:1]) + [
        k.value for k in call.keywords if k.arg in ("status", "status_code", "code")
    ]
    for value in candidates:
        if isinstance(value, ast.Constant) and isinstance(value.value, int):
            return value.value
        if isinstance(value, ast.Attribute) and (m := re.search(r"_(\d{3})_", value.attr + "_")):
            return int(m.group(1))
    return None


def is_deny_raise(exc: ast.expr) -> bool:
    """`raise PermissionDenied(...)`, `raise HTTPException(status_code=403)`, ..."""
    target = exc.func if isinstance(exc, ast.Call) else exc
    name = call_name(target)
    if DENY_EXCEPTION.search(name):
        return True
    return isinstance(exc, ast.Call) and "Exception" in name and _status_of(exc) in DENY_STATUS


def is_deny_response(value: ast.expr) -> bool:
    """`JSONResponse(..., status_code=403)`, `HttpResponseForbidden()`, Flask's `(body, 401)`."""
    if isinstance(value, ast.Tuple) and len(value.elts) >= 2:
        status = value.elts[1]
        return isinstance(status, ast.Constant) and status.value in DENY_STATUS
    if not isinstance(value, ast.Call):
        return False
    if DENY_RESPONSES.search(call_name(value)) or DENY_HELPER.search(call_name(value)):
        return True  # `HttpResponseForbidden()`, `self._create_402_response(...)`
    return (
        _status_of(value) in DENY_STATUS
        or any(
            k.arg in ("status", "status_code")
            and isinstance(k.value, ast.Constant)
            and k.value.value in DENY_STATUS
            for k in value.keywords
        )
        or any(_verdict_keyword_denies(k) for k in value.keywords)
        or (call_name(value).endswith("Response") and _says_denied(value))
    )


# A result built with its verdict spelled out: `OrderResult(..., status="rejected")`.
VERDICT_KEYWORD = {"status", "state", "decision", "verdict", "outcome", "action"}
DENY_WORD = re.compile(r"(?i)^(rejected|denied|deny|blocked|block|refused|forbidden)$")


def _verdict_keyword_denies(keyword: ast.keyword) -> bool:
    return (
        keyword.arg in VERDICT_KEYWORD
        and isinstance(keyword.value, ast.Constant)
        and isinstance(keyword.value.value, str)
        and DENY_WORD.match(keyword.value.value) is not None
    )


def _says_denied(call: ast.Call) -> bool:
    """A 4xx response whose body says so: `JSONResponse(400, {"error": "Request blocked"})`."""
    status: object = _status_of(call)
    if status is None:
        status = next(
            (
                k.value.value
                for k in call.keywords
                if k.arg in ("status", "status_code") and isinstance(k.value, ast.Constant)
            ),
            None,
        )
    if not (isinstance(status, int) and 400 <= status < 500):
        return False
    return any(
        isinstance(n, ast.Constant) and isinstance(n.value, str) and DENY_MESSAGE.search(n.value)
        for n in ast.walk(call)
    )


def handler_types(handler: ast.ExceptHandler) -> list[str]:
    """Names of the exceptions a handler catches; [] for a bare `except:`."""
    if handler.type is None:
        return []
    elts = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return [call_name(e) or "?" for e in elts]


def catches_failures(handler: ast.ExceptHandler, node: ast.Try | ast.TryStar) -> bool:
    """Can this handler run because a check failed?

    Not for import errors or iteration ends, and not for an `AttributeError` around code
    that calls nothing: that is a capability probe ("does this plugin define the method?").
    """
    types = set(handler_types(handler))
    if not types:
        return True
    if types <= NON_FAILURE_EXCEPTIONS or all(NOT_FOUND.fullmatch(t) for t in types):
        return False
    if all(CONTROL_SIGNAL.fullmatch(t) for t in types):
        return False  # `except SkipValidation as e:` is the code's own instruction, not an error
    if types <= {"AttributeError", "NotImplementedError"}:
        return any(isinstance(n, ast.Call | ast.Await) for s in node.body for n in ast.walk(s))
    return True


def allow_value(
    expr: ast.expr | None, fn: FunctionInfo, info: ModuleInfo, loose: bool = False
) -> AllowValue | None:
    """Whether `expr` means "allow" in `fn`, with its deny counterpart.

    Booleans count only in permission functions (by name, base or config) or when the
    caller has other evidence (`loose`, e.g. the handler logs "auto-allowing").
    """
    if expr is None:
        return None
    if isinstance(expr, ast.BoolOp) and isinstance(expr.op, ast.Or):
        first = expr.values[0]
        if not (isinstance(first, ast.Constant) and first.value):
            return None
        # `True or "x"` is `True`: the rest is never evaluated; the fix replaces it all
        inner = allow_value(first, fn, info, loose)
        return inner and AllowValue(expr, inner.deny, ast.unparse(expr))
    polarity = fn.polarity or ("allow" if loose else None)
    if isinstance(expr, ast.Constant) and isinstance(expr.value, bool):
        if polarity == "allow" and expr.value is True:
            return AllowValue(expr, "False", "True")
        if polarity == "deny" and expr.value is False:
            return AllowValue(expr, "True", "False")
        return None
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        deny = deny_word(expr.value)
        if polarity is not None and deny is not None:
            return AllowValue(expr, json.dumps(deny), repr(expr.value))
        return None
    if isinstance(expr, ast.Attribute) and expr.attr in ALLOW_MEMBERS:
        return _enum_allow(expr, info)
    if (
        isinstance(expr, ast.Tuple)
        and expr.elts
        and (polarity is not None or isinstance(expr.elts[0], ast.Call | ast.Dict))
    ):  # `(ActionResult(action="allow"), None)`: the result says which, whoever returns it
        return allow_value(expr.elts[0], fn, info, loose)
    if (
        isinstance(expr, ast.List | ast.Tuple | ast.Set | ast.Dict)
        and not (expr.keys if isinstance(expr, ast.Dict) else expr.elts)
        and fn.collects_denials
    ):
        return AllowValue(expr, None, ast.unparse(expr))  # no problems found: all clear
    if isinstance(expr, ast.Dict):
        return _dict_allow(expr, fn, info)
    if isinstance(expr, ast.Call):
        for kw in expr.keywords:
            hit = keyed_allow(kw.arg, kw.value, fn, info, decided=loose)
            if hit:
                return hit
    return None


def _same_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    if like[:1].isupper():
        return word.capitalize()
    return word


def _enum_allow(expr: ast.Attribute, info: ModuleInfo) -> AllowValue:
    owner = dotted_name(expr.value)
    known = enum_members(info).get((owner or "").rsplit(".", 1)[-1], set())
    for deny in ALLOW_MEMBERS[expr.attr]:
        if deny in known:
            return AllowValue(expr, f"{ast.unparse(expr.value)}.{deny}", ast.unparse(expr))
    return AllowValue(expr, None, ast.unparse(expr))


def _dict_allow(expr: ast.Dict, fn: FunctionInfo, info: ModuleInfo) -> AllowValue | None:
    for key, value in zip(expr.keys, expr.values, strict=True):
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            hit = keyed_allow(key.value, value, fn, info)
            if hit:
                return hit
        if isinstance(value, ast.Dict):  # {"hookSpecificOutput": {"permissionDecision": "allow"}}
            hit = _dict_allow(value, fn, info)
            if hit:
                return hit
    return None


def keyed_allow(
    key: str | None,
    value: ast.expr,
    fn: FunctionInfo,
    info: ModuleInfo,
    decided: bool = False,
) -> AllowValue | None:
    """`allowed=True`, `"denied": False`, `"permission": "allow"` inside a result.

    Weak keys (`valid`, `verified`) count in a permission function, or where the caller
    knows the code is deciding (`decided`: the handler caught a validation failure)."""
    if key is None or not isinstance(value, ast.Constant):
        return None
    k = key.lower()
    strong = decided or fn.polarity is not None
    if (k in ALLOW_KEYS or (strong and k in WEAK_ALLOW_KEYS)) and value.value is True:
        return AllowValue(value, "False", f"{key}=True")
    if (k in DENY_KEYS or (strong and k in WEAK_DENY_KEYS)) and value.value is False:
        return AllowValue(value, "True", f"{key}=False")
    if _verdict_key(k) and isinstance(value.value, str):
        deny = deny_word(value.value) or _passing_verdict(k, value.value)
        if deny is not None:
            return AllowValue(value, json.dumps(deny), f"{key}={value.value!r}")
    return None


# `decision="pass"`: under a key that holds a gate's verdict, "pass" lets the action through.
# Not under `result`/`outcome`, where "pass" is as often a test's or a lint's status.
PASSING = {"pass": "block", "passed": "blocked", "pass_through": "block", "passthrough": "block"}


def _passing_verdict(key: str, text: str) -> str | None:
    flat = key.replace("_", "").replace("-", "")
    if not flat.endswith(("decision", "verdict", "permission")):
        return None
    deny = PASSING.get(text.lower())
    return None if deny is None else _same_case(deny, text)


def _verdict_key(key: str) -> bool:
    """`decision`, `permissionDecision`, `guard_decision`, `policy_verdict`: keys of a verdict."""
    flat = key.replace("_", "").replace("-", "")
    return flat in VERDICT_KEYS or flat.endswith(("decision", "verdict"))


VERDICT_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
DENY_TOKENS = {"deny", "denied", "reject", "rejected", "block", "blocked", "forbid", "forbidden",
               "disallow", "disallowed", "revoke", "revoked", "not", "no", "never"}  # fmt: skip


def deny_word(text: str) -> str | None:
    """The deny counterpart of a verdict string, or None when it is not an allow verdict.

    Any identifier-like string with a token of the ALLOW/APPROVE/PERMIT/GRANT/ACCEPT family
    counts: `"allow"`, `"Approved"`, `"POLICY_ACTION_ALLOW"` -> `"POLICY_ACTION_DENY"`.
    """
    if not text or len(text) > 60 or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.:\-]*", text):
        return None
    tokens = VERDICT_TOKEN.findall(text)
    lowered = [t.lower() for t in tokens]
    if any(t in DENY_TOKENS for t in lowered):
        return None
    for token, low in zip(tokens, lowered, strict=True):
        if low in ALLOW_STRINGS:
            return text.replace(token, _same_case(ALLOW_STRINGS[low], token), 1)
    return None


def mentions_allowing(info: ModuleInfo, node: ast.AST) -> bool:
    """The code itself says it lets things through (log message or comment)."""
    text = info.segment(node)  # a handler is small; the whole file would cost far more
    lowered = text.lower()
    return any(stem in lowered for stem in ALLOW_STEMS) and bool(ALLOW_LANGUAGE.search(text))


def gated_by_fail_open_flag(handler: ast.ExceptHandler, fn: FunctionInfo | None = None) -> bool:
    """The handler tests a named fail-open setting (`if not self.settings.fail_open: raise`).

    With `fn`, a flag that is the function's own parameter and defaults to the open mode
    (`strict=False`, `fail_open=True`) is no opt-in: every caller that says nothing gets
    the open path, so the handler is judged as if the flag were not there."""
    return any(
        isinstance(n, ast.If)
        and FAIL_OPEN_FLAG.search(ast.unparse(n.test))
        and not (fn is not None and _open_by_default(n.test, fn))
        for n in own_nodes(handler)
    )


# Flags whose True closes (`strict`, `enforce`); for the others True opens (`fail_open`).
CLOSING_FLAG = re.compile(r"(?i)strict|enforc\w*|fail_?closed")


def _open_by_default(test: ast.expr, fn: FunctionInfo) -> bool:
    """`if strict:` in `def f(..., strict=False)`: the default takes the open path."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test = test.operand
    if not isinstance(test, ast.Name):
        return False
    args = fn.node.args
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults) :]],
                        args.defaults, strict=True))  # fmt: skip
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d})
    default = defaults.get(test.id)
    if not (isinstance(default, ast.Constant) and isinstance(default.value, bool)):
        return False
    return default.value is (CLOSING_FLAG.search(test.id) is None)


def under_fail_open_flag(path: list[ast.AST]) -> bool:
    """The statement sits under `if self.fail_open:` or a similar named, configured choice."""
    for node in path:
        if isinstance(node, ast.If | ast.IfExp) and FAIL_OPEN_FLAG.search(ast.unparse(node.test)):
            return True
    return False


# What an exception's message says when it is a denial, whatever its class.
DENY_MESSAGE = re.compile(
    r"(?i)not (allowed|permitted|authori[sz]ed)|forbidden|denied|unauthori[sz]ed|blocked"
    r"|too many requests|rate.?limit|traversal|escapes?|security|refus(e|es|ed|ing)\b"
    r"|rejected|private (address|ip|host|network)"
)


def body_denies(body: list[ast.stmt]) -> bool:
    """The statements can answer "no": a deny exception or response, or a raise whose
    message says it denies (`raise ValueError("path traversal is not allowed")`)."""
    for stmt in body:
        for n in [stmt, *own_nodes(stmt)]:
            if isinstance(n, ast.Raise) and n.exc is not None:
                if is_deny_raise(n.exc) or _deny_message(n.exc):
                    return True
            elif isinstance(n, ast.Return) and n.value is not None and is_deny_response(n.value):
                return True
    return False


# A verdict that says no, read from an answer: `result.get("blocked")`, `reply.denied`.
DENIAL_READ = re.compile(r"(?i)^_*(is_)?(blocked|denied|deny|rejected|forbidden|banned)$")


def answers_a_denial(body: list[ast.stmt]) -> bool:
    """An `if` that reads a verdict of "no" from an answer and leaves on it: `if
    result.get("blocked"): return f"ERROR: {reason}"`. The code there relays a denial."""
    for stmt in body:
        for n in [stmt, *own_nodes(stmt)]:
            if (
                isinstance(n, ast.If)
                and _reads_denial(n.test)
                and any(isinstance(s, ast.Return | ast.Raise) for s in n.body)
            ):
                return True
    return False


def _reads_denial(test: ast.expr) -> bool:
    for n in ast.walk(test):
        word = (
            n.value
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
            else n.attr
            if isinstance(n, ast.Attribute)
            else n.id
            if isinstance(n, ast.Name)
            else ""
        )
        if word and len(word) < 40 and DENIAL_READ.match(word):
            return True
    return False


# Calls that only read or reshape data already at hand.
READING_CALLS = {
    "loads", "load", "json", "parse", "get", "decode", "encode", "strip", "lower", "upper",
    "split", "startswith", "endswith", "isinstance", "len", "str", "int", "dict", "list",
    "format", "join", "replace", "items", "keys", "values",
}  # fmt: skip


def _does_work(body: list[ast.stmt]) -> bool:
    """Some call in the statements does more than parse or reshape data (a lookup, a query)."""
    return any(
        isinstance(n, ast.Call)
        and call_name(n) not in READING_CALLS
        and not RECORDING_CALL.search(dotted_name(n.func) or "")
        and not (isinstance(n.func, ast.Name) and n.func.id[:1].isupper())  # building a value
        for stmt in body
        for n in ast.walk(stmt)
        if not isinstance(n, ast.Raise)
    ) and not all(_only_builds_deny(stmt) for stmt in body)


def _only_builds_deny(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Raise | ast.Return)


def _deny_message(exc: ast.expr) -> bool:
    if not isinstance(exc, ast.Call) or not exc.args:
        return False
    first = exc.args[0]
    parts = first.values if isinstance(first, ast.JoinedStr) else [first]
    return any(
        isinstance(p, ast.Constant) and isinstance(p.value, str) and DENY_MESSAGE.search(p.value)
        for p in parts
    )


def checks_auth(node: ast.Try | ast.TryStar) -> bool:
    """The try body calls something that authenticates or authorizes.

    Calls that build a deny (`return Response(TokenError(...), status_code=401)`, `raise
    ...`) don't count.
    """
    if (body_denies(node.body) or answers_a_denial(node.body)) and _does_work(node.body):
        return True  # the guarded code looks something up and can say no: it is the check
    stack: list[ast.AST] = list(node.body)
    while stack:
        child = stack.pop()
        if isinstance(child, ast.Raise | ast.FunctionDef | ast.AsyncFunctionDef) or (
            isinstance(child, ast.Return)
            and child.value is not None
            and is_deny_response(child.value)
        ):
            continue
        stack.extend(ast.iter_child_nodes(child))
        if isinstance(child, ast.Call):
            callee = dotted_name(child.func) or call_name(child)
            if RECORDING_CALL.search(callee):
                continue  # audit.record(user, ...), metrics.incr(...): bookkeeping, not a check
            last = callee.rsplit(".", 1)[-1]
            if (
                AUTH_WORDS.search(callee)
                or ALLOW_NAME.fullmatch(last[:MAX_NAME])
                or DENY_NAME.fullmatch(last[:MAX_NAME])
                or any(CREDENTIAL_ARG.search(dotted_name(a) or "") for a in child.args)
            ):  # introspect(token)
                return True
    return False


def functions_by_qualname(info: ModuleInfo) -> dict[str, FunctionInfo]:
    """Every function of the module by qualified name, for following same-module calls."""
    if "functions" not in info.memo:
        info.memo["functions"] = {fn.qualname: fn for fn in iter_functions(info)}
    return info.memo["functions"]  # type: ignore[return-value]


def resolve_call(call: ast.Call, caller: FunctionInfo, info: ModuleInfo) -> FunctionInfo | None:
    """The same-module function `helper(...)` or `self.helper(...)` calls, if there is one."""
    functions = functions_by_qualname(info)
    if isinstance(call.func, ast.Name):
        return functions.get(call.func.id)
    if (
        isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id in ("self", "cls")
        and "." in caller.qualname
    ):
        owner = caller.qualname.rsplit(".", 1)[0]
        return functions.get(f"{owner}.{call.func.attr}")
    return None
