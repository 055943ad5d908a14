"""The words of permission code: names of checks and denials, exception and response names,
the phrases that say code lets things through, and the keys and values of a verdict.

Only regular expressions and word lists (and the one test of a path that reads them): the
modules that judge code (`analyzers.polarity`, `analyzers.denials`, `analyzers.allowing`)
and the rules match against them.
"""

from __future__ import annotations

import builtins
import re

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
    r"|\w*(Blocked|Denied|Rejected|Refused|Revoked|Violation|Forbidden)(Error|Exception)?"
    # ... or names what it refuses: `UnsafeURLError`, `InsecurePathError`, `UntrustedHostError`
    r"|\w*(Unsafe|Insecure|Untrusted|Malicious|Dangerous|SSRF|Ssrf)\w*(Error|Exception)"
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
     r"|any )?(\w+ |\w+'s ){0,2}(sandbox\w*|confinement|isolation|verification|signature|auth\w*"
     r"|scan\w*|redaction|masking|enforcement|identity|credentials?)(?![\w-])", "refusing"),
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
    # "treated as session token (no scope enforcement)", "continuing with no verification"
    # (the words close the clause: "no verification token available" names a missing token)
    (r"(?<![\w-])(with )?no (\w+ )?(enforcement|verification|validation|protection)"
     r"(?=\s*($|[).,;:!|\u2013\u2014]))", "denying"),
    # "public-channel access stays org-wide instead of per-workspace if this fails"
    (r"(?<![\w-])(access|visibility|scope|permissions?)( [\w-]+){0,3} (stays?|remains?|becomes?"
     r"|falls? back to|defaults? to|widens? to) (org[- ]wide|unrestricted|unscoped|unfiltered"
     r"|world[- ]readable)(?![\w-])", "access is refused"),
]  # fmt: skip
# Every allow phrase contains one of these: a cheap test before the regular expression.
ALLOW_STEMS = ("allow", "approv", "grant", "accept", "open", "through", "proceed", "permit",
               "assum", "skip", "let", "treat", "block", "pass", "ignor", "bypass",
               "no-op", "noop", "back to", "without", "enforcement", "verification",
               "validation", "protection", "org-wide", "org wide", "unrestricted", "unscoped",
               "unfiltered", "world-readable", "world readable")  # fmt: skip
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


def is_test_path(path: str) -> bool:
    """`tests/...`, `test_x.py`, `x_test.py`, `conftest.py`: test code, not reported."""
    return bool(TEST_PATH.search(path))


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


BUILTIN_NAMES = frozenset(dir(builtins))


# Calls whose answer is a yes/no: `path.is_relative_to(root)`, `hmac.compare_digest(a, b)`.
BOOL_CALL = re.compile(
    r"(?i)^(bool|all|any|isinstance|issubclass|callable|compare_digest|exists|startswith"
    r"|endswith|is_relative_to|issubset|issuperset|isdisjoint|fullmatch|(is|has|can)_\w+)$"
)


# A call that asks for a decision: `acl.has_role`, `verify_signature`, `policy.evaluate`.
CHECK_CALL = re.compile(
    r"(?i)(?<![a-z])(verify\w*|validate\w*|authori[sz]e\w*|check\w*|evaluate|decide|enforce\w*"
    r"|has_(role|perm\w*|access|scope)|is_(member|owner|admin|allowed|authori[sz]ed|permitted))"
    r"(?![a-z])"
)


# A result built with its verdict spelled out: `OrderResult(..., status="rejected")`.
VERDICT_KEYWORD = {"status", "state", "decision", "verdict", "outcome", "action"}
# (semantics.py, which these modules come from, assigned DENY_WORD twice; this is the later
# one, the only one any use ever saw, so `analyzers.polarity` tests names against it too)
DENY_WORD = re.compile(r"(?i)^(rejected|denied|deny|blocked|block|refused|forbidden)$")


# `decision="pass"`: under a key that holds a gate's verdict, "pass" lets the action through.
# Not under `result`/`outcome`, where "pass" is as often a test's or a lint's status.
PASSING = {"pass": "block", "passed": "blocked", "pass_through": "block", "passthrough": "block"}


VERDICT_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
DENY_TOKENS = {"deny", "denied", "reject", "rejected", "block", "blocked", "forbid", "forbidden",
               "disallow", "disallowed", "revoke", "revoked", "not", "no", "never"}  # fmt: skip


# Flags whose True closes (`strict`, `enforce`); for the others True opens (`fail_open`).
CLOSING_FLAG = re.compile(r"(?i)strict|enforc\w*|fail_?closed")


# What an exception's message says when it is a denial, whatever its class.
DENY_MESSAGE = re.compile(
    r"(?i)not (allowed|permitted|authori[sz]ed)|forbidden|denied|unauthori[sz]ed|blocked"
    r"|too many requests|rate.?limit|traversal|escapes?|security|refus(e|es|ed|ing)\b"
    r"|rejected|private (address|ip|host|network)"
)


# A verdict that says no, read from an answer: `result.get("blocked")`, `reply.denied`.
DENIAL_READ = re.compile(r"(?i)^_*(is_)?(blocked|denied|deny|rejected|forbidden|banned)$")


# Calls that only read or reshape data already at hand.
READING_CALLS = {
    "loads", "load", "json", "parse", "get", "decode", "encode", "strip", "lower", "upper",
    "split", "startswith", "endswith", "isinstance", "len", "str", "int", "dict", "list",
    "format", "join", "replace", "items", "keys", "values",
}  # fmt: skip
