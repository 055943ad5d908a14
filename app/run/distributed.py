"""The scale-out mode: jobs travel through Redis with dramatiq, to any number of workers.

Set `FAILCLOSED_QUEUE_URL=redis://host:6379/0`: every `failclosed serve` replica then only
accepts deliveries, and `failclosed worker` processes (on any machine) run the jobs.

dramatiq carries the messages: it acknowledges a message only after the job returned, and
a worker that stops sending heartbeats (killed, machine gone) has its unacknowledged
messages put back for the others; it delays messages and retries with back-off. It is a
maintained library; this module writes no queue protocol of its own.

What dramatiq does not know is failclosed's bookkeeping, kept in `RedisLedger` (one hash
per delivery, Lua scripts in `app/run/lua/` so that each step is atomic):

- **Idempotent**: a delivery that is running or over is not sent again; a redelivery of a
  failed one runs again. dramatiq may deliver a message twice (and a pending delivery is
  sent again, in case its first send died with its process), so a job that is over is
  skipped when its message starts, and one another attempt holds is put off until its
  lease ends: each attempt has its own token.
- **Nothing lost**: an error outside the job (Redis failing while it is settled) is
  retried by dramatiq with back-off instead of dead-lettering the message; a sweeper in
  every worker sends again the jobs whose message may be lost (pending and unsent for two
  minutes, or running with a lease that ran out that long ago).
- **Ordered per PR**: one lock per repository and head, and one per pull request: two
  jobs of one PR never publish at once. Which head is current is GitHub's answer, not
  the order deliveries arrived in: a job whose head has moved on completes its check run
  as superseded when it runs (`app.review.analyze`).
- **Exactly one check run**: the check run an attempt creates is recorded (and tagged
  with the delivery), and the attempt that takes over from a dead worker completes it.
- **Visible**: states and reasons for `failclosed jobs`; finished entries expire after
  two weeks.

Durability is Redis's: run it with the append-only file on (`appendonly yes`,
`appendfsync everysec` or `always`), or a Redis restart loses jobs already acknowledged
to GitHub. Standalone Redis 5 or later (the scripts derive key names, which Redis
Cluster does not allow).

Times come from the Redis server (`TIME`), so workers on machines whose clocks differ
agree on leases.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries, TimeLimit

from failclosed.app.model import (
    FINAL_STATES,
    GRACE_SECONDS,
    KEEP_FINISHED_SECONDS,
    LEASE_SECONDS,
    MAX_RUN_SECONDS,
    SHUTDOWN_LEASE_SECONDS,
    STATES,
    Claim,
    Job,
    JobRow,
    State,
)
from failclosed.app.run.execute import Installations, JobExecutor, RetryLater, Runner
from failclosed.app.run.runtime import JobRuntime

logger = logging.getLogger(__name__)

NAMESPACE = "failclosed"
ACTOR = "run_job"
QUEUE = "failclosed"
# A job whose message may be lost (pending and not sent for this long, or running with a
# lease that ran out this long ago) is sent again by the workers' sweeper.
RESEND_AFTER_SECONDS = 120.0
SWEEP_SECONDS = 30.0
REDIS_TIMEOUTS = {"socket_timeout": 10.0, "socket_connect_timeout": 5.0}

# -- the ledger -------------------------------------------------------------------------------

SCRIPTS = ("accept", "start", "settle", "renew", "record", "strays", "prune")


def _lua(name: str) -> str:
    """The ledger's step `name`: a Lua script in app/run/lua/ (package data), run atomically."""
    return (resources.files("failclosed.app.run") / "lua" / f"{name}.lua").read_text(
        encoding="utf-8"
    )


# Read at import: an installation without its scripts fails at start, not at a job.
_LUA = {name: _lua(name) for name in SCRIPTS}


class SendFailed(RuntimeError):
    """The job could not be handed to Redis; the webhook answers 503 (GitHub can
    redeliver), and a job already accepted is sent again by the sweeper."""


@dataclass
class _Send:
    """One enqueue waiting to be sent with others (see `Distributed.enqueue`)."""

    job: Job
    sent: bool = False
    done: bool = False
    error: BaseException | None = None


@dataclass(frozen=True)
class Busy:
    """Another worker holds this job or its head: try again after `seconds`."""

    seconds: float


@dataclass(frozen=True)
class Skip:
    """Nothing to run: a duplicate message of a finished job, or a superseded head."""

    reason: str


