"""The webhook receiver, driven through its ASGI interface with GitHub's real payloads."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from support import (
    DELIVERY_ID,
    TEST_PEM,  # noqa: F401  # bench/load.py imports it from this module
    TEST_SECRET,
    deliver,
    github_headers,
    load_payload,
    make_settings,
    request,
    sign,
)

from failclosed.app.model import Job, JobKind
from failclosed.app.receive.bodies import MAX_PAYLOAD_BYTES
from failclosed.app.receive.server import create_app
from failclosed.app.receive.webhooks import InMemoryJobSink, JobSinkFull
from failclosed.app.run.queue import SqliteJobQueue


@pytest.fixture
def sink() -> InMemoryJobSink:
    return InMemoryJobSink()


@pytest.fixture
def app(sink: InMemoryJobSink) -> Any:
    return create_app(make_settings(), sink=sink)


# --- accepted deliveries -----------------------------------------------------------------


def test_pull_request_opened_enqueues_one_analyze_job(app: Any, sink: InMemoryJobSink) -> None:
    response = deliver(app, "pull_request", load_payload("pull_request.opened"))

    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "job": "analyze", "delivery_id": DELIVERY_ID}
    assert sink.jobs == [
        Job(
            kind=JobKind.ANALYZE,
            delivery_id=DELIVERY_ID,
            event="pull_request",
            action="opened",
            installation_id=1,
            repository="Codertocat/Hello-World",
            head_sha="ec26c3e57ca3a959ca5aad62de7213c562f8c821",
            pull_requests=(2,),
        )
    ]


@pytest.mark.parametrize("action", ["synchronize", "reopened", "ready_for_review"])
def test_other_pull_request_actions_that_move_the_head_enqueue_analyze(
    app: Any, sink: InMemoryJobSink, action: str
) -> None:
    payload = load_payload("pull_request.synchronize")
    payload["action"] = action

    assert deliver(app, "pull_request", payload).status_code == 202
    (job,) = sink.jobs
    assert (job.kind, job.action, job.pull_requests) == (JobKind.ANALYZE, action, (2,))
    assert job.head_sha == payload["pull_request"]["head"]["sha"]


def test_a_pull_request_moved_to_another_base_is_analyzed_again(
    app: Any, sink: InMemoryJobSink
) -> None:
    """GitHub's `edited` with `changes.base` (shape from @octokit/webhooks-schemas)."""
    payload = load_payload("pull_request.edited")
    assert set(payload["changes"]["base"]) == {"ref", "sha"}

    assert deliver(app, "pull_request", payload).status_code == 202
    (job,) = sink.jobs
    assert (job.kind, job.action, job.pull_requests) == (JobKind.ANALYZE, "edited", (2,))
    assert job.head_sha == payload["pull_request"]["head"]["sha"]


def test_a_pull_request_whose_title_was_edited_is_not_analyzed(
    app: Any, sink: InMemoryJobSink
) -> None:
    payload = load_payload("pull_request.edited")
    payload["changes"] = {"title": {"from": "Update the README"}}

    response = deliver(app, "pull_request", payload)
    assert response.status_code == 200
    assert "pull_request.edited" in response.text
    assert sink.jobs == []


def test_check_suite_rerequested_analyzes_its_head_sha(app: Any, sink: InMemoryJobSink) -> None:
    payload = load_payload("check_suite.rerequested")

    assert deliver(app, "check_suite", payload).status_code == 202
    (job,) = sink.jobs
    assert job.kind is JobKind.ANALYZE
    assert job.event == "check_suite"
    assert job.head_sha == payload["check_suite"]["head_sha"]
    assert job.pull_requests == (2,)
    assert job.installation_id == 957387
    assert job.repository == "Codertocat/Hello-World"


def test_check_run_rerequested_without_pull_requests_still_analyzes_the_sha(
    app: Any, sink: InMemoryJobSink
) -> None:
    # GitHub leaves pull_requests empty for fork PRs; the worker looks the PRs up by SHA.
    payload = load_payload("check_run.rerequested")
    assert payload["check_run"]["pull_requests"] == []

    assert deliver(app, "check_run", payload).status_code == 202
    (job,) = sink.jobs
    assert job.kind is JobKind.ANALYZE
    assert job.head_sha == "d6fde92930d4715a2b49857d24b940956b26d2d3"
    assert job.pull_requests == ()
    assert job.check_run_id == payload["check_run"]["id"]


