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
from support import (
    FAIL_OPEN,
    HEAD_SHA,
    NOTHING,
    SAFE,
    FakeGitHub,
    OneInstallation,
    analysis_with_a_budget,
    deliver,
    eventually,
    fake_for,
    fake_with_a_file_that_never_finishes,
    github_headers,
    job_for,
    load_payload,
    make_job,
    make_settings,
    redis_time,
    request,
    ticking,
    wait_for,
    wait_for_redis_time,
)

from failclosed.app.github.port import ChangedFile
from failclosed.app.model import Job, RetryableError
from failclosed.app.receive.server import create_app
from failclosed.app.review.analyze import JobResult
from failclosed.app.run.distributed import Busy, Distributed, RedisLedger, SendFailed, Skip

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


# -- the ledger ---------------------------------------------------------------------------------


def lease_until(ledger: RedisLedger, delivery_id: str) -> float:
    return float(ledger.client.hget(ledger._job_key(delivery_id), "lease_until"))


def sent_at(ledger: RedisLedger, delivery_id: str) -> float:
    return float(ledger.client.hget(ledger._job_key(delivery_id), "sent_at"))


def test_a_delivery_is_sent_until_it_starts_and_a_failed_one_again(ledger: RedisLedger) -> None:
    """Pending: sent again (the first send may have died with its process; a duplicate
    message is dropped when it starts). Running or over: not sent. Failed: runs again."""
    assert ledger.accept(make_job()) is True
    assert ledger.accept(make_job()) is True  # still pending
    claim = ledger.start(make_job(), "attempt-1", 30)
    assert not isinstance(claim, Busy | Skip)
    assert ledger.accept(make_job()) is False  # running
    assert ledger.finish(make_job(), "attempt-1", "failed", "GitHub kept failing")

    assert ledger.accept(make_job()) is True  # the operator redelivered it
    (row,) = ledger.jobs()
    assert (row.state, row.attempts) == ("pending", 0)
    assert row.reason == "redelivered after: GitHub kept failing"


def test_a_duplicate_message_of_a_finished_job_is_skipped(ledger: RedisLedger) -> None:
    ledger.accept(make_job())
    claim = ledger.start(make_job(), "attempt-1", 30)
    assert not isinstance(claim, Busy | Skip) and claim.attempt == 1
    assert ledger.start(make_job(), "attempt-2", 30) == Busy(pytest.approx(30, abs=1))
    ledger.finish(make_job(), "attempt-1", "done")
    assert ledger.start(make_job(), "attempt-2", 30) == Skip("already done")


def test_a_running_job_is_busy_even_for_another_attempt_of_the_same_process(
    ledger: RedisLedger,
) -> None:
    """Attempts have their own tokens: a second message handled by another thread of the
    same worker process must not run the job a second time at once."""
    ledger.accept(make_job())
    assert not isinstance(ledger.start(make_job(), "host:1:aaaa", 30), Busy | Skip)
    assert isinstance(ledger.start(make_job(), "host:1:bbbb", 30), Busy)


def test_a_dead_workers_job_is_taken_over_with_its_check_run(ledger: RedisLedger) -> None:
    ledger.accept(make_job())
    first = ledger.start(make_job(), "w-1", 0.2)
    assert not isinstance(first, Busy | Skip)
    ledger.record_check_run(make_job(), "w-1", 4242)

    # w-1 was killed: no renewal. Once its lease has run out, w-2 takes the job over.
    again = eventually(
        lambda: ledger.start(make_job(), "w-2", 30),
        until=lambda started: not isinstance(started, Busy),
        what="the dead worker's lease never ran out",
    )

    assert not isinstance(again, Busy | Skip)
    assert (again.attempt, again.recovered, again.check_run_id) == (2, True, 4242)
    assert ledger.finish(make_job(), "w-1", "done") is False  # no longer w-1's
    assert ledger.finish(make_job(), "w-2", "done") is True


