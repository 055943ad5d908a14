"""FC129: when the policy cannot be fetched, an empty one is built, and it allows everything."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.denials import catches_failures
from failclosed.analyzers.fixes import ReplaceExpression, ReplaceStatements
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import caught, tries
from failclosed.analyzers.syntax import call_name, dotted_name, own_statements

# Calls that turn a policy's text into the object that answers "may I?":
# `_parse_robots(text)`, `Protego.parse(body)`, `RobotFileParser().parse(lines)`,
# `parse_policy(doc)`, `Policy.from_text(src)`.
POLICY_PARSER = re.compile(
    r"(?i)(robot\w*|polic(y|ies)|acl|rules|permissions)\W*\w*(parse|load|from_\w+|compile)"
    r"|(parse|load|compile)\w*_(robot\w*|polic(y|ies)|acl|rules|permissions)"
)
# robots.txt that refuses every path: what RFC 9309 asks for when the file is unreachable.
DISALLOW_ALL = '"User-agent: *\\nDisallow: /"'


class PolicyBuiltFromNothing(Rule):
    """
    ## What it does
    Flags an `except` handler, around fetching a policy — a `robots.txt`, an ACL, a rules
    document — that builds the policy object from nothing instead: `parse_robots("")`,
    `Protego.parse(b"")`, `parser.allow_all = True`.

    ## Why is this bad?
    A policy parsed from an empty text has no rule in it, and a policy with no rule allows
    everything. A network error, a timeout or a server error then reads as "this site
    permits everything" — exactly when nobody could read what the site permits (CWE-636;
    RFC 9309 asks crawlers to treat an unreachable `robots.txt` as "disallow all").

    ## Example
    ```python
    try:
        resp = client.get(robots_url)
        parser = parse_robots(resp.text)
    except Exception:
        parser = parse_robots("")
    ```

    ## Use instead
    ```python
    except Exception:
        parser = parse_robots("User-agent: *\\nDisallow: /")
    ```

    ## Fix safety
    For a `robots.txt` the fix parses a "disallow all" text, so the crawler stays off the
    site until the file can be read; for other policies it re-raises. Sites whose file is
    briefly unreachable are skipped for that while.
    """

    code = "FC129"
    name = "policy-built-from-nothing"
    severity = "warning"
    summary = "When the policy cannot be fetched, an empty one is built, and it allows everything."
    fix_safety = "An unreachable robots.txt now disallows everything; other policies re-raise."
    trigger = ('("")', '(b"")', "('')", "([])", "allow_all")

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        for node in tries(fn):
            for handler in node.handlers:
                if not catches_failures(handler, node):
                    continue
                nested = [s for top in handler.body for s in (top, *own_statements(top))]
                for stmt in [s for s in nested if isinstance(s, ast.stmt)]:  # not handlers
                    hit = _built_from_nothing(fn, handler, stmt)
                    if hit is not None:
                        yield hit


def _built_from_nothing(fn: FunctionInfo, handler: ast.ExceptHandler, stmt: ast.stmt) -> Hit | None:
    value = stmt.value if isinstance(stmt, ast.Assign | ast.Return | ast.Expr) else None
    if _sets_allow_all(stmt):
        return Hit(
            node=stmt,
            message=(
                f"`{fn.qualname}` sets `{ast.unparse(stmt.targets[0])} = True` when fetching "  # type: ignore[attr-defined]
                f"the policy raises {caught(handler)}: an unreadable policy allows everything."
            ),
            edits=[ReplaceStatements(stmt, stmt, ("raise",))],
            key_nodes=[stmt],
        )
    if not isinstance(value, ast.Call) or not _parses_policy(value):
        return None
    empty = next((a for a in value.args if _empty_text(a)), None)
    if empty is None:
        return None
    robots = "robot" in (dotted_name(value.func) or call_name(value)).lower()
    return Hit(
        node=stmt,
        message=(
            f"`{fn.qualname}` builds the policy from nothing (`{ast.unparse(value)}`) when "
            f"fetching it raises {caught(handler)}: a policy with no rule allows everything."
        ),
        edits=[ReplaceExpression(empty, DISALLOW_ALL)]
        if robots
        else [ReplaceStatements(stmt, stmt, ("raise",))],
        key_nodes=[stmt],
    )


def _parses_policy(call: ast.Call) -> bool:
    name = dotted_name(call.func) or call_name(call)
    return POLICY_PARSER.search(name) is not None


def _empty_text(arg: ast.expr) -> bool:
    if isinstance(arg, ast.Constant) and arg.value in ("", b""):
        return True
    return isinstance(arg, ast.List | ast.Tuple) and not arg.elts


def _sets_allow_all(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Attribute)
        and stmt.targets[0].attr == "allow_all"
        and isinstance(stmt.value, ast.Constant)
        and stmt.value.value is True
    )


PolicyBuiltFromNothing.VALID = [
    # the unreachable file disallows everything
    """
