"""Durable jobs in one SQLite file: the embedded queue that `failclosed serve` works from.

A delivery's job is written here, and committed, before the webhook answers 2xx: if the
process dies right after the answer, the job is still on disk and runs after a restart.

How a job moves:

    pending --claim--> running --finish--> done | failed | superseded
                          |--retry (back-off)--> pending
                          `--lease runs out (the worker died, or stopped with the job
                             still running)--> claimed again

- **Acknowledged after completion.** A claim does not remove the job: it marks it running
  under a lease (`lease_until`) that the worker's heartbeat keeps renewing. A worker killed
  mid-job stops renewing, the lease runs out and the next claim takes the job again.
- **Idempotent.** The delivery id is unique: a redelivered webhook is accepted (2xx) but
  not queued twice, unless its job failed (redelivering is how an operator retries one).
- **Ordered per pull request.** No two jobs for the same head, or for the same pull
  request, run at once, whichever worker or process claims them. Which head is current
  is GitHub's answer, not the order deliveries arrived in: a job whose head has moved on
  completes its check run as superseded when it runs (`app.review.analyze`).
- **Visible.** Every job keeps its state, attempts and last reason, for `failclosed jobs`.

The file is opened in WAL mode. An enqueue's commit is `synchronous=FULL`: once it
returned, the job is on disk. The workers' writes (claims, leases, finishes) are
`synchronous=NORMAL`: never lost when the process dies, on disk at the next enqueue or
checkpoint (see `_open`). Several processes may share the file (one serving, one listing
jobs).

**The file must stay the one that was opened.** SQLite writes through open descriptors:
a queue file deleted (or replaced) under a running process takes every later commit
into an unlinked inode that no restart finds. So the file's identity (device and inode)
is recorded at open and checked around every enqueue, and `problem()` reports the loss
for `/healthz`. A file this process may not write is refused at open: SQLite would open
it read-only without a word and fail every enqueue behind a healthy `/healthz`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from failclosed.app.model import (
    FINAL_STATES,
    KEEP_FINISHED_SECONDS,
    STATES,
    Claim,
    Job,
    JobRow,
    State,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL,
    job           TEXT    NOT NULL,            -- the Job, as JSON
    repository    TEXT    NOT NULL,
    head_sha      TEXT    NOT NULL,
    pull_requests TEXT    NOT NULL,            -- JSON list of numbers
    state         TEXT    NOT NULL DEFAULT 'pending',
    attempts      INTEGER NOT NULL DEFAULT 0,  -- claims so far
    run_after     REAL    NOT NULL,            -- not before (a retry's back-off)
    lease_until   REAL,                        -- running: the owner's lease
    owner         TEXT,                        -- running: which worker
    check_run_id  INTEGER,                     -- the check run an attempt created
    reason        TEXT    NOT NULL DEFAULT '',
    created_at    REAL    NOT NULL,
    started_at    REAL,
    finished_at   REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, run_after);
CREATE INDEX IF NOT EXISTS jobs_by_head ON jobs (repository, head_sha, state);
-- Which pull requests each analyze job is for: a newer push finds the older jobs here.
CREATE TABLE IF NOT EXISTS job_prs (
    job_id     INTEGER NOT NULL REFERENCES jobs (id),
    repository TEXT    NOT NULL,
    number     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS job_prs_by_pr ON job_prs (repository, number);
CREATE INDEX IF NOT EXISTS job_prs_by_job ON job_prs (job_id);
"""


class QueueError(RuntimeError):
    """The queue file cannot be used (unreadable, not writable, not a failclosed queue,
    locked too long, deleted or replaced while in use)."""


FileIdentity = tuple[int, int]  # (st_dev, st_ino): which file, whatever its name


def file_identity(path: Path) -> FileIdentity | None:
    """The device and inode of the file at `path`; None when there is none (or it cannot
    be looked at, which must not pass for the same file)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino)


def describe_identity(identity: FileIdentity | None) -> str:
    return "no file" if identity is None else f"device {identity[0]} inode {identity[1]}"


def jobs_phrase(count: int) -> str:
    return f"{count} job{'' if count == 1 else 's'}"


@dataclass
class _Enqueue:
    """One enqueue waiting for a group commit: the job, and its row's values (made by the
    caller's thread, before the commit, so that the commit holds the lock for SQL only)."""

    job: Job
    row: list[str]
    inserted: bool = False
    done: bool = False
    error: BaseException | None = None
    woken: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def of(cls, job: Job) -> _Enqueue:
        return cls(
            job,
            [
                job.delivery_id,
                job.kind.value,
                job.model_dump_json(),
                job.repository,
                job.head_sha,
                json.dumps(list(job.pull_requests)),
            ],
        )


