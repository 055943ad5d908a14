"""`failclosed setup`: register the GitHub App from `app.yml` in one command.

GitHub's manifest flow, as Probot's setup page runs it: a page on 127.0.0.1 posts the manifest
to GitHub (`/settings/apps/new`, an organisation's `/organizations/ORG/settings/apps/new`, or
the same paths on a GitHub Enterprise Server); GitHub creates the App and sends the browser
back to this server's `/callback` with a `code` and our `state`; the code is exchanged once,
within its hour, for the App's id, webhook secret and private key
(`app.github.client.create_app_from_manifest`), which are written to `.env` and a key file.

Fail closed at every step: a callback whose `state` is not this run's writes nothing (another
page could send the browser there with its own App's code); a refused code writes nothing;
the files are written whole or not at all, readable by their owner only from the moment they
exist, and never over existing ones without `--force`. The key and the secrets are never
printed, logged or shown on a page.
"""

from __future__ import annotations

import argparse
import copy
import errno
import hmac
import html
import io
import json
import os
import re
import secrets
import sys
import tempfile
import threading
import webbrowser
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import yaml  # type: ignore[import-untyped, unused-ignore]  # without types-PyYAML
from dotenv.parser import parse_stream

from failclosed.app.github.client import (
    DEFAULT_BASE_URL,
    AppRegistration,
    GitHubError,
    create_app_from_manifest,
)
from failclosed.app.settings import ENV_PREFIX, LOCAL_HOSTS, Settings

PROG = "failclosed setup"
EXIT_FAILED = 1  # GitHub refused the code, no callback in time, or the files failed
EXIT_BAD_INPUT = 2  # nothing was sent to GitHub: fix the command line or the files
DEFAULT_GITHUB_URL = "https://github.com"
DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "app.yml"
DEFAULT_KEY_NAME = "failclosed-app.private-key.pem"
DEFAULT_TIMEOUT = 3600.0  # GitHub keeps a manifest's code for one hour
LOCAL_HOST = "127.0.0.1"
CALLBACK_PATH = "/callback"
POLL_SECONDS = 0.05  # how soon the server stops once the callback is handled
# GitHub's codes are short hex strings; this one goes into the conversion's URL path.
CODE = re.compile(r"[A-Za-z0-9_-]{1,256}")
ORG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
# The settings this command writes, and so replaces in an existing `.env` with --force
# (an inline key too: `Settings` refuses both an inline key and a key file).
WRITTEN_SETTINGS = ("app_id", "webhook_secret", "private_key_path", "github_api_url")
REPLACED_SETTINGS = (*WRITTEN_SETTINGS, "private_key")


class SetupError(Exception):
    """Input this command cannot use; the message says what to change. Exit 2."""


@dataclass(frozen=True)
class GitHubUrls:
    """Where the manifest is posted (`web`) and where the code is exchanged (`api`)."""

    web: str
    api: str


@dataclass(frozen=True)
class SetupOptions:
    """What `failclosed setup` was asked to do (its command line)."""

    webhook_url: str
    github_url: str = DEFAULT_GITHUB_URL
    org: str | None = None
    env_file: Path = Path(".env")
    key_file: Path | None = None  # default: DEFAULT_KEY_NAME beside the env file
    manifest: Path = DEFAULT_MANIFEST
    port: int = 0
    open_browser: bool = True
    force: bool = False
    timeout: float = DEFAULT_TIMEOUT

    @property
    def key_path(self) -> Path:
        return self.key_file or self.env_file.parent / DEFAULT_KEY_NAME


@dataclass(frozen=True)
class SetupResult:
    """How the run ends: the exit status and the line the terminal shows."""

    status: int
    message: str


# -- the manifest and GitHub's URLs -----------------------------------------------------