class RedisLedger:
    """failclosed's bookkeeping of each delivery in Redis (see the module docstring).

    Standalone Redis (5 or later): the scripts touch keys they derive from a prefix, which
    Redis Cluster does not allow.
    """

    def __init__(self, client: redis.Redis, namespace: str = NAMESPACE) -> None:
        self.client = client
        self.ns = namespace
        self._accept = client.register_script(_LUA["accept"])
        self._start = client.register_script(_LUA["start"])
        self._settle = client.register_script(_LUA["settle"])
        self._renew = client.register_script(_LUA["renew"])
        self._record = client.register_script(_LUA["record"])
        self._strays = client.register_script(_LUA["strays"])
        self._prune = client.register_script(_LUA["prune"])

    def _job_key(self, delivery_id: str) -> str:
        return f"{self.ns}:job:{delivery_id}"

    def _locks(self, job: Job) -> list[str]:
        """One lock per head and one per pull request: two jobs of one PR (two heads of
        it, or a re-run) never publish at once."""
        return [f"{self.ns}:lock:{job.repository}@{job.head_sha}"] + [
            f"{self.ns}:lock:{job.repository}#{number}" for number in job.pull_requests
        ]

    @property
    def _index(self) -> str:
        return f"{self.ns}:state:"

    def accept(self, job: Job) -> bool:
        """Record a delivery; True when it must be sent to the workers (new, redelivered
        after failing, or still pending), False when it is running or over."""
        (accepted,) = self.accept_many([job])
        return accepted

    def accept_many(self, jobs: list[Job]) -> list[bool]:
        """`accept` for several deliveries in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for job in jobs:
            self._accept(
                keys=[self._job_key(job.delivery_id), self._index, f"{self.ns}:ids"],
                args=[
                    job.delivery_id,
                    job.model_dump_json(),
                    job.kind.value,
                    job.repository,
                    job.head_sha,
                    json.dumps(list(job.pull_requests)),
                ],
                client=pipe,
            )
        return [bool(result) for result in pipe.execute()]

    def start(self, job: Job, token: str, lease_seconds: float) -> Claim | Busy | Skip:
        """Take the job for one attempt (`token`), or say why not (`Busy`, `Skip`)."""
        keys = [self._job_key(job.delivery_id), self._index, *self._locks(job)]
        reply = self._start(keys=keys, args=[job.delivery_id, token, lease_seconds])
        verdict, detail, attempt, recovered, check_run, job_id, created = reply
        verdict = _text(verdict)
        if verdict == "missing":  # sent before its ledger entry was written: write it now
            self.accept(job)
            return self.start(job, token, lease_seconds)
        if verdict == "skip":
            return Skip(_text(detail))
        if verdict == "busy":
            return Busy(max(0.1, float(_text(detail))))
        check_run_id = _text(check_run)
        return Claim(
            id=int(job_id),
            job=job,
            attempt=int(attempt),
            recovered=bool(int(recovered)),
            check_run_id=int(check_run_id) if check_run_id else None,
            created_at=float(_text(created)) if _text(created) else 0.0,
        )

    def holds(self, job: Job, token: str) -> bool:
        """Whether the attempt `token` still holds the running job."""
        state, owner = self.client.hmget(self._job_key(job.delivery_id), "state", "owner")
        return _text(state or b"") == "running" and _text(owner or b"") == token

    def record_check_run(self, job: Job, token: str, check_run_id: int) -> None:
        self._record(
            keys=[self._job_key(job.delivery_id), self._index],
            args=[job.delivery_id, token, check_run_id],
        )

    def finish(self, job: Job, token: str, state: State, reason: str = "") -> bool:
        if state not in FINAL_STATES:
            raise ValueError(f"finish() takes a final state, not {state!r}")
        return self._settle_as(job, token, state, reason, 0, 0.0)

    def retry(
        self, job: Job, token: str, delay: float, reason: str, open_check_run: int | None = None
    ) -> bool:
        """Back to pending after `delay`; the failed attempt's check run is not reused,
        unless it could not be completed and is still open (`open_check_run`)."""
        check_run = "" if open_check_run is None else str(open_check_run)
        return self._settle_as(job, token, "pending", reason, 0, delay, check_run=check_run)

    def _settle_as(
        self,
        job: Job,
        token: str,
        state: str,
        reason: str,
        attempts: int,
        delay: float,
        *,
        check_run: str = "keep",
    ) -> bool:
        keys = [self._job_key(job.delivery_id), self._index, *self._locks(job)]
        args: list[str | int | float] = [
            job.delivery_id,
            token,
            state,
            reason,
            attempts,
            delay,
            check_run,
            int(KEEP_FINISHED_SECONDS),
        ]
        return bool(self._settle(keys=keys, args=args))

    def renew(self, job: Job, token: str, lease_seconds: float) -> bool:
        """Extend an attempt's lease and locks; False when it no longer holds the job."""
        keys = [self._job_key(job.delivery_id), *self._locks(job)]
        return bool(self._renew(keys=keys, args=[job.delivery_id, token, lease_seconds]))

    def expire(self, job: Job, token: str, in_seconds: float) -> bool:
        """Shorten an attempt's lease (shutdown with the job still running): another
        worker takes it over soon after this process is gone."""
        return self.renew(job, token, in_seconds)

    def strays(self, unsent_seconds: float, limit: int = 1000) -> list[Job]:
        """Jobs whose message may be lost (see app/run/lua/strays.lua), marked as sent again
        now. One that cannot be read (written by another version, say) is skipped and
        logged."""
        jobs = []
        for raw in self._strays(keys=[self._index], args=[unsent_seconds, limit]):
            try:
                jobs.append(Job.model_validate_json(_text(raw)))
            except ValueError as exc:
                logger.error("a stored job cannot be read: %s", str(exc)[:200])
        return jobs

    def prune(self, limit: int = 1000) -> int:
        """Drop expired finished jobs from the state indexes; how many were dropped."""
        return int(self._prune(keys=[self._index], args=[limit]))

    # -- what operators see (the same shapes as the SQLite queue's) --------------------

    def counts(self) -> dict[str, int]:
        return {state: int(self.client.zcard(self._index + state)) for state in STATES}

    def unfinished(self) -> int:
        counts = self.counts()
        return counts["pending"] + counts["running"]

    def jobs(self, states: Iterable[str] = STATES, limit: int = 100) -> list[JobRow]:
        rows = []
        for state in states:
            for delivery in self.client.zrevrange(self._index + state, 0, limit - 1):
                fields = self.client.hgetall(self._job_key(_text(delivery)))
                if fields:
                    rows.append(_row({_text(k): _text(v) for k, v in fields.items()}))
        rows.sort(key=lambda row: row.id, reverse=True)
        return rows[:limit]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _row(fields: dict[str, str]) -> JobRow:
    def number(name: str) -> float | None:
        return float(fields[name]) if fields.get(name) else None

    return JobRow(
        id=int(fields["id"]),
        delivery_id=fields["delivery_id"],
        kind=fields["kind"],
        repository=fields["repository"],
        head_sha=fields["head_sha"],
        pull_requests=tuple(json.loads(fields["pull_requests"])),
        state=fields["state"],
        attempts=int(fields["attempts"]),
        reason=fields.get("reason", ""),
        created_at=float(fields["created_at"]),
        started_at=number("started_at"),
        finished_at=number("finished_at"),
        owner=fields.get("owner") or None,
        run_after=float(fields.get("run_after") or 0),
    )