def test_renewed_leases_keep_the_job(ledger: RedisLedger) -> None:
    ledger.accept(make_job())
    ledger.start(make_job(), "a-1", 0.3)
    first_lease = lease_until(ledger, "d-1")
    for _ in range(3):
        assert ledger.renew(make_job(), "a-1", 30) is True
    wait_for_redis_time(ledger.client, first_lease)  # the first lease is over
    assert isinstance(ledger.start(make_job(), "a-2", 30), Busy)  # the renewed one is not
    assert ledger.renew(make_job(), "a-2", 30) is False  # not a-2's to renew


def test_two_heads_of_one_pull_request_never_run_at_once(ledger: RedisLedger) -> None:
    """Both would read the PR's comments, then post: one at a time, so none is doubled."""
    ledger.accept(make_job("d-1", HEAD_SHA))
    ledger.accept(make_job("d-2", NEWER))
    ledger.accept(make_job("d-3", "c" * 40, (9,)))  # another PR: free to run
    assert not isinstance(ledger.start(make_job("d-1", HEAD_SHA), "a-1", 30), Busy | Skip)
    assert isinstance(ledger.start(make_job("d-2", NEWER), "a-2", 30), Busy)
    assert not isinstance(ledger.start(make_job("d-3", "c" * 40, (9,)), "a-3", 30), Busy | Skip)
    ledger.finish(make_job("d-1", HEAD_SHA), "a-1", "done")
    assert not isinstance(ledger.start(make_job("d-2", NEWER), "a-2", 30), Busy | Skip)


def test_jobs_whose_message_may_be_lost_are_found_again(ledger: RedisLedger) -> None:
    """Accepted but never sent (the web process died), or running with a dead lease."""
    ledger.accept(make_job("d-unsent"))
    ledger.accept(make_job("d-dead", NEWER, (8,)))
    ledger.start(make_job("d-dead", NEWER, (8,)), "dead-attempt", 0.05)
    assert ledger.strays(unsent_seconds=5) == []  # not yet
    # d-dead's lease (0.05 s) runs out, then both go unsent for over 0.1 s
    wait_for_redis_time(ledger.client, redis_time(ledger.client) + 0.15)
    before = redis_time(ledger.client)
    found = ledger.strays(unsent_seconds=0.1)
    assert sorted(j.delivery_id for j in found) == ["d-dead", "d-unsent"]
    # marked sent again just now: unsent for 0.1 s from now on, not found again before
    assert all(sent_at(ledger, d) >= before for d in ["d-dead", "d-unsent"])


def test_finished_jobs_expire_and_leave_the_indexes(ledger: RedisLedger) -> None:
    ledger.accept(make_job())
    ledger.start(make_job(), "a-1", 30)
    ledger.finish(make_job(), "a-1", "done")
    assert 0 < ledger.client.ttl(ledger._job_key("d-1")) <= 14 * 24 * 3600
    ledger.client.delete(ledger._job_key("d-1"))  # as if it expired
    assert ledger.prune() == 1
    assert ledger.counts()["done"] == 0


def test_two_jobs_for_one_head_never_run_at_once(ledger: RedisLedger) -> None:
    ledger.accept(make_job("d-1"))
    ledger.accept(make_job("d-2", pull_requests=()))  # a re-run of a fork's suite: the head, no PR
    assert not isinstance(ledger.start(make_job("d-1"), "a-1", 30), Busy | Skip)
    assert isinstance(ledger.start(make_job("d-2", pull_requests=()), "a-2", 30), Busy)
    ledger.finish(make_job("d-1"), "a-1", "done")
    assert not isinstance(ledger.start(make_job("d-2", pull_requests=()), "a-2", 30), Busy | Skip)


def test_a_message_sent_before_its_ledger_entry_still_runs(ledger: RedisLedger) -> None:
    """The web process died between dramatiq's send and the ledger write."""
    claim = ledger.start(make_job(), "w-1", 30)
    assert not isinstance(claim, Busy | Skip) and claim.attempt == 1
    assert ledger.counts()["running"] == 1


