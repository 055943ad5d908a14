"""End to end: signed deliveries through the real FastAPI app to what was sent to GitHub.

Each test builds the production stack:
`create_app(settings, Workers(SqliteJobQueue(file), GitHubApp(...)))` with a queue file
under tmp_path, the default base URL https://api.github.com, a fresh in-memory token cache
and a throwaway RSA key. It POSTs GitHub's real webhook payloads (tests/payloads/, adjusted to the
scenario's pull request and head commit), signed with the test secret, through the ASGI
interface, waits for the worker thread (`sink.join()`), then asserts on the HTTP requests the
job sent to GitHub.

GitHub's side is replayed from tests/cassettes/e2e_<scenario>.yaml (record mode none: an
unrecorded request fails, nothing reaches a network). They were recorded by
tests/cassettes/record_e2e.py, which runs these same deliveries against a local stand-in
whose answers are built from GitHub's OpenAPI examples and schema-checked (responses and the
job's request bodies alike). `SCENARIOS` below is the single description of each scenario:
the repository's files at each commit and the deliveries; the recorder reads it too.

What was sent is read by a spy on httpx's transport, inside vcrpy's patch: it sees every
request the job makes, whether or not the cassette could answer it. Every test checks that
the spy's requests are exactly the cassette's, in order, and that every recorded answer was
used, so the cassette is also an exact log of the traffic. The 502 test waits about one
second: githubkit's back-off before its first retry.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import vcr
from githubkit.cache import MemCacheStrategy
from support import (
    github_headers,
    load_payload,
    make_settings,
    new_private_key,
    request,
    sign,
)
from test_output import assert_valid_sarif

from failclosed.app.github.client import GitHubApp, pull_requests_query
from failclosed.app.github.port import Link
from failclosed.app.receive.server import create_app
from failclosed.app.review.analyze import FIXED_MARKER
from failclosed.app.review.publish import FAILED_TITLE
from failclosed.app.run.queue import SqliteJobQueue
from failclosed.app.run.worker import Workers

CASSETTES = Path(__file__).parent / "cassettes"
API = "https://api.github.com"

# The pull request of tests/payloads/pull_request.*.json.
REPO = "Codertocat/Hello-World"
NUMBER = 2
INSTALLATION_ID = 1
HEAD_REF = "changes"
BASE_SHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
HEAD_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
FIXED_SHA = "3c5a81e1f0d1b2c4a6e8f0011223344556677889"  # the second push
CHECK_RUN_ID = 4  # the id GitHub's example check run has
PATH = "app/perms.py"

BASE_SOURCE = b"""\
def has_permission(user, action):
    try:
        return client.check(user, action)
    except Exception:
        return False
"""
# The seed's case: the permission check's `except` handler now allows.
FAIL_OPEN_SOURCE = BASE_SOURCE.replace(b"return False", b"return True")
# The second push: denies again (and differs from the base, so the file stays in the diff).
FIXED_SOURCE = BASE_SOURCE.replace(b"return False", b"return False  # deny when unsure")
CLEAN_SOURCE = (
    BASE_SOURCE
    + b"""

def greeting(name):
    return f"hello {name}"
"""
)
BROKEN_SOURCE = BASE_SOURCE + b"\n\ndef greeting(name:\n    return name\n"

# -- the scenarios (shared with tests/cassettes/record_e2e.py) ------------------------------


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery, and the pull request's head on GitHub when it arrives."""

    event: str
    payload: dict[str, Any]
    delivery_id: str
    head_sha: str
    signed: bool = True  # False: signed with the wrong secret


@dataclass(frozen=True)
class Scenario:
    trees: dict[str, dict[str, bytes | Link]]  # commit -> path -> contents, or a symlink
    deliveries: tuple[Delivery, ...]
    repo: str = REPO
    # (method, path) GitHub answers 502 the first time it is asked, then normally.
    fail_once: tuple[tuple[str, str], ...] = ()
    # (method, path) GitHub refuses with 403 (a permission the installation lacks).
    refuse: tuple[tuple[str, str], ...] = ()
    # `FAILCLOSED_CODE_SCANNING` (the other settings are the tests' own).
    code_scanning: str = "off"


def pull_request_delivery(action: str, head_sha: str, delivery_id: str) -> Delivery:
    name = "pull_request.opened" if action == "opened" else "pull_request.synchronize"
    payload = load_payload(name)
    payload["action"] = action
    payload["pull_request"]["head"]["sha"] = head_sha
    if "after" in payload:
        payload["before"], payload["after"] = HEAD_SHA, head_sha
    assert payload["repository"]["full_name"] == REPO
    assert payload["pull_request"]["number"] == NUMBER
    assert payload["pull_request"]["base"]["sha"] == BASE_SHA
    return Delivery("pull_request", payload, delivery_id, head_sha)


def apply_fixes_delivery(head_sha: str, delivery_id: str) -> Delivery:
    """Our check run's "Apply fixes" button, on this repository's pull request."""
    payload = load_payload("check_run.requested_action")
    pr_event = load_payload("pull_request.opened")
    payload["repository"] = pr_event["repository"]
    payload["installation"] = pr_event["installation"]
    payload.pop("organization", None)
    payload["requested_action"] = {"identifier": "apply_fixes"}
    run = payload["check_run"]
    run.update(id=CHECK_RUN_ID, head_sha=head_sha, name="failclosed")
    repo_ref = {"id": pr_event["repository"]["id"], "name": pr_event["repository"]["name"]}
    pr_ref = {
        "id": pr_event["pull_request"]["id"],
        "number": NUMBER,
        "head": {"ref": HEAD_REF, "sha": head_sha, "repo": repo_ref},
        "base": {"ref": "master", "sha": BASE_SHA, "repo": repo_ref},
    }
    run["pull_requests"] = [pr_ref]
    run["check_suite"].update(head_sha=head_sha, head_branch=HEAD_REF, pull_requests=[pr_ref])
    return Delivery("check_run", payload, delivery_id, head_sha)


