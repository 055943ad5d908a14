"""`failclosed setup` (app/commands/setup.py): the manifest it posts, the files it writes, and the
whole flow against a stand-in for GitHub on 127.0.0.1 (tests/github_standin.py), in a real headless
Chromium when Debian's `chromium` and `chromium-driver` are installed (.ci/run installs them).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from dotenv import dotenv_values
from github_standin import CONVERSION, StandInServer
from pydantic import SecretStr
from support import wait_for
from webdriver import CHROMEDRIVER, CHROMIUM, Browser, headless_chromium

from failclosed.app.commands import setup
from failclosed.app.commands.cli import main
from failclosed.app.github.client import AppRegistration, GitHubError, create_app_from_manifest
from failclosed.app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_URL = "https://failclosed.test/webhook"
SECRETS = (CONVERSION["pem"], CONVERSION["webhook_secret"], CONVERSION["client_secret"])
PEM_MARKER = "PRIVATE KEY-----"


@pytest.fixture(autouse=True)
def no_app_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings read only the files a test writes, in a folder of its own."""
    for name in list(os.environ):
        if name.startswith("FAILCLOSED_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def github() -> Iterator[StandInServer]:
    with StandInServer() as server:
        yield server


def registration() -> AppRegistration:
    """What `create_app_from_manifest` makes of the OpenAPI example."""
    return AppRegistration(
        id=CONVERSION["id"],
        slug=CONVERSION["slug"],
        html_url=CONVERSION["html_url"],
        client_id=CONVERSION["client_id"],
        webhook_secret=SecretStr(CONVERSION["webhook_secret"]),
        pem=SecretStr(CONVERSION["pem"]),
        client_secret=SecretStr(CONVERSION["client_secret"]),
    )


def options(tmp_path: Path, **changes: Any) -> setup.SetupOptions:
    fields: dict[str, Any] = {
        "webhook_url": WEBHOOK_URL,
        "env_file": tmp_path / ".env",
        "open_browser": False,
        "timeout": 10.0,
    }
    return setup.SetupOptions(**(fields | changes))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- the manifest and GitHub's URLs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("github_url", "web", "api"),
    [
        ("https://github.com", "https://github.com", "https://api.github.com"),
        ("https://github.com/", "https://github.com", "https://api.github.com"),
        ("https://ghe.corp.test", "https://ghe.corp.test", "https://ghe.corp.test/api/v3"),
        ("https://ghe.corp.test/", "https://ghe.corp.test", "https://ghe.corp.test/api/v3"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v3"),
    ],
)
def test_github_com_and_enterprise_server_urls(github_url: str, web: str, api: str) -> None:
    assert setup.github_urls(github_url) == setup.GitHubUrls(web, api)


@pytest.mark.parametrize("github_url", ["http://ghe.corp.test", "ghe.corp.test", "ftp://x.test"])
def test_github_url_must_be_https_but_for_localhost(github_url: str) -> None:
    with pytest.raises(setup.SetupError, match="--github-url"):
        setup.github_urls(github_url)


def test_the_form_posts_to_the_users_or_the_organisations_new_app_page() -> None:
    dotcom = setup.github_urls("https://github.com")
    ghes = setup.github_urls("https://ghe.corp.test")
    assert setup.new_app_url(dotcom, None, "s1") == "https://github.com/settings/apps/new?state=s1"
    assert (
        setup.new_app_url(dotcom, "octo-org", "a+b/c")
        == "https://github.com/organizations/octo-org/settings/apps/new?state=a%2Bb%2Fc"
    )
    assert (
        setup.new_app_url(ghes, "octo-org", "s")
        == "https://ghe.corp.test/organizations/octo-org/settings/apps/new?state=s"
    )


@pytest.mark.parametrize("org", ["octo/org", "../x", "-org", "a" * 40, ""])
def test_an_organisation_must_be_a_login(org: str) -> None:
    with pytest.raises(setup.SetupError, match="--org"):
        setup.check_org(org)


def test_the_manifest_is_app_yml_with_the_webhook_url_and_the_way_back() -> None:
    manifest = setup.load_manifest(ROOT / "app.yml")
    posted = setup.build_manifest(
        manifest, webhook_url=WEBHOOK_URL, redirect_url="http://127.0.0.1:5000/callback"
    )
    assert posted["hook_attributes"] == {"url": WEBHOOK_URL, "active": True}
    assert posted["redirect_url"] == "http://127.0.0.1:5000/callback"
    assert posted["default_permissions"] == {
        "checks": "write",
        "pull_requests": "write",
        "contents": "write",
        "merge_queues": "read",
        "security_events": "write",
        "metadata": "read",
    }
    assert posted["default_events"] == [
        "pull_request",
        "check_run",
        "check_suite",
        "merge_group",
        "push",
    ]
    assert (posted["name"], posted["public"]) == ("failclosed", False)
    assert manifest["hook_attributes"]["url"] == "https://failclosed.example.com/webhook"


@pytest.mark.parametrize(
    "url",
    ["http://failclosed.test/webhook", "https://127.0.0.1/webhook", "https://localhost/x", "/wh"],
)
def test_the_webhook_url_must_be_public_https(url: str) -> None:
    with pytest.raises(setup.SetupError, match="--webhook-url"):
        setup.check_webhook_url(url)


def test_a_manifest_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "app.yml").write_text("name: [unclosed\n")
    with pytest.raises(setup.SetupError, match="not valid YAML"):
        setup.load_manifest(tmp_path / "app.yml")


