"""`pip install failclosed` is the analyzer alone (libcst): `scan`, `diff` and `rules` work
without the App's packages, and the App's commands say which extra to install (exit 2)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from failclosed.app.commands import cli

ROOT = Path(__file__).resolve().parent.parent

# Every package the `app` extra brings, by top-level module, dependencies of dependencies too.
APP_ONLY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "httptools",
    "uvloop",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "unidiff",
    "httpx",
    "httpcore",
    "anyio",
    "githubkit",
    "hishel",
    "jwt",
    "cryptography",
    "dramatiq",
    "redis",
    "prometheus_client",
    "dotenv",
)

# Runs failclosed.app.commands.cli.main with the App's packages unimportable, as in a venv with the
# light install: a finder ahead of every other raises ModuleNotFoundError for them. Prints the
# exit status and the non-standard-library modules the command imported, as JSON, on the
# last line.
RUNNER = """
import importlib.abc, json, sys
BLOCKED = set(json.loads(sys.argv[1]))

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, Blocker())
sys.path.insert(0, sys.argv[2])
from failclosed.app.commands.cli import main
code = main(sys.argv[3:])
sys.stdout.flush()
imported = sorted({m.partition(".")[0] for m in sys.modules} - set(sys.stdlib_module_names))
print("\\n" + json.dumps({"code": code, "imported": [m for m in imported if m[:1] != "_"]}))
"""


def run_light(*args: str, cwd: Path = ROOT) -> tuple[dict, str, str]:
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(APP_ONLY), str(ROOT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stdout.rstrip("\n").splitlines()
    assert lines, result.stderr
    return json.loads(lines[-1]), "\n".join(lines[:-1]), result.stderr


def test_the_blocker_blocks() -> None:
    outcome, _, err = run_light("serve")
    assert outcome["code"] == 2 and "fastapi" in err


@pytest.mark.parametrize(
    "args",
    [
        ("scan", "examples/"),
        ("scan", "examples/", "--format", "sarif"),
        ("diff", "HEAD"),
        ("rules", "--format", "json"),
    ],
)
def test_the_analyzer_needs_only_its_own_dependencies(args: tuple[str, ...]) -> None:
    outcome, out, err = run_light(*args)
    assert "Traceback" not in err, err
    assert outcome["code"] == (1 if args[:2] == ("scan", "examples/") else 0), err
    assert out.strip()
    # libcst (and what it brings) and pyahocorasick; nothing of the App's extra.
    allowed = {"failclosed", "libcst", "yaml", "typing_extensions", "ahocorasick"}
    assert set(outcome["imported"]) <= allowed


def test_scan_without_the_app_finds_the_example() -> None:
    outcome, out, _ = run_light("scan", "examples/", "--format", "json")
    assert outcome["code"] == 1
    assert json.loads(out)["findings"]


@pytest.mark.parametrize("command", ["serve", "worker", "jobs", "setup"])
def test_app_commands_without_the_app_name_the_extra(command: str, tmp_path: Path) -> None:
    outcome, out, err = run_light(command, "--help", cwd=tmp_path)
    assert outcome["code"] == 2
    assert "Traceback" not in err
    assert "pip install 'failclosed[app]'" in err
    assert err.startswith(f"failclosed {command}: ")
    assert out == ""
    assert not set(outcome["imported"]) & set(APP_ONLY)  # refused before importing any


def test_a_package_found_but_broken_gets_the_same_advice(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(name: str) -> None:
        raise ModuleNotFoundError("No module named 'starlette.routing'", name="starlette.routing")

    monkeypatch.setattr(cli, "app_command", broken)
    assert cli.main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "starlette" in err and "pip install 'failclosed[app]'" in err


def test_our_own_import_errors_are_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> None:
        raise ModuleNotFoundError(
            "No module named 'failclosed.app.gone'", name="failclosed.app.gone"
        )

    monkeypatch.setattr(cli, "app_command", broken)
    with pytest.raises(ModuleNotFoundError):
        cli.main(["serve"])


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirement_name(requirement: str) -> str:
    name = requirement.split(";")[0]
    for stop in "[<>=!~ ":
        name = name.split(stop)[0]
    return name.strip().lower()


def test_the_light_install_is_the_analyzers_two_dependencies() -> None:
    names = [requirement_name(r) for r in project()["dependencies"]]
    assert names == ["libcst", "pyahocorasick"]


def test_the_test_extra_brings_the_app() -> None:
    assert "failclosed[app]" in project()["optional-dependencies"]["test"]


def test_the_cli_checks_the_app_extras_packages() -> None:
    # The distribution -> module names for the `app` extra; uvicorn's speed-ups are optional,
    # githubkit's schemas and hishel come with githubkit.
    module_of = {
        "fastapi": "fastapi",
        "uvicorn": "uvicorn",
        "pydantic-settings": "pydantic_settings",
        "unidiff": "unidiff",
        "httpx": "httpx",
        "githubkit": "githubkit",
        "pyjwt": "jwt",
        "dramatiq": "dramatiq",
        "prometheus-client": "prometheus_client",
        "pyyaml": "yaml",
        "python-dotenv": "dotenv",
    }
    unchecked = {"httptools", "uvloop", "githubkit-schemas-2022-11-28", "hishel"}
    names = {requirement_name(r) for r in project()["optional-dependencies"]["app"]}
    assert names - unchecked == set(module_of), "map the new App dependency to its module"
    assert set(cli.APP_MODULES) == set(module_of.values())


def test_the_pre_commit_hooks_are_the_analyzers() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    for hook in hooks:
        assert hook["language"] == "python"
        assert hook["entry"].split()[1] not in cli.APP_COMMANDS  # the light install serves it
        assert "additional_dependencies" not in hook


def test_the_action_installs_the_app() -> None:
    # app/commands/action.py talks to GitHub through app/github/client.py (githubkit): the extra
    # is needed.
    assert 'pip install --quiet --disable-pip-version-check "$ACTION_PATH[app]"' in (
        (ROOT / "action.yml").read_text()
    )


# -- under our own name: the wheel installs `failclosed` alone ----------------------------------

# What a wheel is built from (the Dockerfile copies the same): no symbolic links needed.
SOURCES = ("pyproject.toml", "README.md", "failclosed/__init__.py", "failclosed/app.yml",
           "app", "analyzers")  # fmt: skip

# A user's project with its own `app` and `analyzers` packages, importing them and ours.
USER_CHECK = """
import sys
import analyzers, app
import failclosed.analyzers.engine, failclosed.app.commands.cli, failclosed.app.run.distributed
assert app.OWNER == analyzers.OWNER == "user", (app, analyzers)
assert failclosed.__file__.startswith(sys.argv[1]), failclosed.__file__
print("ok")
"""


def copy_sources(target: Path) -> None:
    for name in SOURCES:
        source, copy = ROOT / name, target / name
        if source.is_dir():
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, copy)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel built from a copy of the sources (offline: this venv's setuptools) and
    installed, not editable, into a folder of its own: (wheel, where it is installed)."""
    work = tmp_path_factory.mktemp("wheel")
    copy_sources(work / "src")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "dist")]
    subprocess.run([*build, str(work / "src")], check=True, capture_output=True, timeout=300)
    (wheel,) = (work / "dist").glob("failclosed-*.whl")
    install = [*pip, "install", "--no-deps", "--no-index", "--target", str(work / "site")]
    subprocess.run([*install, str(wheel)], check=True, capture_output=True, timeout=300)
    return wheel, work / "site"


