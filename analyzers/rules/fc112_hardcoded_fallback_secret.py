"""FC112: a hard-coded secret is used when the configured one cannot be read."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import TypeGuard

from failclosed.analyzers.fixes import Edit, ReplaceExpression, ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import caught, tries
from failclosed.analyzers.syntax import call_name, dotted_name, own_nodes

# The name must *end* in a secret word: JWT_SECRET, SECRET_KEY, API_TOKEN, DB_PASSWORD;
# not ACCESS_TOKEN_MODEL, API_KEY_HEADER or JWT_ALGORITHM.
SECRET_NAME = re.compile(
    r"(?i)(secret|secret_?key|passw(or)?d|passwd|private_?key|signing_?key|hmac_?key|api_?key"
    r"|jwt_?key|\w_token|\w_key|credentials?|pepper|salt)$"  # a bare `key` is a dict key
)
MAPPING_READS = {"get", "getenv"}
# A function that hands out a secret: `get_signing_key`, `load_jwt_secret` (not `scope_key`).
SECRET_FUNCTION = re.compile(
    r"(?i)(secret|passw|private_?key|signing_?key|hmac_?key|api_?key|jwt_?key|credential)"
)
# ... but not one that names or locates it: `get_secret_name`, `api_key_header`.
NOT_A_SECRET = re.compile(
    r"(?i)_(name|names|header|path|file|url|env|var|field|prefix|type|id|length|len|label)s?$"
)
# A quick text test for a read with a secret-like key and a non-empty literal default.
DEFAULTED_READ = re.compile(
    r"(?:\.get|getenv|getattr)\((?:[^()\n,]*,\s*)?[\"'][\w.-]*"
    r"(?i:secret|passw|key|token|credentials?|pepper|salt)[\"']"
    r"(?:\s*,\s*[bBrRuU]?[\"'][^\"'\n]|\)\s*or\s*[bBrRuU]?[\"'][^\"'\n])"
)


class HardcodedFallbackSecret(Rule):
    """
    ## What it does
    Flags a secret — signing key, HMAC key, JWT secret, API token, password — that falls
    back to a literal when the configured one cannot be read:
    `os.environ.get("JWT_SECRET", "dev-secret")`, `getattr(settings, "SIGNING_KEY", "x")`,
    or `except KeyError: SECRET = "changeme"`.

    ## Why is this bad?
    When the configuration is missing — a typo in the variable name, a secret store that
    is down, a new deployment — the service keeps running with a key that is in the source
    code, and anyone who can read the code can forge tokens, sessions or webhook
    signatures (CWE-636, CWE-798).

    ## Example
    ```python
    JWT_SECRET = os.environ.get("JWT_SECRET", "dev-secret")
    ```

    ## Use instead
    ```python
    JWT_SECRET = os.environ["JWT_SECRET"]
    ```

    ## Fix safety
    The fix reads the setting without a default, so a missing secret stops the service at
    the point of use instead of running with a known key. Local development then needs
    the variable set, for example from a `.env` file.
    """

    code = "FC112"
    name = "hardcoded-fallback-secret"
    severity = "error"
    summary = "A hard-coded secret is used when the configured one cannot be read."
    fix_safety = "Reads the secret without a default: a missing one fails loudly."
    # ... or the name of a function that hands out a secret (see SECRET_FUNCTION)
    trigger = (
        *("get(", "getenv(", "getattr(", "except", "secret", "Secret", "passw", "credential"),
        *("private_key", "signing_key", "hmac_key", "api_key", "jwt_key"),
    )

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        if info.file_matches(DEFAULTED_READ) and DEFAULTED_READ.search(info.segment(fn.node)):
            for node in fn.nodes:
                hit = None
                if isinstance(node, ast.Call):
                    hit = self._defaulted_read(fn, node)
                elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
                    hit = self._or_literal(fn, node)
                if hit:
                    yield hit
        secret_function = bool(SECRET_FUNCTION.search(fn.node.name)) and not NOT_A_SECRET.search(
            fn.node.name
        )
        if secret_function:
            yield from self._literal_fallback(fn)
        for node in tries(fn):
            for handler in node.handlers:
                for stmt in handler.body:
                    hit = self._assigned_in_handler(fn, handler, stmt)
                    if hit is None and secret_function:
                        hit = self._returned_in_handler(fn, handler, stmt)
                    if hit:
                        yield hit

    def _or_literal(self, fn: FunctionInfo, node: ast.BoolOp) -> Hit | None:
        """`os.getenv("JWT_SECRET") or "dev-secret"`."""
        first, last = node.values[0], node.values[-1]
        if not (isinstance(first, ast.Call) and call_name(first) in MAPPING_READS | {"getattr"}):
            return None
        key = first.args[-1] if call_name(first) == "getattr" else next(iter(first.args), None)
        if key is None or not _is_secret_key(key) or not _is_literal_secret(last):
            return None
        return Hit(
            node=node,
            message=(
                f"`{fn.qualname}` falls back to a hard-coded `{key.value!s}` when it is not "
                "configured, so anyone who reads the source can forge what it protects."
            ),
            edits=[
                ReplaceExpression(node, edit.new)  # the whole `... or "literal"`
                for edit in _strict_read(first, call_name(first), _owner(first), key)
                if len(node.values) == 2 and isinstance(edit, ReplaceExpression)
            ],
            key_nodes=[node],
        )

    def _literal_fallback(self, fn: FunctionInfo) -> Iterator[Hit]:
        """`def _get_secret(): try: ... return configured ... except: ...` then
        `return b"dev-secret"`: when the configured secret is not there, a known one is."""
        returns = [n for n in fn.statements if isinstance(n, ast.Return) and n.value is not None]
        if not any(not _is_literal_secret(r.value) for r in returns):
            return  # a constant, not a fallback
        handled = {
            id(r) for h in fn.statements if isinstance(h, ast.ExceptHandler) for r in own_nodes(h)
        }
        for ret in fn.node.body:
            if (
                not isinstance(ret, ast.Return)
                or ret.value is None
                or id(ret) in handled
                or not _is_literal_secret(ret.value)
                or not _looks_like_key(ret.value)
            ):
                continue
            yield Hit(
                node=ret,
                message=(
                    f"`{fn.qualname}` returns a hard-coded secret when the configured one is "
                    "missing or cannot be read, so anyone who reads the source can forge what "
                    "it protects."
                ),
                edits=[
                    ReplaceStatements(
                        ret, ret, ('raise RuntimeError("the secret is not configured")',)
                    )
                ],
                key_nodes=[ret],
            )

    def _returned_in_handler(
        self, fn: FunctionInfo, handler: ast.ExceptHandler, stmt: ast.stmt
    ) -> Hit | None:
        """`def load_signing_key(): ... except VaultError: return "changeme"`."""
        if not (isinstance(stmt, ast.Return) and stmt.value and _is_literal_secret(stmt.value)):
            return None
        return Hit(
            node=stmt,
            message=(
                f"`{fn.qualname}` returns a hard-coded secret when reading the real one raises "
                f"{caught(handler)}, so a missing secret is replaced by a known one."
            ),
            edits=[ReplaceStatements(stmt, stmt, ("raise",))],
            key_nodes=[handler],
        )

    def _defaulted_read(self, fn: FunctionInfo, call: ast.Call) -> Hit | None:
        name = call_name(call)
        if name == "getattr" and len(call.args) == 3:
            owner, key, default = call.args
        elif name in MAPPING_READS and len(call.args) == 2 and isinstance(call.func, ast.Attribute):
            key, default = call.args
            owner = call.func.value
        else:
            return None
        if not (_is_secret_key(key) and _is_literal_secret(default)):
            return None
        return Hit(
            node=call,
            message=(
                f"`{fn.qualname}` falls back to a hard-coded `{key.value!s}` when it is not "
                "configured, so anyone who reads the source can forge what it protects."
            ),
            edits=_strict_read(call, name, owner, key),
            key_nodes=[call],
        )

    def _assigned_in_handler(
        self, fn: FunctionInfo, handler: ast.ExceptHandler, stmt: ast.stmt
    ) -> Hit | None:
        if not (isinstance(stmt, ast.Assign) and _is_literal_secret(stmt.value)):
            return None
        targets = [dotted_name(t) or "" for t in stmt.targets]
        in_secret_getter = bool(SECRET_FUNCTION.search(fn.node.name))
        if not any(
            _is_secret_name(last := t.rsplit(".", 1)[-1])
            or (in_secret_getter and last in ("key", "token"))
            for t in targets
        ):
            return None
        return Hit(
            node=stmt,
            message=(
                f"`{fn.qualname}` sets `{targets[0]}` to a hard-coded value when reading it "
                f"raises {caught(handler)}, so a missing secret is replaced by a known one."
            ),
            edits=[ReplaceStatements(stmt, stmt, ("raise",))],
            key_nodes=[handler],
        )


def _looks_like_key(value: ast.Constant) -> bool:
    """Not a setting's name (`"JWT_SECRET"`), a path or a URL: something used as the key."""
    text = value.value.decode("latin-1") if isinstance(value.value, bytes) else str(value.value)
    return not (
        re.fullmatch(r"[A-Z][A-Z0-9_]*", text) or text.startswith(("/", "~")) or "://" in text
    )