def github_urls(github_url: str) -> GitHubUrls:
    """github.com's API is api.github.com; a GitHub Enterprise Server's is `/api/v3` on its
    own host. https only (the private key comes back this way), http just for localhost."""
    parts = urlsplit(github_url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SetupError(f"--github-url must be an absolute URL, got {github_url!r}")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise SetupError("--github-url must use https (plain http only for localhost)")
    if parts.hostname in ("github.com", "www.github.com"):
        return GitHubUrls(DEFAULT_GITHUB_URL, DEFAULT_BASE_URL)
    web = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    return GitHubUrls(web, f"{web}/api/v3")


def new_app_url(urls: GitHubUrls, org: str | None, state: str) -> str:
    """The form's target: the user's or the organisation's "new GitHub App" page."""
    path = f"/organizations/{quote(org, safe='')}" if org else ""
    return f"{urls.web}{path}/settings/apps/new?{urlencode({'state': state})}"


def check_org(org: str | None) -> str | None:
    """An organisation's login as GitHub allows them (it becomes part of the form's URL)."""
    if org is not None and not ORG.fullmatch(org):
        raise SetupError(f"--org must be an organisation's login, got {org!r}")
    return org


def check_webhook_url(url: str) -> str:
    """GitHub must reach it from outside, and the deliveries carry code: a public https URL
    (this server on 127.0.0.1 cannot receive them)."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise SetupError(
            f"--webhook-url must be the https URL of this service's POST /webhook, got {url!r}"
        )
    if parts.hostname in LOCAL_HOSTS:
        raise SetupError("--webhook-url must be reachable by GitHub, not a local address")
    return url.strip()


def load_manifest(path: Path) -> dict[str, Any]:
    """The App's manifest, `app.yml` in Probot's format (YAML for GitHub's JSON)."""
    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise SetupError(f"cannot read the manifest {path} ({reason}): see --manifest") from None
    except yaml.YAMLError as exc:
        raise SetupError(f"the manifest {path} is not valid YAML: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("name"), str):
        raise SetupError(f"the manifest {path} must be a mapping with the App's name")
    return manifest


def build_manifest(
    manifest: dict[str, Any], *, webhook_url: str, redirect_url: str
) -> dict[str, Any]:
    """The manifest as posted: the webhook URL the user gave, and GitHub's way back to us."""
    posted = copy.deepcopy(manifest)
    hook = dict(posted.get("hook_attributes") or {})
    hook["url"] = webhook_url
    hook.setdefault("active", True)
    posted["hook_attributes"] = hook
    posted["redirect_url"] = redirect_url
    return posted


# -- the files ----------------------------------------------------------------------------


def setting_name(field_name: str) -> str:
    """The variable `Settings` reads for one of its fields (a typo fails here, not later)."""
    if field_name not in Settings.model_fields:
        raise KeyError(field_name)
    return f"{ENV_PREFIX}{field_name.upper()}"


def env_values(registration: AppRegistration, key_path: Path, api_url: str) -> dict[str, str]:
    """The settings the App needs to serve, from what GitHub returned."""
    values = {
        setting_name("app_id"): str(registration.id),
        setting_name("private_key_path"): str(key_path.resolve()),
    }
    if registration.webhook_secret is not None:
        values[setting_name("webhook_secret")] = registration.webhook_secret.get_secret_value()
    if api_url != DEFAULT_BASE_URL:
        values[setting_name("github_api_url")] = api_url
    return values


def quote_env_value(value: str) -> str:
    """Single quotes: dotenv takes what is inside literally, but for `\\'` and `\\\\`."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def kept_env_lines(existing: str) -> str:
    """An existing `.env` without the settings this command writes (and an inline key):
    its other variables and comments stay."""
    replaced = {setting_name(name) for name in REPLACED_SETTINGS}
    kept = [
        binding.original.string
        for binding in parse_stream(io.StringIO(existing))
        if binding.key is None or binding.key.upper() not in replaced
    ]
    text = "".join(kept)
    return text if not text or text.endswith("\n") else text + "\n"


def env_text(values: dict[str, str], registration: AppRegistration, existing: str = "") -> str:
    """The `.env` file: what was there (with --force), then the App's settings."""
    about = " ".join(f"{registration.slug} ({registration.html_url})".split())  # one line
    lines = [f"# The GitHub App {about}, by {PROG}"]
    lines += [f"{name}={quote_env_value(value)}" for name, value in values.items()]
    return kept_env_lines(existing) + "\n".join(lines) + "\n"


def write_private_file(path: Path, text: str, *, force: bool) -> None:
    """Write `text` to `path`, readable by its owner only from the start (mkstemp opens
    with 0600), whole or not at all: written beside it, then moved in place. Without
    `force`, `os.link` moves it, which fails rather than replace a file made meanwhile."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if force:
            os.replace(temporary, path)
        else:
            link_without_replacing(temporary, path)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(temporary)


def link_without_replacing(temporary: str, path: Path) -> None:
    """`os.link`, which refuses an existing `path`; where the file system has no hard links
    (some network and FUSE mounts), a replace after checking, rather than lose the App's key."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:
        if path.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(temporary, path)


def check_targets(options: SetupOptions) -> None:
    """Refuse before anything is sent to GitHub: a code is good once, so the files must be
    writable when it comes back."""
    env_file, key_path = options.env_file, options.key_path
    if env_file.resolve() == key_path.resolve():
        raise SetupError("--env-file and --key-file must be different files")
    for path in (env_file, key_path):
        if not path.parent.is_dir():
            raise SetupError(f"{path.parent} is not a directory")
        if not os.access(path.parent, os.W_OK):
            raise SetupError(f"{path.parent} is not writable")
        if path.exists() and not options.force:
            raise SetupError(f"{path} exists: pass --force to replace it")


def save_credentials(registration: AppRegistration, options: SetupOptions, api_url: str) -> None:
    """The key file, then `.env` that points at it; if `.env` fails, the new key goes too."""
    key_path, env_file = options.key_path, options.env_file
    existing = ""
    if options.force and env_file.exists():
        existing = env_file.read_text(encoding="utf-8")
    text = env_text(env_values(registration, key_path, api_url), registration, existing)
    write_private_file(key_path, registration.pem.get_secret_value(), force=options.force)
    try:
        write_private_file(env_file, text, force=options.force)
    except BaseException:
        if not options.force:
            key_path.unlink(missing_ok=True)
        raise


# -- the pages ----------------------------------------------------------------------------

STYLE = "body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}"


def page(title: str, body: str) -> bytes:
    """A whole page; `body` is HTML already escaped by the caller."""
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><h1>{html.escape(title)}</h1>{body}</html>"
    ).encode()


def start_page(flow: Flow) -> bytes:
    """The button that posts the manifest to GitHub."""
    manifest = json.dumps(flow.manifest)
    where = f"the organisation {flow.options.org}" if flow.options.org else "your account"
    return page(
        f"Register {flow.manifest['name']} on GitHub",
        f"<p>This registers the GitHub App described in {html.escape(str(flow.options.manifest))}"
        f" for {html.escape(where)} on {html.escape(flow.urls.web)}; GitHub will send its "
        f"webhooks to {html.escape(flow.options.webhook_url)}.</p>"
        f'<form method=post action="{html.escape(flow.form_url)}">'
        f'<input type=hidden name=manifest value="{html.escape(manifest)}">'
        "<button id=register type=submit>Register on GitHub</button></form>",
    )


def done_page(registration: AppRegistration, options: SetupOptions) -> bytes:
    install = html.escape(f"{registration.html_url}/installations/new")
    return page(
        "The App is registered",
        f"<p>GitHub App <b>{html.escape(registration.slug)}</b> (id {registration.id}) is "
        f"registered; its settings are in {html.escape(str(options.env_file))} and its private "
        f"key in {html.escape(str(options.key_path))}.</p>"
        f'<p>Next: <a href="{install}">install it</a> on your repositories, and run '
        "<code>failclosed serve</code>. You can close this page.</p>",
    )


def error_page(title: str, message: str) -> bytes:
    return page(title, f"<p>{html.escape(message)}</p>")


# -- the local server ---------------------------------------------------------------------


@dataclass
class Flow:
    """One run: what the page posts, the `state` the callback must bring back, and how the
    run ended."""

    options: SetupOptions
    urls: GitHubUrls
    manifest: dict[str, Any]
    state: str
    form_url: str
    outcome: SetupResult | None = None
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def matches_state(self, state: str) -> bool:
        return hmac.compare_digest(state.encode(), self.state.encode())

    def finish(self, outcome: SetupResult) -> None:
        self.outcome = outcome
        self.done.set()


class SetupServer(ThreadingHTTPServer):
    daemon_threads = True
    flow: Flow


class SetupHandler(BaseHTTPRequestHandler):
    """`GET /` is the start page, `GET /callback` GitHub's way back; nothing else."""

    server: SetupServer
    server_version = "failclosed-setup"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a request line would show the callback's code."""

    def do_GET(self) -> None:
        if not self._from_this_page():
            self._send(421, error_page("Wrong host", "Open this page at 127.0.0.1."))
            return
        url = urlsplit(self.path)
        if url.path == "/":
            self._send(200, start_page(self.server.flow))
        elif url.path == CALLBACK_PATH:
            self._callback(parse_qs(url.query))
        else:
            self._send(404, error_page("Not found", "This server has only the setup page."))

    def _from_this_page(self) -> bool:
        """Only requests to 127.0.0.1 or localhost with our port: not a DNS-rebound name."""
        port = self.server.server_address[1]
        return self.headers.get("Host", "") in (f"{LOCAL_HOST}:{port}", f"localhost:{port}")

    def _callback(self, query: dict[str, list[str]]) -> None:
        flow = self.server.flow
        state = (query.get("state") or [""])[0]
        code = (query.get("code") or [""])[0]
        if not flow.matches_state(state):
            print(f"{PROG}: ignored a callback whose state is not this run's", file=sys.stderr)
            self._send(400, error_page("Not this registration", STATE_MISMATCH))
            return
        if not CODE.fullmatch(code):
            self._send(400, error_page("No code", "GitHub's answer has no usable code."))
            return
        if not flow.lock.acquire(blocking=False) or flow.done.is_set():
            self._send(409, error_page("Already done", "This registration has been handled."))
            return
        status, body, outcome = exchange_and_save(code, flow)
        self._send(status, body)
        flow.finish(outcome)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        form_action = self.server.flow.urls.web
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'none'; style-src 'unsafe-inline'; form-action {form_action} 'self'",
        )
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


STATE_MISMATCH = (
    "This answer does not carry the state of the registration this command started, so it "
    "was ignored and nothing was written. Use the page the command printed."
)


def exchange_and_save(code: str, flow: Flow) -> tuple[int, bytes, SetupResult]:
    """Trade the code for the App's credentials and write them: the page and the outcome."""
    try:
        registration = create_app_from_manifest(code, flow.urls.api)
    except GitHubError as exc:
        message = f"GitHub did not register the App: {exc}. Nothing was written; run {PROG} again."
        return 502, error_page("Not registered", message), SetupResult(EXIT_FAILED, message)
    try:
        save_credentials(registration, flow.options, flow.urls.api)
    except OSError as exc:
        message = (
            f"The App {registration.slug} (id {registration.id}) is registered, but its files "
            f"could not be written ({type(exc).__name__}: {exc.strerror or exc}); nothing was "
            f"left half-written. Generate a new private key and secret at "
            f"{registration.html_url}."
        )
        return 500, error_page("Files not written", message), SetupResult(EXIT_FAILED, message)
    message = (
        f"Registered the GitHub App {registration.slug} (id {registration.id}): wrote "
        f"{flow.options.env_file} and {flow.options.key_path} (mode 0600). Install it: "
        f"{registration.html_url}/installations/new, then run `failclosed serve`."
    )
    if registration.webhook_secret is None:
        message += (
            f" GitHub returned no webhook secret: set one in the App's settings and as "
            f"{setting_name('webhook_secret')}."
        )
    return 200, done_page(registration, flow.options), SetupResult(0, message)


def check_limits(options: SetupOptions) -> None:
    if not 0 <= options.port <= 65535:
        raise SetupError(f"--port must be from 0 (any free one) to 65535, got {options.port}")
    if not options.timeout > 0:
        raise SetupError(f"--timeout must be a positive number of seconds, got {options.timeout}")


def start_server(options: SetupOptions) -> SetupServer:
    """Bind 127.0.0.1 first: the manifest's redirect_url needs the port."""
    urls = github_urls(options.github_url)
    manifest = load_manifest(options.manifest)
    check_targets(options)
    try:
        server = SetupServer((LOCAL_HOST, options.port), SetupHandler)
    except OSError as exc:
        raise SetupError(f"cannot listen on {LOCAL_HOST}:{options.port}: {exc.strerror}") from None
    redirect_url = f"http://{LOCAL_HOST}:{server.server_address[1]}{CALLBACK_PATH}"
    state = secrets.token_urlsafe(32)
    posted = build_manifest(manifest, webhook_url=options.webhook_url, redirect_url=redirect_url)
    server.flow = Flow(
        options=options,
        urls=urls,
        manifest=posted,
        state=state,
        form_url=new_app_url(urls, options.org, state),
    )
    return server


def run_setup(options: SetupOptions, out: TextIO | None = None) -> int:
    """Serve the page until GitHub's callback is handled or the time is up."""
    out = out or sys.stdout
    try:
        check_webhook_url(options.webhook_url)
        check_org(options.org)
        check_limits(options)
        server = start_server(options)
    except SetupError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    flow = server.flow
    url = f"http://{LOCAL_HOST}:{server.server_address[1]}/"
    print(f"Open {url} and press the button to register the App on {flow.urls.web}", file=out)
    out.flush()
    thread = threading.Thread(
        target=server.serve_forever, args=(POLL_SECONDS,), name="setup-server", daemon=True
    )
    thread.start()
    try:
        if options.open_browser:
            webbrowser.open(url)
        flow.done.wait(options.timeout)
    except KeyboardInterrupt:
        flow.finish(SetupResult(EXIT_FAILED, "interrupted: nothing was written"))
    finally:
        server.shutdown()
        server.server_close()
    outcome = flow.outcome or SetupResult(
        EXIT_FAILED, f"no answer from GitHub within {options.timeout:g} s: nothing was written"
    )
    if outcome.status == 0:
        print(outcome.message, file=out)
    else:
        print(f"{PROG}: {outcome.message}", file=sys.stderr)
    return outcome.status


# -- the command line ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Register the GitHub App from app.yml (GitHub's manifest flow) and "
        "write its id, webhook secret and private key to .env and a key file.",
    )
    parser.add_argument(
        "--webhook-url",
        required=True,
        help="the public https URL of this service's POST /webhook (GitHub cannot reach "
        "127.0.0.1; a tunnel such as smee.io will do while you try it)",
    )
    parser.add_argument("--org", help="register it for this organisation (default: your user)")
    parser.add_argument(
        "--github-url",
        default=DEFAULT_GITHUB_URL,
        help="GitHub's web address; a GitHub Enterprise Server's is https://HOST "
        "(its API is then https://HOST/api/v3)",
    )
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="default: .env")
    parser.add_argument(
        "--key-file", type=Path, help=f"the private key's file (default: {DEFAULT_KEY_NAME})"
    )
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="default: app.yml")
    parser.add_argument("--port", type=int, default=0, help="local port (default: any free one)")
    parser.add_argument(
        "--no-browser", dest="open_browser", action="store_false", help="only print the URL"
    )
    parser.add_argument("--force", action="store_true", help="replace existing files")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait (default: 3600)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_setup(SetupOptions(**vars(args)))


if __name__ == "__main__":
    sys.exit(main())
