"""The Redis mode against a real redis-server: the ledger, and dramatiq workers end to end."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_server import redis_server
from test_app_job import FakeGitHub
from test_app_webhooks import github_headers, load_payload, make_settings, request
from test_app_worker import OneInstallation, analyze_job, fake_for

from app.distributed import Busy, Distributed, RedisLedger, Skip
from app.main import create_app
from app.webhooks import Job, JobKind

REPO = "octo/app"
HEAD = "a" * 40
NEWER = "b" * 40


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return client


@pytest.fixture
def ledger(client: redis.Redis) -> RedisLedger:
    return RedisLedger(client)


def job(delivery: str = "d-1", head: str = HEAD, prs: tuple[int, ...] = (7,)) -> Job:
    return Job(
        kind=JobKind.ANALYZE,
        delivery_id=delivery,
        event="pull_request",
        action="synchronize",
        installation_id=1,
        repository=REPO,
        head_sha=head,
        pull_requests=prs,
    )


# -- the ledger ---------------------------------------------------------------------------------


def test_a_delivery_is_accepted_once_and_a_failed_one_again(ledger: RedisLedger) -> None:
    assert ledger.accept(job()) is True
    assert ledger.accept(job()) is False
    claim = ledger.start(job(), "w-1", 30)
    assert not isinstance(claim, Busy | Skip)
    assert ledger.finish(job(), "w-1", "failed", "GitHub kept failing")

    assert ledger.accept(job()) is True  # the operator redelivered it
    (row,) = ledger.jobs()
    assert (row.state, row.attempts) == ("pending", 0)
    assert row.reason == "redelivered after: GitHub kept failing"


def test_a_duplicate_message_of_a_finished_job_is_skipped(ledger: RedisLedger) -> None:
    ledger.accept(job())
    claim = ledger.start(job(), "w-1", 30)
    assert not isinstance(claim, Busy | Skip) and claim.attempt == 1
    assert ledger.start(job(), "w-2", 30) == Busy(pytest.approx(30, abs=1))
    ledger.finish(job(), "w-1", "done")
    assert ledger.start(job(), "w-2", 30) == Skip("already done")


def test_a_dead_workers_job_is_taken_over_with_its_check_run(ledger: RedisLedger) -> None:
    ledger.accept(job())
    first = ledger.start(job(), "w-1", 0.2)
    assert not isinstance(first, Busy | Skip)
    ledger.record_check_run(job(), "w-1", 4242)
    time.sleep(0.3)  # w-1 was killed: no renewal

    again = ledger.start(job(), "w-2", 30)

    assert not isinstance(again, Busy | Skip)
    assert (again.attempt, again.recovered, again.check_run_id) == (2, True, 4242)
    assert ledger.finish(job(), "w-1", "done") is False  # no longer w-1's
    assert ledger.finish(job(), "w-2", "done") is True


def test_renewed_leases_keep_the_job(ledger: RedisLedger) -> None:
    ledger.accept(job())
    ledger.start(job(), "w-1", 0.3)
    for _ in range(3):
        time.sleep(0.15)
        assert ledger.renew("w-1", [job()], 0.3) == {"d-1"}
    assert isinstance(ledger.start(job(), "w-2", 30), Busy)


def test_a_pending_job_of_an_older_head_is_superseded(ledger: RedisLedger) -> None:
    ledger.accept(job("d-1", HEAD))
    ledger.accept(job("d-2", NEWER))

    assert ledger.start(job("d-1", HEAD), "w-1", 30) == Skip("superseded")
    assert not isinstance(ledger.start(job("d-2", NEWER), "w-1", 30), Busy | Skip)
    states = {row.delivery_id: (row.state, row.reason) for row in ledger.jobs()}
    assert states["d-1"] == ("superseded", f"superseded by a push of {NEWER[:7]}")


def test_two_jobs_for_one_head_never_run_at_once(ledger: RedisLedger) -> None:
    ledger.accept(job("d-1"))
    ledger.accept(job("d-2"))  # a re-run request for the same commit
    assert not isinstance(ledger.start(job("d-1"), "w-1", 30), Busy | Skip)
    assert isinstance(ledger.start(job("d-2"), "w-2", 30), Busy)
    ledger.finish(job("d-1"), "w-1", "done")
    assert not isinstance(ledger.start(job("d-2"), "w-2", 30), Busy | Skip)


def test_a_message_sent_before_its_ledger_entry_still_runs(ledger: RedisLedger) -> None:
    """The web process died between dramatiq's send and the ledger write."""
    claim = ledger.start(job(), "w-1", 30)
    assert not isinstance(claim, Busy | Skip) and claim.attempt == 1
    assert ledger.counts()["running"] == 1