# The merge group of tests/payloads/merge_group.*.json, delivered as GitHub sends it: a
# merge queue (organisations only) on octo-org/octo-repo, no pull request.
MG_REPO = "octo-org/octo-repo"
MG_HEAD_SHA = "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d"
MG_BASE_SHA = "380387fbc80638b734a49e1be1c4dfec1c01b33c"
README = "README.md"  # changed in every group too: not Python, never read


def merge_group_delivery(action: str, delivery_id: str) -> Delivery:
    payload = load_payload(f"merge_group.{action}")
    group = payload["merge_group"]
    assert (group["head_sha"], group["base_sha"]) == (MG_HEAD_SHA, MG_BASE_SHA)
    assert group["head_ref"].startswith("refs/heads/gh-readonly-queue/main/")
    assert (payload["repository"]["full_name"], payload["installation"]["id"]) == (
        MG_REPO,
        INSTALLATION_ID,
    )
    return Delivery("merge_group", payload, delivery_id, MG_HEAD_SHA)


def merge_group_trees(head_source: bytes) -> dict[str, dict[str, bytes | Link]]:
    return {
        MG_BASE_SHA: {PATH: BASE_SOURCE, README: b"# octo-repo\n"},
        MG_HEAD_SHA: {PATH: head_source, README: b"# octo-repo\n\nUpdated.\n"},
    }


# A push to the default branch of tests/payloads/push.created.json (`refs/heads/master` of
# Codertocat/Hello-World, installation 1), as GitHub sends it: scanned whole when the
# installation opted in to code scanning.
PUSH_SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
PUSH_REF = "refs/heads/master"
SCAN_CONFIG = b'[tool.failclosed]\nexclude = ["legacy/"]\n'
CLEAN_PATH, EXCLUDED_PATH = "app/greeting.py", "legacy/perms.py"


def push_delivery(delivery_id: str, ref: str = PUSH_REF) -> Delivery:
    payload = load_payload("push.created")
    assert (payload["after"], payload["ref"]) == (PUSH_SHA, PUSH_REF)
    assert payload["repository"]["default_branch"] == "master"
    assert (payload["repository"]["full_name"], payload["installation"]["id"]) == (
        REPO,
        INSTALLATION_ID,
    )
    payload["ref"] = ref
    return Delivery("push", payload, delivery_id, PUSH_SHA)


PUSHED = push_delivery("e2e00000-0000-4000-8000-00000000000c")
SCAN_TREES: dict[str, dict[str, bytes | Link]] = {
    PUSH_SHA: {
        "pyproject.toml": SCAN_CONFIG,
        "README.md": b"# Hello-World\n",
        PATH: FAIL_OPEN_SOURCE,
        CLEAN_PATH: CLEAN_SOURCE,
        EXCLUDED_PATH: FAIL_OPEN_SOURCE,
        "app/auth.py": Link("perms.py"),
    }
}
SARIF_UPLOAD = ("POST", f"/repos/{REPO}/code-scanning/sarifs")

CHECKS_REQUESTED = merge_group_delivery("checks_requested", "e2e00000-0000-4000-8000-00000000000a")
DESTROYED = merge_group_delivery("destroyed", "e2e00000-0000-4000-8000-00000000000b")

SEED_TREES: dict[str, dict[str, bytes | Link]] = {
    BASE_SHA: {PATH: BASE_SOURCE},
    HEAD_SHA: {PATH: FAIL_OPEN_SOURCE},
}
LINK_PATH, LINKED_TARGET = "app/auth.py", "docs/auth.txt"
OPENED = pull_request_delivery("opened", HEAD_SHA, "e2e00000-0000-4000-8000-000000000001")

# More findings than a review comments on inline (issue 13 part 6, tests/test_app_review_cap.py):
# 40 checks that allow on error (blocking) and 20 lookups that default to allow (warnings,
# as the repository's configuration at the base grades FC103).
CAP_CONFIG = b'[tool.failclosed]\nseverity = { FC103 = "warning" }\n'
CAP_SOURCE = b"\n\n".join(
    [BASE_SOURCE]
    + [
        b"def can_access_%d(decision):\n    return decision.get('allowed', True)\n" % i
        for i in range(20)
    ]
    + [FAIL_OPEN_SOURCE.replace(b"has_permission", b"has_permission_%d" % i) for i in range(40)]
)

