"""Acknowledgements after the burst work (issue 11): what a 2xx still promises, and that
the faster paths answer exactly as the slower ones did. No timings: correctness only."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import HTTPException
from support import deliver, load_payload, make_settings, request

from failclosed.app.commands import serve
from failclosed.app.receive.server import create_app
from failclosed.app.receive.webhooks import InMemoryJobSink, _parse_json_strictly, parse_json_object
from failclosed.app.run.queue import SqliteJobQueue

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def queue(tmp_path: Path) -> SqliteJobQueue:
    return SqliteJobQueue(tmp_path / "jobs.sqlite3")


def jobs_on_disk(path: Path) -> list[str]:
    """The delivery ids in the queue file, read by another connection (another process
    would see the same: only what was committed)."""
    reader = SqliteJobQueue(path, readonly=True)
    try:
        return [row.delivery_id for row in reader.jobs()]
    finally:
        reader.close()


def test_a_202_means_the_job_is_committed_to_the_queue_file(queue: SqliteJobQueue) -> None:
    app = create_app(make_settings(), queue)

    response = deliver(app, "pull_request", load_payload("pull_request.opened"))

    assert response.status_code == 202
    assert jobs_on_disk(queue.path) == [response.json()["delivery_id"]]


def test_a_queue_that_cannot_write_answers_503_not_202(
    queue: SqliteJobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(job: Any) -> bool:
        raise OSError("disk full")

    monkeypatch.setattr(queue, "enqueue", fail)
    app = create_app(make_settings(), queue)

    response = deliver(app, "pull_request", load_payload("pull_request.opened"))

    assert response.status_code == 503
    assert jobs_on_disk(queue.path) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b"payload=%7B%7D", 400),
        (json.dumps({"action": "opened", "number": 1}).encode(), 422),
    ],
    ids=["not-json", "not-an-object", "form-encoded", "missing-fields"],
)
def test_bad_input_is_still_a_clear_4xx_and_queues_nothing(
    queue: SqliteJobQueue, body: bytes, status: int
) -> None:
    app = create_app(make_settings(), queue)

    response = deliver(app, "pull_request", body)

    assert response.status_code == status
    assert response.json()["detail"]
    assert jobs_on_disk(queue.path) == []


def test_a_bad_signature_is_401_before_anything_is_read(queue: SqliteJobQueue) -> None:
    app = create_app(make_settings(), queue)

    response = deliver(
        app, "pull_request", load_payload("pull_request.opened"), **{"X-Hub-Signature-256": "x"}
    )

    assert response.status_code == 401
    assert jobs_on_disk(queue.path) == []


def test_the_webhook_still_answers_only_post(queue: SqliteJobQueue) -> None:
    app = create_app(make_settings(), queue)

    assert request(app, "GET", "/webhook").status_code == 405
    assert request(app, "GET", "/healthz").status_code == 200


# The fast JSON parser must answer every body as `json.loads` did: the same object, or the
# same 400 and detail.
BODIES = [
    b'{"action": "opened", "n": [1, 2.5, -0, 1e400, true, null], "s": "\\u00e9\\n"}',
    b'{"a": NaN, "b": Infinity, "c": -Infinity}',
    b'{"a": "\\ud800"}',  # a lone surrogate: json.loads keeps it
    b'{"a": 1, "a": 2}',
    b" \n{}\t",
    b"[" * 300 + b"]" * 300,  # deeper than pydantic-core's limit, within Python's
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": ' + b"9" * 4_000 + b"}",
    b'{"a": ' + b"9" * 5_000 + b"}",
    b'{"a": "\xff"}',
    b"\xef\xbb\xbf{}",
    b'{"a": "x\x01y"}',
    b'{"a": 01}',
    b'{"a": 1} trailing',
    b'"a string"',
    b"",
]


def answer(parse: Any, body: bytes) -> Any:
    try:
        return ("ok", parse(body))
    except HTTPException as exc:
        return ("error", exc.status_code, exc.detail)


def strict_object(body: bytes) -> Any:
    payload = _parse_json_strictly(body)
    if not isinstance(payload, dict):
        raise HTTPException(400, "body must be a JSON object")
    return payload


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_parsing_answers_as_json_loads_did(body: bytes) -> None:
    fast, strict = answer(parse_json_object, body), answer(strict_object, body)

    assert repr(fast) == repr(strict)  # repr: nan != nan


def test_configure_interpreter_freezes_what_the_process_is_made_of() -> None:
    try:
        serve.configure_interpreter()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        sys.setswitchinterval(0.005)


class Workers(InMemoryJobSink):
    """`serve`'s workers, without threads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def stop(self) -> None:
        pass


def test_serve_configures_the_interpreter_once_everything_is_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    order: list[str] = []
    real_create_app = serve.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        order.append("built")
        return real_create_app(*args, **kwargs)

    monkeypatch.setattr(serve, "Workers", Workers)
    monkeypatch.setattr(serve, "create_app", create_app)
    monkeypatch.setattr(serve, "configure_logging", lambda level: None)
    monkeypatch.setattr(serve, "configure_interpreter", lambda: order.append("configured"))
    monkeypatch.setattr(serve, "run_uvicorn", lambda app, host, port: order.append("served"))
    settings = make_settings().model_copy(update={"queue_path": tmp_path / "q.sqlite3"})

    serve.serve(settings=settings)

    assert order == ["built", "configured", "served"]


def test_the_webhook_is_served_without_an_access_log() -> None:
    assert serve.UVICORN_OPTIONS["access_log"] is False


# A generous drain timeout: on a machine loaded by other work 12 jobs have taken over 120 s.
SMALL_BURST = [
    "--deliveries",
    "12",
    "--concurrency",
    "4",
    "--github-ms",
    "0",
    "--drain-timeout",
    "250",
]


@pytest.mark.parametrize("mode", ["embedded", "redis"])
def test_load_bench_runs_the_realistic_shape(mode: str) -> None:
    """bench/load.py --realistic: new connections, GitHub-sized payloads, jobs through the
    real client against the stand-in; nothing lost or run twice (latency not checked)."""
    done = subprocess.run(
        [sys.executable, "bench/load.py", "--realistic", "--mode", mode, *SMALL_BURST],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout
    assert "a new connection per request" in out, done.stderr[-3000:]
    assert "accepted: 12  rejected: 0" in out
    assert "none lost: met; none processed twice: met" in out
    assert "12 job runs, 12 check runs (12 failure), 12 reviews" in out