# A group commit's statements, the same whatever the batch's size (one JSON parameter:
# no statement to prepare again for another size). Each statement executed releases the
# GIL and waits to take it back (up to the switch interval behind the job threads), so a
# batch costs a fixed few of them, not a few per job.
STATES_OF = (
    "SELECT json_group_object(delivery_id, state) FROM jobs"
    " WHERE delivery_id IN (SELECT value FROM json_each(?))"
)
INSERT_JOBS = (
    "INSERT INTO jobs (delivery_id, kind, job, repository, head_sha, pull_requests,"
    " run_after, created_at)"
    " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
    " json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'),"
    " json_extract(value, '$[5]'), :now, :now FROM json_each(:rows) WHERE true ORDER BY key"
    # A redelivery is the operator's way to retry a failed delivery.
    " ON CONFLICT (delivery_id) DO UPDATE SET state = 'pending', attempts = 0,"
    " run_after = excluded.run_after, finished_at = NULL, check_run_id = NULL,"
    " reason = 'redelivered after: ' || reason WHERE state = 'failed'"
)
FORGET_PULL_REQUESTS = (
    "DELETE FROM job_prs WHERE job_id IN (SELECT id FROM jobs"
    " WHERE delivery_id IN (SELECT value FROM json_each(?)))"
)
RECORD_PULL_REQUESTS = (
    "INSERT INTO job_prs (job_id, repository, number)"
    " SELECT j.id, j.repository, p.value FROM jobs j, json_each(j.pull_requests) p"
    " WHERE j.delivery_id IN (SELECT value FROM json_each(?))"
)


