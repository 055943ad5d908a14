"""The webhook receiver: authenticate a GitHub delivery, turn it into a `Job`, hand it on.

Order matters and fails closed: read the body within the app's `BodyGate` (how many, how
big, how slow: `app.receive.bodies`), then verify `X-Hub-Signature-256` over the raw bytes, and
only then look at headers or JSON. Nothing unauthenticated is parsed; a rejected
delivery is logged with its (escaped) delivery id only.
The handler does no GitHub calls and no analysis: it answers 202 once the job is enqueued,
and 503 when it cannot be (GitHub then shows the delivery as failed and it can be redelivered).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypeVar

import anyio.to_thread
from fastapi import HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from pydantic_core import from_json
from starlette.routing import Route

from failclosed.app import metrics
from failclosed.app.model import CommitSha, Job, JobKind, RepoFullName
from failclosed.app.receive.bodies import BodyGate
from failclosed.app.settings import CODE_SCANNING_OFF, CodeScanningOptIn, Settings

logger = logging.getLogger(__name__)

# Literal codes: the constants' names changed across Starlette versions.
HTTP_422_INVALID_PAYLOAD = 422
SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
ANALYZE_PULL_REQUEST_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
APPLY_FIXES_ACTION = "apply_fixes"  # the identifier of the check run's "Apply fixes" button


# --- where jobs go ------------------------------------------------------------------------


class JobSink(Protocol):
    """Where accepted jobs go. `enqueue` raises when the job cannot be kept."""

    def enqueue(self, job: Job) -> None: ...


class JobSinkFull(RuntimeError):
    """The sink refuses more jobs; the delivery must fail rather than be dropped."""


@dataclass
class InMemoryJobSink:
    """Keeps jobs in a bounded list, for tests: `create_app` has no default sink, so a
    server never runs on a queue that a restart would lose."""

    max_jobs: int = 10_000
    jobs: list[Job] = field(default_factory=list)

    def enqueue(self, job: Job) -> None:
        if len(self.jobs) >= self.max_jobs:
            raise JobSinkFull(f"in-memory job sink holds {self.max_jobs} jobs already")
        self.jobs.append(job)


def get_job_sink(request: Request) -> JobSink:
    """The sink `create_app` installed; tests can put another in its place with
    `app.dependency_overrides[get_job_sink]` (see `job_sink_of`)."""
    return request.app.state.job_sink


def job_sink_of(request: Request) -> JobSink:
    """The sink for this delivery: `get_job_sink`'s, or its override's. The webhook is a
    plain Starlette endpoint (see `receive_webhook`), so it looks the override up itself."""
    override = request.app.dependency_overrides.get(get_job_sink)
    return override() if override is not None else get_job_sink(request)


# --- what a delivery turns into ------------------------------------------------------------


@dataclass(frozen=True)
class Acknowledged:
    """Authentic and understood, nothing to do (ping, installation events): 200."""

    reason: str


@dataclass(frozen=True)
class Ignored:
    """Authentic but not an event or action this App acts on: 200 with the reason."""

    reason: str


class InvalidPayload(ValueError):
    """A handled event whose payload lacks what the job needs (422)."""


DeliveryOutcome = Job | Acknowledged | Ignored
M = TypeVar("M", bound=BaseModel)


# GitHub's ids and numbers are positive and fit a signed 64-bit integer, as the queue (an
# SQLite INTEGER) stores them: any other is a payload that can never be queued, so it is
# refused (422) rather than answered 503 "redeliver later" for ever.
GitHubId = Annotated[int, Field(gt=0, le=2**63 - 1)]


# The slices of GitHub's payloads the jobs need; everything else is ignored.
class _Installation(BaseModel):
    id: GitHubId


class _Repository(BaseModel):
    id: GitHubId
    full_name: RepoFullName


class _Head(BaseModel):
    sha: CommitSha


class _PullRequest(BaseModel):
    number: GitHubId
    head: _Head


class _PullRequestEvent(BaseModel):
    action: str
    number: GitHubId
    pull_request: _PullRequest
    repository: _Repository
    installation: _Installation


class _RepoRef(BaseModel):
    id: GitHubId


class _BaseRef(BaseModel):
    repo: _RepoRef


class _PullRequestRef(BaseModel):
    number: GitHubId
    base: _BaseRef | None = None


class _CheckTarget(BaseModel):
    id: GitHubId
    head_sha: CommitSha
    pull_requests: list[_PullRequestRef] = Field(default_factory=list)


class _RequestedAction(BaseModel):
    identifier: str


class _CheckRunEvent(BaseModel):
    action: str
    check_run: _CheckTarget
    requested_action: _RequestedAction | None = None
    repository: _Repository
    installation: _Installation


class _CheckSuiteEvent(BaseModel):
    action: str
    check_suite: _CheckTarget
    repository: _Repository
    installation: _Installation


class _Owner(BaseModel):
    login: str


class _PushedRepository(_Repository):
    default_branch: str
    owner: _Owner


class _PushEvent(BaseModel):
    ref: str
    after: CommitSha
    deleted: bool = False
    repository: _PushedRepository
    installation: _Installation


class _MergeGroup(BaseModel):
    head_sha: CommitSha
    base_sha: CommitSha


class _MergeGroupEvent(BaseModel):
    action: str
    merge_group: _MergeGroup
    repository: _Repository
    installation: _Installation


def outcome_for_delivery(
    event: str,
    delivery_id: str,
    payload: dict[str, Any],
    code_scanning: CodeScanningOptIn = CODE_SCANNING_OFF,
) -> DeliveryOutcome:
    """Decide what an authenticated delivery means; raises `InvalidPayload` for bad ones.
    `code_scanning` says which installations' default-branch pushes are scanned."""
    action = payload.get("action")
    if event == "push":
        return code_scanning_job(delivery_id, payload, code_scanning)
    if event == "ping":
        return Acknowledged("pong")
    if event.startswith("installation"):  # installation, installation_repositories, ...
        return Acknowledged(f"{event}.{action} noted")
    if event == "pull_request" and action in ANALYZE_PULL_REQUEST_ACTIONS:
        return analyze_job_for_pull_request(delivery_id, payload)
    if event == "pull_request" and action == "edited" and base_changed(payload):
        # Same head, new base: what is "new" changed, and a path may now fail open.
        return analyze_job_for_pull_request(delivery_id, payload)
    if event in ("check_run", "check_suite") and action == "rerequested":
        return analyze_job_for_rerequest(event, delivery_id, payload)
    if event == "check_run" and action == "requested_action":
        return apply_fixes_job(delivery_id, payload)
    if event == "merge_group" and action == "checks_requested":
        return merge_group_job(delivery_id, payload)
    if event == "merge_group" and action == "destroyed":
        # Merged, dequeued or invalidated: GitHub no longer waits on its checks.
        return Acknowledged("merge_group.destroyed: nothing to do")
    label = f"{event}.{action}" if isinstance(action, str) else event
    return Ignored(f"{label} is not an event this App acts on")


