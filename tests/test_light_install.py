"""`pip install failclosed` is the analyzer alone (libcst): `scan`, `diff` and `rules` work
without the App's packages, and the App's commands say which extra to install (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from app import cli

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

# Runs app.cli.main with the App's packages unimportable, as in a venv with the light install:
# a finder ahead of every other raises ModuleNotFoundError for them. Prints the exit status
# and the non-standard-library modules the command imported, as JSON, on the last line.
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
from app.cli import main
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
def test_the_analyzer_needs_only_libcst(args: tuple[str, ...]) -> None:
    outcome, out, err = run_light(*args)
    assert "Traceback" not in err, err
    assert outcome["code"] == (1 if args[:2] == ("scan", "examples/") else 0), err
    assert out.strip()
    # libcst and what libcst itself may bring; nothing of the App's extra.
    assert set(outcome["imported"]) <= {"analyzers", "app", "libcst", "yaml", "typing_extensions"}


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
        raise ModuleNotFoundError("No module named 'app.gone'", name="app.gone")

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


def test_the_light_install_is_libcst_alone() -> None:
    assert [requirement_name(r) for r in project()["dependencies"]] == ["libcst"]


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
    # app/action.py talks to GitHub through app/github.py (githubkit): the extra is needed.
    assert 'pip install --quiet --disable-pip-version-check "$ACTION_PATH[app]"' in (
        (ROOT / "action.yml").read_text()
    )