class ClaimsInRedis:
    """The Redis ledger as the job runtime's `Ledger` (`app.run.runtime`): its entries are
    keyed by delivery, so each call goes by the claim's job."""

    def __init__(self, ledger: RedisLedger) -> None:
        self.ledger = ledger

    def renew(self, claim: Claim, token: str, lease_seconds: float) -> bool:
        return self.ledger.renew(claim.job, token, lease_seconds)

    def holds(self, claim: Claim, token: str) -> bool:
        return self.ledger.holds(claim.job, token)

    def record_check_run(self, claim: Claim, token: str, check_run_id: int) -> None:
        self.ledger.record_check_run(claim.job, token, check_run_id)

    def finish(self, claim: Claim, token: str, state: State, reason: str) -> bool:
        return self.ledger.finish(claim.job, token, state, reason)

    def retry(
        self, claim: Claim, token: str, delay: float, reason: str, open_check_run: int | None
    ) -> bool:
        return self.ledger.retry(claim.job, token, delay, reason, open_check_run)

    def expire(self, claim: Claim, token: str, in_seconds: float) -> bool:
        return self.ledger.expire(claim.job, token, in_seconds)


# -- dramatiq -----------------------------------------------------------------------------------


def make_broker(
    url: str, *, heartbeat_timeout_ms: int = 60_000, maintenance_chance: int = 1_000
) -> RedisBroker:
    """dramatiq's Redis broker, without its time limit (the job keeps its own budget, and
    an interrupted publication is worse than a late one). Retries: what the job asks for
    (`dramatiq.Retry`, with its delay), and anything else that escaped it (a Redis blip
    while settling it) with back-off up to `MAX_ESCAPED_RETRIES` times; a message is
    never dead-lettered on a first error."""
    middleware = [m() for m in dramatiq.middleware.default_middleware if m is not TimeLimit]
    broker = RedisBroker(
        client=redis.Redis.from_url(url, **REDIS_TIMEOUTS),
        namespace=f"{NAMESPACE}-dramatiq",
        heartbeat_timeout=heartbeat_timeout_ms,
        maintenance_chance=maintenance_chance,
        middleware=middleware,
    )
    for item in broker.middleware:
        if isinstance(item, Retries):
            item.retry_when = _should_retry
            item.min_backoff = 1_000
            item.max_backoff = 600_000
    return broker


