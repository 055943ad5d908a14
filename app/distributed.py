"""The scale-out mode: jobs travel through Redis with dramatiq, to any number of workers.

Set `FAILCLOSED_QUEUE_URL=redis://host:6379/0`: every `failclosed serve` replica then only
accepts deliveries, and `failclosed worker` processes (on any machine) run the jobs.

dramatiq carries the messages: it acknowledges a message only after the job returned, and
a worker that stops sending heartbeats (killed, machine gone) has its unacknowledged
messages put back for the others; it delays messages and retries with back-off. It is a
maintained library; this module writes no queue protocol of its own.

What dramatiq does not know is failclosed's bookkeeping, kept in `RedisLedger` (one hash
per delivery, Lua scripts so that each step is atomic):

- **Idempotent**: a delivery id is accepted once; a redelivery of a failed one runs again.
  Since dramatiq may deliver a message twice (a worker that died after finishing, a
  duplicate send), a job that is done is skipped, and one another worker holds is put
  off until its lease ends.
- **Ordered per PR**: the newest head of each pull request is written down when accepted;
  a job for an older head that has not started ends as superseded without touching
  GitHub. One lock per repository and head: two workers never publish for one head at
  once.
- **Exactly one check run**: the check run an attempt creates is recorded, and the
  attempt that takes over from a dead worker completes it (see `app.execute`).
- **Visible**: states and reasons for `failclosed jobs`.

Times come from the Redis server (`TIME`), so workers on machines whose clocks differ
agree on leases.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries

from app.execute import Finished, Installations, JobExecutor, Runner
from app.queue import FINAL_STATES, STATES, Claim, JobRow, State
from app.webhooks import Job

logger = logging.getLogger(__name__)

NAMESPACE = "failclosed"
ACTOR = "run_job"
QUEUE = "failclosed"
LEASE_SECONDS = 60.0
# A pending delivery older than this may be sent again by a redelivery: the process that
# accepted it may have died before handing it to dramatiq.
RESEND_AFTER_SECONDS = 60.0
# dramatiq's own time limit would interrupt a job mid-publication: the job has its budget.
TIME_LIMIT_MS = 30 * 60 * 1000

# -- the ledger -------------------------------------------------------------------------------

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: job hash, state index prefix. ARGV: delivery, job json, kind, repository, head,
# pull_requests json, resend_after, id counter key, head key prefix
_ACCEPT = (
    _NOW
    + """
local key = KEYS[1]
local state = redis.call('HGET', key, 'state')
if state then
  if state == 'failed' then
    redis.call('HSET', key, 'state', 'pending', 'attempts', 0, 'check_run_id', '',
      'finished_at', '', 'run_after', now,
      'reason', 'redelivered after: ' .. (redis.call('HGET', key, 'reason') or ''))
    redis.call('ZREM', KEYS[2] .. 'failed', ARGV[1])
    redis.call('ZADD', KEYS[2] .. 'pending', redis.call('HGET', key, 'id'), ARGV[1])
    return 1
  end
  local created = tonumber(redis.call('HGET', key, 'created_at'))
  if state == 'pending' and now - created > tonumber(ARGV[7]) then
    return 1
  end
  return 0
end
local id = redis.call('INCR', ARGV[8])
redis.call('HSET', key, 'id', id, 'delivery_id', ARGV[1], 'job', ARGV[2], 'kind', ARGV[3],
  'repository', ARGV[4], 'head_sha', ARGV[5], 'pull_requests', ARGV[6], 'state', 'pending',
  'attempts', 0, 'created_at', now, 'run_after', now, 'reason', '', 'owner', '',
  'lease_until', 0, 'check_run_id', '', 'started_at', '', 'finished_at', '')
redis.call('ZADD', KEYS[2] .. 'pending', id, ARGV[1])
if ARGV[3] == 'analyze' then
  for _, number in ipairs(cjson.decode(ARGV[6])) do
    redis.call('SET', ARGV[9] .. ARGV[4] .. '#' .. number, ARGV[5])
  end
end
return 1
"""
)

# KEYS: job hash, state index prefix, lock key. ARGV: delivery, job json, owner, lease,
# head key prefix. Returns {verdict, detail, attempt, recovered, check_run_id, id,
# created_at}.
_START = (
    _NOW
    + """
local key = KEYS[1]
local state = redis.call('HGET', key, 'state')
if not state then
  return {'missing', '', 0, 0, '', 0}