SCENARIOS: dict[str, Scenario] = {
    # The default branch, scanned whole and uploaded to code scanning; a push to another
    # branch of the same repository is not scanned.
    "code_scanning": Scenario(
        SCAN_TREES,
        (PUSHED, push_delivery("e2e00000-0000-4000-8000-00000000000d", "refs/heads/feature")),
        code_scanning="all",
    ),
    # Opted in by the account's login; the installation never accepted security_events.
    "code_scanning_403": Scenario(
        SCAN_TREES, (PUSHED,), refuse=(SARIF_UPLOAD,), code_scanning="Codertocat"
    ),
    # Not opted in: the push queues nothing and nothing is sent to GitHub.
    "code_scanning_off": Scenario(SCAN_TREES, (PUSHED,)),
    "seed": Scenario(SEED_TREES, (OPENED,)),
    "bad_signature": Scenario(SEED_TREES, (replace(OPENED, signed=False),)),
    "clean": Scenario({BASE_SHA: {PATH: BASE_SOURCE}, HEAD_SHA: {PATH: CLEAN_SOURCE}}, (OPENED,)),
    "syntax_error": Scenario(
        {BASE_SHA: {PATH: BASE_SOURCE}, HEAD_SHA: {PATH: BROKEN_SOURCE}}, (OPENED,)
    ),
    # GitHub redelivers the very same delivery (same id, same body): one job.
    "redelivery": Scenario(SEED_TREES, (OPENED, OPENED)),
    # The PR is closed and reopened at the same head: a second job, no second comment.
    "reopened": Scenario(
        SEED_TREES,
        (
            OPENED,
            pull_request_delivery("reopened", HEAD_SHA, "e2e00000-0000-4000-8000-000000000004"),
        ),
    ),
    "second_push": Scenario(
        {**SEED_TREES, FIXED_SHA: {PATH: FIXED_SOURCE}},
        (
            OPENED,
            pull_request_delivery("synchronize", FIXED_SHA, "e2e00000-0000-4000-8000-000000000002"),
        ),
    ),
    "retry_502": Scenario(
        SEED_TREES,
        (OPENED,),
        fail_once=(("POST", "/graphql"),),  # the first: the PR's read
    ),
    "apply_fixes": Scenario(
        SEED_TREES, (apply_fixes_delivery(HEAD_SHA, "e2e00000-0000-4000-8000-000000000003"),)
    ),
    # The PR adds `app/auth.py`, a symbolic link to a text file the repository already has
    # (issue 11 item 4). GitHub's blob of the link is `../docs/auth.txt`: valid Python.
    "symlink": Scenario(
        {
            BASE_SHA: {PATH: BASE_SOURCE, LINKED_TARGET: FAIL_OPEN_SOURCE},
            HEAD_SHA: {
                PATH: BASE_SOURCE,
                LINKED_TARGET: FAIL_OPEN_SOURCE,
                LINK_PATH: Link("../" + LINKED_TARGET),
            },
        },
        (OPENED,),
    ),
    "symlink_outside": Scenario(
        {
            BASE_SHA: {PATH: BASE_SOURCE},
            HEAD_SHA: {PATH: BASE_SOURCE, LINK_PATH: Link("../../shared/auth.py")},
        },
        (OPENED,),
    ),
    # A merge queue: the group is checked, then merged or dequeued (destroyed).
    "merge_group": Scenario(
        merge_group_trees(FAIL_OPEN_SOURCE), (CHECKS_REQUESTED, DESTROYED), repo=MG_REPO
    ),
    "merge_group_clean": Scenario(
        merge_group_trees(CLEAN_SOURCE), (CHECKS_REQUESTED,), repo=MG_REPO
    ),
    "merge_group_syntax_error": Scenario(
        merge_group_trees(BROKEN_SOURCE), (CHECKS_REQUESTED,), repo=MG_REPO
    ),
    "review_cap": Scenario(
        {
            BASE_SHA: {PATH: BASE_SOURCE, "pyproject.toml": CAP_CONFIG},
            HEAD_SHA: {PATH: CAP_SOURCE, "pyproject.toml": CAP_CONFIG},
        },
        (OPENED,),
    ),
    # The group adds the link of "symlink": followed to its target as for a pull request.
    "merge_group_symlink": Scenario(
        {
            MG_BASE_SHA: {
                **merge_group_trees(BASE_SOURCE)[MG_BASE_SHA],
                LINKED_TARGET: FAIL_OPEN_SOURCE,
            },
            MG_HEAD_SHA: {
                **merge_group_trees(BASE_SOURCE)[MG_HEAD_SHA],
                LINKED_TARGET: FAIL_OPEN_SOURCE,
                LINK_PATH: Link("../" + LINKED_TARGET),
            },
        },
        (CHECKS_REQUESTED,),
        repo=MG_REPO,
    ),
}


def deliver(app: Any, delivery: Delivery) -> httpx.Response:
    """POST the delivery to the app's /webhook through its ASGI interface."""
    body = json.dumps(delivery.payload).encode()
    headers = github_headers(delivery.event, body, **{"X-GitHub-Delivery": delivery.delivery_id})
    if not delivery.signed:
        headers["X-Hub-Signature-256"] = sign(body, secret="not-the-webhook-secret-1234")
    return request(app, "POST", "/webhook", body, headers)


# -- replaying GitHub and reading what was sent -----------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One request the job sent to GitHub."""

    method: str
    url: str
    path: str
    body: bytes
    # The transport it went through: one per `httpx.Client` (kept, so none is reused).
    transport: object = field(default=None, compare=False, repr=False)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Run:
    """What a scenario's deliveries got back, and what the jobs sent to GitHub."""

    statuses: list[int]
    sent: list[Sent]
    cassette: Any
    asked: list[int] = field(default_factory=list)  # installations a job asked a client for
    states: list[tuple[str, str, int]] = field(default_factory=list)  # kind, state, attempts

    def to(self, method: str, path: str) -> list[Sent]:
        return [s for s in self.sent if (s.method, s.path) == (method, path)]

    def one(self, method: str, path: str) -> Sent:
        (found,) = self.to(method, path)
        return found

    def answers_to(self, method: str, path: str) -> list[dict[str, Any]]:
        """The recorded responses to those requests, in order."""
        return [
            response
            for recorded, response in zip(
                self.cassette.requests, self.cassette.responses, strict=True
            )
            if (recorded.method, recorded.path) == (method, path)
        ]


replay = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    filter_headers=["authorization"],
    ignore_hosts=["testserver"],  # the webhook delivery itself goes through ASGI, not GitHub
)


@contextmanager
def spying() -> Iterator[list[Sent]]:
    """Every request sent through httpx's transport (vcrpy's stub) while inside."""
    sent: list[Sent] = []
    stub = httpx.HTTPTransport.handle_request  # vcrpy's, while a cassette is in use

    def spy(self: httpx.HTTPTransport, req: httpx.Request) -> httpx.Response:
        sent.append(Sent(req.method, str(req.url), req.url.path, req.read(), self))
        return stub(self, req)

    httpx.HTTPTransport.handle_request = spy  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        httpx.HTTPTransport.handle_request = stub  # type: ignore[method-assign]