def test_pull_requests_of_other_repositories_are_not_ours(app: Any, sink: InMemoryJobSink) -> None:
    payload = load_payload("check_suite.rerequested")
    foreign = copy.deepcopy(payload["check_suite"]["pull_requests"][0])
    foreign["number"] = 99
    foreign["base"]["repo"]["id"] = 1
    payload["check_suite"]["pull_requests"].append(foreign)

    assert deliver(app, "check_suite", payload).status_code == 202
    assert sink.jobs[0].pull_requests == (2,)


def test_apply_fixes_button_enqueues_apply_fixes_job(app: Any, sink: InMemoryJobSink) -> None:
    payload = load_payload("check_run.requested_action")
    payload["requested_action"]["identifier"] = "apply_fixes"

    assert deliver(app, "check_run", payload).status_code == 202
    (job,) = sink.jobs
    assert job.kind is JobKind.APPLY_FIXES
    assert job.check_run_id == payload["check_run"]["id"]
    assert job.head_sha == "5bd5f196a46b8222fb7484f05faba41a73cf34bd"
    assert job.pull_requests == (26764,)
    assert job.repository == "electron/electron"
    assert job.installation_id == 690857


def test_merge_group_checks_requested_analyzes_the_group_against_its_base(
    app: Any, sink: InMemoryJobSink
) -> None:
    payload = load_payload("merge_group.checks_requested")

    response = deliver(app, "merge_group", payload)

    assert response.status_code == 202
    assert response.json()["job"] == "merge_group"
    (job,) = sink.jobs
    assert job.kind is JobKind.MERGE_GROUP
    assert (job.event, job.action) == ("merge_group", "checks_requested")
    assert job.head_sha == "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d"
    assert job.base_sha == "380387fbc80638b734a49e1be1c4dfec1c01b33c"
    assert job.pull_requests == ()  # the gh-readonly-queue/... branch has no pull request
    assert job.check_run_id is None
    assert job.repository == "octo-org/octo-repo"
    assert job.installation_id == 1


def test_a_destroyed_merge_group_is_acknowledged_and_queues_nothing(
    app: Any, sink: InMemoryJobSink
) -> None:
    response = deliver(app, "merge_group", load_payload("merge_group.destroyed"))

    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"
    assert sink.jobs == []


@pytest.mark.parametrize("field", ["base_sha", "head_sha"])
def test_a_merge_group_without_a_commit_to_compare_is_unprocessable(
    app: Any, sink: InMemoryJobSink, field: str
) -> None:
    payload = load_payload("merge_group.checks_requested")
    payload["merge_group"][field] = "main"

    response = deliver(app, "merge_group", payload)

    assert response.status_code == 422
    assert f"merge_group.{field}" in response.json()["detail"]
    assert sink.jobs == []


def test_only_merge_group_jobs_carry_a_base_sha() -> None:
    fields = {
        "delivery_id": "d",
        "event": "merge_group",
        "action": "checks_requested",
        "installation_id": 1,
        "repository": "o/r",
        "head_sha": "a" * 40,
    }
    with pytest.raises(ValidationError, match="base_sha"):
        Job(kind=JobKind.MERGE_GROUP, **fields)
    with pytest.raises(ValidationError, match="base_sha"):
        Job(kind=JobKind.ANALYZE, base_sha="b" * 40, **fields)
    job = Job(kind=JobKind.MERGE_GROUP, base_sha="b" * 40, **fields)
    assert Job.model_validate_json(job.model_dump_json()) == job  # as the queues keep it


def test_another_apps_requested_action_is_ignored(app: Any, sink: InMemoryJobSink) -> None:
    response = deliver(app, "check_run", load_payload("check_run.requested_action"))

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert sink.jobs == []


# --- signatures: checked before anything else ------------------------------------------