def test_the_wheel_installs_failclosed_alone(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"failclosed", "failclosed-0.1.0.dist-info"}
    ours = {
        f"failclosed/{path.relative_to(ROOT)}"
        for folder in ("app", "analyzers")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".lua")
    }
    assert ours <= set(names), "a new subpackage? list it in pyproject.toml's packages"


def test_the_wheel_carries_the_app_manifest_for_setup(installed: tuple[Path, Path]) -> None:
    """`failclosed setup` from an install finds the manifest without --manifest: the wheel
    holds the repository's app.yml (before, only a checkout had it)."""
    wheel, site = installed
    packed = zipfile.ZipFile(wheel).read("failclosed/app.yml").decode()
    assert packed == (ROOT / "app.yml").read_text()
    env = {**os.environ, "PYTHONPATH": str(site)}
    found = subprocess.run(
        [sys.executable, "-P", "-c", SETUP_MANIFEST],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.stdout.strip() == str(site / "failclosed" / "app.yml"), found.stderr


SETUP_MANIFEST = """
from failclosed.app.commands.setup import DEFAULT_MANIFEST, load_manifest
assert load_manifest(DEFAULT_MANIFEST)["name"]
print(DEFAULT_MANIFEST)
"""


def test_a_project_with_its_own_app_package_imports_both(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, site = installed
    for package in ("app", "analyzers"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text('OWNER = "user"\n')
    (tmp_path / "perms.py").write_text((ROOT / "examples" / "agent_permissions.py").read_text())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(site)])}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    checked = run(sys.executable, "-c", USER_CHECK, str(site))
    assert checked.stdout == "ok\n", checked.stderr
    scanned = run(str(site / "bin" / "failclosed"), "scan", "perms.py")
    assert scanned.returncode == 1 and "FC1" in scanned.stdout, scanned.stderr
    as_module = run(sys.executable, "-m", "failclosed.analyzers", "rules")
    assert as_module.returncode == 0 and "FC101" in as_module.stdout, as_module.stderr


def imports_of(folder: str) -> dict[str, set[str]]:
    """Each Python file of `folder` (outside the test corpus, and outside hidden folders such
    as bench/.cache, where benchmarks unpack third-party packages) -> the modules it imports."""
    found = {}
    for path in (ROOT / folder).rglob("*.py"):
        inside = path.relative_to(ROOT).parts
        if "corpus" in inside or any(part.startswith(".") for part in inside):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found[str(path.relative_to(ROOT))] = {
            alias.name if isinstance(node, ast.Import) else (node.module or "")
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0)
            for alias in node.names
        }
    return found


def roots(modules: set[str], depth: int = 1) -> set[str]:
    return {".".join(name.split(".")[:depth]) for name in modules}


@pytest.mark.parametrize("folder", ["app", "analyzers", "tests", "bench"])
def test_our_code_is_imported_under_our_name_only(folder: str) -> None:
    # `import app` would be a user's own package once installed (and is none of ours).
    wrong = {
        path for path, names in imports_of(folder).items() if roots(names) & {"app", "analyzers"}
    }
    assert not wrong, "import failclosed.app / failclosed.analyzers instead"


def test_the_boundaries_hold() -> None:
    # analyzers/ knows nothing about GitHub or HTTP; app/ knows nothing about libcst.
    app_side = {"failclosed.app", "githubkit", "httpx", "fastapi", "starlette", "urllib.request"}
    for path, names in imports_of("analyzers").items():
        assert not (roots(names) | roots(names, 2)) & app_side, path
    for path, names in imports_of("app").items():
        assert "libcst" not in roots(names), path