def base_changed(payload: dict[str, Any]) -> bool:
    """An `edited` PR whose base branch was changed (not just its title or body)."""
    changes = payload.get("changes")
    return isinstance(changes, dict) and "base" in changes


def analyze_job_for_pull_request(delivery_id: str, payload: dict[str, Any]) -> Job:
    """A PR was opened, its head moved or its base changed: analyze its head commit."""
    parsed = parse_payload(_PullRequestEvent, "pull_request", payload)
    return Job(
        kind=JobKind.ANALYZE,
        delivery_id=delivery_id,
        event="pull_request",
        action=parsed.action,
        installation_id=parsed.installation.id,
        repository=parsed.repository.full_name,
        head_sha=parsed.pull_request.head.sha,
        pull_requests=(parsed.pull_request.number,),
    )


def analyze_job_for_rerequest(event: str, delivery_id: str, payload: dict[str, Any]) -> Job:
    """Someone pressed "Re-run" on our check run or suite: analyze that head SHA again."""
    if event == "check_run":
        run = parse_payload(_CheckRunEvent, event, payload)
        target, repository, installation = run.check_run, run.repository, run.installation
        check_run_id: int | None = run.check_run.id
    else:
        suite = parse_payload(_CheckSuiteEvent, event, payload)
        target, repository, installation = suite.check_suite, suite.repository, suite.installation
        check_run_id = None
    return Job(
        kind=JobKind.ANALYZE,
        delivery_id=delivery_id,
        event=event,
        action="rerequested",
        installation_id=installation.id,
        repository=repository.full_name,
        head_sha=target.head_sha,
        pull_requests=pull_requests_of_repository(target, repository),
        check_run_id=check_run_id,
    )