def signature_cases() -> list[Any]:
    body = json.dumps(load_payload("pull_request.opened")).encode()
    sha1 = "sha1=" + hmac.new(TEST_SECRET.encode(), body, hashlib.sha1).hexdigest()
    digest = sign(body).removeprefix("sha256=")
    return [
        pytest.param({}, id="missing"),
        pytest.param({"X-Hub-Signature": sha1}, id="sha1-only"),
        pytest.param({"X-Hub-Signature-256": digest}, id="no-sha256-prefix"),
        pytest.param({"X-Hub-Signature-256": sign(body, "another-secret-entirely")}, id="wrong"),
        pytest.param({"X-Hub-Signature-256": sign(body + b" ")}, id="other-body"),
        pytest.param({"X-Hub-Signature-256": "sha256="}, id="empty-digest"),
        pytest.param({"X-Hub-Signature-256": sign(body).upper()}, id="uppercased"),
    ]


@pytest.mark.parametrize("signature", signature_cases())
def test_bad_signatures_are_rejected_and_nothing_is_processed(
    app: Any, sink: InMemoryJobSink, signature: dict[str, str]
) -> None:
    body = json.dumps(load_payload("pull_request.opened")).encode()
    headers = github_headers("pull_request", body)
    del headers["X-Hub-Signature-256"]
    headers.update(signature)

    response = request(app, "POST", "/webhook", body, headers)

    assert response.status_code == 401
    assert sink.jobs == []


def test_signature_is_checked_before_the_event_header_and_json(app: Any) -> None:
    headers = {"X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Type": "application/json"}
    assert request(app, "POST", "/webhook", b"{not json", headers).status_code == 401


# --- malformed deliveries ----------------------------------------------------------------


def test_missing_event_header_is_a_bad_request(app: Any, sink: InMemoryJobSink) -> None:
    response = deliver(app, None, load_payload("pull_request.opened"))

    assert response.status_code == 400
    assert "X-GitHub-Event" in response.json()["detail"]
    assert sink.jobs == []


def test_validly_signed_malformed_json_is_a_bad_request(app: Any, sink: InMemoryJobSink) -> None:
    response = deliver(app, "pull_request", b'{"action": "opened",')

    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]
    assert sink.jobs == []


def test_json_that_is_not_an_object_is_a_bad_request(app: Any) -> None:
    assert deliver(app, "pull_request", b"[1, 2]").status_code == 400


def test_form_encoded_delivery_says_to_use_json(app: Any) -> None:
    response = deliver(app, "pull_request", b"payload=%7B%7D")

    assert response.status_code == 400
    assert "application/json" in response.json()["detail"]


def test_handled_event_with_an_incomplete_payload_is_unprocessable(
    app: Any, sink: InMemoryJobSink
) -> None:
    payload = load_payload("pull_request.opened")
    del payload["installation"]
    payload["pull_request"]["head"]["sha"] = "not-a-sha"

    response = deliver(app, "pull_request", payload)

    assert response.status_code == 422
    assert "installation" in response.json()["detail"]
    assert "pull_request.head.sha" in response.json()["detail"]
    assert sink.jobs == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "body is nested too deeply"),
        (b'{"action": "opened", "number": ' + b"9" * 5_000 + b"}", "too many digits"),
    ],
    ids=["nested-100k-deep", "5000-digit-integer"],
)
def test_signed_json_python_cannot_load_is_a_bad_request_not_a_crash(
    app: Any, sink: InMemoryJobSink, body: bytes, detail: str
) -> None:
    """Issue 11: these were a 500 with a traceback."""
    response = deliver(app, "pull_request", body)

    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert sink.jobs == []


@pytest.mark.parametrize("number", [2**63, 0, -1])
def test_a_pr_number_the_queue_cannot_store_is_refused_for_good(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, number: int
) -> None:
    """Issue 11: a PR number of 2**63 overflowed SQLite's INTEGER, and the delivery was
    answered 503 "redeliver later", for ever. It can never be queued: 422, logged once."""
    queue = SqliteJobQueue(tmp_path / "jobs.sqlite3")
    payload = load_payload("pull_request.opened")
    payload["number"] = payload["pull_request"]["number"] = number

    with caplog.at_level(logging.WARNING):
        response = deliver(create_app(make_settings(), sink=queue), "pull_request", payload)

    assert response.status_code == 422
    fields = "number, pull_request.number"
    assert response.json()["detail"].endswith(f"invalid fields: {fields}")
    (record,) = caplog.records
    assert record.getMessage() == "webhook payload rejected"
    assert record.reason.endswith(fields)  # type: ignore[attr-defined]
    assert queue.jobs() == []


