"""`failclosed serve` reaches the App; every other command reaches the analyzer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from failclosed.app.commands.cli import main


def test_analyzer_commands_pass_through(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--format", "json"]) == 0
    codes = [rule["code"] for rule in json.loads(capsys.readouterr().out)["rules"]]
    assert "FC101" in codes


def serve_with(
    monkeypatch: pytest.MonkeyPatch, folder: Path, env: dict[str, str], unset: tuple[str, ...]
) -> int:
    """`failclosed serve`'s exit status with these settings in the environment, run in
    `folder` so that no .env of the working directory counts."""
    from failclosed.app.settings import get_settings

    monkeypatch.chdir(folder)
    for name in unset:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        return main(["serve", "--port", "0"])
    finally:
        get_settings.cache_clear()


def test_serve_refuses_placeholder_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    env = {"FAILCLOSED_APP_ID": "1", "FAILCLOSED_WEBHOOK_SECRET": "changeme"}
    unset = ("FAILCLOSED_PRIVATE_KEY", "FAILCLOSED_PRIVATE_KEY_PATH")
    assert serve_with(monkeypatch, tmp_path, env, unset) == 2
    err = capsys.readouterr().err
    assert "FAILCLOSED_WEBHOOK_SECRET" in err and "changeme" not in err


def damaged(pem: str) -> str:
    """The key with a stretch of its base64 rewritten: still PEM-shaped, no longer a key."""
    begin, body, end = pem.partition("\n")[0], pem.split("\n")[1:-2], pem.split("\n")[-2]
    body[5] = "A" * len(body[5])
    return "\n".join([begin, *body, end]) + "\n"


@pytest.mark.parametrize("setting", ["FAILCLOSED_PRIVATE_KEY", "FAILCLOSED_PRIVATE_KEY_PATH"])
def test_serve_refuses_a_pem_shaped_key_that_is_not_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path, setting: str
) -> None:
    """Issue 11: the server started, and every job then failed "could not reach GitHub"
    without a check run. Exit 2 at start, naming the setting, never showing the key."""
    from support import TEST_PEM, TEST_SECRET

    from failclosed.app.commands import serve

    monkeypatch.setattr(serve.uvicorn, "run", lambda *a, **k: pytest.fail("served"))
    key = damaged(TEST_PEM)
    (tmp_path / "app.pem").write_text(key)
    value = key if setting == "FAILCLOSED_PRIVATE_KEY" else str(tmp_path / "app.pem")
    env = {"FAILCLOSED_APP_ID": "1", "FAILCLOSED_WEBHOOK_SECRET": TEST_SECRET, setting: value}
    unset = ("FAILCLOSED_PRIVATE_KEY", "FAILCLOSED_PRIVATE_KEY_PATH", "FAILCLOSED_QUEUE_URL")

    assert serve_with(monkeypatch, tmp_path, env, unset) == 2
    err = capsys.readouterr().err
    assert f"  - {setting}" in err and "cannot be loaded as a private key" in err
    assert all(line not in err for line in key.splitlines()[1:-1])
    assert not (tmp_path / "failclosed-jobs.sqlite3").exists()  # refused before anything


def test_serve_help_is_the_apps(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    assert "failclosed serve" in capsys.readouterr().out


def test_worker_refuses_to_run_without_the_redis_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    from support import make_settings

    from failclosed.app.commands import serve

    monkeypatch.setattr(serve, "get_settings", lambda: make_settings())
    monkeypatch.setattr(serve, "configure_logging", lambda level: None)
    assert main(["worker"]) == 2
    assert "FAILCLOSED_QUEUE_URL is not set" in capsys.readouterr().err


def test_serve_exits_2_on_a_queue_file_that_is_not_a_queue(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 11: a queue file that is not SQLite is bad configuration (exit 2, said why), and
    the file is left as it was."""
    from support import TEST_PEM, TEST_SECRET

    from failclosed.app.commands import serve

    def served(*args: object, **kwargs: object) -> None:
        raise AssertionError("served, with a queue file that is not a queue")

    monkeypatch.setattr(serve.uvicorn, "run", served)
    queue_file = tmp_path / "jobs.sqlite3"
    queue_file.write_bytes(b"this is not a database" * 100)
    env = {
        "FAILCLOSED_APP_ID": "1",
        "FAILCLOSED_WEBHOOK_SECRET": TEST_SECRET,
        "FAILCLOSED_PRIVATE_KEY": TEST_PEM,
        "FAILCLOSED_QUEUE_PATH": str(queue_file),
    }
    unset = ("FAILCLOSED_PRIVATE_KEY_PATH", "FAILCLOSED_QUEUE_URL")
    assert serve_with(monkeypatch, tmp_path, env, unset) == 2
    assert "as the job queue" in capsys.readouterr().err
    assert queue_file.read_bytes().startswith(b"this is not a database")


def test_serve_refuses_a_queue_file_it_cannot_write(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], read_only_queue_file
) -> None:
    """Not "healthy, and 503 to every delivery": exit 2 (bad configuration) and say why."""
    from support import TEST_PEM, TEST_SECRET

    from failclosed.app.commands import serve

    def served(*args: object, **kwargs: object) -> None:
        raise AssertionError("served, with a queue file it cannot write")

    monkeypatch.setattr(serve.uvicorn, "run", served)
    env = {
        "FAILCLOSED_APP_ID": "1",
        "FAILCLOSED_WEBHOOK_SECRET": TEST_SECRET,
        "FAILCLOSED_PRIVATE_KEY": TEST_PEM,
        "FAILCLOSED_QUEUE_PATH": str(read_only_queue_file),
    }
    unset = ("FAILCLOSED_PRIVATE_KEY_PATH", "FAILCLOSED_QUEUE_URL")
    assert serve_with(monkeypatch, read_only_queue_file.parent, env, unset) == 2
    err = capsys.readouterr().err
    assert "jobs.sqlite3" in err and "not writable" in err
