"""`failclosed.analyzers` imports in layers: no module imports, directly or through others,
a module that imports it back. Read from each file's AST, so an import hidden in a function
(the usual way to dodge a cycle) counts as much as one at the top."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

PACKAGE = "failclosed.analyzers"
FOLDER = Path(__file__).resolve().parent.parent / "analyzers"


def module_names() -> dict[str, Path]:
    """`failclosed.analyzers.rules.base` -> analyzers/rules/base.py, for every module."""
    found = {}
    for path in FOLDER.rglob("*.py"):
        parts = list(path.relative_to(FOLDER).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([PACKAGE, *parts])] = path
    return found


def imported(node: ast.Import | ast.ImportFrom, name: str, path: Path) -> set[str]:
    """The modules an import statement of module `name` (file `path`) loads."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([base] if base else [])])
    # `from package import submodule` loads the submodule as well as the package
    return {base} | {f"{base}.{alias.name}" for alias in node.names}


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of `failclosed.analyzers` it imports, anywhere in its file."""
    modules = module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets |= imported(node, name, path)
            elif (  # importlib.import_module("failclosed.analyzers.gitdiff")
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                targets.add(node.args[0].value)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, str] = {}  # "open" while on the path, "done" once fully explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_is_read() -> None:
    graph = import_graph()
    # the loader sits above the rules, and the rules read only the settings
    assert "failclosed.analyzers.rules" in graph["failclosed.analyzers.config"]
    assert "failclosed.analyzers.settings" in graph["failclosed.analyzers.config"]
    assert "failclosed.analyzers.config" not in graph["failclosed.analyzers.engine"]


def test_the_analyzer_modules_import_without_a_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_our_modules_are_imported_at_the_top() -> None:
    """An import of our own module inside a function hides the order modules load in."""
    late = []
    for name, path in module_names().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(node) for node in tree.body}
        late += [
            f"{name}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            and id(node) not in top
            and any(t.startswith(PACKAGE) for t in imported(node, name, path))
        ]
    assert not late


def documented_layers() -> list[str]:
    """The modules of CONTRIBUTING.md's map of `analyzers/`, bottom up, as path patterns."""
    text = (FOLDER.parent / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text.split("## The analyzer, module by module", 1)[1].split("\n## ", 1)[0]
    order = []
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) > 3:
            order += re.findall(r"`([\w/*]+\.py)`", cells[2])
    return [entry.replace("NNN", "[0-9][0-9][0-9]") for entry in order]


def test_each_module_imports_only_what_the_map_lists_before_it() -> None:
    layers = documented_layers()
    place = {}
    for name, path in module_names().items():
        relpath = path.relative_to(FOLDER).as_posix()
        found = [i for i, pattern in enumerate(layers) if fnmatch.fnmatchcase(relpath, pattern)]
        assert found, f"analyzers/{relpath} is missing from CONTRIBUTING.md's map"
        place[name] = found[0]
    wrong = [
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        for target in targets
        # rules may share each other's helpers (one glob); the cycle test covers those
        if place[target] > place[name]
        or (place[target] == place[name] and "*" not in layers[place[name]])
    ]
    assert not wrong, "imports a module listed after it in CONTRIBUTING.md: " + ", ".join(wrong)