# --- size cap ------------------------------------------------------------------------------


def test_declared_oversized_body_is_refused_without_reading_it(app: Any) -> None:
    chunks_read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal chunks_read
        for _ in range(2):
            chunks_read += 1
            yield b"x" * 1024

    headers = github_headers("pull_request", b"", **{"Content-Length": str(MAX_PAYLOAD_BYTES + 1)})
    response = request(app, "POST", "/webhook", body(), headers)

    assert response.status_code == 413
    assert chunks_read == 0


def test_streamed_oversized_body_is_refused_at_the_cap(app: Any, sink: InMemoryJobSink) -> None:
    chunk = b"x" * (1024 * 1024)
    chunks_read = 0

    async def body() -> AsyncIterator[bytes]:  # chunked: no Content-Length to trust
        nonlocal chunks_read
        for _ in range(40):
            chunks_read += 1
            yield chunk

    response = request(app, "POST", "/webhook", body(), github_headers("pull_request", b""))

    assert response.status_code == 413
    assert chunks_read == MAX_PAYLOAD_BYTES // len(chunk) + 1
    assert sink.jobs == []


def test_invalid_content_length_is_a_bad_request(app: Any) -> None:
    headers = github_headers("ping", b"{}", **{"Content-Length": "-5"})
    assert request(app, "POST", "/webhook", b"{}", headers).status_code == 400


# --- acknowledged and ignored --------------------------------------------------------------


def test_ping_is_answered(app: Any, sink: InMemoryJobSink) -> None:
    response = deliver(app, "ping", load_payload("ping"))

    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"
    assert sink.jobs == []


def test_installation_events_are_acknowledged(
    app: Any, sink: InMemoryJobSink, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="failclosed.app.receive.webhooks"):
        response = deliver(app, "installation", load_payload("installation.created"))

    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"
    assert sink.jobs == []
    assert any(getattr(r, "github_event", None) == "installation" for r in caplog.records)


@pytest.mark.parametrize(
    ("event", "payload_name", "action"),
    [
        ("issues", "issues.opened", None),
        ("pull_request", "pull_request.opened", "closed"),
        ("pull_request", "pull_request.opened", "labeled"),
        ("check_suite", "check_suite.rerequested", "completed"),
        ("check_run", "check_run.rerequested", "created"),
    ],
)
def test_unhandled_events_and_actions_are_ignored_with_a_reason(
    app: Any, sink: InMemoryJobSink, event: str, payload_name: str, action: str | None
) -> None:
    payload = load_payload(payload_name)
    if action is not None:
        payload["action"] = action

    response = deliver(app, event, payload)

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert event in response.json()["reason"]
    assert sink.jobs == []


# --- the sink ------------------------------------------------------------------------------


class BrokenSink:
    def enqueue(self, job: Job) -> None:
        raise ConnectionError("queue is down")


def test_enqueue_failure_is_a_503_not_a_success() -> None:
    app = create_app(make_settings(), sink=BrokenSink())

    response = deliver(app, "pull_request", load_payload("pull_request.opened"))

    assert response.status_code == 503
    assert response.json()["status"] == "error"


def test_full_in_memory_sink_refuses_rather_than_drops() -> None:
    sink = InMemoryJobSink(max_jobs=1)
    app = create_app(make_settings(), sink=sink)
    payload = load_payload("pull_request.opened")

    assert deliver(app, "pull_request", payload).status_code == 202
    assert deliver(app, "pull_request", payload).status_code == 503
    assert len(sink.jobs) == 1
    with pytest.raises(JobSinkFull):
        sink.enqueue(sink.jobs[0])


def test_sink_dependency_can_be_overridden(app: Any) -> None:
    from failclosed.app.receive.webhooks import get_job_sink

    other = InMemoryJobSink()
    app.dependency_overrides[get_job_sink] = lambda: other

    assert deliver(app, "pull_request", load_payload("pull_request.opened")).status_code == 202
    assert len(other.jobs) == 1


# --- logs and health -----------------------------------------------------------------------


