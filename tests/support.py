"""What the App's tests share: the sample sources, the recording fake of the GitHub port,
the job factory, signed deliveries and waiting for a condition.

Import what you need by name (`from support import FakeGitHub, make_job`); pytest puts
this folder on `sys.path`, as it does for every test module.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
import isolation_hooks
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from failclosed.analyzers.isolation import IsolatedAnalyzer
from failclosed.app.github.port import (
    ChangedFile,
    Comparison,
    GitTree,
    Link,
    PullRequest,
    PullRequestRead,
    ReviewComment,
    ReviewThread,
)
from failclosed.app.model import Job, JobKind
from failclosed.app.review.analyze import JobResult, run_analysis
from failclosed.app.run.execute import Runner
from failclosed.app.run.queue import SqliteJobQueue
from failclosed.app.run.worker import Workers
from failclosed.app.settings import Settings

# -- the pull request the fakes serve ------------------------------------------------------

REPO = "octo/app"
HEAD_SHA = "a" * 40
BASE_SHA = "b" * 40
NEW_SHA = "d" * 40  # what FakeGitHub.commit_files answers
NUMBER = 7

# -- sample sources ------------------------------------------------------------------------

# The FC101 sample: a permission check that allows when its permission service fails.
FC101_FUNCTION = """\
def has_permission(user, action):
    try:
        return client.check(user, action)
    except Exception as e:
        logger.warning("Permission request failed: %s, auto-allowing", e)
        return True
"""
SAFE_FUNCTION = """\
def has_permission(user, action):
    return client.check(user, action)