class CountingInstallations:
    """The real `GitHubApp`, remembering which installations the worker asked for."""

    def __init__(self, github_app: GitHubApp) -> None:
        self.github_app = github_app
        self.asked: list[int] = []

    def installation(self, installation_id: int) -> Any:
        self.asked.append(installation_id)
        return self.github_app.installation(installation_id)


@pytest.fixture(scope="module")
def private_key() -> str:
    """A throwaway key: replay does not check the JWT, only that one is made."""
    return new_private_key()


def job_states(queue: SqliteJobQueue) -> list[tuple[str, str, int]]:
    """Each job's kind, final state and attempts, oldest first."""
    return [(row.kind, row.state, row.attempts) for row in reversed(queue.jobs())]


def run_scenario(
    name: str, private_key: str, caplog: pytest.LogCaptureFixture, queue_dir: Path
) -> Run:
    """Deliver the scenario's webhooks to the real app; GitHub replayed from its cassette."""
    scenario = SCENARIOS[name]
    # A fresh token cache: the cassette holds its own token request.
    github_app = GitHubApp(1, private_key, base_url=API, cache_strategy=MemCacheStrategy())
    installations = CountingInstallations(github_app)
    # No worker retries: an unrecorded request fails the job at once instead of waiting
    # through the back-off (githubkit's own 5xx retry still runs, as in production).
    queue = SqliteJobQueue(queue_dir / f"{name}.sqlite3")
    sink = Workers(queue, installations, retry_delays=(), poll_seconds=0.02)
    app = create_app(make_settings(code_scanning=scenario.code_scanning), sink)
    statuses: list[int] = []
    caplog.set_level(logging.WARNING)
    try:
        with replay.use_cassette(f"e2e_{name}.yaml") as cassette, spying() as sent:
            for delivery in scenario.deliveries:
                statuses.append(deliver(app, delivery).status_code)
                sink.join()
    finally:
        sink.stop()
        states = job_states(queue)
        queue.close()
    # The cassette is an exact log: every request was recorded, every answer used once.
    assert [(s.method, s.url) for s in sent] == [(r.method, r.uri) for r in cassette.requests]
    assert cassette.all_played, f"e2e_{name}: not every recorded answer was used"
    failed = [
        r
        for r in caplog.records
        if r.name in ("failclosed.app.run.worker", "failclosed.app.run.execute")
        and r.levelno >= logging.ERROR
    ]
    if not scenario.refuse:  # a refused write fails its job: that test looks at it
        assert not failed, [r.getMessage() for r in failed]
    return Run(statuses, sent, cassette, installations.asked, states=states)


# -- shared expectations ---------------------------------------------------------------------

TOKEN = ("POST", f"/app/installations/{INSTALLATION_ID}/access_tokens")
PULL = ("GET", f"/repos/{REPO}/pulls/{NUMBER}")
CHECK_CREATE = ("POST", f"/repos/{REPO}/check-runs")
FILES = ("GET", f"/repos/{REPO}/pulls/{NUMBER}/files")
GRAPHQL = ("POST", "/graphql")
REVIEW = ("POST", f"/repos/{REPO}/pulls/{NUMBER}/reviews")
CHECK_UPDATE = ("PATCH", f"/repos/{REPO}/check-runs/{CHECK_RUN_ID}")
ISSUE_COMMENT = ("POST", f"/repos/{REPO}/issues/{NUMBER}/comments")
APP = ("GET", "/app")


def analysis(*, first: bool = True) -> list[tuple[str, str]]:
    """An analyze job's check run and reads: one GraphQL query for the job's PR, the other
    open PRs of its head (one check run serves them all) and the review comments on them
    (the process's first such read also asks GitHub who the App is: its bot writes our
    comments); the PR's files; one GraphQL query for both sides (head and base) of them."""
    own_login = [APP] if first else []
    return [CHECK_CREATE, *own_login, GRAPHQL, FILES, GRAPHQL]


