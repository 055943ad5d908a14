"""FC140: a "threat found" flag read from a parsed reply is trusted by its truthiness."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from failclosed.analyzers.fixes import ReplaceExpression
from failclosed.analyzers.functions import FunctionInfo, ModuleInfo
from failclosed.analyzers.rules.base import Hit, Invalid, Rule
from failclosed.analyzers.rules.common import unawaited
from failclosed.analyzers.syntax import call_name

# A key whose True means "stop": `attackDetected`, `flagged`, `is_malicious`, `blocked`.
THREAT_KEY = re.compile(
    r"(?i)(attack|detected|flagged|blocked|malicious|unsafe|violat|denied|revoked|banned"
    r"|harmful|jailbreak|injection|infected|threat)"
)


class UntypedThreatFlag(Rule):
    """
    ## What it does
    Flags a "something bad was found" flag — `attackDetected`, `flagged`, `is_malicious` —
    read from a reply parsed with `.json()` or `json.loads()` and used by its truthiness,
    with no check that it is a boolean.

    ## Why is this bad?
    A reply is outside data. `null`, a missing value turned into `None`, `0` or `""` are all
    falsy, so a malformed or partial reply reads as "no attack" and the content passes
    (CWE-636). A safety verdict must be exactly `false` to clear anything.

    ## Example
    ```python
    data = response.json()
    user_attack = data["userPromptAnalysis"]["attackDetected"]
    ```

    ## Use instead
    ```python
    user_attack = data["userPromptAnalysis"]["attackDetected"] is not False
    ```

    ## Fix safety
    Anything but an explicit `false` now counts as found, so a malformed reply blocks. Better
    still, reject a reply whose flag is not a boolean (`isinstance(flag, bool)`).
    """

    code = "FC140"
    name = "untyped-threat-flag"
    severity = "warning"
    summary = 'A "threat found" flag read from a parsed reply is trusted by its truthiness.'
    fix_safety = "Anything but an explicit false counts as found."
    trigger = ("json",)
    file_words = ("json",)

    def check(self, fn: FunctionInfo, info: ModuleInfo) -> Iterator[Hit]:
        nodes = list(fn.nodes)
        if _checks_booleans(nodes):
            return
        parsed = _parsed_names(nodes)
        if not parsed:
            return
        compared = {id(n) for c in nodes if isinstance(c, ast.Compare) for n in ast.walk(c)}
        for node in nodes:
            if not isinstance(node, ast.expr):
                continue
            key = _threat_read(node, parsed)
            if key is None or id(node) in compared or _inside_read(node, nodes):
                continue
            shown = ast.get_source_segment(info.source, node) or ast.unparse(node)
            yield Hit(
                node=node,
                message=(
                    f"`{fn.qualname}` trusts `{key}` from a parsed reply by its truthiness: "
                    "`null`, a missing or malformed value reads as nothing found, and the "
                    "content passes."
                ),
                edits=[ReplaceExpression(node, f"{shown} is not False")],
                key_nodes=[node],
            )


def _checks_booleans(nodes: list[ast.AST]) -> bool:
    """`isinstance(flag, bool)` somewhere: the reply's types are checked."""
    return any(
        isinstance(n, ast.Call)
        and call_name(n) == "isinstance"
        and len(n.args) == 2
        and "bool" in ast.unparse(n.args[1])
        for n in nodes
    )


def _parsed_names(nodes: list[ast.AST]) -> set[str]:
    """Names holding parsed outside data: `data = response.json()`, `doc` in
    `for doc in data["documents"]`, `items = data["items"]`."""
    names: set[str] = set()
    for _ in range(3):  # a name read from a name read from the reply
        for node in nodes:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], unawaited(node.value)
                if isinstance(target, ast.Name) and _parsed(value, names):
                    names.add(target.id)
            elif (
                isinstance(node, ast.For | ast.comprehension)
                and isinstance(node.target, ast.Name)
                and _parsed(node.iter, names)
            ):
                names.add(node.target.id)
    return names


def _parsed(value: ast.expr, names: set[str]) -> bool:
    value = unawaited(value)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        if value.func.attr == "json" or (
            value.func.attr == "loads" and ast.unparse(value.func.value).endswith("json")
        ):
            return True  # `response.json()`, `json.loads(text)`, `orjson.loads(body)`
        return value.func.attr == "get" and _parsed(value.func.value, names)
    if isinstance(value, ast.Subscript):
        return _parsed(value.value, names)
    return isinstance(value, ast.Name) and value.id in names


def _threat_read(node: ast.AST, parsed: set[str]) -> str | None:
    """The key of `data["x"]["attackDetected"]` or `doc.get("flagged")` on parsed data."""
    if isinstance(node, ast.Subscript):
        key = node.slice
        root = _parsed(node.value, parsed)
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and len(node.args) == 1
    ):
        key = node.args[0]
        root = _parsed(node.func.value, parsed)
    else:
        return None
    if not (isinstance(key, ast.Constant) and isinstance(key.value, str)) or not root:
        return None
    return key.value if THREAT_KEY.search(key.value) else None


def _inside_read(node: ast.AST, nodes: list[ast.AST]) -> bool:
    """`data["attack"]["detected"]`: report the outer read only."""
    return any(
        isinstance(outer, ast.Subscript | ast.Attribute) and outer.value is node for outer in nodes
    )


UntypedThreatFlag.VALID = [
    # the reply's flag is checked to be a boolean
    """
def shield(response):
    data = response.json()
    attack = data["userPromptAnalysis"]["attackDetected"]
    if not isinstance(attack, bool):
        raise ValueError("malformed reply")
    return attack
""",
    # compared with an explicit value
    """
def shield(response):
    data = response.json()
    return data["userPromptAnalysis"]["attackDetected"] is True
""",
    # a flag of our own, not from a parsed reply
    """
def shield(result):
    return result.attack_detected
""",
]

UntypedThreatFlag.INVALID = [
    Invalid(
        """\
def shield(response):
    data = response.json()
    user_attack = data["userPromptAnalysis"]["attackDetected"]
    return {"user_prompt_attack": user_attack}
""",
        line=3,
        fixed="""\
def shield(response):
    data = response.json()
    user_attack = data["userPromptAnalysis"]["attackDetected"] is not False
    return {"user_prompt_attack": user_attack}
""",
        expected_message=(
            "`shield` trusts `attackDetected` from a parsed reply by its truthiness: `null`, "
            "a missing or malformed value reads as nothing found, and the content passes."
        ),
    ),
    Invalid(
        """\
async def moderate(client, text):
    reply = await client.post("/moderate", json={"text": text})
    results = (await reply.json())["results"]
    if any(item.get("flagged") for item in results):
        raise PermissionError("content flagged")
    return text
""",
        line=4,
        fixed="""\
async def moderate(client, text):
    reply = await client.post("/moderate", json={"text": text})
    results = (await reply.json())["results"]
    if any(item.get("flagged") is not False for item in results):
        raise PermissionError("content flagged")
    return text
""",
        expected_message=(
            "`moderate` trusts `flagged` from a parsed reply by its truthiness: `null`, a "
            "missing or malformed value reads as nothing found, and the content passes."
        ),
    ),
]