"""
_LOGGER = "import logging\n\nlogger = logging.getLogger(__name__)\n\n\n"
FAIL_OPEN = _LOGGER + FC101_FUNCTION  # the FC101 sample as a module
SAFE = _LOGGER + SAFE_FUNCTION  # the same module before the try/except came in
NEIGHBOUR = "\n\ndef helper():\n    return {}\n"  # a function with nothing to report


def patch_of(base: str, head: str) -> str:
    """The `patch` GitHub lists for a file: hunks only, no file headers."""
    lines = difflib.unified_diff(base.splitlines(), head.splitlines(), lineterm="", n=3)
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))


# -- the GitHub port ---------------------------------------------------------------------


@dataclass
class FakeGitHub:
    """Serves canned PR data and records every call, in order, with its arguments."""

    pr: PullRequest = field(
        default_factory=lambda: PullRequest(NUMBER, HEAD_SHA, BASE_SHA, "feature", REPO)
    )
    files: list[ChangedFile] = field(default_factory=list)
    contents: dict[tuple[str, str], bytes | Link] = field(default_factory=dict)
    existing: list[ReviewComment] = field(default_factory=list)  # review comments on the PR
    threads: list[ReviewThread] = field(default_factory=list)  # their threads (GraphQL)
    prs_for_commit: list[int] = field(default_factory=list)
    fail: dict[str, Exception] = field(default_factory=dict)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    check_run_tags: list[str | None] = field(default_factory=list)  # their external_id
    merge_base: str = BASE_SHA  # what compare_commits says the merge base is
    tree: GitTree = field(default_factory=lambda: GitTree(()))  # what read_tree answers
    sarif_id: str = "47177e22-5596-11eb-80a1-c1e54ef945c6"  # what upload_sarif answers

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if name in self.fail:
            raise self.fail[name]

    def get_pull_request(self, repo: str, number: int) -> PullRequest:
        self._record("get_pull_request", repo, number)
        return self.pull_request(repo, number)

    def list_changed_files(self, repo: str, number: int) -> list[ChangedFile]:
        self._record("list_changed_files", repo, number)
        return list(self.files)

    def compare_commits(self, repo: str, base_sha: str, head_sha: str) -> Comparison:
        self._record("compare_commits", repo, base_sha, head_sha)
        return Comparison(self.merge_base, tuple(self.files))

    def read_files(
        self, repo: str, wanted: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], bytes | Link | None]:
        self._record("read_files", repo, list(wanted))
        return {key: self.contents.get(key) for key in wanted}

    def read_tree(self, repo: str, sha: str) -> GitTree:
        self._record("read_tree", repo, sha)
        return self.tree

    def upload_sarif(self, repo: str, body: dict[str, Any]) -> str:
        self._record("upload_sarif", repo, body)
        return self.sarif_id

    def create_check_run(
        self, repo: str, head_sha: str, name: str, external_id: str | None = None
    ) -> int:
        self._record("create_check_run", repo, head_sha, name)
        self.check_run_tags.append(external_id)
        return 99

    def find_check_run(self, repo: str, head_sha: str, name: str, external_id: str) -> int | None:
        self._record("find_check_run", repo, head_sha, name, external_id)
        return 99 if external_id in self.check_run_tags else None

    def update_check_run(self, repo: str, check_run_id: int, body: dict[str, Any]) -> None:
        self._record("update_check_run", repo, check_run_id, body)

    def create_review(self, repo: str, number: int, body: dict[str, Any]) -> None:
        self._record("create_review", repo, number, body)

    def pull_requests_for_commit(self, repo: str, sha: str) -> list[int]:
        self._record("pull_requests_for_commit", repo, sha)
        return list(self.prs_for_commit)

    def review_comments(self, repo: str, number: int) -> list[ReviewComment]:
        self._record("review_comments", repo, number)
        return list(self.existing)

    def read_pull_requests(
        self, repo: str, numbers: Sequence[int], head_sha: str | None = None
    ) -> list[PullRequestRead]:
        """`numbers`, and with `head_sha` those of `prs_for_commit`, each as
        `pull_request(number)` gives it, with the comments of `existing`."""
        self._record("read_pull_requests", repo, tuple(numbers), head_sha)
        found = set(self.prs_for_commit) if head_sha is not None else set()
        return [
            PullRequestRead(self.pull_request(repo, number), tuple(self.existing))
            for number in sorted(set(numbers) | found)
        ]

    def pull_request(self, repo: str, number: int) -> PullRequest:
        """What GitHub says of PR `number` (subclasses vary it by number or by read)."""
        return self.pr

    def reply_to_review_comment(self, repo: str, number: int, comment_id: int, body: str) -> None:
        self._record("reply_to_review_comment", repo, number, comment_id, body)
        path = next(c.path for c in self.existing if c.id == comment_id)
        reply = ReviewComment(1000 + len(self.existing), body, path, comment_id, by_app=True)
        self.existing.append(reply)

    def review_threads(self, repo: str, number: int) -> list[ReviewThread]:
        self._record("review_threads", repo, number)
        return list(self.threads)

    def resolve_review_threads(self, repo: str, thread_ids: Sequence[str]) -> None:
        self._record("resolve_review_threads", repo, list(thread_ids))

    def comment_on_pull_request(self, repo: str, number: int, body: str) -> None:
        self._record("comment_on_pull_request", repo, number, body)

    def commit_files(
        self, repo: str, branch: str, expected_head_sha: str, files: dict[str, bytes], message: str
    ) -> str:
        self._record("commit_files", repo, branch, expected_head_sha, dict(files), message)
        return NEW_SHA

    # -- helpers for the tests --

    def change(self, path: str, base: str | None, head: str | None, **kw: Any) -> None:
        """A changed file with its base and head contents and GitHub's patch for it."""
        status = kw.pop("status", "added" if base is None else "modified")
        old_path = kw.get("previous_path") or path
        if base is not None:
            self.contents[(BASE_SHA, old_path)] = base.encode()
        if head is not None:
            self.contents[(HEAD_SHA, path)] = head.encode()
        patch = kw.pop("patch", patch_of(base or "", head or ""))
        self.files.append(ChangedFile(path, status, patch=patch, **kw))

    def link(self, path: str, target: str, status: str = "added") -> None:
        """`path` becomes a symbolic link to `target` at head. GitHub's patch for it is its
        blob, the target's path; `read_files` answers a `Link` (the entry's mode 120000)."""
        self.contents[(HEAD_SHA, path)] = Link(target)
        self.files.append(ChangedFile(path, status, patch=f"@@ -0,0 +1 @@\n+{target}"))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [args for call, args in self.calls if call == name]

    def read_at(self, sha: str) -> list[str]:
        """The paths read at commit `sha`, every read_files call together."""
        return [path for _, wanted in self.called("read_files") for at, path in wanted if at == sha]

    def reviews(self) -> list[dict[str, Any]]:
        return [args[2] for args in self.called("create_review")]

    def comments_posted(self) -> list[ReviewComment]:
        """The inline comments of every review posted, as GitHub would list them."""
        return [
            ReviewComment(i, c["body"], c["path"], by_app=True)
            for i, c in enumerate((c for r in self.reviews() for c in r["comments"]), start=1)
        ]

    def replies(self) -> list[tuple[int, str]]:
        return [(args[2], args[3]) for args in self.called("reply_to_review_comment")]

    def pr_comments(self) -> list[str]:
        return [args[2] for args in self.called("comment_on_pull_request")]

    def check_updates(self) -> list[dict[str, Any]]:
        return [args[2] for args in self.called("update_check_run")]

    def conclusion(self) -> str:
        return self.check_updates()[-1]["conclusion"]

    def title(self) -> str:
        return self.check_updates()[-1]["output"]["title"]