# -- the files ------------------------------------------------------------------------------


def test_the_files_written_are_settings_the_app_serves_with(tmp_path: Path) -> None:
    opts = options(tmp_path)
    setup.save_credentials(registration(), opts, "https://api.github.com")

    assert files_in(tmp_path) == [".env", "failclosed-app.private-key.pem"]
    assert mode(tmp_path / ".env") == mode(opts.key_path) == 0o600
    assert opts.key_path.read_text() == CONVERSION["pem"]
    assert dotenv_values(tmp_path / ".env") == {
        "FAILCLOSED_APP_ID": "1",
        "FAILCLOSED_PRIVATE_KEY_PATH": str(opts.key_path),
        "FAILCLOSED_WEBHOOK_SECRET": CONVERSION["webhook_secret"],
    }
    settings = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    settings.validate_for_serving()
    assert settings.app_id == 1
    assert settings.private_key_pem().get_secret_value() == CONVERSION["pem"]


def test_no_webhook_secret_is_written_when_github_returns_none(tmp_path: Path) -> None:
    without = dataclasses.replace(registration(), webhook_secret=None)
    values = setup.env_values(without, tmp_path / "k.pem", "https://api.github.com")
    assert set(values) == {"FAILCLOSED_APP_ID", "FAILCLOSED_PRIVATE_KEY_PATH"}


def test_without_hard_links_a_new_file_is_still_written_and_an_old_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_hard_links(source: str, target: Path) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(setup.os, "link", no_hard_links)
    setup.write_private_file(tmp_path / "new", "text", force=False)
    assert (tmp_path / "new").read_text() == "text" and mode(tmp_path / "new") == 0o600
    with pytest.raises(FileExistsError):
        setup.write_private_file(tmp_path / "new", "other", force=False)
    assert (tmp_path / "new").read_text() == "text"
    assert files_in(tmp_path) == ["new"]


def test_an_enterprise_server_gets_its_api_url(tmp_path: Path) -> None:
    setup.save_credentials(registration(), options(tmp_path), "https://ghe.corp.test/api/v3")
    settings = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    assert settings.github_api_url == "https://ghe.corp.test/api/v3"


def test_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        setup.write_private_file(tmp_path / "key.pem", "k", force=False)
    finally:
        os.umask(old)
    assert mode(tmp_path / "key.pem") == 0o600