class SqliteJobQueue:
    """The embedded queue: a SQLite file shared by the webhook and the workers."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        busy_ms: int = 10_000,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._busy_ms = busy_ms
        self._readonly = readonly  # `failclosed jobs`: looks, never creates or changes
        # One connection per thread, never shared: a thread's is closed when it ends.
        self._local = threading.local()
        # This process's writers take turns here rather than in SQLite's busy handler,
        # which polls with growing sleeps and lets a few writers wait for seconds.
        self._write_lock = threading.Lock()
        # Enqueues waiting for the next group commit, and whether one is being written
        # (see `enqueue`); `_commit` guards both.
        self._commit = threading.Lock()
        self._pending: list[_Enqueue] = []
        self._committing = False
        # The two write connections, used under the write lock only: the group commits'
        # (synchronous=FULL) and the workers' (NORMAL; see `_open`).
        self._enqueuer: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._identity: FileIdentity | None = None  # recorded once the file is open
        self._lost: str | None = None  # set once the file was found deleted or replaced
        self._anchor: sqlite3.Connection | None = None
        self._anchor_lock = threading.Lock()
        try:
            if readonly:
                self._connection().execute("SELECT 1 FROM jobs LIMIT 1")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._anchor = self._open(synchronous="FULL")
                self._anchor.executescript(SCHEMA)
                self._check_writable(self._anchor)
                self._identity = file_identity(self.path)
                self._enqueuer = self._open(synchronous="FULL")
                self._writer = self._open(synchronous="NORMAL")
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from exc

    def _unusable(self, exc: sqlite3.DatabaseError) -> QueueError:
        """The error for a file that cannot serve as the queue, saying which way."""
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_READONLY":
            return QueueError(
                f"the job queue {self.path} is not writable by this process (user id"
                f" {os.geteuid()}): give it the file and its folder, or point"
                f" FAILCLOSED_QUEUE_PATH at a file it can write ({exc})"
            )
        return QueueError(f"cannot use {self.path} as the job queue: {exc}")

    def _check_writable(self, conn: sqlite3.Connection) -> None:
        """Fail now if a write would fail: SQLite opens a file it may not write read-only
        without a word, and only the first write says so. Writes nothing: the statement
        matches no row and the transaction is rolled back."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM jobs WHERE 0")
        finally:
            conn.execute("ROLLBACK")

    # -- connections ------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        """One connection per thread: sqlite3 connections are not to be shared."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._readonly:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, isolation_level=None)
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")
                self._local.conn = conn
                return conn
            self._local.conn = conn = self._open()
        return conn

    def _open(self, synchronous: str = "NORMAL") -> sqlite3.Connection:
        """A read-write connection to the queue file. Once the file's identity is known,
        only to that file: never a new empty one where it was deleted, nor a stranger.

        `synchronous`: FULL for the connection whose commits back a 2xx (an enqueue's
        commit returns once the job is on disk); NORMAL for the workers' own writes (a
        claim, a lease, a finish): in WAL mode a commit then skips its fsync, is still
        never lost when the process dies, and is on disk at the next enqueue's commit or
        checkpoint (both sync the log, everything written before them included). Only a
        power loss in between can undo one of them, and each is taken over as a killed
        worker's would be; an acknowledged delivery is never among them."""
        if self._identity is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        else:
            self._ensure_same_file()
            uri = f"{self.path.resolve().as_uri()}?mode=rw"  # rw: never creates the file
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            try:
                self._ensure_same_file()
            except QueueError:
                conn.close()
                raise
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        return conn

    # -- is it still the file that was opened? --------------------------------------------

    def problem(self) -> str | None:
        """Why this queue must not accept deliveries now, or None when it may: the file was
        deleted or replaced while in use. One stat while all is well; once lost, stays lost
        (the process holds the old file, whatever appears under its name later)."""
        if self._readonly or self._identity is None:
            return None
        if self._lost is None:
            found = file_identity(self.path)
            if found == self._identity:
                return None
            self._lost = (
                f"the job queue file {self.path} was deleted or replaced while in use (opened"
                f" as {describe_identity(self._identity)}, now {describe_identity(found)}):"
                " new deliveries are refused (503) until failclosed serve restarts"
            )
        return f"{self._lost}; {self._left_behind()}"

    def _ensure_same_file(self) -> None:
        """Raise unless the file under the queue's name is still the one opened."""
        problem = self.problem()
        if problem is not None:
            raise QueueError(problem)

    def _left_behind(self) -> str:
        """What the lost file still holds for this process's workers to run: a restart
        before they are done loses them."""
        try:
            with self._anchor_lock:
                if self._anchor is None:
                    raise sqlite3.ProgrammingError("the queue was closed")
                (count,) = self._anchor.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')"
                ).fetchone()
        except sqlite3.Error as exc:
            return f"the jobs accepted earlier could not be counted ({exc})"
        return (
            f"{jobs_phrase(count)} accepted earlier still to run from the old file"
            " (restart once that is 0, or they are lost)"
        )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A worker's write transaction, taken up front so two claimers cannot interleave
        (other processes on the same file wait in SQLite's busy handler)."""
        with self._write_lock, self._transaction(self._writer) as conn:
            yield conn

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT on one of the write connections; the caller holds the
        write lock."""
        if conn is None:
            raise QueueError(f"the job queue {self.path} is closed, or open read-only")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise QueueError(f"job queue {self.path} is locked: {exc}") from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # Also when COMMIT itself failed (disk full, I/O error): a transaction left
            # open would hold the file's write lock and wedge every later write.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close this thread's connection, and the queue's own. Other threads' connections
        are theirs: closing one while its thread uses it can crash the interpreter."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        with self._anchor_lock:
            if self._anchor is not None:
                self._anchor.close()
                self._anchor = None
        with self._write_lock:
            for conn in (self._enqueuer, self._writer):
                if conn is not None:
                    conn.close()
            self._enqueuer = self._writer = None

    # -- the webhook's side -----------------------------------------------------------

    def enqueue(self, job: Job) -> bool:
        """Keep the job durably; False when this delivery is already queued, running or
        done. A redelivery of a delivery whose job failed queues it again.

        Group commit: the enqueues that arrive while one is being written wait, and the
        first of them writes all of them next, in one transaction and one fsync; each
        returns only once its own job is on disk. Each waits on an event of its own, not
        on the write lock: the writer wakes exactly the enqueues it wrote (they return
        without queueing behind the next commit, or a worker's write, for the lock) and
        the first of the next batch, which writes it.
        """
        request = _Enqueue.of(job)
        with self._commit:
            self._pending.append(request)
            lead = not self._committing
            self._committing = True
        if not lead:
            request.woken.wait()  # its job written, or its turn to write the next batch
        while not request.done:
            with self._commit:
                batch, self._pending = self._pending, []
            try:
                self._commit_batch(batch)
            except BaseException as exc:  # none of the batch is kept: all of them fail
                for waiting in batch:
                    waiting.error = exc
            finally:
                with self._commit:
                    for waiting in batch:
                        waiting.done = True
                        waiting.woken.set()
                    if self._pending:  # the next batch: its first enqueue writes it
                        self._pending[0].woken.set()
                    else:
                        self._committing = False
        if request.error is not None:
            raise request.error
        return request.inserted

    def _commit_batch(self, batch: list[_Enqueue]) -> None:
        """Write the waiting enqueues in one transaction on the enqueue connection
        (synchronous=FULL: the commit returns once they are on disk)."""
        with self._write_lock:
            self._ensure_same_file()  # not into a file no restart will find
            with self._transaction(self._enqueuer) as conn:
                self._insert(conn, batch, self._clock())
            self._ensure_same_file()  # nor one deleted while it was written

    def _insert(self, conn: sqlite3.Connection, batch: list[_Enqueue], now: float) -> None:
        """Insert the batch's jobs, in a few statements whatever its size, and mark which
        were kept: a delivery new to the queue, or one whose job failed (a redelivery is
        the operator's way to retry it). A delivery already queued, running or done, or
        twice in the batch, is kept once: the first of its enqueues is the one kept."""
        delivery_ids = json.dumps(sorted({waiting.job.delivery_id for waiting in batch}))
        (found,) = conn.execute(STATES_OF, (delivery_ids,)).fetchone()
        existing: dict[str, str] = json.loads(found or "{}")
        states = dict(existing)
        kept: list[str] = []
        for waiting in batch:
            delivery_id = waiting.job.delivery_id
            if states.get(delivery_id, "failed") == "failed":  # new, or to run again
                waiting.inserted = True
                kept.append(delivery_id)
                states[delivery_id] = "pending"  # its later enqueues in the batch: not kept
        reset = [delivery_id for delivery_id in kept if delivery_id in existing]
        if reset:  # a failed job queued again: its pull requests are recorded anew
            conn.execute(FORGET_PULL_REQUESTS, (json.dumps(reset),))
        before = conn.total_changes
        conn.execute(
            INSERT_JOBS, {"now": now, "rows": json.dumps([waiting.row for waiting in batch])}
        )
        if conn.total_changes - before != len(kept):  # never answer other than was written
            raise QueueError(
                f"the job queue {self.path} kept {conn.total_changes - before} of a batch's"
                f" jobs where {len(kept)} were expected"
            )
        if kept:
            conn.execute(RECORD_PULL_REQUESTS, (json.dumps(kept),))

    # -- the workers' side ------------------------------------------------------------

    def claim(self, owner: str, lease_seconds: float) -> Claim | None:
        """The next job that may run now, held by `owner` for `lease_seconds`; or None.

        Takes pending jobs whose back-off has passed and running jobs whose lease ran out,
        oldest first, skipping any whose repository and head another live lease holds.
        """
        now = self._clock()
        with self._write() as conn:
            row = conn.execute(
                "SELECT j.id, j.job, j.state, j.attempts, j.check_run_id, j.created_at"
                " FROM jobs j"
                " WHERE ((j.state = 'pending' AND j.run_after <= :now)"
                "     OR (j.state = 'running' AND j.lease_until < :now))"
                # Not while another job of the same head, or of the same pull request,
                # holds a live lease: they would publish on the same check run or PR.
                " AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.state = 'running'"
                "     AND r.lease_until >= :now AND r.repository = j.repository"
                "     AND r.id != j.id AND (r.head_sha = j.head_sha OR EXISTS ("
                "         SELECT 1 FROM job_prs rp JOIN job_prs jp"
                "         ON jp.number = rp.number AND jp.repository = rp.repository"
                "         WHERE rp.job_id = r.id AND jp.job_id = j.id)))"
                " ORDER BY j.run_after, j.id LIMIT 1",
                {"now": now},
            ).fetchone()
            if row is None:
                return None
            try:
                job = Job.model_validate_json(row["job"])
            except ValueError as exc:  # written by another version, say: never runnable
                conn.execute(
                    "UPDATE jobs SET state = 'failed', finished_at = ?, reason = ? WHERE id = ?",
                    (now, f"the stored job cannot be read: {str(exc)[:200]}", row["id"]),
                )
                return None
            conn.execute(
                "UPDATE jobs SET state = 'running', owner = ?, lease_until = ?,"
                " attempts = attempts + 1, started_at = ? WHERE id = ?",
                (owner, now + lease_seconds, now, row["id"]),
            )
        return Claim(
            id=row["id"],
            job=job,
            attempt=row["attempts"] + 1,
            recovered=row["state"] == "running",
            check_run_id=row["check_run_id"],
            created_at=row["created_at"],
        )

    def renew(self, owner: str, ids: Iterable[int], lease_seconds: float) -> set[int]:
        """Extend the leases `owner` still holds; the ids it no longer holds are left out."""
        ids = list(ids)
        if not ids:
            return set()
        until = self._clock() + lease_seconds
        held: set[int] = set()
        with self._write() as conn:
            for job_id in ids:
                if conn.execute(
                    "UPDATE jobs SET lease_until = ? WHERE id = ? AND owner = ?"
                    " AND state = 'running'",
                    (until, job_id, owner),
                ).rowcount:
                    held.add(job_id)
        return held

    def holds(self, job_id: int, owner: str) -> bool:
        """Whether `owner` still holds the running job (nobody has taken it over)."""
        row = (
            self._connection()
            .execute("SELECT state, owner FROM jobs WHERE id = ?", (job_id,))
            .fetchone()
        )
        return row is not None and row["state"] == "running" and row["owner"] == owner

    def record_check_run(self, job_id: int, owner: str, check_run_id: int) -> None:
        """Remember the check run this attempt made, so a re-run completes the same one."""
        with self._write() as conn:
            conn.execute(
                "UPDATE jobs SET check_run_id = ? WHERE id = ? AND owner = ?",
                (check_run_id, job_id, owner),
            )

    def finish(self, job_id: int, owner: str, state: State, reason: str = "") -> bool:
        """End a job the owner holds; False if it no longer held it (its lease ran out)."""
        if state not in FINAL_STATES:
            raise ValueError(f"finish() takes a final state, not {state!r}")
        with self._write() as conn:
            return bool(
                conn.execute(
                    "UPDATE jobs SET state = ?, reason = ?, finished_at = ?, owner = NULL,"
                    " lease_until = NULL WHERE id = ? AND owner = ? AND state = 'running'",
                    (state, reason, self._clock(), job_id, owner),
                ).rowcount
            )

    def retry(
        self,
        job_id: int,
        owner: str,
        delay: float,
        reason: str,
        open_check_run: int | None = None,
    ) -> bool:
        """Put a held job back, to run again after `delay` seconds. The attempt completed
        its check run as failed, so the next one makes a new run (a check run is not
        re-opened), unless it could not: `open_check_run` is then taken up again."""
        with self._write() as conn:
            return bool(
                conn.execute(
                    "UPDATE jobs SET state = 'pending', reason = ?, run_after = ?,"
                    " owner = NULL, lease_until = NULL, check_run_id = ?"
                    " WHERE id = ? AND owner = ? AND state = 'running'",
                    (reason, self._clock() + delay, open_check_run, job_id, owner),
                ).rowcount
            )

    def expire(self, job_id: int, owner: str, in_seconds: float) -> bool:
        """Cut a held job's lease short (shutdown with its thread still running): it is
        not handed back while that thread may still publish, and is taken over soon after
        the process is gone."""
        with self._write() as conn:
            return bool(
                conn.execute(
                    "UPDATE jobs SET lease_until = ? WHERE id = ? AND owner = ?"
                    " AND state = 'running'",
                    (self._clock() + in_seconds, job_id, owner),
                ).rowcount
            )

    def prune(self, older_than_seconds: float = KEEP_FINISHED_SECONDS) -> int:
        """Forget finished jobs older than that (two weeks by default); how many."""
        cutoff = self._clock() - older_than_seconds
        with self._write() as conn:
            conn.execute(
                "DELETE FROM job_prs WHERE job_id IN (SELECT id FROM jobs WHERE"
                " state IN ('done', 'failed', 'superseded') AND finished_at < ?)",
                (cutoff,),
            )
            return conn.execute(
                "DELETE FROM jobs WHERE state IN ('done', 'failed', 'superseded')"
                " AND finished_at < ?",
                (cutoff,),
            ).rowcount

    # -- what operators see -----------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Jobs per state, every state present."""
        rows = self._connection().execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        found = {state: count for state, count in rows}
        return {state: found.get(state, 0) for state in STATES}

    def unfinished(self) -> int:
        """Jobs still to run or running: zero when the queue is idle."""
        (count,) = (
            self._connection()
            .execute("SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')")
            .fetchone()
        )
        return int(count)

    def jobs(self, states: Iterable[str] = STATES, limit: int = 100) -> list[JobRow]:
        """The newest jobs in these states."""
        states = list(states)
        marks = ", ".join("?" for _ in states)
        rows = self._connection().execute(
            "SELECT id, delivery_id, kind, repository, head_sha, pull_requests, state,"
            " attempts, reason, created_at, started_at, finished_at, owner, run_after FROM jobs"
            f" WHERE state IN ({marks}) ORDER BY id DESC LIMIT ?",
            (*states, limit),
        )
        return [
            JobRow(**{**dict(row), "pull_requests": tuple(json.loads(row["pull_requests"]))})
            for row in rows
        ]