Port = TypeVar("Port")


class OneInstallation(Generic[Port]):
    """Hands the same port to every job, and remembers which installation asked."""

    def __init__(self, github: Port) -> None:
        self.github = github
        self.asked: list[int] = []

    def installation(self, installation_id: int) -> Port:
        self.asked.append(installation_id)
        return self.github


# -- jobs ----------------------------------------------------------------------------------

# The delivery each kind of job comes from, unless a test says otherwise.
_EVENTS = {
    JobKind.ANALYZE: ("pull_request", "synchronize"),
    JobKind.APPLY_FIXES: ("check_run", "requested_action"),
    JobKind.MERGE_GROUP: ("merge_group", "checks_requested"),
}


def make_job(
    delivery_id: str = "d-1",
    head_sha: str = HEAD_SHA,
    pull_requests: tuple[int, ...] | None = None,
    *,
    kind: JobKind = JobKind.ANALYZE,
    repository: str = REPO,
    event: str | None = None,
    action: str | None = None,
    check_run_id: int | None = None,
    base_sha: str | None = None,
) -> Job:
    """A job for PR 7 of octo/app at HEAD_SHA, from installation 1. A merge group's job
    has no pull requests and is compared with BASE_SHA unless told otherwise."""
    merge_group = kind is JobKind.MERGE_GROUP
    default_event, default_action = _EVENTS[kind]
    return Job(
        kind=kind,
        delivery_id=delivery_id,
        event=event or default_event,
        action=action or default_action,
        installation_id=1,
        repository=repository,
        head_sha=head_sha,
        pull_requests=pull_requests
        if pull_requests is not None
        else ()
        if merge_group
        else (NUMBER,),
        check_run_id=check_run_id,
        base_sha=base_sha or (BASE_SHA if merge_group else None),
    )


def job_for(payload: dict[str, Any], delivery_id: str = "d-1", **fields: Any) -> Job:
    """`make_job` for the pull request of a `pull_request` delivery's payload (an analyze
    job has the delivery's action)."""
    pr = payload["pull_request"]
    fields.setdefault("head_sha", pr["head"]["sha"])
    fields.setdefault("pull_requests", (pr["number"],))
    fields.setdefault("repository", payload["repository"]["full_name"])
    if fields.get("kind", JobKind.ANALYZE) is JobKind.ANALYZE:
        fields.setdefault("action", payload["action"])
    return make_job(delivery_id, **fields)


def fake_for(payload: dict[str, Any]) -> FakeGitHub:
    """A PR that matches the delivery and adds a fail-open permission check."""
    pr = payload["pull_request"]
    repo, head = payload["repository"]["full_name"], pr["head"]["sha"]
    github = FakeGitHub(pr=PullRequest(pr["number"], head, BASE_SHA, "feature", repo))
    github.files.append(ChangedFile("app/perms.py", "modified", patch=patch_of(SAFE, FAIL_OPEN)))
    github.contents[(head, "app/perms.py")] = FAIL_OPEN.encode()
    github.contents[(BASE_SHA, "app/perms.py")] = SAFE.encode()
    return github


def fake_with_a_file_that_never_finishes(payload: dict[str, Any]) -> FakeGitHub:
    """`fake_for`'s PR, plus app/slow.py, whose analysis never ends in the child (see
    `analysis_with_a_budget`)."""
    github = fake_for(payload)
    github.files.append(ChangedFile("app/slow.py", "added", patch=patch_of("", FAIL_OPEN)))
    github.contents[(github.pr.head_sha, "app/slow.py")] = FAIL_OPEN.encode()
    return github