end
if state == 'done' or state == 'superseded' or state == 'failed' then
  return {'skip', 'already ' .. state, 0, 0, '', 0}
end
local owner = redis.call('HGET', key, 'owner')
local lease_until = tonumber(redis.call('HGET', key, 'lease_until') or '0')
if state == 'running' and lease_until >= now and owner ~= ARGV[3] then
  return {'busy', tostring(lease_until - now), 0, 0, '', 0}
end
local job = cjson.decode(ARGV[2])
if job['kind'] == 'analyze' and state == 'pending' then
  for _, number in ipairs(job['pull_requests']) do
    local newest = redis.call('GET', ARGV[5] .. job['repository'] .. '#' .. number)
    if newest and newest ~= job['head_sha'] then
      redis.call('HSET', key, 'state', 'superseded', 'finished_at', now,
        'reason', 'superseded by a push of ' .. string.sub(newest, 1, 7))
      redis.call('ZREM', KEYS[2] .. 'pending', ARGV[1])
      redis.call('ZADD', KEYS[2] .. 'superseded', redis.call('HGET', key, 'id'), ARGV[1])
      return {'skip', 'superseded', 0, 0, '', 0}
    end
  end
end
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[1] then
  return {'busy', tostring(redis.call('PTTL', KEYS[3]) / 1000), 0, 0, '', 0}
end
local lease = tonumber(ARGV[4])
redis.call('SET', KEYS[3], ARGV[1], 'PX', math.floor(lease * 1000))
local attempts = redis.call('HINCRBY', key, 'attempts', 1)
redis.call('HSET', key, 'state', 'running', 'owner', ARGV[3], 'lease_until', now + lease,
  'started_at', now)
redis.call('ZREM', KEYS[2] .. 'pending', ARGV[1])
redis.call('ZADD', KEYS[2] .. 'running', redis.call('HGET', key, 'id'), ARGV[1])
local recovered = 0
if state == 'running' then recovered = 1 end
return {'run', '', attempts, recovered, redis.call('HGET', key, 'check_run_id'),
  tonumber(redis.call('HGET', key, 'id')), redis.call('HGET', key, 'created_at')}
"""
)

# KEYS: job hash, state index prefix, lock key. ARGV: delivery, owner, new state, reason,
# attempts change, run_after delay, '1' to forget the check run (a retry: the attempt
# completed it as failed). Only the owner of a running job may end or return it.
_SETTLE = (
    _NOW
    + """
local key = KEYS[1]
if redis.call('HGET', key, 'state') ~= 'running' or redis.call('HGET', key, 'owner') ~= ARGV[2]
then
  return 0
end
local fields = {'state', ARGV[3], 'owner', '', 'lease_until', 0, 'reason', ARGV[4]}
if ARGV[7] == '1' then
  table.insert(fields, 'check_run_id')
  table.insert(fields, '')
end
if ARGV[3] == 'pending' then
  table.insert(fields, 'run_after')
  table.insert(fields, now + tonumber(ARGV[6]))
else
  table.insert(fields, 'finished_at')
  table.insert(fields, now)
end
redis.call('HSET', key, unpack(fields))
if tonumber(ARGV[5]) ~= 0 then
  redis.call('HINCRBY', key, 'attempts', tonumber(ARGV[5]))
end
redis.call('ZREM', KEYS[2] .. 'running', ARGV[1])
redis.call('ZADD', KEYS[2] .. ARGV[3], redis.call('HGET', key, 'id'), ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
end
return 1
"""
)

# KEYS: job hash, lock key. ARGV: delivery, owner, lease.
_RENEW = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running'
  or redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'lease_until', now + tonumber(ARGV[3]))
redis.call('SET', KEYS[2], ARGV[1], 'PX', math.floor(tonumber(ARGV[3]) * 1000))
return 1
"""
)


@dataclass(frozen=True)
class Busy:
    """Another worker holds this job or its head: try again after `seconds`."""

    seconds: float


@dataclass(frozen=True)
class Skip:
    """Nothing to run: a duplicate message of a finished job, or a superseded head."""

    reason: str


