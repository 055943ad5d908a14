"""Re-records the cassettes of `tests/test_action.py` (tests/cassettes/action_*.yaml).

The Action's tests run `app.commands.action` on a real git repository
(`test_action.make_repo`, whose commits have fixed ids) and replay GitHub from these
cassettes. This script runs the same script on the same repository against a local stand-in
for GitHub, and vcrpy writes the traffic down, scrubbed as `record.py`'s `scrubbing_vcr` does
(no Authorization header, every URI https://api.github.com).

The stand-in answers the three requests a pull request's run makes, with GitHub's OpenAPI
examples (npm `@octokit/openapi`, via `record.py`) fitted to the repository and checked
against the description's schemas and githubkit's models:
- `GET /pulls/{n}/files`: the one changed file, its `patch` made from the two commits;
- `GET /pulls/{n}/comments`: none, or (`action_already_reviewed`) the comment the first
  run posted, written by `github-actions[bot]`, the account a workflow's token posts as;
- `POST /pulls/{n}/reviews`: the review (its body checked against the operation's request
  schema first), or 403 `Resource not accessible by integration`, as GitHub answers a
  fork's read-only `GITHUB_TOKEN`.

    .venv/bin/python tests/cassettes/record_action.py --openapi path/to/api.github.com.json
    .venv/bin/python tests/cassettes/record_action.py   # runs `npm pack @octokit/openapi`
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "tests")]

import test_action as scenarios  # noqa: E402
from record import Spec, bot_user, fixed_example, load_openapi, scrubbing_vcr  # noqa: E402
from record_e2e import RequestSchemas  # noqa: E402
from support import patch_of  # noqa: E402

from failclosed.app.commands import action  # noqa: E402

PR_PATH = f"/repos/{scenarios.REPO}/pulls/{scenarios.NUMBER}"
REVIEWS = ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews")
NOT_ACCESSIBLE = {
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request",
    "status": "403",
}


class Reviews(RequestSchemas):
    OPERATIONS = {REVIEWS}


class StandIn:
    """One scenario's GitHub: the pull request's files and comments, what a review gets."""

    def __init__(self, spec: Spec, comments: list[dict[str, Any]], read_only: bool) -> None:
        self.spec = spec
        entry = fixed_example(spec, "diff-entry-items")[0]
        entry.update(
            filename=scenarios.FILE,
            status="modified",
            patch=patch_of(scenarios.BASE_SOURCE, scenarios.FAIL_OPEN_SOURCE),
        )
        self.files = spec.check([entry], "diff-entry", array=True)
        self.comments = spec.check(comments, "pull-request-review-comment", array=True)
        self.read_only = read_only
        self.schemas = Reviews(spec)
        self.posted: list[dict[str, Any]] = []
        self.problems: list[str] = []

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if (method, path) == ("GET", f"{PR_PATH}/files"):
            return 200, self.files
        if (method, path) == ("GET", f"{PR_PATH}/comments"):
            return 200, self.comments
        if (method, path) == ("POST", f"{PR_PATH}/reviews"):
            if self.read_only:
                return 403, self.spec.check(NOT_ACCESSIBLE, "basic-error")
            review = json.loads(body)
            if problems := self.schemas.errors(*REVIEWS, review):
                self.problems += problems
                return 422, {"message": "Invalid request", "errors": problems}
            self.posted.append(review)
            answer = self.spec.check(
                self.spec.example("pull-request-review"), "pull-request-review"
            )
            answer.update(body=review["body"], commit_id=review["commit_id"], state="COMMENTED")
            return 200, answer
        self.problems.append(f"unexpected request {method} {path}")
        return 404, {"message": "Not Found"}


def make_handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?")[0]
            status, answer = stand_in.answer(self.command, path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def our_comment(spec: Spec, review: dict[str, Any]) -> dict[str, Any]:
    """The first run's inline comment as `GET /pulls/{n}/comments` lists it afterwards."""
    posted = review["comments"][0]
    comment = spec.example("pull-request-review-comment-items")[0]
    del comment["in_reply_to_id"]  # a thread's first comment
    comment.update(
        id=2001,
        path=posted["path"],
        body=posted["body"],
        line=posted["line"],
        original_line=posted["line"],
        side="RIGHT",
        commit_id=review["commit_id"],
        original_commit_id=review["commit_id"],
    )
    comment["user"] = bot_user(comment["user"], "github-actions")
    return comment


def run_scenario(
    spec: Spec,
    name: str,
    comments: list[dict[str, Any]],
    read_only: bool,
    analyse: Callable[..., Any],
) -> StandIn:
    stand_in = StandIn(spec, comments, read_only)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(stand_in))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    cassette = HERE / f"{name}.yaml"
    cassette.unlink(missing_ok=True)
    real = action.analyse
    action.analyse = analyse
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workspace = Path(tmp) / "workspace"
            base, head = scenarios.make_repo(workspace)
            run = scenarios.Run(Path(tmp), "pull_request", scenarios.pull_request_event(base, head))
            run.env["GITHUB_API_URL"] = base_url
            before = Path.cwd()
            os.chdir(workspace)
            try:
                with scrubbing_vcr(base_url).use_cassette(str(cassette)):
                    code = run()
            finally:
                os.chdir(before)
    finally:
        action.analyse = real
        server.shutdown()
    print(f"{name}: exit {code}, {len(stand_in.posted)} review(s) posted")
    if stand_in.problems:
        raise SystemExit(f"{name}: " + "; ".join(stand_in.problems))
    return stand_in


def as_warnings(target: Any, config: Any) -> Any:
    """The same finding with severity warning (test_a_read_only_token_with_only_warnings)."""
    report = action.diff_report(target.base, target.head, config)
    report.findings[:] = [replace(f, severity="warning") for f in report.findings]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openapi", type=Path, help="api.github.com.json (default: npm pack)")
    spec = Spec(load_openapi(parser.parse_args().openapi))
    first = run_scenario(spec, "action_review", [], False, action.analyse)
    ours = our_comment(spec, first.posted[0])
    run_scenario(spec, "action_already_reviewed", [ours], False, action.analyse)
    run_scenario(spec, "action_read_only", [], True, action.analyse)
    run_scenario(spec, "action_read_only_warning", [], True, as_warnings)
    (HERE / "action_no_requests.yaml").write_text("interactions: []\nversion: 1\n")


if __name__ == "__main__":
    main()