def _owner(call: ast.Call) -> ast.expr:
    if call_name(call) == "getattr":
        return call.args[0]
    return call.func.value if isinstance(call.func, ast.Attribute) else call.func


def _is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def _is_secret_key(key: ast.expr) -> TypeGuard[ast.Constant]:
    return (
        isinstance(key, ast.Constant) and isinstance(key.value, str) and _is_secret_name(key.value)
    )


def _is_literal_secret(value: ast.expr | None) -> TypeGuard[ast.Constant]:
    """A non-empty string or bytes literal: an empty default is "not set", not a key."""
    return (
        isinstance(value, ast.Constant)
        and isinstance(value.value, str | bytes)
        and bool(value.value)
        and str(value.value).strip().lower() not in PLACEHOLDERS
    )


# Defaults that say "there is none", not a key anyone could forge with.
PLACEHOLDERS = {"unknown", "none", "null", "n/a", "na", "undefined", "anonymous", "-", "?"}


def _strict_read(call: ast.Call, name: str, owner: ast.expr, key: ast.Constant) -> list[Edit]:
    """`os.environ.get("K", "x")` -> `os.environ["K"]`; `getattr(s, "K", "x")` -> `s.K`."""
    if name == "getattr":
        if isinstance(key.value, str) and key.value.isidentifier():
            return [ReplaceExpression(call, f"{ast.unparse(owner)}.{key.value}")]
        return []
    if name == "getenv":
        if dotted_name(call.func) == "os.getenv":
            return [ReplaceExpression(call, f"os.environ[{json.dumps(key.value)}]")]
        return []
    return [ReplaceExpression(call, f"{ast.unparse(owner)}[{json.dumps(key.value)}]")]