class RedisLedger:
    """failclosed's bookkeeping of each delivery in Redis (see the module docstring)."""

    def __init__(self, client: redis.Redis, namespace: str = NAMESPACE) -> None:
        self.client = client
        self.ns = namespace
        self._accept = client.register_script(_ACCEPT)
        self._start = client.register_script(_START)
        self._settle = client.register_script(_SETTLE)
        self._renew = client.register_script(_RENEW)

    def _job_key(self, delivery_id: str) -> str:
        return f"{self.ns}:job:{delivery_id}"

    def _lock_key(self, job: Job) -> str:
        return f"{self.ns}:lock:{job.repository}@{job.head_sha}"

    @property
    def _index(self) -> str:
        return f"{self.ns}:state:"

    @property
    def _heads(self) -> str:
        return f"{self.ns}:head:"

    def accept(self, job: Job) -> bool:
        """Record a delivery; False when it is already queued, running or over."""
        return bool(
            self._accept(
                keys=[self._job_key(job.delivery_id), self._index],
                args=[
                    job.delivery_id,
                    job.model_dump_json(),
                    job.kind.value,
                    job.repository,
                    job.head_sha,
                    json.dumps(list(job.pull_requests)),
                    RESEND_AFTER_SECONDS,
                    f"{self.ns}:ids",
                    self._heads,
                ],
            )
        )

    def start(self, job: Job, owner: str, lease_seconds: float) -> Claim | Busy | Skip:
        """Take the job for `owner`, or say why not (see `Busy`, `Skip`)."""
        keys = [self._job_key(job.delivery_id), self._index, self._lock_key(job)]
        args = [job.delivery_id, job.model_dump_json(), owner, lease_seconds, self._heads]
        verdict, detail, attempt, recovered, check_run, job_id, *created = self._start(
            keys=keys, args=args
        )
        verdict = _text(verdict)
        if verdict == "missing":  # sent before its ledger entry was written: write it now
            self.accept(job)
            return self.start(job, owner, lease_seconds)
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
            created_at=float(_text(created[0])) if created else 0.0,
        )

    def record_check_run(self, job: Job, owner: str, check_run_id: int) -> None:
        key = self._job_key(job.delivery_id)
        if _text(self.client.hget(key, "owner")) == owner:
            self.client.hset(key, "check_run_id", check_run_id)

    def finish(self, job: Job, owner: str, state: State, reason: str = "") -> bool:
        if state not in FINAL_STATES:
            raise ValueError(f"finish() takes a final state, not {state!r}")
        return self._settle_as(job, owner, state, reason, 0, 0.0)

    def retry(self, job: Job, owner: str, delay: float, reason: str) -> bool:
        """Back to pending after `delay`; the failed attempt's check run is not reused."""
        return self._settle_as(job, owner, "pending", reason, 0, delay, forget_check_run=True)

    def release(self, job: Job, owner: str) -> bool:
        """Back to pending unfinished (shutdown); its check run is taken up again."""
        return self._settle_as(job, owner, "pending", "released at shutdown", -1, 0.0)

    def _settle_as(
        self,
        job: Job,
        owner: str,
        state: str,
        reason: str,
        attempts: int,
        delay: float,
        *,
        forget_check_run: bool = False,
    ) -> bool:
        keys = [self._job_key(job.delivery_id), self._index, self._lock_key(job)]
        args = [job.delivery_id, owner, state, reason, attempts, delay, int(forget_check_run)]
        return bool(self._settle(keys=keys, args=args))

    def renew(self, owner: str, jobs: Iterable[Job], lease_seconds: float) -> set[str]:
        """Extend the leases `owner` still holds; the delivery ids it still holds."""
        held = set()
        for job in jobs:
            keys = [self._job_key(job.delivery_id), self._lock_key(job)]
            if self._renew(keys=keys, args=[job.delivery_id, owner, lease_seconds]):
                held.add(job.delivery_id)
        return held

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


# -- dramatiq -----------------------------------------------------------------------------------


def make_broker(
    url: str, *, heartbeat_timeout_ms: int = 60_000, maintenance_chance: int = 1_000
) -> RedisBroker:
    """dramatiq's Redis broker. Retries: only when the job asks (`dramatiq.Retry`); every
    other error was already handled by the executor, which decides what is transient."""
    broker = RedisBroker(
        url=url,
        namespace=f"{NAMESPACE}-dramatiq",
        heartbeat_timeout=heartbeat_timeout_ms,
        maintenance_chance=maintenance_chance,
    )
    for middleware in broker.middleware:
        if isinstance(middleware, Retries):
            middleware.retry_when = lambda retries, exc: isinstance(exc, dramatiq.Retry)
    return broker