def apply_fixes_job(delivery_id: str, payload: dict[str, Any]) -> DeliveryOutcome:
    """Our check run's "Apply fixes" button was pressed; other buttons are not ours."""
    parsed = parse_payload(_CheckRunEvent, "check_run", payload)
    identifier = parsed.requested_action.identifier if parsed.requested_action else None
    if identifier != APPLY_FIXES_ACTION:
        return Ignored(f"check_run.requested_action {identifier!r} is not {APPLY_FIXES_ACTION!r}")
    return Job(
        kind=JobKind.APPLY_FIXES,
        delivery_id=delivery_id,
        event="check_run",
        action="requested_action",
        installation_id=parsed.installation.id,
        repository=parsed.repository.full_name,
        head_sha=parsed.check_run.head_sha,
        pull_requests=pull_requests_of_repository(parsed.check_run, parsed.repository),
        check_run_id=parsed.check_run.id,
    )


def merge_group_job(delivery_id: str, payload: dict[str, Any]) -> Job:
    """A merge queue asks for checks on a group commit: analyse it against its base. The
    queue's branch has no pull request, so the job names none."""
    parsed = parse_payload(_MergeGroupEvent, "merge_group", payload)
    return Job(
        kind=JobKind.MERGE_GROUP,
        delivery_id=delivery_id,
        event="merge_group",
        action=parsed.action,
        installation_id=parsed.installation.id,
        repository=parsed.repository.full_name,
        head_sha=parsed.merge_group.head_sha,
        base_sha=parsed.merge_group.base_sha,
    )


def code_scanning_job(
    delivery_id: str, payload: dict[str, Any], opt_in: CodeScanningOptIn
) -> DeliveryOutcome:
    """A push to the repository's default branch, from an installation that opted in:
    scan the whole tree at the pushed commit for code scanning. Other branches, tags and
    deletions are not scanned (a branch's new code is reviewed in its pull request)."""
    parsed = parse_payload(_PushEvent, "push", payload)
    repository = parsed.repository
    if parsed.ref != f"refs/heads/{repository.default_branch}":
        return Ignored(f"push to {parsed.ref}: only the default branch is scanned")
    if parsed.deleted:
        return Ignored("push deleted the default branch: nothing to scan")
    if not opt_in.covers(parsed.installation.id, repository.owner.login):
        return Ignored("push: FAILCLOSED_CODE_SCANNING leaves this installation out")
    return Job(
        kind=JobKind.CODE_SCANNING,
        delivery_id=delivery_id,
        event="push",
        action="",
        installation_id=parsed.installation.id,
        repository=repository.full_name,
        head_sha=parsed.after,
        ref=parsed.ref,
    )


def pull_requests_of_repository(target: _CheckTarget, repository: _Repository) -> tuple[int, ...]:
    """PR numbers whose base is this repository: a check's list may name other repos' PRs."""
    return tuple(
        sorted(
            {
                pr.number
                for pr in target.pull_requests
                if pr.base is None or pr.base.repo.id == repository.id
            }
        )
    )


def parse_payload(model: type[M], event: str, payload: dict[str, Any]) -> M:
    """Validate the slice of a payload a job needs; the error names fields, never values."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = sorted(
            {".".join(str(p) for p in e["loc"]) for e in exc.errors(include_input=False)}
        )
        raise InvalidPayload(
            f"{event} payload is missing or has invalid fields: {', '.join(fields)}"
        ) from None


# --- HTTP -----------------------------------------------------------------------------------


def get_body_gate(request: Request) -> BodyGate:
    """The gate `create_app` installed, which every unauthenticated body is read through."""
    return request.app.state.body_gate


def signature_is_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """True only for `sha256=<hex HMAC-SHA256 of body>`; SHA-1 signatures are never accepted."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = SIGNATURE_PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.encode("utf-8", "replace"))


def verify_signature(request: Request, body: bytes, settings: Settings) -> None:
    """Raise 401 unless the delivery carries a valid SHA-256 signature under our secret."""
    if settings.webhook_secret is None:  # startup refuses this; never accept unsigned
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "webhook secret is not configured")
    secret = settings.webhook_secret.get_secret_value().encode()
    if not signature_is_valid(secret, body, request.headers.get(SIGNATURE_HEADER)):
        logger.warning(
            "webhook signature rejected",
            extra={"delivery_id": request.headers.get("X-GitHub-Delivery")},
        )
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing or invalid {SIGNATURE_HEADER} (HMAC-SHA256 of the body)",
        )