def test_logs_carry_delivery_fields_and_never_the_secret_or_body(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    payload = load_payload("pull_request.opened")
    with caplog.at_level(logging.DEBUG):
        deliver(app, "pull_request", payload)
        body = json.dumps(payload).encode()
        request(app, "POST", "/webhook", body, {"X-Hub-Signature-256": sign(body, "wrong" * 4)})

    accepted = [r for r in caplog.records if r.getMessage() == "webhook accepted"]
    assert len(accepted) == 1
    record = accepted[0]
    assert record.delivery_id == DELIVERY_ID
    assert record.github_event == "pull_request"
    assert record.repository == "Codertocat/Hello-World"
    assert record.pull_request == 2
    logged = caplog.text + " ".join(json.dumps(vars(r), default=str) for r in caplog.records)
    assert TEST_SECRET not in logged
    assert payload["pull_request"]["title"] not in logged


def test_healthz(app: Any) -> None:
    response = request(app, "GET", "/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_webhook_only_accepts_post(app: Any) -> None:
    assert request(app, "GET", "/webhook").status_code == 405


# --- push: the default branch, for code scanning ---------------------------------------

PUSH_SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"  # tests/payloads/push.created.json


def scanning_app(sink: InMemoryJobSink, opt_in: str) -> Any:
    return create_app(make_settings(code_scanning=opt_in), sink=sink)


@pytest.mark.parametrize("opt_in", ["all", "1", "codertocat", "42, Codertocat"])
def test_a_push_to_the_default_branch_of_an_opted_in_installation_queues_a_scan(
    sink: InMemoryJobSink, opt_in: str
) -> None:
    """GitHub's own push payload (to `refs/heads/master`, the default branch) from
    installation 1 of the account Codertocat."""
    payload = load_payload("push.created")

    response = deliver(scanning_app(sink, opt_in), "push", payload)

    assert response.status_code == 202
    assert response.json()["job"] == "code_scanning"
    assert sink.jobs == [
        Job(
            kind=JobKind.CODE_SCANNING,
            delivery_id=DELIVERY_ID,
            event="push",
            action="",
            installation_id=1,
            repository="Codertocat/Hello-World",
            head_sha=PUSH_SHA,
            ref="refs/heads/master",
        )
    ]


@pytest.mark.parametrize("opt_in", ["off", "2", "octo-org, 3"])
def test_a_push_queues_nothing_when_code_scanning_leaves_the_installation_out(
    sink: InMemoryJobSink, opt_in: str
) -> None:
    response = deliver(scanning_app(sink, opt_in), "push", load_payload("push.created"))

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert "FAILCLOSED_CODE_SCANNING" in response.json()["reason"]
    assert sink.jobs == []


def test_code_scanning_is_off_by_default(app: Any, sink: InMemoryJobSink) -> None:
    response = deliver(app, "push", load_payload("push.created"))

    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert sink.jobs == []


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"ref": "refs/heads/feature"}, "only the default branch"),
        ({"ref": "refs/tags/v1.0"}, "only the default branch"),
        ({"ref": "refs/heads/main"}, "only the default branch"),  # master is the default
        ({"deleted": True, "after": "0" * 40}, "deleted"),
    ],
)
def test_pushes_other_than_to_the_default_branch_are_not_scanned(
    sink: InMemoryJobSink, change: dict[str, Any], why: str
) -> None:
    payload = {**load_payload("push.created"), **change}

    response = deliver(scanning_app(sink, "all"), "push", payload)

    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert why in response.json()["reason"]
    assert sink.jobs == []


def test_a_push_without_its_default_branch_is_refused(sink: InMemoryJobSink) -> None:
    payload = load_payload("push.created")
    del payload["repository"]["default_branch"]

    response = deliver(scanning_app(sink, "all"), "push", payload)

    assert response.status_code == 422
    assert "repository.default_branch" in response.json()["detail"]


def test_only_a_code_scanning_job_has_a_ref() -> None:
    fields: dict[str, Any] = dict(
        delivery_id="d",
        event="push",
        action="",
        installation_id=1,
        repository="o/r",
        head_sha=PUSH_SHA,
    )
    with pytest.raises(ValidationError, match="needs ref"):
        Job(kind=JobKind.CODE_SCANNING, **fields)
    with pytest.raises(ValidationError, match="only it has one"):
        Job(kind=JobKind.ANALYZE, ref="refs/heads/main", **fields)
    with pytest.raises(ValidationError):
        Job(kind=JobKind.CODE_SCANNING, ref="refs/tags/v1", **fields)