def test_existing_files_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FAILCLOSED_QUEUE_PATH=jobs.sqlite3\n")
    with pytest.raises(setup.SetupError, match=r"\.env exists: pass --force"):
        setup.check_targets(options(tmp_path))
    (tmp_path / ".env").unlink()
    (tmp_path / "failclosed-app.private-key.pem").write_text("old")
    with pytest.raises(setup.SetupError, match=r"private-key\.pem exists"):
        setup.check_targets(options(tmp_path))


def test_a_file_made_meanwhile_is_not_replaced(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("theirs\n")
    with pytest.raises(FileExistsError):
        setup.save_credentials(registration(), options(tmp_path), "https://api.github.com")
    assert (tmp_path / ".env").read_text() == "theirs\n"
    assert files_in(tmp_path) == [".env"]  # the new key went too, and no temporary file


def test_force_replaces_our_settings_and_keeps_the_others(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# mine\nFAILCLOSED_QUEUE_PATH=jobs.sqlite3\nFAILCLOSED_APP_ID=7\n"
        'failclosed_private_key="-----BEGIN RSA PRIVATE KEY-----\nold\n'
        '-----END RSA PRIVATE KEY-----"\n'
        "FAILCLOSED_GITHUB_API_URL=https://old.test/api/v3\nOTHER=1"
    )
    setup.save_credentials(registration(), options(tmp_path, force=True), "https://api.github.com")
    text = (tmp_path / ".env").read_text()
    assert text.startswith("# mine\nFAILCLOSED_QUEUE_PATH=jobs.sqlite3\nOTHER=1\n# The GitHub App")
    values = dotenv_values(tmp_path / ".env")
    assert set(values) == {
        "FAILCLOSED_QUEUE_PATH",
        "OTHER",
        "FAILCLOSED_APP_ID",
        "FAILCLOSED_PRIVATE_KEY_PATH",
        "FAILCLOSED_WEBHOOK_SECRET",
    }
    assert values["FAILCLOSED_APP_ID"] == "1"
    assert mode(tmp_path / ".env") == 0o600


def test_a_failed_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("FAILCLOSED_APP_ID=7\n")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(setup.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        setup.write_private_file(tmp_path / ".env", "FAILCLOSED_APP_ID=1\n", force=True)
    assert (tmp_path / ".env").read_text() == "FAILCLOSED_APP_ID=7\n"
    assert files_in(tmp_path) == [".env"]


@pytest.mark.parametrize("value", ["/tmp/a b/key.pem", "it's", "back\\slash", "$HOME", "#x"])
def test_env_values_read_back_as_written(tmp_path: Path, value: str) -> None:
    (tmp_path / ".env").write_text(f"X={setup.quote_env_value(value)}\n")
    assert dotenv_values(tmp_path / ".env") == {"X": value}


# -- the conversion (app/github/client.py) ---------------------------------------------------------


def test_the_code_becomes_the_apps_credentials_which_no_repr_shows(github: StandInServer) -> None:
    code = github.github.issue_code()
    app = create_app_from_manifest(code, f"{github.url}/api/v3")
    assert (app.id, app.slug, app.client_id) == (1, "octoapp", CONVERSION["client_id"])
    assert app.pem.get_secret_value() == CONVERSION["pem"]
    assert not any(secret in repr(app) for secret in SECRETS)
    with pytest.raises(GitHubError) as refused:  # a code is good once
        create_app_from_manifest(code, f"{github.url}/api/v3")
    assert refused.value.status == 404 and not refused.value.retryable
    assert str(refused.value) == (
        "registering the App from its manifest: GitHub POST "
        f"/api/v3/app-manifests/{code}/conversions failed: 404 Not Found (HTTP 404)"
    )


# -- the flow, without a browser ------------------------------------------------------------


class Running:
    """`run_setup` in a thread: its page's URL, and its exit status once it ends."""

    def __init__(self, opts: setup.SetupOptions) -> None:
        self.out = io.StringIO()
        self.status: int | None = None
        self._thread = threading.Thread(target=self._run, args=(opts,), daemon=True)
        self._thread.start()
        wait_for(lambda: "Open http" in self.out.getvalue() or self.status is not None)
        found = re.search(r"Open (http://\S+/) ", self.out.getvalue())
        self.url = found.group(1) if found else ""

    def _run(self, opts: setup.SetupOptions) -> None:
        self.status = setup.run_setup(opts, out=self.out)

    def result(self) -> int | None:
        self._thread.join(10)
        return self.status


def form_of(page: str) -> tuple[str, str]:
    """The start page's form: where it posts, and the manifest it carries."""
    action = re.search(r'<form method=post action="([^"]+)"', page)
    manifest = re.search(r'name=manifest value="([^"]+)"', page)
    assert action and manifest, page
    return unescape(action.group(1)), unescape(manifest.group(1))


def press_the_button(page_url: str) -> str:
    """What the browser does: post the form to GitHub, and return where GitHub sends it."""
    action, manifest = form_of(httpx.get(page_url).text)
    answer = httpx.post(action, data={"manifest": manifest})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def test_a_callback_with_another_state_writes_nothing_and_the_run_goes_on(
    tmp_path: Path, github: StandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Running(options(tmp_path, github_url=github.url))
    callback = press_the_button(run.url)
    forged = re.sub(r"state=[^&]+", "state=forged", callback)

    answer = httpx.get(forged)
    assert answer.status_code == 400
    assert "nothing was written" in answer.text
    assert github.github.conversions() == [] and files_in(tmp_path) == []
    assert "state is not this run's" in capsys.readouterr().err

    assert httpx.get(callback).status_code == 200
    assert run.result() == 0
    assert files_in(tmp_path) == [".env", "failclosed-app.private-key.pem"]


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        (None, "404 Not Found"),  # a code GitHub does not know (expired, or spent)
        ((422, {"message": "Validation Failed", "documentation_url": "x"}), "422 Validation"),
    ],
)
def test_a_refused_code_writes_nothing(
    tmp_path: Path,
    github: StandInServer,
    capsys: pytest.CaptureFixture[str],
    answer: tuple[int, dict[str, Any]] | None,
    shown: str,
) -> None:
    github.github.conversion_answer = answer
    run = Running(options(tmp_path, github_url=github.url))
    callback = press_the_button(run.url)
    if answer is None:
        callback = callback.replace("code=", "code=0")  # not the code GitHub issued
    page = httpx.get(callback)

    assert page.status_code == 502
    assert shown in page.text and "Nothing was written" in page.text
    assert run.result() == setup.EXIT_FAILED
    assert files_in(tmp_path) == []
    assert shown in capsys.readouterr().err


def test_no_callback_in_time_writes_nothing(
    tmp_path: Path, github: StandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Running(options(tmp_path, github_url=github.url, timeout=0.3))
    assert run.result() == setup.EXIT_FAILED
    assert "no answer from GitHub within 0.3 s: nothing was written" in capsys.readouterr().err
    assert files_in(tmp_path) == []


def test_only_requests_to_127_0_0_1_are_answered(tmp_path: Path, github: StandInServer) -> None:
    run = Running(options(tmp_path, github_url=github.url, timeout=1.0))
    port = run.url.rsplit(":", 1)[1].rstrip("/")
    assert httpx.get(run.url, headers={"Host": f"evil.test:{port}"}).status_code == 421
    assert httpx.get(run.url, headers={"Host": f"localhost:{port}"}).status_code == 200
    assert httpx.get(run.url + "favicon.ico").status_code == 404
    assert run.result() == setup.EXIT_FAILED


def test_the_command_asks_for_the_webhook_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["setup", "--no-browser"])
    assert exited.value.code == 2
    assert "--webhook-url" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--port", "70000"], "--port must be from 0"),
        (["--timeout", "0"], "--timeout must be a positive"),
        (["--manifest", "missing.yml"], "cannot read the manifest missing.yml (No such file"),
        (["--org", "a/b"], "--org must be"),
        (["--github-url", "http://ghe.corp.test"], "--github-url must use https"),
    ],
)
def test_bad_options_are_refused_with_a_reason(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["setup", "--webhook-url", WEBHOOK_URL, "--no-browser", *argv]) == 2
    assert said in capsys.readouterr().err