# -- running jobs --------------------------------------------------------------------------


def workers(queue: SqliteJobQueue, installations: Any, **options: Any) -> Workers:
    """Workers that poll often, so the tests do not wait on the poll interval."""
    return Workers(queue, installations, poll_seconds=0.02, **options)


NOTHING = JobResult("nothing")  # what a stand-in runner answers: done, nothing published


def analysis_with_a_budget(seconds: float) -> Runner:
    """The analyze job with a per-file budget, whose child hangs on files named *slow*
    (holding its GIL in C, as the pathological name pattern of issue 11 did)."""
    isolate = partial(IsolatedAnalyzer, before=isolation_hooks.hang_on_slow)
    return partial(run_analysis, file_budget_seconds=seconds, isolate=isolate)


@contextmanager
def ticking() -> Iterator[list[int]]:
    """A thread of this process that ticks every 10 ms while the block runs: it can only
    tick while nothing in the process holds the GIL for long."""
    ticks = [0]
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.01):
            ticks[0] += 1

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield ticks
    finally:
        stop.set()
        thread.join()


# -- deliveries ----------------------------------------------------------------------------

PAYLOADS = Path(__file__).parent / "payloads"
TEST_SECRET = "test-webhook-secret-9f2c41d07be3"
DELIVERY_ID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def new_private_key() -> str:
    """A throwaway RSA key in PEM: the App refuses to start with one it cannot load."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


TEST_PEM = new_private_key()  # one per test run


def load_payload(name: str) -> dict[str, Any]:
    """One of GitHub's example payloads in tests/payloads/, by file name without `.json`."""
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def make_settings(secret: str = TEST_SECRET, **fields: Any) -> Settings:
    """The tests' settings; `fields` sets others (`code_scanning="all"`, say)."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]  # pydantic-settings takes it; mypy cannot see it
        app_id=12345,
        webhook_secret=SecretStr(secret),
        private_key=SecretStr(TEST_PEM),
        **fields,
    )


def sign(body: bytes, secret: str = TEST_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(event: str | None, body: bytes, **extra: str) -> dict[str, str]:
    """What GitHub sends with a delivery, signed with the test secret."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
        "X-GitHub-Delivery": DELIVERY_ID,
        "X-Hub-Signature-256": sign(body),
    }
    if event is not None:
        headers["X-GitHub-Event"] = event
    headers.update(extra)
    return headers


def request(
    app: Any, method: str, url: str, content: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """One request through the app's ASGI interface (no server, no network)."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, url, content=content, headers=headers)

    return asyncio.run(send())


def deliver(app: Any, event: str | None, payload: Any, **headers: str) -> httpx.Response:
    """POST a signed delivery of `payload` (JSON-encoded unless bytes) to /webhook."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return request(app, "POST", "/webhook", body, github_headers(event, body, **headers))


# -- waiting -------------------------------------------------------------------------------

T = TypeVar("T")


def wait_for(condition: Callable[[], bool], within: float = 5.0, what: str = "timed out") -> None:
    """Poll `condition` until it holds; fail the test if it still does not after `within`
    seconds. For what another thread or process does, instead of a fixed sleep."""
    eventually(condition, lambda held: held, within, what)


def eventually(
    attempt: Callable[[], T],
    until: Callable[[T], bool],
    within: float = 5.0,
    what: str = "timed out",
) -> T:
    """Call `attempt` until `until` holds for its answer, and return that answer; fail the
    test if none does within `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        answer = attempt()
        if until(answer):
            return answer
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def redis_time(client: redis.Redis) -> float:
    """The Redis server's clock, in seconds: the one the Redis ledger's leases run on."""
    seconds, microseconds = client.time()
    return seconds + microseconds / 1_000_000


def wait_for_redis_time(client: redis.Redis, past: float, within: float = 5.0) -> None:
    """Wait until the Redis server's clock is past `past` (a lease's end, say), polling it:
    how long that takes in real time does not matter, only that it happened."""
    wait_for(lambda: redis_time(client) > past, within, f"Redis's clock never passed {past}")
