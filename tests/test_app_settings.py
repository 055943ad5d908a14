"""Settings: typed, read from FAILCLOSED_* or .env, and refusing to serve with unsafe secrets."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from support import TEST_PEM as PEM

from failclosed.app.commands import serve
from failclosed.app.receive.server import create_app
from failclosed.app.receive.webhooks import InMemoryJobSink
from failclosed.app.settings import (
    CodeScanningOptIn,
    Settings,
    SettingsError,
    get_settings,
    load_settings,
)

GOOD_SECRET = "9c1f3e0a7d52b64e8f10aa3c"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No FAILCLOSED_* variable or .env file from the developer's machine leaks in."""
    for name in list(os.environ):
        if name.startswith("FAILCLOSED_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def settings(**values: object) -> Settings:
    fields: dict[str, object] = {"app_id": 42, "webhook_secret": GOOD_SECRET, "private_key": PEM}
    fields.update(values)
    return Settings(_env_file=None, **fields)


def problems_of(s: Settings) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        s.validate_for_serving()
    return caught.value.problems


def test_good_settings_validate() -> None:
    s = settings()
    s.validate_for_serving()
    assert s.github_api_url == "https://api.github.com"
    assert s.log_level == "INFO"


@pytest.mark.parametrize(
    "secret",
    [
        "changeme",
        "CHANGEME",
        "secret",
        "xxx",
        "xxxxxxxxxxxxxxxxxxxxxxxx",
        "<your webhook secret>",
        "<webhook-secret-goes-here-please>",
        "${FAILCLOSED_WEBHOOK_SECRET}",
        "please-changeme-now-1234",
        "your-webhook-secret-here",
        "short-but-real",
        "abababababababababab",
    ],
)
def test_placeholder_or_short_webhook_secrets_are_refused(secret: str) -> None:
    (problem,) = problems_of(settings(webhook_secret=secret))
    assert "FAILCLOSED_WEBHOOK_SECRET" in problem
    assert secret not in problem


@pytest.mark.parametrize("secret", [None, "", "   "])
def test_missing_webhook_secret_is_refused(secret: str | None) -> None:
    (problem,) = problems_of(settings(webhook_secret=secret))
    assert "FAILCLOSED_WEBHOOK_SECRET is missing" in problem


def test_secret_with_surrounding_whitespace_is_refused() -> None:
    assert any("whitespace" in p for p in problems_of(settings(webhook_secret=GOOD_SECRET + "\n")))


def test_missing_private_key_is_refused() -> None:
    (problem,) = problems_of(settings(private_key=None))
    assert "FAILCLOSED_PRIVATE_KEY" in problem
    assert "missing" in problem


def test_every_problem_is_listed_at_once() -> None:
    assert len(problems_of(settings(private_key=None, webhook_secret="changeme"))) == 2


def test_private_key_that_is_not_a_pem_is_refused() -> None:
    (problem,) = problems_of(settings(private_key="<paste the private key here>"))
    assert "not a PEM private key" in problem


def test_private_key_path(tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text(PEM)
    s = settings(private_key=None, private_key_path=key)

    s.validate_for_serving()
    assert s.private_key_pem().get_secret_value() == PEM


def test_unreadable_private_key_path_is_refused(tmp_path: Path) -> None:
    (problem,) = problems_of(settings(private_key=None, private_key_path=tmp_path / "nope.pem"))
    assert "FAILCLOSED_PRIVATE_KEY_PATH cannot be read" in problem


def test_both_private_key_forms_is_ambiguous(tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text(PEM)
    (problem,) = problems_of(settings(private_key_path=key))
    assert "only one" in problem


def test_inline_pem_with_escaped_newlines_is_unescaped() -> None:
    s = settings(private_key=PEM.replace("\n", "\\n"))
    assert s.private_key_pem().get_secret_value() == PEM


def test_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILCLOSED_APP_ID", "7")
    monkeypatch.setenv("FAILCLOSED_WEBHOOK_SECRET", GOOD_SECRET)
    monkeypatch.setenv("FAILCLOSED_PRIVATE_KEY", PEM)
    monkeypatch.setenv("FAILCLOSED_GITHUB_API_URL", "https://ghe.example.com/api/v3/")
    monkeypatch.setenv("FAILCLOSED_LOG_LEVEL", "debug")

    s = get_settings()

    assert s.app_id == 7
    assert s.webhook_secret == SecretStr(GOOD_SECRET)
    assert s.github_api_url == "https://ghe.example.com/api/v3"
    assert s.log_level == "DEBUG"
    assert get_settings() is s  # cached


def test_read_from_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"FAILCLOSED_APP_ID=9\nFAILCLOSED_WEBHOOK_SECRET={GOOD_SECRET}\nOTHER_TOOL=1\n"
    )
    s = load_settings()
    assert s.app_id == 9
    assert s.webhook_secret is not None
    assert s.webhook_secret.get_secret_value() == GOOD_SECRET


def test_missing_app_id_is_a_clear_settings_error() -> None:
    with pytest.raises(SettingsError, match="FAILCLOSED_APP_ID"):
        load_settings()


@pytest.mark.parametrize(
    "url", ["http://api.github.com", "ftp://ghe.example.com", "api.github.com", ""]
)
def test_api_url_must_be_https(url: str) -> None:
    with pytest.raises(ValidationError):
        settings(github_api_url=url)


def test_plain_http_api_url_only_for_localhost() -> None:
    assert settings(github_api_url="http://127.0.0.1:9000").github_api_url == (
        "http://127.0.0.1:9000"
    )


def test_secrets_never_show_in_repr_dump_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    s = settings()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings: %s / %r", s, s)
        create_app(s, InMemoryJobSink())
        try:
            settings(webhook_secret=GOOD_SECRET[:10]).validate_for_serving()
        except SettingsError as exc:
            logging.getLogger("test").error("refused: %s", exc)

    shown = repr(s) + str(s) + s.model_dump_json() + caplog.text
    for secret in (GOOD_SECRET, GOOD_SECRET[:10], PEM.splitlines()[1]):
        assert secret not in shown


def test_create_app_refuses_placeholder_secret() -> None:
    with pytest.raises(SettingsError, match="placeholder"):
        create_app(settings(webhook_secret="changeme"), InMemoryJobSink())


def test_create_app_without_settings_reads_the_environment() -> None:
    with pytest.raises(SettingsError, match="FAILCLOSED_APP_ID"):
        create_app(None, InMemoryJobSink())


def test_serve_main_exits_2_with_the_problems(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAILCLOSED_APP_ID", "7")
    monkeypatch.setenv("FAILCLOSED_WEBHOOK_SECRET", "changeme")
    ran = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda *a, **k: ran.append(a))
    monkeypatch.setattr(serve, "configure_logging", lambda level: ran.append(level))

    assert serve.main(["--port", "0"]) == 2
    assert ran == []
    err = capsys.readouterr().err
    assert "refuses to start" in err
    assert "FAILCLOSED_WEBHOOK_SECRET" in err
    assert "FAILCLOSED_PRIVATE_KEY" in err


def test_serve_runs_uvicorn_with_valid_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setattr(serve, "configure_logging", lambda level: None)

    serve.serve("127.0.0.1", 8123, settings=settings(queue_path=tmp_path / "jobs.sqlite3"))

    ((app, options),) = calls
    assert (options["host"], options["port"]) == ("127.0.0.1", 8123)
    app.state.job_sink.stop(grace_seconds=0)  # what the server's shutdown would do
    assert (tmp_path / "jobs.sqlite3").is_file()  # the embedded queue, where configured


def test_the_api_urls_password_is_never_logged_or_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 11: `https://user:pw@host/api/v3` was logged at start with its password."""
    from failclosed.app.github.client import GitHubApp

    s = settings(github_api_url="https://robot:hunter2-pw@ghe.example/api/v3")
    s.queue_path = tmp_path / "jobs.sqlite3"
    served = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda app, **kw: served.append(app))
    monkeypatch.setattr(serve, "configure_logging", lambda level: None)
    with caplog.at_level(logging.DEBUG):
        serve.serve("127.0.0.1", 8123, settings=s)
    served[0].state.job_sink.stop(grace_seconds=0)

    (ready,) = [r for r in caplog.records if r.getMessage() == "failclosed app ready"]
    assert ready.github_api_url == "https://***@ghe.example/api/v3"  # type: ignore[attr-defined]
    logged = [serve.JsonLogFormatter().format(r) for r in caplog.records]
    app = GitHubApp(1, PEM, s.github_api_url)
    for shown in [*logged, repr(s), str(s), repr(app)]:
        assert "hunter2" not in shown and "robot" not in shown
    assert app.base_url == s.github_api_url == "https://robot:hunter2-pw@ghe.example/api/v3"


def test_json_log_formatter_keeps_extra_fields() -> None:
    import json

    record = logging.makeLogRecord(
        {"msg": "webhook accepted", "levelname": "INFO", "delivery_id": "abc", "name": "x"}
    )
    line = json.loads(serve.JsonLogFormatter().format(record))
    assert line["message"] == "webhook accepted"
    assert line["delivery_id"] == "abc"


def test_the_per_file_budget_is_a_setting_the_jobs_get(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().file_budget_seconds == 60.0
    monkeypatch.setenv("FAILCLOSED_FILE_BUDGET_SECONDS", "15")
    configured = settings()
    assert configured.file_budget_seconds == 15.0
    runners = serve.job_runners(configured)
    assert runners["run"].keywords["file_budget_seconds"] == 15.0  # type: ignore[attr-defined]
    assert runners["apply_fixes"].keywords == {"file_budget_seconds": 15.0}  # type: ignore[attr-defined]
    assert runners["merge_group"].keywords == {"file_budget_seconds": 15.0}  # type: ignore[attr-defined]
    for bad in (0, -1, 601):
        with pytest.raises(ValidationError, match="file_budget_seconds"):
            settings(file_budget_seconds=bad)


def test_the_queue_url_must_be_redis() -> None:
    assert settings(queue_url="redis://127.0.0.1:6379/0").queue_url == "redis://127.0.0.1:6379/0"
    with pytest.raises(ValidationError, match="redis:// or rediss://"):
        settings(queue_url="http://127.0.0.1:6379")


def test_serve_in_the_redis_mode_runs_no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A web replica only accepts: its sink sends to Redis, `failclosed worker` runs jobs."""
    from failclosed.app.run.distributed import Distributed

    served: list[object] = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda app, **kw: served.append(app))
    monkeypatch.setattr(serve, "configure_logging", lambda level: None)
    serve.serve("127.0.0.1", 8123, settings=settings(queue_url="redis://127.0.0.1:1/0"))
    (app,) = served
    sink = app.state.job_sink  # type: ignore[attr-defined]
    assert isinstance(sink, Distributed) and sink._executor is None


def test_the_suite_cannot_reach_past_loopback() -> None:
    """tests/conftest.py: a connection leaving the machine fails at once."""
    import socket

    from conftest import NetworkBlocked

    with pytest.raises(NetworkBlocked), socket.create_connection(("192.0.2.1", 443), timeout=1):
        pass  # TEST-NET-1: never routable, and never tried


def test_create_app_has_no_non_durable_default_queue() -> None:
    """Without a sink there is nothing durable to accept deliveries into: refuse."""
    with pytest.raises(TypeError):
        create_app(settings())  # type: ignore[call-arg]


def test_code_scanning_is_off_unless_asked_for() -> None:
    opt_in = settings().code_scanning_opt_in
    assert opt_in == CodeScanningOptIn()
    assert not opt_in.covers(1, "octo-org")


def test_code_scanning_names_installations_by_id_or_login(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("APP_ID", "7"), ("WEBHOOK_SECRET", GOOD_SECRET), ("PRIVATE_KEY", PEM)):
        monkeypatch.setenv(f"FAILCLOSED_{name}", value)
    monkeypatch.setenv("FAILCLOSED_CODE_SCANNING", " 123, Octo-Org ")

    opt_in = load_settings().code_scanning_opt_in

    assert opt_in.covers(123, "someone") and opt_in.covers(9, "octo-org")
    assert not opt_in.covers(9, "someone")


def test_code_scanning_all_covers_every_installation() -> None:
    assert settings(code_scanning="ALL").code_scanning_opt_in.covers(5, "anyone")


@pytest.mark.parametrize("value", ["yes", "all, 12", "octo org", "-octo", "12,,off"])
def test_a_code_scanning_value_that_means_nothing_is_refused_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="off, all, or installation ids"):
        settings(code_scanning=value)
