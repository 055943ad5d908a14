"""`failclosed serve` reaches the App; every other command reaches the analyzer."""

from __future__ import annotations

import json

import pytest

from app.cli import main


def test_analyzer_commands_pass_through(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--format", "json"]) == 0
    codes = [rule["code"] for rule in json.loads(capsys.readouterr().out)["rules"]]
    assert "FC101" in codes


def test_serve_refuses_placeholder_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    for name in ("FAILCLOSED_PRIVATE_KEY", "FAILCLOSED_PRIVATE_KEY_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAILCLOSED_APP_ID", "1")
    monkeypatch.setenv("FAILCLOSED_WEBHOOK_SECRET", "changeme")
    from app.settings import get_settings

    get_settings.cache_clear()
    try:
        assert main(["serve", "--port", "0"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "FAILCLOSED_WEBHOOK_SECRET" in err and "changeme" not in err


def test_serve_help_is_the_apps(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    assert "failclosed serve" in capsys.readouterr().out


def test_worker_refuses_to_run_without_the_redis_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    from test_app_webhooks import make_settings

    from app import serve

    monkeypatch.setattr(serve, "get_settings", lambda: make_settings())
    monkeypatch.setattr(serve, "configure_logging", lambda level: None)
    assert main(["worker"]) == 2
    assert "FAILCLOSED_QUEUE_URL is not set" in capsys.readouterr().err