HardcodedFallbackSecret.VALID = [
    # a partition key is not a secret (fastmcp's file uploads)
    """
def _get_scope_key(self, ctx):
    try:
        scope = ctx._session_scope_key()
    except RuntimeError:
        return "__default__"
    return scope
""",
    """
JWT_SECRET = os.environ["JWT_SECRET"]
ALGORITHM = os.environ.get("JWT_ALGORITHM", "HS256")
HEADER = os.getenv("API_KEY_HEADER", "X-Api-Key")
""",
    # an empty default means "not set", checked later
    """
def signing_key():
    key = os.environ.get("SIGNING_KEY", "")
    if not key:
        raise RuntimeError("SIGNING_KEY is not set")
    return key
""",
    # a public, non-secret default
    """
def token_url(settings):
    return getattr(settings, "TOKEN_URL", "https://auth.example.com/token")
""",
    # names the secret, does not supply it
    """
def secret_env_var(settings):
    if settings.prefix:
        return settings.prefix + "_SECRET"
    return "APP_SECRET"
""",
    # no configured value to fall back from: a constant
    """
def get_secret_label():
    return "capability"
""",
    # the fallback is generated, not known
    """
def _get_secret():
    configured = getattr(config, "capability_secret", None)
    if configured:
        return configured.encode()
    return secrets.token_bytes(32)
""",
]