def test_a_retry_puts_the_job_back_and_forgets_its_check_run(ledger: RedisLedger) -> None:
    ledger.accept(make_job())
    ledger.start(make_job(), "a-1", 30)
    ledger.record_check_run(make_job(), "a-1", 99)
    ledger.record_check_run(make_job(), "not-the-holder", 77)  # ignored
    assert ledger.retry(make_job(), "a-1", 5, "GitHub answered 502")
    (row,) = ledger.jobs()
    assert (row.state, row.reason) == ("pending", "GitHub answered 502")
    assert row.run_after > time.time() + 3
    ledger.client.hset(ledger._job_key("d-1"), "run_after", 0)  # the back-off is over
    claim = ledger.start(make_job(), "a-2", 30)
    assert not isinstance(claim, Busy | Skip) and claim.check_run_id is None


def test_a_job_still_running_at_shutdown_is_taken_over_soon_with_its_check_run(
    ledger: RedisLedger,
) -> None:
    ledger.accept(make_job())
    ledger.start(make_job(), "a-1", 30)
    ledger.record_check_run(make_job(), "a-1", 4242)
    assert ledger.expire(make_job(), "a-1", 0.1)
    again = eventually(
        lambda: ledger.start(make_job(), "a-2", 30),
        until=lambda started: not isinstance(started, Busy),
        what="the shortened lease never ran out",
    )
    assert not isinstance(again, Busy | Skip)
    assert (again.recovered, again.check_run_id) == (True, 4242)


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


def test_a_merge_group_delivery_is_checked_by_a_dramatiq_worker(distributed: Any) -> None:
    """The merge-group job kind in the Redis mode: its base travels with it."""
    payload = load_payload("merge_group.checks_requested")
    group = payload["merge_group"]
    head, base = group["head_sha"], group["base_sha"]
    github = FakeGitHub(merge_base=base)
    github.files.append(ChangedFile("app/perms.py", "modified"))
    github.contents[(head, "app/perms.py")] = FAIL_OPEN.encode()
    github.contents[(base, "app/perms.py")] = SAFE.encode()
    app = create_app(make_settings(), distributed())
    status = deliver(app, "merge_group", payload)

    worker = distributed(github)
    worker.start_workers(threads=1)
    worker.join(timeout=20)

    assert status.status_code == 202
    assert github.names() == [
        "create_check_run",
        "compare_commits",
        "read_files",
        "update_check_run",
    ]
    assert github.called("compare_commits") == [(payload["repository"]["full_name"], base, head)]
    assert github.called("create_check_run")[0][1] == head
    assert github.conclusion() == "failure" and github.reviews() == []
    assert worker.ledger.counts()["done"] == 1


def test_a_transient_failure_is_retried_through_dramatiq(distributed: Any) -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    attempts: list[int] = []

    class Transient(RetryableError):
        """Like GitHubError for a 502."""

    def flaky(job: Job, gh: FakeGitHub) -> object:
        attempts.append(1)
        if len(attempts) < 2:
            raise Transient("502 Bad Gateway")
        from failclosed.app.review.analyze import run_analysis

        return run_analysis(job, gh)

    worker = distributed(github, run=flaky, retry_delays=(0.05,))
    worker.enqueue(job_for(payload, "d-4"))
    worker.start_workers(threads=1)
    worker.join(timeout=20)

    assert len(attempts) == 2
    assert github.conclusion() == "failure"
    (row,) = worker.ledger.jobs()
    assert (row.state, row.attempts) == ("done", 2)