def fetch_robots(client, url):
    try:
        return parse_robots(client.get(url).text)
    except Exception:
        return parse_robots("User-agent: *\\nDisallow: /")
""",
    # an empty list of something that is not a policy
    """
def load_history(path):
    try:
        return parse_history(path.read_text())
    except OSError:
        return parse_history("")
""",
    # not on an error path: a site with no robots.txt (404) allows by the standard
    """
def fetch_robots(client, url):
    resp = client.get(url)
    if resp.status_code == 404:
        return parse_robots("")
    return parse_robots(resp.text)
""",
]

PolicyBuiltFromNothing.INVALID = [
    Invalid(
        """\
def fetch_and_cache(client, host, robots_url):
    try:
        resp = client.get(robots_url, skip_robots_check=True)
        parser = _parse_robots(resp.text) if resp.status_code == 200 else _parse_robots("")
    except Exception as exc:
        logger.debug("Failed to fetch robots.txt from %s: %s", robots_url, exc)
        parser = _parse_robots("")
    client._robots_cache[host] = parser
    return parser
""",
        line=7,
        fixed="""\
def fetch_and_cache(client, host, robots_url):
    try:
        resp = client.get(robots_url, skip_robots_check=True)
        parser = _parse_robots(resp.text) if resp.status_code == 200 else _parse_robots("")
    except Exception as exc:
        logger.debug("Failed to fetch robots.txt from %s: %s", robots_url, exc)
        parser = _parse_robots("User-agent: *\\nDisallow: /")
    client._robots_cache[host] = parser
    return parser
""",
        expected_message=(
            "`fetch_and_cache` builds the policy from nothing (`_parse_robots('')`) when "
            "fetching it raises any error: a policy with no rule allows everything."
        ),
    ),
    Invalid(
        """\
def read_robots(self):
    try:
        with urllib.request.urlopen(self.url, timeout=5) as f:
            self.parse(f.read().decode().splitlines())
    except OSError:
        self.allow_all = True
""",
        line=6,
        fixed="""\
def read_robots(self):
    try:
        with urllib.request.urlopen(self.url, timeout=5) as f:
            self.parse(f.read().decode().splitlines())
    except OSError:
        raise
""",
        expected_message=(
            "`read_robots` sets `self.allow_all = True` when fetching the policy raises "
            "`OSError`: an unreadable policy allows everything."
        ),
    ),
    Invalid(
        """\
async def refresh_acl(self):
    try:
        doc = await self.store.get("acl.yaml")
        self.acl = AclPolicy.from_yaml(doc)
    except StoreError:
        self.acl = AclPolicy.from_yaml("")
""",
        line=6,
        fixed="""\
async def refresh_acl(self):
    try:
        doc = await self.store.get("acl.yaml")
        self.acl = AclPolicy.from_yaml(doc)
    except StoreError:
        raise
""",
        expected_message=(
            "`refresh_acl` builds the policy from nothing (`AclPolicy.from_yaml('')`) when "
            "fetching it raises `StoreError`: a policy with no rule allows everything."
        ),
    ),
]