HardcodedFallbackSecret.INVALID = [
    # the configured secret, else a constant everyone can read
    Invalid(
        """\
def _get_secret() -> bytes:
    try:
        settings = config.app_settings
        if settings.capability_secret:
            return settings.capability_secret.encode()
    except Exception:
        logger.debug("config not ready")
    return b"dev-capability-secret"
""",
        line=8,
        fixed="""\
def _get_secret() -> bytes:
    try:
        settings = config.app_settings
        if settings.capability_secret:
            return settings.capability_secret.encode()
    except Exception:
        logger.debug("config not ready")
    raise RuntimeError("the secret is not configured")
""",
        expected_message=(
            "`_get_secret` returns a hard-coded secret when the configured one is missing or "
            "cannot be read, so anyone who reads the source can forge what it protects."
        ),
    ),
    Invalid(
        """\
import os

JWT_SECRET = os.getenv("JWT_SECRET") or "supersecret"
""",
        line=3,
        fixed="""\
import os

JWT_SECRET = os.environ["JWT_SECRET"]
""",
        expected_message=(
            "`<module>` falls back to a hard-coded `JWT_SECRET` when it is not configured, so "
            "anyone who reads the source can forge what it protects."
        ),
    ),
    Invalid(
        """\
def get_signing_key(vault):
    try:
        return vault.read("signing-key")
    except VaultError:
        return "changeme123"
""",
        line=5,
        fixed="""\
def get_signing_key(vault):
    try:
        return vault.read("signing-key")
    except VaultError:
        raise
""",
        expected_message=(
            "`get_signing_key` returns a hard-coded secret when reading the real one raises "
            "`VaultError`, so a missing secret is replaced by a known one."
        ),
    ),
    Invalid(
        """\
import os

JWT_SECRET = os.environ.get("JWT_SECRET", "dev-secret")
""",
        line=3,
        fixed="""\
import os

JWT_SECRET = os.environ["JWT_SECRET"]
""",
        expected_message=(
            "`<module>` falls back to a hard-coded `JWT_SECRET` when it is not configured, so "
            "anyone who reads the source can forge what it protects."
        ),
    ),
    Invalid(
        """\
def webhook_secret(settings):
    return getattr(settings, "WEBHOOK_SECRET", "changeme")
""",
        line=2,
        fixed="""\
def webhook_secret(settings):
    return settings.WEBHOOK_SECRET
""",
        expected_message=(
            "`webhook_secret` falls back to a hard-coded `WEBHOOK_SECRET` when it is not "
            "configured, so anyone who reads the source can forge what it protects."
        ),
    ),
    Invalid(
        """\
def load_signing_key(vault):
    try:
        key = vault.read("signing-key")
    except VaultError:
        key = "insecure-default-key"
    return key
""",
        line=5,
        fixed="""\
def load_signing_key(vault):
    try:
        key = vault.read("signing-key")
    except VaultError:
        raise
    return key
""",
        expected_message=(
            "`load_signing_key` sets `key` to a hard-coded value when reading it raises "
            "`VaultError`, so a missing secret is replaced by a known one."
        ),
    ),
    Invalid(
        """\
import os

API_TOKEN = os.getenv("API_TOKEN", "tok_test_123")
""",
        line=3,
        fixed="""\
import os

API_TOKEN = os.environ["API_TOKEN"]
""",
        expected_message=(
            "`<module>` falls back to a hard-coded `API_TOKEN` when it is not configured, so "
            "anyone who reads the source can forge what it protects."
        ),
    ),
]
