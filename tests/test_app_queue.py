"""The embedded job queue against a real SQLite file: durability, leases, order, dedupe."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import HEAD_SHA, make_job, wait_for

import failclosed.app.run.queue
from failclosed.app.model import Job
from failclosed.app.run.queue import QueueError, SqliteJobQueue

NEWER = "b" * 40
LEASE = 30.0


class Clock:
    """A settable clock: leases and back-offs without sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(tmp_path: Path, clock: Clock) -> SqliteJobQueue:
    return SqliteJobQueue(tmp_path / "jobs.sqlite3", clock=clock)


def test_an_enqueued_job_is_on_disk_for_another_process(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    SqliteJobQueue(path).enqueue(make_job())

    # A separate connection, as a restarted process would open it.
    claim = SqliteJobQueue(path).claim("w-1", LEASE)
    assert claim is not None
    assert claim.job == make_job()
    assert (claim.attempt, claim.recovered, claim.check_run_id) == (1, False, None)


def test_a_redelivery_is_accepted_once(queue: SqliteJobQueue) -> None:
    assert queue.enqueue(make_job("d-1")) is True
    assert queue.enqueue(make_job("d-1")) is False
    assert queue.counts()["pending"] == 1


def test_redelivering_a_failed_delivery_queues_it_again(queue: SqliteJobQueue) -> None:
    queue.enqueue(make_job("d-1"))
    claim = queue.claim("w-1", LEASE)
    assert claim is not None
    queue.record_check_run(claim.id, "w-1", 4242)
    queue.finish(claim.id, "w-1", "failed", "GitHub kept failing")

    assert queue.enqueue(make_job("d-1")) is True
    again = queue.claim("w-1", LEASE)
    assert again is not None and again.id == claim.id
    assert (again.attempt, again.check_run_id) == (1, None)
    (row,) = queue.jobs()
    assert row.reason == "redelivered after: GitHub kept failing"
    queue.finish(again.id, "w-1", "done")
    assert queue.enqueue(make_job("d-1")) is False  # done: a redelivery is a duplicate


def test_a_claimed_job_is_not_claimed_twice_while_its_lease_lives(
    queue: SqliteJobQueue, clock: Clock
) -> None:
    queue.enqueue(make_job())
    first = queue.claim("w-1", LEASE)
    assert first is not None
    clock.now += LEASE - 1
    assert queue.claim("w-2", LEASE) is None


def test_a_worker_that_dies_mid_job_loses_nothing(queue: SqliteJobQueue, clock: Clock) -> None:
    queue.enqueue(make_job())
    first = queue.claim("w-1", LEASE)
    assert first is not None
    queue.record_check_run(first.id, "w-1", 4242)

    clock.now += LEASE + 1  # w-1 stopped renewing: killed
    again = queue.claim("w-2", LEASE)

    assert again is not None and again.id == first.id
    assert (again.attempt, again.recovered, again.check_run_id) == (2, True, 4242)
    # w-1's late answer no longer counts: the job is w-2's now
    assert queue.finish(first.id, "w-1", "done") is False
    assert queue.finish(again.id, "w-2", "done") is True
    assert queue.counts() == {
        "pending": 0,
        "running": 0,
        "done": 1,
        "failed": 0,
        "superseded": 0,
    }


def test_renewed_leases_keep_the_job(queue: SqliteJobQueue, clock: Clock) -> None:
    queue.enqueue(make_job())
    claim = queue.claim("w-1", LEASE)
    assert claim is not None
    for _ in range(5):
        clock.now += LEASE - 1
        assert queue.renew("w-1", [claim.id], LEASE) == {claim.id}
    assert queue.claim("w-2", LEASE) is None
    assert queue.renew("w-2", [claim.id], LEASE) == set()  # not w-2's to renew


def test_a_retry_waits_for_its_back_off(queue: SqliteJobQueue, clock: Clock) -> None:
    queue.enqueue(make_job())
    claim = queue.claim("w-1", LEASE)
    assert claim is not None
    assert queue.retry(claim.id, "w-1", 30.0, "GitHub answered 502")

    clock.now += 29
    assert queue.claim("w-1", LEASE) is None
    clock.now += 2
    again = queue.claim("w-1", LEASE)
    assert again is not None and again.attempt == 2 and not again.recovered
    (row,) = queue.jobs()
    assert row.reason == "GitHub answered 502"


def test_a_job_cut_short_at_shutdown_is_taken_over_with_its_check_run(
    queue: SqliteJobQueue, clock: Clock
) -> None:
    queue.enqueue(make_job())
    claim = queue.claim("w-1", LEASE)
    assert claim is not None
    queue.record_check_run(claim.id, "w-1", 4242)
    assert queue.expire(claim.id, "w-1", 5)
    clock.now += 4
    assert queue.claim("w-2", LEASE) is None  # its thread may still be publishing
    clock.now += 2
    again = queue.claim("w-2", LEASE)
    assert again is not None and (again.recovered, again.check_run_id) == (True, 4242)


def test_a_retried_job_makes_a_new_check_run(queue: SqliteJobQueue, clock: Clock) -> None:
    """The failed attempt completed its run as failure; a run is not re-opened."""
    queue.enqueue(make_job())
    claim = queue.claim("w-1", LEASE)
    assert claim is not None
    queue.record_check_run(claim.id, "w-1", 4242)
    queue.retry(claim.id, "w-1", 0, "502")
    again = queue.claim("w-1", LEASE)
    assert again is not None and again.check_run_id is None


def test_deliveries_arriving_out_of_order_supersede_nothing(queue: SqliteJobQueue) -> None:
    """Which head is current is GitHub's to say (the job asks it when it runs): a re-run
    of an old commit, or a late delivery, must not cancel the current head's job."""
    queue.enqueue(make_job("d-new", NEWER, (7,)))
    queue.enqueue(make_job("d-old", HEAD_SHA, (7,)))  # arrives last, about the older head
    assert {row.delivery_id: row.state for row in queue.jobs()} == {
        "d-new": "pending",
        "d-old": "pending",
    }


def test_two_jobs_of_one_pull_request_never_run_at_once(
    queue: SqliteJobQueue, clock: Clock
) -> None:
    """Two heads of PR 7 would both read its comments, then post: one at a time."""
    queue.enqueue(make_job("d-1", HEAD_SHA, (7,)))
    queue.enqueue(make_job("d-2", NEWER, (7, 8)))
    queue.enqueue(make_job("d-3", "c" * 40, (9,)))
    first, second = queue.claim("w-1", LEASE), queue.claim("w-2", LEASE)
    assert first is not None and second is not None
    assert (first.job.delivery_id, second.job.delivery_id) == ("d-1", "d-3")
    assert queue.claim("w-3", LEASE) is None
    queue.finish(first.id, "w-1", "done")
    third = queue.claim("w-3", LEASE)
    assert third is not None and third.job.delivery_id == "d-2"


def test_two_jobs_for_one_head_never_run_at_once(queue: SqliteJobQueue, clock: Clock) -> None:
    queue.enqueue(make_job("d-1", HEAD_SHA))
    queue.enqueue(make_job("d-2", HEAD_SHA))  # say, a re-run request for the same commit
    queue.enqueue(make_job("d-3", NEWER, (9,)))  # another PR: free to run

    first = queue.claim("w-1", LEASE)
    second = queue.claim("w-2", LEASE)
    assert first is not None and second is not None
    assert (first.job.delivery_id, second.job.delivery_id) == ("d-1", "d-3")
    assert queue.claim("w-3", LEASE) is None  # d-2 waits for d-1
    queue.finish(first.id, "w-1", "done")
    third = queue.claim("w-3", LEASE)
    assert third is not None and third.job.delivery_id == "d-2"


def test_concurrent_claimers_share_the_jobs_without_overlap(tmp_path: Path) -> None:
    """Four threads, each with its own connection, 200 jobs on 200 heads: each once."""
    queue = SqliteJobQueue(tmp_path / "jobs.sqlite3")
    for i in range(200):
        queue.enqueue(make_job(f"d-{i}", f"{i:040x}", (i,)))
    taken: list[str] = []
    lock = threading.Lock()

    def work(owner: str) -> None:
        while (claim := queue.claim(owner, LEASE)) is not None:
            with lock:
                taken.append(claim.job.delivery_id)
            queue.finish(claim.id, owner, "done")

    threads = [threading.Thread(target=work, args=(f"w-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(f"d-{i}" for i in range(200))
    assert queue.counts()["done"] == 200


def test_finish_takes_only_final_states(queue: SqliteJobQueue) -> None:
    queue.enqueue(make_job())
    claim = queue.claim("w-1", LEASE)
    assert claim is not None
    with pytest.raises(ValueError, match="final state"):
        queue.finish(claim.id, "w-1", "pending")


def test_a_file_that_is_not_a_queue_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(QueueError, match=r"cannot use .*jobs\.sqlite3 as the job queue"):
        SqliteJobQueue(path)
    assert path.read_bytes().startswith(b"this is not a database")  # nothing overwritten


def test_listing_shows_reasons_newest_first(queue: SqliteJobQueue) -> None:
    queue.enqueue(make_job("d-1"))
    queue.enqueue(make_job("d-2", NEWER, (9,)))
    claim = queue.claim("w-1", LEASE)
    assert claim is not None
    queue.finish(claim.id, "w-1", "failed", "GitHub kept failing: 502")

    rows = queue.jobs()
    assert [r.delivery_id for r in rows] == ["d-2", "d-1"]
    assert (rows[1].state, rows[1].reason) == ("failed", "GitHub kept failing: 502")
    assert [r.delivery_id for r in queue.jobs(["failed"])] == ["d-1"]
    assert queue.unfinished() == 1


def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    SqliteJobQueue(path).enqueue(make_job())
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_concurrent_enqueues_are_each_kept_once(queue: SqliteJobQueue) -> None:
    """Group commit: 48 threads, 40 deliveries (8 sent twice); each answer is its own."""
    deliveries = [f"d-{i}" for i in range(40)] + [f"d-{i}" for i in range(8)]
    results: dict[int, bool] = {}
    start = threading.Barrier(len(deliveries))

    def send(n: int, delivery: str) -> None:
        start.wait()
        results[n] = queue.enqueue(make_job(delivery, f"{n % 40:040x}", (n % 40,)))

    threads = [threading.Thread(target=send, args=pair) for pair in enumerate(deliveries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results.values()) == 40  # every delivery kept, each once
    assert all(results[n] for n in range(8, 40))  # sent once: always True
    assert sorted(r.delivery_id for r in queue.jobs(limit=100)) == sorted(set(deliveries))


def test_a_failed_group_commit_fails_every_enqueue_in_it(
    queue: SqliteJobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """None of them is on disk, so none may be acknowledged: each raises (the webhook
    answers 503 and GitHub can redeliver)."""

    def disk_full(*args: object) -> bool:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(queue, "_insert", disk_full)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def send(n: int) -> None:
        start.wait()
        try:
            queue.enqueue(make_job(f"d-{n}", f"{n:040x}", (n,)))
        except sqlite3.OperationalError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 8
    monkeypatch.undo()
    assert queue.jobs() == []


def test_a_stored_job_that_cannot_be_read_fails_instead_of_looping(
    queue: SqliteJobQueue,
) -> None:
    queue.enqueue(make_job("d-1"))
    queue.enqueue(make_job("d-2", NEWER, (8,)))
    queue._connection().execute("UPDATE jobs SET job = '{\"kind\": 1}' WHERE delivery_id = 'd-1'")
    claim = queue.claim("w-1", LEASE)
    assert claim is None  # the unreadable one was failed, with the reason
    claim = queue.claim("w-1", LEASE)
    assert claim is not None and claim.job.delivery_id == "d-2"
    failed = queue.jobs(["failed"])
    assert [r.delivery_id for r in failed] == ["d-1"]
    assert failed[0].reason.startswith("the stored job cannot be read")


def test_finished_jobs_are_forgotten_after_two_weeks(queue: SqliteJobQueue, clock: Clock) -> None:
    queue.enqueue(make_job("d-old"))
    claim = queue.claim("w-1", LEASE)
    assert claim is not None
    queue.finish(claim.id, "w-1", "done")
    queue.enqueue(make_job("d-pending", NEWER, (8,)))
    clock.now += 15 * 24 * 3600
    assert queue.prune() == 1
    assert [row.delivery_id for row in queue.jobs()] == ["d-pending"]  # never pending ones


def test_a_read_only_queue_changes_nothing(tmp_path: Path) -> None:
    """`failclosed jobs` pointed at some other SQLite file: an error, and no table made."""
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE notes (x)").connection.commit()
    with pytest.raises(QueueError, match="cannot use"):
        SqliteJobQueue(other, readonly=True)
    tables = sqlite3.connect(other).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("notes",)]


# --- the file under the queue: deleted, replaced, read-only (issue 11 item 8) ---------------


def test_a_deleted_queue_file_refuses_enqueues_instead_of_losing_them(
    queue: SqliteJobQueue,
) -> None:
    """Deleted while serving, the file lives on unlinked under the open connections: an
    enqueue "kept" there is gone at the next restart, so it must fail (503), not pass."""
    queue.enqueue(make_job("d-1"))
    assert queue.problem() is None
    for leftover in queue.path.parent.glob(queue.path.name + "*"):  # as `rm jobs.sqlite3*`
        leftover.unlink()

    with pytest.raises(QueueError, match="deleted or replaced"):
        queue.enqueue(make_job("d-2", NEWER, (8,)))
    problem = queue.problem()
    assert problem is not None and "deleted or replaced" in problem
    assert str(queue.path) in problem


def test_a_replaced_queue_file_refuses_enqueues(tmp_path: Path) -> None:
    """Another file moved in under the same name (a restored backup, say) is not the file
    this process writes to: its enqueues would land where no restart finds them."""
    queue = SqliteJobQueue(tmp_path / "jobs.sqlite3")
    queue.enqueue(make_job("d-1"))
    SqliteJobQueue(tmp_path / "backup.sqlite3").close()
    (tmp_path / "backup.sqlite3").replace(queue.path)

    with pytest.raises(QueueError, match="deleted or replaced"):
        queue.enqueue(make_job("d-2", NEWER, (8,)))


def test_the_jobs_of_a_deleted_file_still_run_and_are_counted(queue: SqliteJobQueue) -> None:
    """What was acknowledged before the deletion is still in the file the process holds:
    its workers go on running it, and the problem says how much is left there."""
    queue.enqueue(make_job("d-1"))
    queue.path.unlink()

    assert "1 job accepted earlier" in (queue.problem() or "")
    claim = queue.claim("w-1", LEASE)
    assert claim is not None and claim.job.delivery_id == "d-1"
    assert queue.finish(claim.id, "w-1", "done")
    assert "0 jobs accepted earlier" in (queue.problem() or "")


def test_a_queue_file_that_cannot_be_written_is_refused_at_open(
    read_only_queue_file: Path,
) -> None:
    with pytest.raises(QueueError, match=r"jobs\.sqlite3 .*not writable"):
        SqliteJobQueue(read_only_queue_file)


def test_a_read_only_file_can_still_be_listed(read_only_queue_file: Path) -> None:
    """`failclosed jobs` only reads: a file it cannot write is no reason to refuse."""
    assert SqliteJobQueue(read_only_queue_file, readonly=True).counts()["pending"] == 0


# --- group commits (issue 11: acknowledgements under a burst) ------------------------------


class HeldCommit:
    """Holds the first group commit back, so that the enqueues arriving meanwhile are
    written together in the next one: a batch of known content, without timing."""

    def __init__(self, queue: SqliteJobQueue, monkeypatch: pytest.MonkeyPatch) -> None:
        self.queue = queue
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.after_commit: list[Callable[[], None]] = []
        real = queue._commit_batch

        def commit_batch(batch: list[Any]) -> None:
            self.batches.append([waiting.job.delivery_id for waiting in batch])
            if len(self.batches) == 1:
                self.release.wait()
            real(batch)
            for then in self.after_commit:
                then()

        monkeypatch.setattr(queue, "_commit_batch", commit_batch)

    def enqueue_together(self, jobs: list[Job]) -> list[bool | BaseException]:
        """Enqueue a first job (held), then `jobs` from threads of their own, wait until
        all of them wait, release: they are written in one batch. Each one's answer."""
        results: dict[int, bool | BaseException] = {}

        def send(n: int, job: Job) -> None:
            try:
                results[n] = self.queue.enqueue(job)
            except BaseException as exc:
                results[n] = exc

        first = threading.Thread(target=send, args=(-1, make_job("d-first", "f" * 40, (99,))))
        first.start()
        wait_for(lambda: len(self.batches) == 1, what="the first commit never started")
        threads = [threading.Thread(target=send, args=pair) for pair in enumerate(jobs)]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(self.queue._pending) == len(jobs), what="enqueues not waiting")
        self.release.set()
        for thread in [first, *threads]:
            thread.join(10)
            assert not thread.is_alive(), "an enqueue never returned"
        assert results[-1] is True
        return [results[n] for n in range(len(jobs))]


def pull_request_rows(queue: SqliteJobQueue) -> list[tuple[str, int]]:
    rows = queue._connection().execute(
        "SELECT j.delivery_id, p.number FROM job_prs p JOIN jobs j ON j.id = p.job_id"
        " ORDER BY j.delivery_id, p.number"
    )
    return [(delivery_id, number) for delivery_id, number in rows]


def test_a_batch_keeps_each_delivery_once_and_answers_each_enqueue(
    queue: SqliteJobQueue, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One group commit with new deliveries, a delivery twice, one already queued and a
    failed one redelivered: the first enqueue of each delivery to be kept answers True,
    every other False; each kept job's pull requests are recorded once."""
    queue.enqueue(make_job("d-queued", "a" * 40, (1,)))
    queue.enqueue(make_job("d-failed", "b" * 40, (2, 3)))
    claim = queue.claim("w-1", LEASE)
    assert claim is not None and claim.job.delivery_id == "d-queued"
    claim = queue.claim("w-1", LEASE)
    assert claim is not None and claim.job.delivery_id == "d-failed"
    queue.finish(claim.id, "w-1", "failed", "GitHub kept failing")

    jobs = [
        make_job("d-1", "1" * 40, (11,)),
        make_job("d-twice", "2" * 40, (12, 13)),
        make_job("d-queued", "a" * 40, (1,)),
        make_job("d-failed", "b" * 40, (2, 3)),
        make_job("d-twice", "2" * 40, (12, 13)),
        make_job("d-failed", "b" * 40, (2, 3)),
        make_job("d-none", "3" * 40, ()),
    ]
    answers = HeldCommit(queue, monkeypatch).enqueue_together(jobs)

    kept: dict[str, list[bool | BaseException]] = {}
    for job, answer in zip(jobs, answers, strict=True):
        kept.setdefault(job.delivery_id, []).append(answer)
    assert {delivery: sorted(each, key=str) for delivery, each in kept.items()} == {
        "d-1": [True],
        "d-twice": [False, True],  # whichever of the two came first
        "d-queued": [False],
        "d-failed": [False, True],
        "d-none": [True],
    }
    assert {row.delivery_id: row.state for row in queue.jobs()} == {
        "d-first": "pending",
        "d-1": "pending",
        "d-twice": "pending",
        "d-queued": "running",
        "d-failed": "pending",
        "d-none": "pending",
    }
    assert pull_request_rows(queue) == [
        ("d-1", 11),
        ("d-failed", 2),
        ("d-failed", 3),
        ("d-first", 99),
        ("d-queued", 1),
        ("d-twice", 12),
        ("d-twice", 13),
    ]


def test_an_enqueue_written_by_another_returns_without_the_write_lock(
    queue: SqliteJobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once its job is committed, an enqueue returns: it does not queue for the write
    lock behind a worker's write (or the next commit) that took the lock meanwhile."""
    held = HeldCommit(queue, monkeypatch)
    # Right after the second commit, a worker's write takes the lock and keeps it.
    held.after_commit.append(
        lambda: len(held.batches) == 2 and queue._write_lock.acquire(blocking=False)
    )
    try:
        answers = held.enqueue_together([make_job(f"d-{n}", f"{n:040x}", (n,)) for n in range(3)])
        assert queue._write_lock.locked()
    finally:
        if queue._write_lock.locked():
            queue._write_lock.release()
    assert answers == [True, True, True]
    assert [sorted(batch) for batch in held.batches] == [["d-first"], ["d-0", "d-1", "d-2"]]


def test_only_an_enqueue_waits_for_its_commit_to_reach_the_disk(
    queue: SqliteJobQueue,
) -> None:
    """synchronous=FULL for the connection of the enqueues (a 2xx means on disk); NORMAL
    for the workers' writes (a claim, a lease, a finish: never an acknowledged delivery)."""
    synchronous = {"FULL": 2, "NORMAL": 1}
    assert queue._enqueuer is not None and queue._writer is not None
    assert queue._enqueuer.execute("PRAGMA synchronous").fetchone()[0] == synchronous["FULL"]
    assert queue._writer.execute("PRAGMA synchronous").fetchone()[0] == synchronous["NORMAL"]
    with queue._write() as conn:
        assert conn is queue._writer


def test_a_batch_written_otherwise_than_expected_fails_every_enqueue_in_it(
    queue: SqliteJobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answers are worked out before the write; if the write kept other rows (here,
    a statement that no longer queues a failed delivery again), no answer is given from
    them: the batch is rolled back and every enqueue in it fails (503, redelivered)."""
    queue.enqueue(make_job("d-failed", "b" * 40, (2,)))
    claim = queue.claim("w-1", LEASE)
    assert claim is not None
    queue.finish(claim.id, "w-1", "failed", "GitHub kept failing")
    monkeypatch.setattr(
        failclosed.app.run.queue,
        "INSERT_JOBS",
        failclosed.app.run.queue.INSERT_JOBS.replace("state = 'failed'", "0"),
    )

    answers = HeldCommit(queue, monkeypatch).enqueue_together(
        [make_job("d-new", "c" * 40, (3,)), make_job("d-failed", "b" * 40, (2,))]
    )

    assert all(isinstance(answer, QueueError) for answer in answers), answers
    assert {row.delivery_id: row.state for row in queue.jobs()} == {
        "d-failed": "failed",
        "d-first": "pending",
    }
    assert pull_request_rows(queue) == [("d-failed", 2), ("d-first", 99)]