def test_a_retry_and_a_release_put_the_job_back(ledger: RedisLedger) -> None:
    ledger.accept(job())
    ledger.start(job(), "w-1", 30)
    ledger.record_check_run(job(), "w-1", 99)
    assert ledger.retry(job(), "w-1", 5, "GitHub answered 502")
    (row,) = ledger.jobs()
    assert (row.state, row.reason) == ("pending", "GitHub answered 502")
    assert row.run_after > time.time() + 3
    claim = ledger.start(job(), "w-1", 30)
    assert not isinstance(claim, Busy | Skip) and claim.check_run_id is None  # forgotten
    ledger.record_check_run(job(), "w-1", 4242)
    assert ledger.release(job(), "w-1")
    (row,) = ledger.jobs()
    assert (row.state, row.attempts) == ("pending", 1)  # the released attempt does not count
    again = ledger.start(job(), "w-2", 30)
    assert not isinstance(again, Busy | Skip) and again.check_run_id == 4242


# -- dramatiq workers, end to end ---------------------------------------------------------------


@pytest.fixture
def distributed(client: redis.Redis, redis_url: str) -> Iterator[Any]:
    """A factory of Redis-mode processes-in-miniature; their workers are stopped after."""
    made: list[Distributed] = []

    def make(github: FakeGitHub | None = None, **options: Any) -> Distributed:
        installations = OneInstallation(github) if github is not None else None
        mode = Distributed(redis_url, installations, **options)
        made.append(mode)
        return mode

    yield make
    for mode in made:
        mode.stop_workers(grace_seconds=2)


def test_a_signed_delivery_reaches_a_dramatiq_worker(distributed: Any) -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    web = distributed()  # a web replica: no workers
    app = create_app(make_settings(), web)
    body = json.dumps(payload).encode()
    headers = github_headers("pull_request", body)
    statuses = [request(app, "POST", "/webhook", body, headers).status_code for _ in "12"]

    worker = distributed(github)
    worker.start_workers(threads=2)
    worker.join(timeout=20)

    assert statuses == [202, 202]  # the redelivery is accepted, and not run twice
    assert github.names().count("create_check_run") == 1
    (review,) = github.reviews()
    assert "```suggestion" in review["comments"][0]["body"]
    assert github.conclusion() == "failure"
    assert worker.ledger.counts()["done"] == 1


def test_a_transient_failure_is_retried_through_dramatiq(distributed: Any) -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    attempts: list[int] = []

    class Transient(Exception):
        retryable = True

    def flaky(job: Job, gh: FakeGitHub) -> object:
        attempts.append(1)
        if len(attempts) < 2:
            raise Transient("502 Bad Gateway")
        from app.job import run_analysis

        return run_analysis(job, gh)

    worker = distributed(github, run=flaky, retry_delays=(0.05,))
    worker.enqueue(analyze_job(payload))
    worker.start_workers(threads=1)
    worker.join(timeout=20)

    assert len(attempts) == 2
    assert github.conclusion() == "failure"
    (row,) = worker.ledger.jobs()
    assert (row.state, row.attempts) == ("done", 2)


def test_the_jobs_command_reads_the_redis_ledger(
    ledger: RedisLedger, redis_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from app.cli import main

    ledger.accept(job("d-1"))
    ledger.start(job("d-1"), "host:1:abc", 30)
    assert main(["jobs", "--queue-url", redis_url]) == 0
    out = capsys.readouterr().out
    assert "running 1" in out and "on host:1:abc" in out