def required_header(request: Request, name: str) -> str:
    """A header GitHub always sends; 400 when it is absent or blank."""
    value = request.headers.get(name, "").strip()
    if not value:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"missing {name} header")
    return value


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The delivery's JSON object; 400 for anything else (form-encoded webhooks included)."""
    if body.startswith(b"payload="):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "form-encoded payload: set the webhook content type to application/json",
        )
    try:
        # pydantic-core's parser: half the time of `json.loads` on a ~25 KB delivery. What
        # it refuses (bad UTF-8 or JSON, nesting past 200, 4,300+ digit numbers, lone
        # surrogates) goes to `json.loads`, which answers it exactly as it always has.
        payload = from_json(body)
    except ValueError:
        payload = _parse_json_strictly(body)
    if not isinstance(payload, dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body must be a JSON object")
    return payload


def _parse_json_strictly(body: bytes) -> Any:
    """`json.loads`, its failures as 400s that say what is wrong."""
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        message = f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise HTTPException(status.HTTP_400_BAD_REQUEST, message) from None
    except RecursionError:  # signed, but no GitHub payload nests this deep
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body is nested too deeply") from None
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits)
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "body holds an integer with too many digits"
        ) from None


def delivery_log_fields(event: str, delivery_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What every log line about a delivery carries: ids, never the body or secrets."""
    repository = payload.get("repository")
    pull_request = payload.get("pull_request")
    return {
        "delivery_id": delivery_id,
        "github_event": event,
        "action": payload.get("action"),
        "repository": repository.get("full_name") if isinstance(repository, dict) else None,
        "pull_request": pull_request.get("number") if isinstance(pull_request, dict) else None,
    }


async def receive_webhook(request: Request) -> JSONResponse:
    """POST /webhook: authenticate a GitHub delivery and enqueue the job it calls for;
    count it.

    A plain Starlette endpoint, not a FastAPI route: FastAPI's per-request machinery
    (dependency solving, an override's signature inspected on every call) was the largest
    part of an acknowledgement's CPU (bench/LOAD.md). Errors are raised as
    `HTTPException`s all the same, and answered by the app's handler as before."""
    settings: Settings = request.app.state.settings
    try:
        response = await handle_delivery(request, settings, job_sink_of(request))
    except HTTPException as exc:
        count_delivery(request, exc.status_code)
        raise
    count_delivery(request, response.status_code)
    return response


# What `create_app` serves from this module.
routes = [Route("/webhook", receive_webhook, methods=["POST"])]


def count_delivery(request: Request, status_code: int) -> None:
    """Deliveries by event and status. The event label only for authenticated ones: an
    unauthenticated caller must not be able to invent label values."""
    event = request.headers.get("X-GitHub-Event", "") if status_code < 400 else "-"
    metrics.DELIVERIES.labels(event, str(status_code)).inc()


async def handle_delivery(request: Request, settings: Settings, sink: JobSink) -> JSONResponse:
    """Verify, parse and decide; 202 with the job enqueued, 200 when nothing is to do."""
    body = await get_body_gate(request).read(request)
    verify_signature(request, body, settings)
    event = required_header(request, "X-GitHub-Event")
    delivery_id = required_header(request, "X-GitHub-Delivery")
    payload = parse_json_object(body)
    log_fields = delivery_log_fields(event, delivery_id, payload)
    try:
        outcome = outcome_for_delivery(event, delivery_id, payload, settings.code_scanning_opt_in)
    except InvalidPayload as exc:
        logger.warning("webhook payload rejected", extra={**log_fields, "reason": str(exc)})
        raise HTTPException(HTTP_422_INVALID_PAYLOAD, str(exc)) from None
    if isinstance(outcome, Job):
        # The sink writes to disk or to Redis: off the event loop, in anyio's worker
        # threads (40 at most at once).
        return await anyio.to_thread.run_sync(enqueue_job, sink, outcome, log_fields)
    kind = "acknowledged" if isinstance(outcome, Acknowledged) else "ignored"
    logger.info("webhook %s", kind, extra={**log_fields, "reason": outcome.reason})
    return JSONResponse({"status": kind, "reason": outcome.reason}, status.HTTP_200_OK)


def enqueue_job(sink: JobSink, job: Job, log_fields: dict[str, Any]) -> JSONResponse:
    """Hand the job on: 202 when kept, 503 when not (never pretend success)."""
    fields = {
        **log_fields,
        "job_kind": job.kind.value,
        "installation_id": job.installation_id,
        "pull_requests": list(job.pull_requests),
        "head_sha": job.head_sha,
    }
    try:
        sink.enqueue(job)
    except Exception:
        logger.exception("webhook job could not be enqueued", extra=fields)
        return JSONResponse(
            {"status": "error", "detail": "job could not be enqueued; redeliver later"},
            status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    logger.info("webhook accepted", extra=fields)
    return JSONResponse(
        {"status": "accepted", "job": job.kind.value, "delivery_id": job.delivery_id},
        status.HTTP_202_ACCEPTED,
    )