def test_the_jobs_command_reads_the_redis_ledger(
    ledger: RedisLedger, redis_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from failclosed.app.commands.cli import main

    ledger.accept(make_job("d-1"))
    ledger.start(make_job("d-1"), "host:1:abc", 30)
    assert main(["jobs", "--queue-url", redis_url]) == 0
    out = capsys.readouterr().out
    assert "running 1" in out and "on host:1:abc" in out


def test_a_redis_blip_while_starting_a_job_is_retried_not_dead_lettered(
    distributed: Any,
) -> None:
    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    worker = distributed(github)
    real_start = worker.ledger.start
    blips: list[int] = []

    def flaky_start(*args: Any, **kwargs: Any) -> Any:
        if not blips:
            blips.append(1)
            raise redis.ConnectionError("Connection reset by peer")
        return real_start(*args, **kwargs)

    worker.ledger.start = flaky_start
    worker.enqueue(job_for(payload, "d-4"))
    worker.start_workers(threads=1)
    worker.join(timeout=20)

    assert blips == [1]
    assert github.conclusion() == "failure"
    assert worker.ledger.counts()["done"] == 1


def test_concurrent_enqueues_are_sent_once_each(distributed: Any, client: redis.Redis) -> None:
    """Enqueues waiting for one another are accepted in one round trip and sent by one
    thread; every delivery is sent exactly once, duplicates not at all once running."""
    import threading

    web = distributed()
    jobs = [make_job(f"d-{i}", f"{i:040x}", (i,)) for i in range(30)]
    start = threading.Barrier(len(jobs))

    def send(one: Job) -> None:
        start.wait()
        web.enqueue(one)

    threads = [threading.Thread(target=send, args=(one,)) for one in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert web.ledger.counts()["pending"] == 30
    assert client.llen("failclosed-dramatiq:failclosed") == 30  # dramatiq's queue


def test_an_enqueue_sent_by_another_returns_without_waiting_for_the_next_send(
    distributed: Any, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enqueues that waited while a batch was sent go out together in the next; once
    theirs is sent, each returns, even while a later batch's send is still under way
    (they do not queue behind it)."""
    import threading

    web = distributed()
    batches: list[list[str]] = []
    release_first, release_third = threading.Event(), threading.Event()
    real = web._send_batch
    answered: dict[str, bool] = {}

    def send(one: Job) -> None:
        web.enqueue(one)
        answered[one.delivery_id] = True

    late = threading.Thread(target=send, args=(make_job("d-late", "e" * 40, (98,)),))

    def send_batch(batch: list[Any]) -> None:
        batches.append(sorted(waiting.job.delivery_id for waiting in batch))
        if len(batches) == 1:
            release_first.wait()
        if len(batches) == 3:
            release_third.wait()
        real(batch)
        if len(batches) == 2:  # a later enqueue arrives while this batch is sent
            late.start()
            wait_for(lambda: len(web._pending) == 1, what="the late enqueue never waited")

    monkeypatch.setattr(web, "_send_batch", send_batch)
    first = threading.Thread(target=send, args=(make_job("d-first", "f" * 40, (99,)),))
    first.start()
    wait_for(lambda: len(batches) == 1, what="the first send never started")
    jobs = [make_job(f"d-{i}", f"{i:040x}", (i,)) for i in range(3)]
    threads = [threading.Thread(target=send, args=(one,)) for one in jobs]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(web._pending) == 3, what="the enqueues never waited")
    release_first.set()
    try:
        wait_for(lambda: len(batches) == 3, what="the late enqueue was never sent")
        for thread in [first, *threads]:
            thread.join(10)
            assert not thread.is_alive(), "an enqueue sent already did not return"
        assert "d-late" not in answered  # its send is still held
    finally:
        release_third.set()
        late.join(10)
    assert batches == [["d-first"], ["d-0", "d-1", "d-2"], ["d-late"]]
    assert sorted(answered) == ["d-0", "d-1", "d-2", "d-first", "d-late"]
    assert web.ledger.counts()["pending"] == 5
    assert client.llen("failclosed-dramatiq:failclosed") == 5


def test_a_failed_send_fails_the_enqueue(distributed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook then answers 503 and GitHub can redeliver; the ledger entry stays
    pending, and is sent again by the redelivery or the sweeper."""
    web = distributed()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(web.actor, "send", broken)
    with pytest.raises(SendFailed, match="Connection refused") as raised:
        web.enqueue(make_job())
    assert isinstance(raised.value.__cause__, redis.ConnectionError)
    monkeypatch.undo()
    (row,) = web.ledger.jobs()
    assert row.state == "pending"
    web.enqueue(make_job())  # GitHub's redelivery
    assert web.ledger.counts()["pending"] == 1


def test_a_retry_waits_out_its_back_off_even_if_sent_early(ledger: RedisLedger) -> None:
    ledger.accept(make_job())
    ledger.start(make_job(), "a-1", 30)
    ledger.retry(make_job(), "a-1", 5, "GitHub answered 502")
    early = ledger.start(make_job(), "a-2", 30)  # say, a redelivery's message
    assert isinstance(early, Busy) and 4 < early.seconds <= 5


def test_a_redelivered_failed_job_does_not_expire(ledger: RedisLedger) -> None:
    ledger.accept(make_job())
    ledger.start(make_job(), "a-1", 30)
    ledger.finish(make_job(), "a-1", "failed", "GitHub kept failing")
    assert ledger.client.ttl(ledger._job_key("d-1")) > 0
    ledger.accept(make_job())  # redelivered: pending again, live again
    assert ledger.client.ttl(ledger._job_key("d-1")) == -1


def test_a_stray_that_cannot_be_read_does_not_stop_the_others(ledger: RedisLedger) -> None:
    ledger.accept(make_job("d-good"))
    ledger.accept(make_job("d-bad", NEWER, (8,)))
    ledger.client.hset(ledger._job_key("d-bad"), "job", '{"kind": 1}')
    ledger.client.zadd(ledger._index + "pending", {"d-gone": 99})  # index without a job
    wait_for_redis_time(ledger.client, redis_time(ledger.client) + 0.1)  # unsent for 0.1 s
    found = ledger.strays(unsent_seconds=0.1)
    assert [j.delivery_id for j in found] == ["d-good"]
    assert ledger.client.zscore(ledger._index + "pending", "d-gone") is None
    assert not ledger.client.exists(ledger._job_key("d-gone"))  # no junk entry made


def test_a_file_that_never_finishes_fails_its_check_once_in_the_redis_mode(
    distributed: Any,
) -> None:
    """Issue 11 item 1, as in the embedded mode: the file's child is killed past the
    budget (1 s, over three leases), the heartbeat keeps the lease meanwhile, and the job
    ends once with its check run failed; a thread of the process kept ticking."""
    payload = load_payload("pull_request.opened")
    github = fake_with_a_file_that_never_finishes(payload)
    worker = distributed(github, run=analysis_with_a_budget(1.0), lease_seconds=0.3)
    worker.enqueue(job_for(payload, "d-4"))
    with ticking() as ticks:
        worker.start_workers(threads=2)
        worker.join(timeout=20)

    (row,) = worker.ledger.jobs()
    assert (row.state, row.attempts) == ("done", 1)
    assert github.names().count("create_check_run") == 1
    (completed,) = [u for u in github.check_updates() if u.get("status") == "completed"]
    assert completed["conclusion"] == "failure"
    assert "analysis ran past 1 s" in completed["output"]["summary"]
    assert ticks[0] >= 10


def test_a_job_that_hangs_a_dramatiq_thread_is_failed_closed(distributed: Any) -> None:
    import threading

    from failclosed.app.review.publish import FAILED_TITLE

    payload = load_payload("pull_request.opened")
    github = fake_for(payload)
    hang = threading.Event()

    def hangs(job: Job, gh: Any) -> JobResult:
        gh.create_check_run(job.repository, job.head_sha, "failclosed")
        hang.wait(10)  # something that never answers
        return NOTHING

    worker = distributed(github, run=hangs, lease_seconds=0.3, max_run_seconds=0.5)
    worker.enqueue(job_for(payload, "d-4"))
    worker.start_workers(threads=1)
    try:
        worker.join(timeout=10)
        # the check run is failed from its own thread
        wait_for(lambda: bool(github.check_updates()), what="the check run was never failed")
    finally:
        hang.set()
    (row,) = worker.ledger.jobs()
    assert row.state == "failed" and "ran over 0.5 s" in row.reason
    assert github.conclusion() == "failure"
    assert github.title().startswith(FAILED_TITLE)


def test_an_installed_package_carries_the_ledgers_lua_scripts() -> None:
    """The scripts are package data: each file in app/run/lua/ (failclosed.app.run.lua) is named by
    pyproject.toml's package-data (a wheel without them could not run the Redis mode), and
    loaded."""
    import fnmatch
    import tomllib

    from failclosed.app.run import distributed

    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["failclosed.app.run.lua"]
    lua = root / "app" / "run" / "lua"
    scripts = sorted(p.relative_to(lua).as_posix() for p in lua.rglob("*.lua"))
    assert scripts == sorted(f"{name}.lua" for name in distributed.SCRIPTS)
    for script in scripts:
        assert any(fnmatch.fnmatch(script, pattern) for pattern in patterns), script