def test_the_command_refuses_an_existing_env_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".env").write_text("OTHER=1\n")
    assert main(["setup", "--webhook-url", WEBHOOK_URL, "--no-browser"]) == 2
    assert ".env exists: pass --force" in capsys.readouterr().err
    assert (tmp_path / ".env").read_text() == "OTHER=1\n"


# -- the flow in a real browser -------------------------------------------------------------


@pytest.fixture
def chromium() -> Iterator[Browser]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (bash .ci/run installs them)")
    with headless_chromium() as browser:
        yield browser


def start_cli(*argv: str) -> tuple[subprocess.Popen[str], str]:
    """The real `failclosed setup` in a child process, and the page it says to open."""
    child = subprocess.Popen(
        [sys.executable, "-m", "failclosed.app.commands.cli", "setup", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    first = child.stdout.readline()
    found = re.search(r"Open (http://127\.0\.0\.1:\d+/) ", first)
    if not found:
        child.kill()
        pytest.fail(f"no page: {first!r} {child.communicate()}")
    return child, found.group(1)


def test_register_an_organisations_app_in_a_real_browser(
    tmp_path: Path, github: StandInServer, chromium: Browser
) -> None:
    started = time.monotonic()
    child, page_url = start_cli(
        "--github-url", github.url, "--org", "octo-org", "--webhook-url", WEBHOOK_URL,
        "--env-file", str(tmp_path / ".env"), "--no-browser", "--timeout", "30",
    )  # fmt: skip
    try:
        chromium.get(page_url)
        assert chromium.title == "Register failclosed on GitHub"
        chromium.click("#register")
        chromium.wait_for_title("The App is registered")
        install = chromium.property("a", "href")
        out, err = child.communicate(timeout=10)
    finally:
        child.kill()
    seconds = time.monotonic() - started

    assert child.returncode == 0, err
    assert install == "https://github.com/apps/octoapp/installations/new"
    # What was sent to GitHub: the manifest, to the organisation's page, with our state ...
    [posted] = github.github.posted_manifests()
    assert posted.path == "/organizations/octo-org/settings/apps/new"
    port = page_url.rsplit(":", 1)[1].rstrip("/")
    expected = setup.build_manifest(
        setup.load_manifest(ROOT / "app.yml"),
        webhook_url=WEBHOOK_URL,
        redirect_url=f"http://127.0.0.1:{port}/callback",
    )
    assert json.loads(posted.form["manifest"][0]) == expected
    assert len(posted.query["state"][0]) >= 40
    # ... then the code GitHub issued, once, without credentials (the App did not exist yet).
    [conversion] = github.github.conversions()
    assert conversion.path == f"/api/v3/app-manifests/{github.github.issued_codes[0]}/conversions"
    assert "authorization" not in conversion.headers
    assert conversion.headers["x-github-api-version"] == "2022-11-28"
    # The files, owner-only, and the key and the secrets on no output.
    key_file = tmp_path / "failclosed-app.private-key.pem"
    assert key_file.read_text() == CONVERSION["pem"] and mode(key_file) == 0o600
    assert mode(tmp_path / ".env") == 0o600
    assert dotenv_values(tmp_path / ".env") == {
        "FAILCLOSED_APP_ID": "1",
        "FAILCLOSED_PRIVATE_KEY_PATH": str(key_file),
        "FAILCLOSED_WEBHOOK_SECRET": CONVERSION["webhook_secret"],
        "FAILCLOSED_GITHUB_API_URL": f"{github.url}/api/v3",
    }
    for output in (out, err, chromium.page_source):
        assert PEM_MARKER not in output and not any(s in output for s in SECRETS)
    assert "Registered the GitHub App octoapp (id 1)" in out
    print(f"browser flow: {seconds:.2f} s")