MAX_ESCAPED_RETRIES = 20


def _should_retry(retries: int, exc: BaseException) -> bool:
    return isinstance(exc, dramatiq.Retry) or retries < MAX_ESCAPED_RETRIES


class Distributed:
    """One process's view of the Redis mode: the sink for the webhook, and workers."""

    def __init__(
        self,
        url: str,
        installations: Installations | None = None,
        *,
        run: Runner | None = None,
        apply_fixes: Runner | None = None,
        merge_group: Runner | None = None,
        retry_delays: tuple[float, ...] | None = None,
        lease_seconds: float = LEASE_SECONDS,
        heartbeat_timeout_ms: int = 60_000,
        maintenance_chance: int = 1_000,
        resend_after_seconds: float = RESEND_AFTER_SECONDS,
        sweep_seconds: float = SWEEP_SECONDS,
        shutdown_lease_seconds: float = SHUTDOWN_LEASE_SECONDS,
        max_run_seconds: float = MAX_RUN_SECONDS,
    ) -> None:
        self.broker = make_broker(
            url,
            heartbeat_timeout_ms=heartbeat_timeout_ms,
            maintenance_chance=maintenance_chance,
        )
        # Timeouts: a half-open connection must end in an error (the webhook answers 503,
        # GitHub can redeliver), not in an enqueue that hangs.
        self.ledger = RedisLedger(redis.Redis.from_url(url, **REDIS_TIMEOUTS))
        self._resend_after = resend_after_seconds
        self._sweep = sweep_seconds
        options: dict[str, Any] = {}
        if run is not None:
            options["run"] = run
        if apply_fixes is not None:
            options["apply_fixes"] = apply_fixes
        if merge_group is not None:
            options["merge_group"] = merge_group
        if retry_delays is not None:
            options["retry_delays"] = retry_delays
        self._executor = (
            JobExecutor(installations, **options) if installations is not None else None
        )
        # Only with installations: a web replica accepts deliveries, it runs no jobs.
        self.runtime = (
            JobRuntime(
                ClaimsInRedis(self.ledger),
                self._executor,
                lease_seconds=lease_seconds,
                max_run_seconds=max_run_seconds,
                shutdown_lease_seconds=shutdown_lease_seconds,
            )
            if self._executor is not None
            else None
        )
        # Enqueues waiting to be sent together, and whether a batch is being sent: the
        # waiting ones sleep on `_handoff` (see `enqueue`).
        self._handoff = threading.Condition(threading.Lock())
        self._pending: list[_Send] = []
        self._sending = False
        self.actor = dramatiq.Actor(
            self._run_message,
            broker=self.broker,
            actor_name=ACTOR,
            queue_name=QUEUE,
            priority=0,
            options={},
        )
        self._worker: dramatiq.Worker | None = None
        self._sweeper: threading.Thread | None = None

    # -- the webhook's side -----------------------------------------------------------

    def enqueue(self, job: Job) -> None:
        """Record the delivery, then hand it to dramatiq. A delivery still pending is sent
        again (its first send may have been lost with its process); a duplicate message is
        dropped when it starts. One that is running or over is not sent.

        The enqueues that arrive while a batch is being sent wait, and the first of them
        to wake sends all of them (one round trip to accept them, then their messages).
        They sleep on a condition, not on a lock the senders hold: one whose job was sent
        returns when woken, without queueing behind the next batch's round trips."""
        request = _Send(job)
        with self._handoff:
            self._pending.append(request)
            while self._sending and not request.done:
                self._handoff.wait()
            if not request.done:  # nobody is sending, and nobody sent it: send them all
                self._sending = True
                batch, self._pending = self._pending, []
            else:
                batch = []
        if batch:
            try:
                self._send_batch(batch)
            except BaseException as exc:  # not all of them are safe: all of them fail
                for waiting in batch:
                    waiting.error = exc
            finally:
                with self._handoff:
                    for waiting in batch:
                        waiting.done = True
                    self._sending = False
                    self._handoff.notify_all()
        if request.error is not None:  # one exception per waiter, not one shared object
            raise SendFailed(f"could not hand the job to Redis: {request.error}") from (
                request.error
            )
        if not request.sent:
            logger.info(
                "delivery already taken",
                extra={"delivery_id": job.delivery_id, "repository": job.repository},
            )

    def _send_batch(self, batch: list[_Send]) -> None:
        """Accept the waiting enqueues in one round trip, then send each accepted one."""
        accepted = self.ledger.accept_many([waiting.job for waiting in batch])
        for waiting, ok in zip(batch, accepted, strict=True):
            if ok:
                self.actor.send(waiting.job.model_dump_json())
            waiting.sent = ok

    def counts(self) -> dict[str, int]:
        """Jobs per state across the cluster (for /metrics)."""
        return self.ledger.counts()

    # -- the workers' side ------------------------------------------------------------

    def start_workers(self, threads: int = 2) -> None:
        if self.runtime is None:
            raise RuntimeError("workers need installations to reach GitHub")
        self._worker = dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=100)
        self._worker.start()
        self.runtime.start()
        self._sweeper = threading.Thread(
            target=self._sweep_strays, name="failclosed-sweeper", daemon=True
        )
        self._sweeper.start()

    def stop_workers(self, grace_seconds: float = GRACE_SECONDS) -> None:
        """No new jobs; running ones get `grace_seconds`. A job still running after that
        is not handed back while its thread may still publish: its lease is cut short, so
        another worker takes it over soon after this process is gone."""

        def wait_for_running() -> None:
            if self._worker is not None:
                self._worker.stop(timeout=int(grace_seconds * 1000))

        if self.runtime is None:
            wait_for_running()
        else:
            self.runtime.stop(wait_for_running)

    def join(self, timeout: float = 60.0) -> None:
        """Wait until no job is pending or running (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while self.ledger.unfinished():
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still unfinished after {timeout} s")
            time.sleep(0.02)

    def _run_message(self, job_json: str) -> None:
        """dramatiq's actor: start the job in the ledger, then run and settle it (the job
        runtime); a retry goes back to dramatiq with its delay."""
        assert self.runtime is not None
        job = Job.model_validate_json(job_json)
        token = self.runtime.new_token()  # this attempt, and only it
        started = self.ledger.start(job, token, self.runtime.lease_seconds)
        if isinstance(started, Skip):
            logger.info("job skipped: %s", started.reason, extra={"delivery_id": job.delivery_id})
            return
        if isinstance(started, Busy):
            raise dramatiq.Retry("held by another attempt", delay=int(started.seconds * 1000))
        outcome = self.runtime.run(started, token)
        if isinstance(outcome, RetryLater):
            raise dramatiq.Retry(outcome.reason, delay=int(outcome.delay * 1000))

    def _sweep_strays(self) -> None:
        """Send again the jobs whose message may be lost (see `RedisLedger.strays`)."""
        assert self.runtime is not None
        while not self.runtime.stopping.wait(self._sweep):
            try:
                for job in self.ledger.strays(self._resend_after):
                    logger.warning(
                        "job sent again: its message may have been lost",
                        extra={"delivery_id": job.delivery_id},
                    )
                    self.actor.send(job.model_dump_json())
                self.ledger.prune()
            except (redis.RedisError, ValueError):
                logger.exception("could not sweep for lost jobs")


def run_worker_process(distributed: Distributed, threads: int, grace_seconds: float) -> None:
    """`failclosed worker`: run jobs until SIGTERM or SIGINT, then stop gracefully."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    distributed.start_workers(threads)
    logger.info("failclosed worker started", extra={"threads": threads})
    stop.wait()
    logger.info("failclosed worker stopping")
    distributed.stop_workers(grace_seconds)
