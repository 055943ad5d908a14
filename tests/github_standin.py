"""A stand-in for GitHub's side of the App manifest flow, on 127.0.0.1, for `failclosed setup`.

- `POST /settings/apps/new` and `POST /organizations/ORG/settings/apps/new` (the form's
  target, with `?state=`): records the posted `manifest` and sends the browser on to the
  manifest's `redirect_url` with a fresh `code` and the `state`, as GitHub does once the
  user confirms (the stand-in skips GitHub's confirmation page).
- `POST /api/v3/app-manifests/{code}/conversions` (a GitHub Enterprise Server's API base):
  201 with the OpenAPI description's example (`tests/payloads/rest.apps.create-from-manifest
  .201.json`) for a code it issued, once; 404 as GitHub answers for any other code, or the
  status and body a test sets in `conversion_answer`.

Every request is recorded, headers included, so tests assert what was sent to GitHub.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from support import load_payload

NEW_APP_PATH = re.compile(r"(/organizations/[^/]+)?/settings/apps/new")
CONVERSION_PATH = re.compile(r"/api/v3/app-manifests/([^/]+)/conversions")
CONVERSION = load_payload("rest.apps.create-from-manifest.201")
NOT_FOUND = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest",
    "status": "404",
}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class GitHubStandIn:
    """What the stand-in was sent, and what it answers."""

    requests: list[Recorded] = field(default_factory=list)
    issued_codes: list[str] = field(default_factory=list)
    conversion_answer: tuple[int, dict[str, Any]] | None = None  # None: GitHub's behaviour
    _unused_codes: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def posted_manifests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/settings/apps/new")]

    def conversions(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/conversions")]

    def issue_code(self) -> str:
        code = secrets.token_hex(10)  # GitHub's are 20 hex digits too
        with self._lock:
            self.issued_codes.append(code)
            self._unused_codes.add(code)
        return code

    def spend_code(self, code: str) -> bool:
        with self._lock:
            if code in self._unused_codes:
                self._unused_codes.discard(code)
                return True
            return False


class StandInHandler(BaseHTTPRequestHandler):
    server: StandInServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        is_form = self.headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded"
        )
        recorded = Recorded(
            method="POST",
            path=url.path,
            query=parse_qs(url.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            form=parse_qs(body) if is_form else {},
        )
        self.server.github.requests.append(recorded)
        new_app = NEW_APP_PATH.fullmatch(url.path)
        conversion = CONVERSION_PATH.fullmatch(url.path)
        if new_app:
            self._new_app(recorded)
        elif conversion:
            self._conversion(conversion.group(1))
        else:
            self._json(404, NOT_FOUND)

    def _new_app(self, recorded: Recorded) -> None:
        """GitHub creates the App, then sends the browser to `redirect_url?code=&state=`."""
        try:
            manifest = json.loads(recorded.form["manifest"][0])
            redirect_url = manifest["redirect_url"]
        except (KeyError, IndexError, ValueError):
            self._json(422, {"message": "Invalid manifest"})
            return
        query = {"code": self.server.github.issue_code()}
        if "state" in recorded.query:
            query["state"] = recorded.query["state"][0]
        self.send_response(302)
        self.send_header("Location", f"{redirect_url}?{urlencode(query)}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _conversion(self, code: str) -> None:
        github = self.server.github
        if github.conversion_answer is not None:
            self._json(*github.conversion_answer)
        elif github.spend_code(code):
            self._json(201, CONVERSION)
        else:
            self._json(404, NOT_FOUND)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), StandInHandler)
        self.github = GitHubStandIn()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> StandInServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