class Distributed:
    """One process's view of the Redis mode: the sink for the webhook, and workers."""

    def __init__(
        self,
        url: str,
        installations: Installations | None = None,
        *,
        run: Runner | None = None,
        retry_delays: tuple[float, ...] | None = None,
        lease_seconds: float = LEASE_SECONDS,
        heartbeat_timeout_ms: int = 60_000,
        maintenance_chance: int = 1_000,
    ) -> None:
        self.broker = make_broker(
            url,
            heartbeat_timeout_ms=heartbeat_timeout_ms,
            maintenance_chance=maintenance_chance,
        )
        self.ledger = RedisLedger(redis.Redis.from_url(url))
        self._lease = lease_seconds
        self._owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        options: dict[str, Any] = {}
        if run is not None:
            options["run"] = run
        if retry_delays is not None:
            options["retry_delays"] = retry_delays
        self._executor = (
            JobExecutor(installations, **options) if installations is not None else None
        )
        self._held: dict[str, Job] = {}
        self._held_lock = threading.Lock()
        self._stopping = threading.Event()
        self.actor = dramatiq.Actor(
            self._run_message,
            broker=self.broker,
            actor_name=ACTOR,
            queue_name=QUEUE,
            priority=0,
            options={"time_limit": TIME_LIMIT_MS, "max_retries": None},
        )
        self._worker: dramatiq.Worker | None = None
        self._heartbeat: threading.Thread | None = None

    # -- the webhook's side -----------------------------------------------------------

    def enqueue(self, job: Job) -> None:
        """Record the delivery, then hand it to dramatiq; a duplicate is not sent again."""
        if not self.ledger.accept(job):
            logger.info(
                "delivery already queued",
                extra={"delivery_id": job.delivery_id, "repository": job.repository},
            )
            return
        self.actor.send(job.model_dump_json())

    def counts(self) -> dict[str, int]:
        """Jobs per state across the cluster (for /metrics)."""
        return self.ledger.counts()

    # -- the workers' side ------------------------------------------------------------

    def start_workers(self, threads: int = 2) -> None:
        if self._executor is None:
            raise RuntimeError("workers need installations to reach GitHub")
        self._worker = dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=100)
        self._worker.start()
        self._heartbeat = threading.Thread(
            target=self._beat, name="failclosed-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def stop_workers(self, grace_seconds: float = 20.0) -> None:
        """No new jobs; running ones get `grace_seconds`, the rest are released."""
        self._stopping.set()
        if self._worker is not None:
            self._worker.stop(timeout=int(grace_seconds * 1000))
        with self._held_lock:
            unfinished = list(self._held.values())
        for job in unfinished:
            self.ledger.release(job, self._owner)

    def join(self, timeout: float = 60.0) -> None:
        """Wait until no job is pending or running (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while self.ledger.unfinished():
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still unfinished after {timeout} s")
            time.sleep(0.02)

    def _run_message(self, job_json: str) -> None:
        """dramatiq's actor: start the job in the ledger, execute it, settle it."""
        assert self._executor is not None
        job = Job.model_validate_json(job_json)
        started = self.ledger.start(job, self._owner, self._lease)
        if isinstance(started, Skip):
            logger.info("job skipped: %s", started.reason, extra={"delivery_id": job.delivery_id})
            return
        if isinstance(started, Busy):
            raise dramatiq.Retry("held by another worker", delay=int(started.seconds * 1000))
        with self._held_lock:
            self._held[job.delivery_id] = job

        def record(check_run_id: int) -> None:
            self.ledger.record_check_run(job, self._owner, check_run_id)

        try:
            outcome = self._executor.execute(started, record)
        finally:
            with self._held_lock:
                self._held.pop(job.delivery_id, None)
        if isinstance(outcome, Finished):
            self.ledger.finish(job, self._owner, outcome.state, outcome.reason)
            return
        self.ledger.retry(job, self._owner, outcome.delay, outcome.reason)
        raise dramatiq.Retry(outcome.reason, delay=int(outcome.delay * 1000))

    def _beat(self) -> None:
        while not self._stopping.wait(self._lease / 3):
            with self._held_lock:
                held = dict(self._held)
            if not held:
                continue
            try:
                kept = self.ledger.renew(self._owner, held.values(), self._lease)
            except redis.RedisError:
                logger.exception("could not renew job leases")
                continue
            for delivery in set(held) - kept:
                logger.warning("lost the lease of a running job", extra={"delivery_id": delivery})


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