def threads_read(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The review threads of the PR in a recorded answer to `read_pull_requests`' query."""
    pull = json.loads(answer["body"]["string"])["data"]["repository"]["p0"]
    return pull["reviewThreads"]["nodes"]


SUGGESTION = "```suggestion\n        return False\n```"


def calls(run: Run) -> list[tuple[str, str]]:
    return [(s.method, s.path) for s in run.sent]


def clients_per_job(run: Run) -> list[int]:
    """How many requests each HTTP client sent, in order; `GET /app` (read once per process
    with the App's own client) aside. One client per job: its requests share a connection."""
    counts: dict[int, int] = {}
    for s in run.sent:
        if (s.method, s.path) != APP:
            counts[id(s.transport)] = counts.get(id(s.transport), 0) + 1
    return list(counts.values())


def read_expressions(sent: Sent) -> list[str]:
    """The files a read_files GraphQL query asks for, as `<sha>:<path>`: each commit's
    `object(expression: $c<j>)` holds a `file(path: $p<i>)` per path read there."""
    body = sent.json()
    query, variables = body["query"], body["variables"]
    return [
        f"{variables[commit]}:{variables[path]}"
        for commit, files in re.findall(r"\$(c\d+)\) \{(.*?)\n    \}", query, re.S)
        for path in re.findall(r"file\(path: \$(p\d+)\)", files)
    ]


def assert_check_created_in_progress(
    sent: Sent, head_sha: str, delivery: Delivery = OPENED
) -> None:
    """In progress on the head, tagged with the delivery (found by it after a crash)."""
    assert sent.json() == {
        "name": "failclosed",
        "head_sha": head_sha,
        "status": "in_progress",
        "external_id": delivery.delivery_id,
    }


def assert_fc101_check(sent: Sent, head_sha: str, *, fixes_button: bool = True) -> None:
    """The check run completed as failure with one FC101 annotation on line 5, and the
    "Apply fixes" button (a pull request's; a merge group has no branch to commit to)."""
    body = sent.json()
    assert (body["status"], body["conclusion"], body["head_sha"]) == (
        "completed",
        "failure",
        head_sha,
    )
    assert body["output"]["title"] == "1 blocking fail-open path"
    (annotation,) = body["output"]["annotations"]
    assert annotation["path"] == PATH
    assert (annotation["start_line"], annotation["end_line"]) == (5, 5)
    assert annotation["annotation_level"] == "failure"
    assert annotation["title"].startswith("FC101 ")
    assert "has_permission" in annotation["message"]
    assert annotation["raw_details"] == "        return False\n"
    if not fixes_button:
        assert "actions" not in body
        return
    assert body["actions"] == [
        {
            "label": "Apply fixes",
            "identifier": "apply_fixes",
            "description": "Commit the verified fail-closed patches",
        }
    ]


def assert_fc101_review(sent: Sent, head_sha: str) -> dict[str, Any]:
    """One review, COMMENT, with one suggestion comment on line 5; returns the comment."""
    review = sent.json()
    assert (review["commit_id"], review["event"]) == (head_sha, "COMMENT")
    assert "1 fail-open path" in review["body"]
    (comment,) = review["comments"]
    assert (comment["path"], comment["line"], comment["side"]) == (PATH, 5, "RIGHT")
    assert "start_line" not in comment  # a one-line suggestion
    assert comment["body"].startswith("**FC101**")
    assert SUGGESTION in comment["body"]
    assert "<!-- failclosed:fingerprint=FC101:app/perms.py:" in comment["body"]
    return comment


# -- the scenarios ---------------------------------------------------------------------------


def test_seed_fail_open_except_handler_gets_a_suggestion_and_a_failing_check(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """`except Exception: return False` -> `return True` in `has_permission`: FC101."""
    run = run_scenario("seed", private_key, caplog, tmp_path)

    assert run.statuses == [202]
    assert run.asked == [INSTALLATION_ID]
    assert calls(run) == [TOKEN, *analysis(), REVIEW, CHECK_UPDATE]
    assert clients_per_job(run) == [len(run.sent) - 1]  # the token request included
    assert_check_created_in_progress(run.one(*CHECK_CREATE), HEAD_SHA)
    prs, read = run.to(*GRAPHQL)
    assert prs.json() == {
        "query": pull_requests_query(1, True),
        "variables": {
            "owner": "Codertocat",
            "name": "Hello-World",
            "sha": HEAD_SHA,
            "after": None,
            "n0": NUMBER,
        },
    }
    # Both sides in one query; the base side also reads the repository's configuration
    # (absent here).
    assert read_expressions(read) == [
        f"{HEAD_SHA}:{PATH}",
        f"{BASE_SHA}:{PATH}",
        f"{BASE_SHA}:pyproject.toml",
    ]
    assert_fc101_review(run.one(*REVIEW), HEAD_SHA)
    assert_fc101_check(run.one(*CHECK_UPDATE), HEAD_SHA)
    # The check run is completed only after the review is posted.
    assert calls(run).index(REVIEW) < calls(run).index(CHECK_UPDATE)


def test_bad_signature_is_refused_before_any_github_call(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    run = run_scenario("bad_signature", private_key, caplog, tmp_path)

    assert run.statuses == [401]
    assert run.sent == []
    assert run.cassette.requests == []  # an empty cassette: any request would fail
    assert run.asked == []  # no job: no installation client, no token


def test_clean_pull_request_gets_a_green_check_and_no_review(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    run = run_scenario("clean", private_key, caplog, tmp_path)

    assert run.statuses == [202]
    assert calls(run) == [TOKEN, *analysis(), CHECK_UPDATE]
    assert run.to(*REVIEW) == []
    assert_check_created_in_progress(run.one(*CHECK_CREATE), HEAD_SHA)
    check = run.one(*CHECK_UPDATE).json()
    assert (check["status"], check["conclusion"]) == ("completed", "success")
    assert check["output"]["title"] == "No fail-open paths"
    assert check["output"]["annotations"] == []
    assert "actions" not in check


def test_syntax_error_fails_the_check_as_unverified(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    run = run_scenario("syntax_error", private_key, caplog, tmp_path)

    assert run.statuses == [202]
    assert calls(run) == [TOKEN, *analysis(), CHECK_UPDATE]
    check = run.one(*CHECK_UPDATE).json()
    assert (check["status"], check["conclusion"]) == ("completed", "failure")
    assert check["output"]["title"].startswith(FAILED_TITLE)
    assert "could not be analysed" in check["output"]["title"]
    assert f"`{PATH}`" in check["output"]["summary"]
    assert "does not parse" in check["output"]["summary"]


def test_a_linked_file_is_analysed_through_its_target(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """`app/auth.py -> ../docs/auth.txt`: read as a `TreeEntry` of mode 40960 in the one
    query, then its target in a second: the target's fail-open handler fails the check.
    Before, the link's text `../docs/auth.txt` was analysed as Python and went green."""
    run = run_scenario("symlink", private_key, caplog, tmp_path)

    assert run.statuses == [202]
    assert calls(run) == [TOKEN, *analysis(), GRAPHQL, CHECK_UPDATE]
    _, first, second = run.to(*GRAPHQL)
    assert read_expressions(first) == [f"{HEAD_SHA}:{LINK_PATH}", f"{BASE_SHA}:pyproject.toml"]
    assert read_expressions(second) == [f"{HEAD_SHA}:{LINKED_TARGET}"]
    check = run.one(*CHECK_UPDATE).json()
    assert (check["status"], check["conclusion"]) == ("completed", "failure")
    (annotation,) = check["output"]["annotations"]
    assert (annotation["path"], annotation["start_line"]) == (LINK_PATH, 5)
    assert annotation["title"].startswith("FC101 ")
    assert run.to(*REVIEW) == []  # no suggestion on the link's one-line diff


def test_a_link_out_of_the_repository_fails_the_check_as_not_analysed(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    run = run_scenario("symlink_outside", private_key, caplog, tmp_path)

    assert run.statuses == [202]
    assert calls(run) == [TOKEN, *analysis(), CHECK_UPDATE]  # nothing more to read
    check = run.one(*CHECK_UPDATE).json()
    assert (check["status"], check["conclusion"]) == ("completed", "failure")
    assert check["output"]["title"].startswith(FAILED_TITLE)
    assert "1 file could not be analysed" in check["output"]["title"]
    summary = check["output"]["summary"]
    assert f"`{LINK_PATH}`" in summary
    assert "a link to ../../shared/auth.py, outside the repository: not analysed" in summary


def test_a_redelivery_is_not_run_twice(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Same delivery id: accepted (GitHub must not mark it failed), queued once."""
    run = run_scenario("redelivery", private_key, caplog, tmp_path)

    assert run.statuses == [202, 202]
    assert calls(run) == [TOKEN, *analysis(), REVIEW, CHECK_UPDATE]
    assert_fc101_review(run.one(*REVIEW), HEAD_SHA)
    assert_fc101_check(run.one(*CHECK_UPDATE), HEAD_SHA)


def test_a_second_job_for_the_same_head_does_not_repeat_the_review(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    run = run_scenario("reopened", private_key, caplog, tmp_path)

    assert run.statuses == [202, 202]
    # The token and the App's login are cached for the second job; each job makes its own
    # check run.
    assert calls(run) == [
        TOKEN,
        *analysis(),
        REVIEW,
        CHECK_UPDATE,
        *analysis(first=False),
        CHECK_UPDATE,
    ]
    assert clients_per_job(run) == [7, 5]  # each job its own client, the token in the first
    comment = assert_fc101_review(run.one(*REVIEW), HEAD_SHA)
    # The second time, GitHub lists our comment, fingerprint and all.
    first_read, _, second_read, _ = run.answers_to(*GRAPHQL)
    assert threads_read(first_read) == []
    (thread,) = threads_read(second_read)
    (listed,) = thread["comments"]["nodes"]
    assert listed["body"] == comment["body"]
    assert listed["author"] == {
        "__typename": "Bot",
        "login": json.loads(run.answers_to(*APP)[0]["body"]["string"])["slug"],
    }  # written by the App (GraphQL gives its bot's login without [bot]): trusted
    for update in run.to(*CHECK_UPDATE):  # still failing: the finding is still there
        assert_fc101_check(update, HEAD_SHA)


def test_second_push_that_fixes_the_finding_answers_fixed_and_goes_green(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    run = run_scenario("second_push", private_key, caplog, tmp_path)

    assert run.statuses == [202, 202]
    (thread,) = threads_read(run.answers_to(*GRAPHQL)[2])
    (listed,) = thread["comments"]["nodes"]
    reply = ("POST", f"/repos/{REPO}/pulls/{NUMBER}/comments/{listed['fullDatabaseId']}/replies")
    assert calls(run) == [
        TOKEN,
        *analysis(),
        REVIEW,
        CHECK_UPDATE,
        *analysis(first=False),
        reply,
        # resolveReviewThread for the thread our comment started, known from the read
        GRAPHQL,
        CHECK_UPDATE,
    ]
    first_check, second_check = run.to(*CHECK_CREATE)
    assert_check_created_in_progress(first_check, HEAD_SHA)
    assert_check_created_in_progress(
        second_check, FIXED_SHA, SCENARIOS["second_push"].deliveries[1]
    )
    assert read_expressions(run.to(*GRAPHQL)[3]) == [
        f"{FIXED_SHA}:{PATH}",
        f"{BASE_SHA}:{PATH}",
        f"{BASE_SHA}:pyproject.toml",
    ]
    comment = assert_fc101_review(run.one(*REVIEW), HEAD_SHA)
    assert listed["body"] == comment["body"]
    assert run.one(*reply).json() == {"body": f"Fixed in {FIXED_SHA[:7]}.\n\n{FIXED_MARKER}"}
    resolve = run.to(*GRAPHQL)[4]
    assert resolve.json()["variables"] == {"t0": thread["id"]}
    failing, passing = run.to(*CHECK_UPDATE)
    assert_fc101_check(failing, HEAD_SHA)
    body = passing.json()
    assert (body["head_sha"], body["conclusion"]) == (FIXED_SHA, "success")
    assert body["output"]["annotations"] == []


def test_github_502_is_retried_and_the_job_completes(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """githubkit retries a 5xx after a one-second back-off: this test takes about 1 s."""
    started = time.monotonic()
    run = run_scenario("retry_502", private_key, caplog, tmp_path)

    assert run.statuses == [202]
    assert (
        calls(run)
        == [
            TOKEN,
            CHECK_CREATE,
            APP,
            GRAPHQL,  # the PR's read, answered 502: a query, safe to repeat
            *analysis()[2:],
            REVIEW,
            CHECK_UPDATE,
        ]
    )
    failed, answered = run.answers_to(*GRAPHQL)[:2]
    assert (failed["status"]["code"], answered["status"]["code"]) == (502, 200)
    assert clients_per_job(run) == [len(run.sent) - 1]  # githubkit's retry: same client
    assert time.monotonic() - started >= 1.0  # the back-off really ran
    assert_fc101_review(run.one(*REVIEW), HEAD_SHA)
    assert_fc101_check(run.one(*CHECK_UPDATE), HEAD_SHA)


def test_apply_fixes_commits_the_fixed_file_in_one_graphql_mutation(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    run = run_scenario("apply_fixes", private_key, caplog, tmp_path)

    assert run.statuses == [202]
    assert calls(run) == [TOKEN, PULL, FILES, GRAPHQL, GRAPHQL]  # the read, the commit
    assert run.to(*ISSUE_COMMENT) == []  # nothing to explain: it committed
    mutation = run.to(*GRAPHQL)[-1].json()
    assert "createCommitOnBranch" in mutation["query"]
    commit = mutation["variables"]["input"]
    assert commit["branch"] == {"repositoryNameWithOwner": REPO, "branchName": HEAD_REF}
    assert commit["expectedHeadOid"] == HEAD_SHA
    assert commit["message"]["headline"] == "failclosed: make 1 permission path fail closed"
    assert f"- {PATH}: FC101 in has_permission" in commit["message"]["body"]
    # The commit's tree: the one changed file, fixed back to denying.
    tree = {
        a["path"]: base64.b64decode(a["contents"], validate=True)
        for a in commit["fileChanges"]["additions"]
    }
    assert tree == {PATH: BASE_SOURCE}
    assert "deletions" not in commit["fileChanges"]
    answer = json.loads(run.cassette.responses[-1]["body"]["string"])
    assert answer["data"]["createCommitOnBranch"]["commit"]["oid"]


# -- merge queues -----------------------------------------------------------------------------

MG_CHECK_CREATE = ("POST", f"/repos/{MG_REPO}/check-runs")
MG_COMPARE = ("GET", f"/repos/{MG_REPO}/compare/{MG_BASE_SHA}...{MG_HEAD_SHA}")
MG_CHECK_UPDATE = ("PATCH", f"/repos/{MG_REPO}/check-runs/{CHECK_RUN_ID}")
# A merge-group job: its check run, the comparison, one read of both sides, the verdict.
MERGE_GROUP_JOB = [MG_CHECK_CREATE, MG_COMPARE, GRAPHQL, MG_CHECK_UPDATE]


def assert_no_pull_request_traffic(run: Run) -> None:
    """The queue's branch has no pull request: none is looked up, listed or reviewed."""
    assert not [s.path for s in run.sent if "/pulls" in s.path or "/issues" in s.path]
    assert run.to(*APP) == []  # no review comments listed: the App's login is not needed


def test_merge_group_with_a_fail_open_change_fails_its_check_and_posts_no_review(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """GitHub's own merge_group payload: the check run on the group's head fails on the
    FC101 the group brings in; the group's `destroyed` afterwards queues nothing."""
    run = run_scenario("merge_group", private_key, caplog, tmp_path)

    assert run.statuses == [202, 200]  # checks_requested queued; destroyed acknowledged
    assert run.asked == [INSTALLATION_ID]  # one job
    assert calls(run) == [TOKEN, *MERGE_GROUP_JOB]
    assert clients_per_job(run) == [5]
    assert_check_created_in_progress(run.one(*MG_CHECK_CREATE), MG_HEAD_SHA, CHECKS_REQUESTED)
    # Both sides in one query, the base side at the group's base (README.md is not Python).
    assert read_expressions(run.one(*GRAPHQL)) == [
        f"{MG_HEAD_SHA}:{PATH}",
        f"{MG_BASE_SHA}:{PATH}",
        f"{MG_BASE_SHA}:pyproject.toml",
    ]
    assert_fc101_check(run.one(*MG_CHECK_UPDATE), MG_HEAD_SHA, fixes_button=False)
    assert_no_pull_request_traffic(run)
    (compared,) = run.answers_to(*MG_COMPARE)
    listed = json.loads(compared["body"]["string"])["files"]
    assert sorted(f["filename"] for f in listed) == [README, PATH]


def test_clean_merge_group_gets_a_green_check(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    run = run_scenario("merge_group_clean", private_key, caplog, tmp_path)

    assert run.statuses == [202]
    assert calls(run) == [TOKEN, *MERGE_GROUP_JOB]
    assert_check_created_in_progress(run.one(*MG_CHECK_CREATE), MG_HEAD_SHA, CHECKS_REQUESTED)
    check = run.one(*MG_CHECK_UPDATE).json()
    assert (check["head_sha"], check["status"], check["conclusion"]) == (
        MG_HEAD_SHA,
        "completed",
        "success",
    )
    assert check["output"]["title"] == "No fail-open paths"
    assert check["output"]["annotations"] == []
    assert "actions" not in check
    assert_no_pull_request_traffic(run)


def test_merge_group_that_cannot_be_analysed_fails_closed(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    run = run_scenario("merge_group_syntax_error", private_key, caplog, tmp_path)

    assert run.statuses == [202]
    assert calls(run) == [TOKEN, *MERGE_GROUP_JOB]
    check = run.one(*MG_CHECK_UPDATE).json()
    assert (check["head_sha"], check["conclusion"]) == (MG_HEAD_SHA, "failure")
    title = check["output"]["title"]
    assert title == "Could not verify this merge group: 1 file could not be analysed"
    assert "does not parse" in check["output"]["summary"]
    assert_no_pull_request_traffic(run)


def test_a_merge_group_follows_a_link_to_its_target_as_a_pull_request_does(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """The group adds `app/auth.py -> ../docs/auth.txt`: the link is read with its mode in
    the one query, its target at the group's head in a second, and the target's fail-open
    handler fails the group's check (`app.review.analyze.read_and_analyze`, shared with pull
    requests)."""
    run = run_scenario("merge_group_symlink", private_key, caplog, tmp_path)

    assert run.statuses == [202]
    assert calls(run) == [TOKEN, *MERGE_GROUP_JOB[:3], GRAPHQL, MG_CHECK_UPDATE]
    first, second = run.to(*GRAPHQL)
    assert read_expressions(first) == [
        f"{MG_HEAD_SHA}:{LINK_PATH}",
        f"{MG_BASE_SHA}:pyproject.toml",
    ]
    assert read_expressions(second) == [f"{MG_HEAD_SHA}:{LINKED_TARGET}"]
    check = run.one(*MG_CHECK_UPDATE).json()
    assert (check["head_sha"], check["conclusion"]) == (MG_HEAD_SHA, "failure")
    (annotation,) = check["output"]["annotations"]
    assert (annotation["path"], annotation["start_line"]) == (LINK_PATH, 5)
    assert annotation["title"].startswith("FC101 ")
    assert "actions" not in check
    assert_no_pull_request_traffic(run)


# -- code scanning: a push to the default branch ----------------------------------------------

TREE = ("GET", f"/repos/{REPO}/git/trees/{PUSH_SHA}")


def decoded_sarif(upload: Sent) -> dict[str, Any]:
    """The SARIF of an upload: base64, then gzip, then JSON, as GitHub reads it."""
    packed = base64.b64decode(upload.json()["sarif"], validate=True)
    assert packed[:2] == b"\x1f\x8b"  # gzip's magic number
    return json.loads(gzip.decompress(packed))


def test_a_push_to_the_default_branch_uploads_the_whole_tree_to_code_scanning(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """GitHub's own push payload, for an installation that opted in: the tree of the pushed
    commit, its pyproject.toml, every Python file it does not exclude in one query, one
    SARIF upload for that commit and branch. A push to another branch sends nothing."""
    run = run_scenario("code_scanning", private_key, caplog, tmp_path)

    assert run.statuses == [202, 200]
    assert run.asked == [INSTALLATION_ID]
    assert run.states == [("code_scanning", "done", 1)]
    assert calls(run) == [TOKEN, TREE, GRAPHQL, GRAPHQL, SARIF_UPLOAD]
    assert run.one(*TREE).url.endswith("?recursive=1")
    config_read, files_read = run.to(*GRAPHQL)
    assert read_expressions(config_read) == [f"{PUSH_SHA}:pyproject.toml"]
    # Sorted; the link (app/auth.py) and the excluded legacy/ folder are not read.
    assert read_expressions(files_read) == [f"{PUSH_SHA}:{CLEAN_PATH}", f"{PUSH_SHA}:{PATH}"]
    upload = run.one(*SARIF_UPLOAD)
    body = upload.json()
    assert set(body) == {"commit_sha", "ref", "sarif"}
    assert (body["commit_sha"], body["ref"]) == (PUSH_SHA, PUSH_REF)
    sarif = decoded_sarif(upload)
    assert_valid_sarif(sarif)
    (scan,) = sarif["runs"]
    assert scan["automationDetails"] == {"id": "failclosed/default-branch/"}
    assert scan["tool"]["driver"]["name"] == "failclosed"
    assert scan["invocations"] == [{"executionSuccessful": True}]
    (result,) = scan["results"]
    assert (result["ruleId"], result["level"]) == ("FC101", "error")
    place = result["locations"][0]["physicalLocation"]
    assert place["artifactLocation"]["uri"] == PATH
    assert place["region"]["startLine"] == 5  # `return True` in the handler
    (fingerprint,) = result["partialFingerprints"].items()
    assert fingerprint[0] == "failclosed/v2"
    assert re.fullmatch(rf"FC101:{re.escape(PATH)}:[0-9a-f]{{16}}", fingerprint[1])
    (receipt,) = run.answers_to(*SARIF_UPLOAD)
    assert receipt["status"]["code"] == 202


def test_a_scan_is_the_same_on_every_push_of_the_same_code(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """The fingerprint is the finding's identity, not its upload's: a redelivery or a
    re-scan sends the same one, so GitHub keeps one alert."""
    first = decoded_sarif(
        run_scenario("code_scanning", private_key, caplog, tmp_path).one(*SARIF_UPLOAD)
    )
    again = decoded_sarif(
        run_scenario("code_scanning", private_key, caplog, tmp_path / "again").one(*SARIF_UPLOAD)
    )
    assert first["runs"][0]["results"] == again["runs"][0]["results"]


def test_a_refused_upload_is_logged_and_the_job_ends_without_retrying(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """GitHub answers 403 (the installation never accepted `security_events: write`): the
    log says what to do, and the job fails once instead of retrying for ever."""
    run = run_scenario("code_scanning_403", private_key, caplog, tmp_path)

    assert run.statuses == [202]
    assert calls(run) == [TOKEN, TREE, GRAPHQL, GRAPHQL, SARIF_UPLOAD]
    assert run.states == [("code_scanning", "failed", 1)]
    (refused,) = [r for r in caplog.records if r.name == "failclosed.app.review.code_scanning"]
    assert refused.levelno == logging.ERROR
    assert "security_events: write" in refused.getMessage()
    assert "Resource not accessible by integration" in refused.__dict__["reason"]
    (failed,) = [r for r in caplog.records if r.name == "failclosed.app.run.execute"]
    assert "UploadRefused" in failed.__dict__["reason"]


def test_a_push_is_not_scanned_unless_the_installation_opted_in(
    private_key: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    run = run_scenario("code_scanning_off", private_key, caplog, tmp_path)

    assert run.statuses == [200]
    assert run.sent == [] and run.states == [] and run.asked == []
