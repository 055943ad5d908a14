"""End to end inside the process: a signed delivery becomes a job, the worker runs it."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from test_app_job import BASE_SHA, FAIL_OPEN, SAFE, FakeGitHub, patch_of
from test_app_webhooks import github_headers, load_payload, make_settings, request

from app.job import run_analysis
from app.main import create_app
from app.ports import ChangedFile, PullRequest
from app.webhooks import Job, JobSinkFull
from app.worker import ThreadedJobSink


class OneInstallation:
    """Hands the same fake client to every job, and remembers which installation asked."""

    def __init__(self, github: FakeGitHub) -> None:
        self.github = github
        self.asked: list[int] = []

    def installation(self, installation_id: int) -> FakeGitHub:
        self.asked.append(installation_id)
        return self.github


def fake_for(payload: dict[str, Any]) -> FakeGitHub:
    """A PR that matches the delivery and adds a fail-open permission check."""
    pr = payload["pull_request"]
    repo, head = payload["repository"]["full_name"], pr["head"]["sha"]
    github = FakeGitHub(pr=PullRequest(pr["number"], head, BASE_SHA, "feature", repo))
    github.files.append(ChangedFile("app/perms.py", "modified", patch=patch_of(SAFE, FAIL_OPEN)))
    github.contents[(head, "app/perms.py")] = FAIL_OPEN.encode()
    github.contents[(BASE_SHA, "app/perms.py")] = SAFE.encode()
    return github


def test_signed_pull_request_delivery_ends_in_a_review_and_a_failing_check() -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    installations = OneInstallation(github)
    sink = ThreadedJobSink(installations)
    app = create_app(make_settings(), sink=sink)
    body = json.dumps(payload).encode()
    try:
        response = request(app, "POST", "/webhook", body, github_headers("pull_request", body))
        assert response.status_code == 202
        sink.join()
    finally:
        sink.stop()
    assert installations.asked == [payload["installation"]["id"]]
    assert github.names()[:3] == [
        "pull_requests_for_commit",
        "get_pull_request",
        "create_check_run",
    ]
    (review,) = github.reviews()
    assert "```suggestion" in review["comments"][0]["body"]
    assert github.conclusion() == "failure"


def test_a_failing_job_does_not_stop_the_worker() -> None:
    payload = load_payload("pull_request.opened")
    broken = fake_for(payload)
    broken.fail["list_changed_files"] = RuntimeError("GitHub is down")
    sink = ThreadedJobSink(OneInstallation(broken))
    job = Job(
        kind="analyze",
        delivery_id="d-1",
        event="pull_request",
        action="opened",
        installation_id=1,
        repository=payload["repository"]["full_name"],
        head_sha=payload["pull_request"]["head"]["sha"],
        pull_requests=(payload["pull_request"]["number"],),
    )
    try:
        sink.enqueue(job)
        sink.enqueue(job)
        sink.join()
    finally:
        sink.stop()
    # both jobs ran, and each failed its own check run instead of leaving it in progress
    assert broken.names().count("create_check_run") == 2
    assert [u["conclusion"] for u in broken.check_updates()] == ["failure", "failure"]


def test_apply_fixes_jobs_commit_the_fixes() -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    github.prs_for_commit = [payload["pull_request"]["number"]]
    installations = OneInstallation(github)
    sink = ThreadedJobSink(installations)
    job = Job(
        kind="apply_fixes",
        delivery_id="d-2",
        event="check_run",
        action="requested_action",
        installation_id=1,
        repository=payload["repository"]["full_name"],
        head_sha=payload["pull_request"]["head"]["sha"],
        check_run_id=5,
    )
    try:
        sink.enqueue(job)
        sink.join()
    finally:
        sink.stop()
    assert installations.asked == [1]
    assert github.names() == [
        "pull_requests_for_commit",
        "get_pull_request",
        "list_changed_files",
        "read_files",
        "read_files",
        "commit_files",
    ]
    (_, branch, expected, files, message) = github.called("commit_files")[0]
    assert (branch, expected) == ("feature", payload["pull_request"]["head"]["sha"])
    assert b"return False" in files["app/perms.py"]
    assert message.startswith("failclosed: make 1 permission path fail closed")


def test_each_kind_of_job_goes_to_its_runner() -> None:
    payload = load_payload("pull_request.opened")
    ran: list[str] = []
    sink = ThreadedJobSink(
        OneInstallation(fake_for(payload)),
        run=lambda job, gh: ran.append("analyze"),
        apply_fixes=lambda job, gh: ran.append("apply_fixes"),
    )
    base = {
        "delivery_id": "d-4",
        "event": "check_run",
        "action": "requested_action",
        "installation_id": 1,
        "repository": payload["repository"]["full_name"],
        "head_sha": payload["pull_request"]["head"]["sha"],
    }
    try:
        sink.enqueue(Job(kind="apply_fixes", **base))
        sink.enqueue(Job(kind="analyze", **base))
        sink.join()
    finally:
        sink.stop()
    assert ran == ["apply_fixes", "analyze"]


def test_a_full_queue_refuses_the_job_instead_of_dropping_it() -> None:
    release = threading.Event()
    payload = load_payload("pull_request.opened")
    sink = ThreadedJobSink(
        OneInstallation(fake_for(payload)), run=lambda job, gh: release.wait(5), max_pending=1
    )
    job = Job(
        kind="analyze",
        delivery_id="d-3",
        event="pull_request",
        action="opened",
        installation_id=1,
        repository=payload["repository"]["full_name"],
        head_sha=payload["pull_request"]["head"]["sha"],
        pull_requests=(1,),
    )
    try:
        sink.enqueue(job)  # taken by the worker, which now waits
        for _ in range(50):  # let the worker pick it up
            if sink._queue.empty():
                break
            threading.Event().wait(0.01)
        sink.enqueue(job)  # fills the queue
        with pytest.raises(JobSinkFull):
            sink.enqueue(job)
    finally:
        release.set()
        sink.stop()


class Transient(Exception):
    """Like GitHubError for a 502: `retryable`."""

    retryable = True


def analyze_job(payload: dict[str, Any]) -> Job:
    return Job(
        kind="analyze",
        delivery_id="d-4",
        event="pull_request",
        action="opened",
        installation_id=1,
        repository=payload["repository"]["full_name"],
        head_sha=payload["pull_request"]["head"]["sha"],
        pull_requests=(payload["pull_request"]["number"],),
    )


def test_a_transient_failure_is_retried_until_the_job_publishes() -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    attempts: list[int] = []

    def flaky(job: Job, gh: FakeGitHub) -> object:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            raise Transient("502 Bad Gateway")
        return run_analysis(job, gh)

    sink = ThreadedJobSink(OneInstallation(github), run=flaky, retry_delays=(0.01, 0.01, 0.01))
    try:
        sink.enqueue(analyze_job(payload))
        sink.join()
    finally:
        sink.stop()
    assert attempts == [1, 2, 3]
    assert github.conclusion() == "failure"  # the fail-open PR, analysed on the 3rd attempt
    assert len(github.reviews()) == 1


def test_retries_stop_after_the_last_delay_and_permanent_errors_are_not_retried() -> None:
    payload = load_payload("pull_request.opened")
    calls: list[str] = []

    def always(kind: str) -> Any:
        def run(job: Job, gh: FakeGitHub) -> object:
            calls.append(kind)
            raise Transient("down") if kind == "transient" else ValueError("bad input")

        return run

    for kind, expected in (("transient", 3), ("permanent", 1)):
        calls.clear()
        sink = ThreadedJobSink(
            OneInstallation(fake_for(payload)), run=always(kind), retry_delays=(0.01, 0.01)
        )
        try:
            sink.enqueue(analyze_job(payload))
            sink.join()
        finally:
            sink.stop()
        assert len(calls) == expected, kind


def test_a_rate_limited_job_waits_as_long_as_github_asked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload = load_payload("pull_request.opened")
    attempts: list[int] = []

    class RateLimited(Exception):
        retryable = True
        retry_after = 0.2

    def limited_once(job: Job, gh: FakeGitHub) -> object:
        attempts.append(1)
        if len(attempts) == 1:
            raise RateLimited("403 secondary rate limit")
        return None

    sink = ThreadedJobSink(
        OneInstallation(fake_for(payload)), run=limited_once, retry_delays=(0.01,)
    )
    with caplog.at_level("WARNING", logger="app.worker"):
        try:
            sink.enqueue(analyze_job(payload))
            sink.join()
        finally:
            sink.stop()
    assert len(attempts) == 2
    (retry,) = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert retry.retry_in_seconds == 0.2  # GitHub's Retry-After, not the 0.01 s schedule
