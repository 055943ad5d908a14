"""Load goal: 1,000 signed deliveries against a real uvicorn, none lost, none run twice.

The App is served by a real uvicorn on 127.0.0.1 (a free port, in a background thread),
built as `failclosed serve` builds it: `create_app(settings, Workers(queue, ...))`. Only
GitHub is fake: an in-memory port that serves one small changed file per pull request
and counts, per delivery, how often its job ran. By default each job is the real
`run_analysis`, so the analyzer (and its libcst fix) really runs; `--job stub` swaps in a
job that only creates and completes a check run.

The deliveries are `pull_request.opened` (tests/payloads), each with its own delivery id,
PR number and head SHA (so no job supersedes another), signed like GitHub signs them
(`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body>`). A separate process sends
them as fast as it can over `--concurrency` keep-alive connections and times each one
from send to response (the acknowledgement latency). Its HTTP client is a minimal
asyncio one: httpx costs ~1 ms of CPU a request, enough at 32 connections for the
client's own queueing to dominate the latencies (`--http httpx` shows it).

Measured in the same run, for context:

    (a) baseline: GET /healthz, same count and concurrency (HTTP, framework, client)
    (b) baseline: POST /webhook with the in-memory sink (everything but the durable queue)
    (c) POST /webhook with the `--mode` queue and its workers: the figure the goal is on
    (j) one analyze job alone, in this process, without the server (median of a few)

Goals (the exit status is 1 if one is missed): every delivery accepted (2xx), p99 of (c)
under 100 ms, none lost (every accepted delivery's job done), none processed twice.

    .venv/bin/python bench/load.py                      # 1,000 deliveries, embedded
    .venv/bin/python bench/load.py --deliveries 200 --concurrency 8
    .venv/bin/python bench/load.py --job stub --stub-ms 5
    .venv/bin/python bench/load.py --mode redis         # the scale-out mode (needs redis-server)
    .venv/bin/python bench/load.py --realistic          # GitHub's shape (bench/LOAD.md)

`--realistic`: a new connection per delivery, ~30 KB payloads as GitHub sends them (the
e2e_seed cassette's pull request), one repository per delivery, and the jobs through the
real GitHub client against bench/github_client.py's stand-in (`--github-ms`, default 8).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import difflib
import hashlib
import hmac
import json
import logging
import math
import multiprocessing
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# This tree's App, whichever `failclosed` the interpreter has installed (an editable
# install of another checkout would otherwise be measured).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import uvicorn
from pydantic import SecretStr

from failclosed.app.commands.serve import UVICORN_OPTIONS, configure_interpreter, configure_logging
from failclosed.app.github.client import GitHubApp
from failclosed.app.github.port import ChangedFile, PullRequest, PullRequestRead, ReviewComment
from failclosed.app.model import Job, JobKind, JobRow
from failclosed.app.receive.server import create_app
from failclosed.app.receive.webhooks import InMemoryJobSink, JobSink
from failclosed.app.review.analyze import JobResult, run_analysis
from failclosed.app.run.queue import SqliteJobQueue
from failclosed.app.run.worker import Workers
from failclosed.app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = ROOT / "tests" / "payloads" / "pull_request.opened.json"
MAX_P99_MS = 100.0
WARM_UP = 200  # requests of each kind sent to the baseline server before it is timed
OWNER = "octo"
INSTALLATION_ID = 4242
BASE_SHA = "b" * 40
CHANGED_PATH = "app/perms.py"
# A PR that turns a fail-closed permission check into a fail-open one: the analyzer
# finds it (FC101), builds and verifies a fix, and the job posts a review and fails its check.
# (the same sources as the App's tests: tests/support.py)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import FAIL_OPEN, SAFE  # noqa: E402

# A throwaway key (the App refuses to start without a loadable one); the fake GitHub
# never signs anything with it.
from support import TEST_PEM as PEM  # noqa: E402

# --realistic: jobs through the real GitHub client against bench/github_client.py's
# stand-in, which answers as recorded in this cassette (a one-file PR, one new finding).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from github_client import CASSETTES, load_answers, stand_in  # noqa: E402

CASSETTE = CASSETTES / "e2e_seed.yaml"
# The pull request object as GitHub's REST API gives it (`GET /pulls/{n}`), which the job
# itself now reads through GraphQL: the same PR and head, read by the Apply fixes job.
PR_CASSETTE = CASSETTES / "e2e_apply_fixes.yaml"
REALISTIC_GITHUB_MS = 8.0  # the stand-in's latency per request unless --github-ms says

Runner = Callable[[Job, Any], object]


# -- the fake GitHub ------------------------------------------------------------------------


def head_sha_of(number: int, run: str) -> str:
    """A distinct head commit per PR (and per run, so runs never collide)."""
    return hashlib.sha1(f"{run}:{number}".encode()).hexdigest()


def patch_of(base: str, head: str) -> str:
    """The `patch` GitHub lists for a file: hunks only, no file headers."""
    lines = difflib.unified_diff(base.splitlines(), head.splitlines(), lineterm="", n=3)
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))


@dataclass
class LoadGitHub:
    """An in-memory GitHub port shared by every job: one small changed file per PR.

    Thread-safe: the worker threads call it concurrently. It counts what proves the
    goals: how many times each delivery's job ran, check runs created per head SHA, and
    each check run's final conclusion.
    """

    heads: dict[int, str]  # PR number -> head SHA
    github_ms: float = 0.0  # simulated latency of every call (sleeps, so drops the GIL)
    runs: Counter[str] = field(default_factory=Counter)  # delivery id -> job runs
    check_runs: Counter[str] = field(default_factory=Counter)  # head SHA -> runs created
    conclusions: dict[int, str] = field(default_factory=dict)  # check run id -> conclusion
    reviews: int = 0
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _by_sha: dict[str, int] = field(default_factory=dict)
    _tagged: dict[tuple[str, str], int] = field(default_factory=dict)  # (sha, external_id)
    _next_check_run: int = 1

    def __post_init__(self) -> None:
        self._by_sha = {sha: number for number, sha in self.heads.items()}
        self._patch = patch_of(SAFE, FAIL_OPEN)

    # -- what the bench reads

    def export(self) -> dict[str, Any]:
        """The counts, for another process (the Redis mode's worker process)."""
        with self._lock:
            return {
                "runs": dict(self.runs),
                "check_runs": dict(self.check_runs),
                "conclusions": {str(k): v for k, v in self.conclusions.items()},
                "reviews": self.reviews,
                "calls": self.calls,
            }

    def merge(self, counts: dict[str, Any]) -> None:
        """Add another process's counts (see `export`)."""
        with self._lock:
            self.runs.update(counts["runs"])
            self.check_runs.update(counts["check_runs"])
            offset = len(self.conclusions)
            for n, (_, conclusion) in enumerate(sorted(counts["conclusions"].items())):
                self.conclusions[offset + n + 1_000_000] = conclusion
            self.reviews += counts["reviews"]
            self.calls += counts["calls"]

    def record_run(self, delivery_id: str) -> None:
        with self._lock:
            self.runs[delivery_id] += 1

    def installation(self, installation_id: int) -> LoadGitHub:
        return self

    def _call(self) -> None:
        with self._lock:
            self.calls += 1
        if self.github_ms:
            time.sleep(self.github_ms / 1000)

    # -- the port

    def get_pull_request(self, repo: str, number: int) -> PullRequest:
        self._call()
        return PullRequest(number, self.heads[number], BASE_SHA, f"load-{number}", repo)

    def list_changed_files(self, repo: str, number: int) -> list[ChangedFile]:
        self._call()
        return [ChangedFile(CHANGED_PATH, "modified", patch=self._patch)]

    def read_files(
        self, repo: str, wanted: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], bytes | None]:
        self._call()
        return {
            (sha, path): (SAFE if sha == BASE_SHA else FAIL_OPEN).encode()
            if path == CHANGED_PATH
            else None
            for sha, path in wanted
        }

    def create_check_run(
        self, repo: str, head_sha: str, name: str, external_id: str | None = None
    ) -> int:
        self._call()
        with self._lock:
            self.check_runs[head_sha] += 1
            check_run_id = self._next_check_run
            self._next_check_run += 1
            if external_id is not None:
                self._tagged[(head_sha, external_id)] = check_run_id
        return check_run_id

    def find_check_run(self, repo: str, head_sha: str, name: str, external_id: str) -> int | None:
        self._call()
        with self._lock:
            return self._tagged.get((head_sha, external_id))

    def update_check_run(self, repo: str, check_run_id: int, body: dict[str, Any]) -> None:
        self._call()
        if body.get("status") == "completed":
            with self._lock:
                self.conclusions[check_run_id] = str(body.get("conclusion"))

    def create_review(self, repo: str, number: int, body: dict[str, Any]) -> None:
        self._call()
        with self._lock:
            self.reviews += 1

    def pull_requests_for_commit(self, repo: str, sha: str) -> list[int]:
        self._call()
        number = self._by_sha.get(sha)
        return [number] if number is not None else []

    def review_comments(self, repo: str, number: int) -> list[ReviewComment]:
        self._call()
        return []

    def read_pull_requests(
        self, repo: str, numbers: Sequence[int], head_sha: str | None = None
    ) -> list[PullRequestRead]:
        self._call()
        found = {self._by_sha[head_sha]} if head_sha in self._by_sha else set()
        return [
            PullRequestRead(
                PullRequest(number, self.heads[number], BASE_SHA, f"load-{number}", repo), ()
            )
            for number in sorted(set(numbers) | found)
        ]

    def reply_to_review_comment(self, repo: str, number: int, comment_id: int, body: str) -> None:
        self._call()

    def comment_on_pull_request(self, repo: str, number: int, body: str) -> None:
        self._call()

    def commit_files(
        self, repo: str, branch: str, expected_head_sha: str, files: dict[str, bytes], message: str
    ) -> str:
        raise NotImplementedError("the load bench sends no Apply fixes deliveries")


def counted_analysis(github: LoadGitHub) -> Runner:
    """The real analyze job, counted per delivery."""

    def run(job: Job, port: Any) -> object:
        github.record_run(job.delivery_id)
        return run_analysis(job, port)

    return run


def counted_stub(github: LoadGitHub, stub_ms: float) -> Runner:
    """A job that only creates a check run, waits `stub_ms` and completes it: the queue
    and the HTTP path without the analyzer."""

    def run(job: Job, port: Any) -> object:
        github.record_run(job.delivery_id)
        check_run_id = port.create_check_run(job.repository, job.head_sha, "failclosed")
        if stub_ms:
            time.sleep(stub_ms / 1000)
        completed = {"status": "completed", "conclusion": "success"}
        port.update_check_run(job.repository, check_run_id, completed)
        return JobResult("published", calls=2)

    return run


# -- the queue under test (one factory per --mode) --------------------------------------


@dataclass(frozen=True)
class JobView:
    """A job as the queue sees it at the end of the run."""

    state: str
    attempts: int  # claims
    seconds: float | None  # enqueued -> finished


@dataclass
class Backend:
    """What the bench needs from a mode: the webhook's sink, and the queue's view of jobs."""

    description: str
    sink: JobSink
    unfinished: Callable[[], int]
    counts: Callable[[], dict[str, int]]
    jobs: Callable[[], dict[str, JobView]]  # by delivery id
    close: Callable[[], None]


def job_views(rows: Sequence[JobRow]) -> dict[str, JobView]:
    """The queue's rows as the bench reads them, by delivery id."""
    return {
        row.delivery_id: JobView(
            row.state,
            row.attempts,
            row.finished_at - row.created_at if row.finished_at is not None else None,
        )
        for row in rows
    }


def installations(github: LoadGitHub, github_url: str | None) -> Any:
    """Where jobs reach GitHub: the real client against the stand-in at `github_url`
    (--realistic; installation 1, as the cassette's token was recorded for), else the fake."""
    return GitHubApp(1, PEM, github_url) if github_url else github


def embedded_backend(
    workdir: Path, github: LoadGitHub, run: Runner, threads: int, github_url: str | None
) -> Backend:
    """`failclosed serve`'s embedded mode: a SQLite queue file and worker threads."""
    queue = SqliteJobQueue(workdir / "jobs.sqlite3")
    workers = Workers(queue, installations(github, github_url), threads=threads, run=run)

    def jobs() -> dict[str, JobView]:
        return job_views(queue.jobs(limit=10_000_000))

    def close() -> None:
        workers.stop(grace_seconds=5.0)
        queue.close()

    return Backend(
        description=(
            f"embedded: SqliteJobQueue ({queue.path.name}, WAL; enqueues synchronous=FULL, "
            "workers' writes NORMAL) "
            f"+ {threads} worker threads in the server process"
        ),
        sink=workers,
        unfinished=queue.unfinished,
        counts=queue.counts,
        jobs=jobs,
        close=close,
    )


WORKER_NICENESS = 19


def redis_backend(
    workdir: Path, github: LoadGitHub, run: Runner, threads: int, github_url: str | None
) -> Backend:
    """The scale-out mode as deployed: a real redis-server on 127.0.0.1, this process a
    web replica whose sink sends to it, and a separate `failclosed worker`-like process
    running the jobs with a dramatiq worker (`--worker-process` below). The worker
    process's fake GitHub counts are merged into `github` when it stops."""
    sys.path.insert(0, str(ROOT / "tests"))
    from redis_server import redis_server

    from failclosed.app.run.distributed import Distributed

    server = redis_server(workdir)
    url = server.__enter__()
    web = Distributed(url)
    config = workdir / "worker.json"
    counts_file = workdir / "worker-counts.json"
    config.write_text(
        json.dumps(
            {
                "heads": github.heads,
                "github_ms": github.github_ms,
                "threads": threads,
                "github_url": github_url,
            }
        )
    )
    worker = subprocess.Popen(
        [sys.executable, __file__, "--worker-process", url, str(config), str(counts_file)],
        cwd=ROOT,
        stderr=(workdir / "worker.log").open("wb"),
    )

    def jobs() -> dict[str, JobView]:
        return job_views(web.ledger.jobs(limit=10_000_000))

    def close() -> None:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        github.merge(json.loads(counts_file.read_text()))
        server.__exit__(None, None, None)

    return Backend(
        description=(
            f"redis: dramatiq RedisBroker + RedisLedger on redis-server {url.split('//')[1]}; "
            f"this process only accepts, a worker process at nice {WORKER_NICENESS} runs the "
            f"jobs ({threads} threads)"
        ),
        sink=web,
        unfinished=web.ledger.unfinished,
        counts=web.ledger.counts,
        jobs=jobs,
        close=close,
    )


def worker_process(url: str, config_path: str, counts_path: str) -> int:
    """`--worker-process`: the Redis mode's worker for `redis_backend`, until SIGTERM."""
    from failclosed.app.run.distributed import Distributed, run_worker_process

    config = json.loads(Path(config_path).read_text())
    heads = {int(number): sha for number, sha in config["heads"].items()}
    github = LoadGitHub(heads, github_ms=config["github_ms"])
    # Beside the web replica on this 2-core machine: analysis is throughput work, the
    # acknowledgements are the latency-critical part (in production, other machines).
    os.nice(WORKER_NICENESS)
    configure_interpreter()
    port = installations(github, config["github_url"])
    distributed = Distributed(url, port, run=counted_analysis(github))
    run_worker_process(distributed, config["threads"], grace_seconds=10)
    Path(counts_path).write_text(json.dumps(github.export()))
    return 0


MODES: dict[str, Callable[[Path, LoadGitHub, Runner, int, str | None], Backend]] = {
    "embedded": embedded_backend,
    "redis": redis_backend,
}
# Modes the issue asks for whose queue does not exist yet: --mode says so and exits 2.
PLANNED: dict[str, str] = {}


def http_stack() -> str:
    """What uvicorn's "auto" picks here: httptools and uvloop when installed, else h11."""
    names = []
    for module, fallback in (("httptools", "h11"), ("uvloop", "asyncio")):
        try:
            __import__(module)
            names.append(module)
        except ImportError:
            names.append(fallback)
    return " + ".join(names)


# -- the server -----------------------------------------------------------------------------


class Served:
    """A real uvicorn serving `app` on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, app: Any) -> None:
        # proto must say TCP: asyncio sets TCP_NODELAY only on sockets whose proto is
        # IPPROTO_TCP, and with Nagle on every answer waits ~40 ms for a delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        # As `failclosed serve` runs it (logging through the root logger, a time limit on
        # request headers, no access log).
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, **UVICORN_OPTIONS)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> Served:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        self._socket.close()


# -- the client (runs in its own process by default) ---------------------------------------


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    number: int  # unique across repositories too (--realistic: the cassette's, in each)
    head_sha: str
    repository: int  # octo/load-<n>
    installation_id: int = INSTALLATION_ID


@dataclass(frozen=True)
class Sent:
    """What the client saw: per request (status or error, seconds), and when it sent."""

    outcomes: list[tuple[str, float]]
    first_send: float  # time.monotonic() (system-wide on Linux, so valid across processes)
    last_answer: float


def delivery_body(template: dict[str, Any], delivery: Delivery, pad_kb: int) -> bytes:
    payload = copy.deepcopy(template)
    payload["number"] = delivery.number
    payload["pull_request"]["number"] = delivery.number
    payload["pull_request"]["head"]["sha"] = delivery.head_sha
    payload["pull_request"]["base"]["sha"] = BASE_SHA
    payload["repository"]["id"] = 1_000_000 + delivery.repository
    payload["repository"]["name"] = f"load-{delivery.repository}"
    payload["repository"]["full_name"] = f"{OWNER}/load-{delivery.repository}"
    payload["installation"]["id"] = delivery.installation_id
    if pad_kb:  # GitHub's untrimmed payloads carry ~20 KB of URLs and user details
        payload["pull_request"]["body"] = "x" * (pad_kb * 1024)
    return json.dumps(payload).encode()


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


def signed_requests(
    secret: str,
    template: dict[str, Any],
    deliveries: Sequence[Delivery],
    pad_kb: int,
    close: bool = False,
) -> list[Request]:
    """Each delivery as GitHub sends it: the raw body and its HMAC-SHA256 signature;
    `close`: on a connection of its own (`Connection: close`), as GitHub sends them."""
    requests = []
    for delivery in deliveries:
        body = delivery_body(template, delivery, pad_kb)
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/load",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": delivery.delivery_id,
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": f"sha256={signature}",
            **(CLOSE_HEADER if close else {}),
        }
        requests.append(Request("POST", "/webhook", headers, body))
    return requests


CLOSE_HEADER = {"Connection": "close"}


def encoded(request: Request, port: int) -> bytes:
    """The request's HTTP/1.1 bytes, keep-alive, built before any clock starts."""
    lines = [
        f"{request.method} {request.path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        *(f"{name}: {value}" for name, value in request.headers.items()),
    ]
    if request.method != "GET":
        lines.append(f"Content-Length: {len(request.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + request.body


class Connection:
    """One keep-alive HTTP/1.1 connection to the server, (re)opened on demand: a request
    sent with `Connection: close` is answered so, and the next one opens a new connection
    (its time, the TCP handshake included, counts in that request's latency)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, data: bytes) -> str:
        """Send one request's bytes, read the whole answer; its status code."""
        if self._streams is None:
            self._streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self._streams
        writer.write(data)
        status = (await reader.readline()).split(b" ", 2)
        if len(status) < 2:
            raise ConnectionResetError("connection closed before an answer")
        length, close = 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        await reader.readexactly(length)
        if close:
            self.close()
        return status[1].decode()

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def _send_asyncio(port: int, requests: Sequence[Request], concurrency: int) -> Sent:
    """A minimal keep-alive HTTP/1.1 client: ~0.2 ms of CPU a request, against ~1 ms for
    httpx, so the client's own queueing stays out of the latencies."""
    wire = [encoded(request, port) for request in requests]
    outcomes: list[tuple[str, float]] = [("not sent", 0.0)] * len(requests)
    pending = iter(range(len(requests)))

    async def sender() -> None:
        connection = Connection(port)
        for index in pending:
            start = time.perf_counter()
            try:
                outcome = await connection.exchange(wire[index])
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                outcome = type(exc).__name__
                connection.close()
            outcomes[index] = (outcome, time.perf_counter() - start)
        connection.close()

    first_send = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return Sent(outcomes, first_send, time.monotonic())


async def _send_httpx(port: int, requests: Sequence[Request], concurrency: int) -> Sent:
    outcomes: list[tuple[str, float]] = [("not sent", 0.0)] * len(requests)
    pending = iter(range(len(requests)))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:

        async def sender() -> None:
            for index in pending:
                request = requests[index]
                start = time.perf_counter()
                try:
                    response = await client.request(
                        request.method,
                        request.path,
                        headers=request.headers,
                        content=request.body or None,
                    )
                    outcome = str(response.status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                outcomes[index] = (outcome, time.perf_counter() - start)

        first_send = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        last_answer = time.monotonic()
    return Sent(outcomes, first_send, last_answer)


SENDERS = {"asyncio": _send_asyncio, "httpx": _send_httpx}


def send(port: int, requests: Sequence[Request], concurrency: int, http: str) -> Sent:
    """Send every request as fast as `concurrency` connections allow; time each one."""
    return asyncio.run(SENDERS[http](port, requests, concurrency))


def send_deliveries(
    port: int,
    secret: str,
    template: dict[str, Any],
    deliveries: Sequence[Delivery],
    pad_kb: int,
    concurrency: int,
    http: str,
    close: bool = False,
) -> Sent:
    """Sign (before the clock starts), then send. Picklable, for the client process."""
    requests = signed_requests(secret, template, deliveries, pad_kb, close)
    return send(port, requests, concurrency, http)


def send_gets(
    port: int, path: str, count: int, concurrency: int, http: str, close: bool = False
) -> Sent:
    headers = CLOSE_HEADER if close else {}
    return send(port, [Request("GET", path, headers)] * count, concurrency, http)


def ready() -> int:
    return os.getpid()


class Client:
    """Runs the sender in its own process (the default: like GitHub, it does not compete
    for the server's GIL) or in the server's process (`--client the-server-process`)."""

    def __init__(self, where: str) -> None:
        self._pool = (
            ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            if where == "its-own-process"
            else None
        )
        if self._pool is not None:
            self._pool.submit(ready).result()  # pay the process start-up before timing

    def call(self, function: Callable[..., Sent], *args: Any) -> Sent:
        if self._pool is not None:
            return self._pool.submit(function, *args).result()
        return function(*args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


# -- figures ---------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Latency:
    p50: float  # ms
    p99: float
    max: float
    seconds: float  # first send to last answer
    count: int

    @classmethod
    def of(cls, sent: Sent) -> Latency:
        ms = [seconds * 1000 for _, seconds in sent.outcomes]
        return cls(
            percentile(ms, 50),
            percentile(ms, 99),
            max(ms, default=math.nan),
            sent.last_answer - sent.first_send,
            len(ms),
        )

    def line(self) -> str:
        rate = self.count / self.seconds if self.seconds else math.inf
        return (
            f"p50 {self.p50:6.1f} ms  p99 {self.p99:6.1f} ms  max {self.max:6.1f} ms  "
            f"({self.seconds:5.2f} s, {rate:5.0f}/s)"
        )


def statuses(sent: Sent) -> str:
    return ", ".join(
        f"{status} x{n}" for status, n in sorted(Counter(s for s, _ in sent.outcomes).items())
    )


def accepted(status: str) -> bool:
    return status.isdigit() and 200 <= int(status) < 300


# -- the run ---------------------------------------------------------------------------


@dataclass
class Options:
    mode: str
    deliveries: int
    repos: int
    concurrency: int
    threads: int
    job: str
    stub_ms: float
    github_ms: float
    pad_kb: int
    client: str
    http: str
    drain_timeout: float
    log_level: str
    queue_dir: Path | None
    realistic: bool = False


def make_settings(secret: str) -> Settings:
    return Settings(
        _env_file=None, app_id=1, webhook_secret=SecretStr(secret), private_key=SecretStr(PEM)
    )


def log_to(path: Path, level: str) -> None:
    """As `failclosed serve` logs (JSON lines), to a file."""
    configure_logging(level, logging.FileHandler(path))


def runner_for(options: Options, github: LoadGitHub) -> tuple[Runner, str]:
    if options.realistic:
        return counted_analysis(github), (
            "run_analysis through the real GitHub client (githubkit, httpx: GitHubApp, one "
            f"client a job) against bench/github_client.py's stand-in ({CASSETTE.name}: 1 "
            "changed file, 1 new finding -> review, check run failure), each delivery's "
            "repository its own"
        )
    if options.job == "stub":
        return counted_stub(github, options.stub_ms), (
            f"stub job (create check run, sleep {options.stub_ms:g} ms, complete it), no analyzer"
        )
    return counted_analysis(github), (
        f"run_analysis against an in-memory fake GitHub: 1 changed file ({CHANGED_PATH}, "
        f"{len(FAIL_OPEN.splitlines())} lines, 1 new fail-open path -> review with a fix, "
        "check run failure)"
    )


def time_one_job(options: Options, workdir: Path) -> float:
    """(j): median seconds of one job alone, no server, no queue (also warms the analyzer).
    --realistic: through the real client, against a stand-in of its own."""
    if options.realistic:
        real = Realistic.load()
        with stand_in(CASSETTE, options.github_ms / 1000, None, workdir / "j.json") as url:
            github_app = GitHubApp(1, PEM, url)
            jobs = [(real.job(f"warm-{n}", n), github_app.installation(1)) for n in range(1, 8)]
            return median_job_seconds(options, LoadGitHub({}), jobs)
    heads = {n: head_sha_of(n, "warm") for n in range(1, 8)}
    github = LoadGitHub(heads, github_ms=options.github_ms)
    fake_jobs = [
        (
            Job(
                kind=JobKind.ANALYZE,
                delivery_id=f"warm-{number}",
                event="pull_request",
                action="opened",
                installation_id=INSTALLATION_ID,
                repository=f"{OWNER}/load-0",
                head_sha=sha,
                pull_requests=(number,),
            ),
            contextlib.nullcontext(github),
        )
        for number, sha in heads.items()
    ]
    return median_job_seconds(options, github, fake_jobs)


def median_job_seconds(
    options: Options, github: LoadGitHub, jobs: Sequence[tuple[Job, Any]]
) -> float:
    """Run each job in its port (a context manager, entered as `app.run.execute` does); the
    median seconds of all but the first."""
    run, _ = runner_for(options, github)
    times = []
    for job, port in jobs:
        start = time.perf_counter()
        with port as entered:
            run(job, entered)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


@dataclass(frozen=True)
class Realistic:
    """--realistic's deliveries: pull_request.opened as GitHub sends it untrimmed, built
    from a recorded pull request of the cassette's (the PR object GitHub's API answered, with
    its base repository and user: ~29 KB), one repository per delivery so that the jobs,
    all of that PR and head, run side by side."""

    template: dict[str, Any]
    number: int
    head_sha: str

    @classmethod
    def load(cls) -> Realistic:
        answers = load_answers(PR_CASSETTE)
        (pr,) = [
            json.loads(body)
            for key, (_, _, body) in answers.items()
            if key[0] == "GET" and key[1].rsplit("/", 2)[-2] == "pulls"
        ]
        template = {
            "action": "opened",
            "number": pr["number"],
            "pull_request": pr,
            "repository": pr["base"]["repo"],
            "sender": pr["user"],
            "installation": {"id": 1, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="},
        }
        return cls(template, pr["number"], pr["head"]["sha"])

    def plan(self, count: int) -> list[Delivery]:
        return [
            Delivery(str(uuid.uuid4()), self.number, self.head_sha, n, installation_id=1)
            for n in range(1, count + 1)
        ]

    def job(self, delivery_id: str, repository: int) -> Job:
        return Job(
            kind=JobKind.ANALYZE,
            delivery_id=delivery_id,
            event="pull_request",
            action="opened",
            installation_id=1,
            repository=f"{OWNER}/warm-{repository}",
            head_sha=self.head_sha,
            pull_requests=(self.number,),
        )


def plan(count: int, repositories: int, run_id: str) -> list[Delivery]:
    """`count` deliveries of distinct PRs, spread round-robin over `repositories`."""
    return [
        Delivery(str(uuid.uuid4()), n, head_sha_of(n, run_id), n % repositories)
        for n in range(1, count + 1)
    ]


@dataclass
class Run:
    """One run's fixed inputs: settings, secret, payload template, the client."""

    options: Options
    settings: Settings
    secret: str
    template: dict[str, Any]
    client: Client

    def deliver(self, port: int, deliveries: Sequence[Delivery]) -> Sent:
        o = self.options
        return self.client.call(
            send_deliveries, port, self.secret, self.template, deliveries, o.pad_kb,
            o.concurrency, o.http, o.realistic,
        )  # fmt: skip

    def get(self, port: int, path: str, count: int) -> Sent:
        o = self.options
        return self.client.call(send_gets, port, path, count, o.concurrency, o.http, o.realistic)

    def plan(self, count: int, run_id: str) -> list[Delivery]:
        if self.options.realistic:
            return Realistic.load().plan(count)
        return plan(count, self.options.repos, run_id)


def measure(options: Options, workdir: Path) -> bool:
    """Run (j), (a), (b), (c); print every figure; return whether the goals were met."""
    template = Realistic.load().template if options.realistic else json.loads(PAYLOAD.read_text())
    log_path = workdir / "server.log"
    log_to(log_path, options.log_level)
    run_id = uuid.uuid4().hex
    secret = secrets.token_hex(32)
    client = Client(options.client)
    run = Run(options, make_settings(secret), secret, template, client)
    deliveries = run.plan(options.deliveries, run_id)
    github = LoadGitHub({d.number: d.head_sha for d in deliveries}, github_ms=options.github_ms)
    job_runner, job_description = runner_for(options, github)
    body_bytes = len(delivery_body(template, deliveries[0], options.pad_kb))
    queue_dir = options.queue_dir or workdir

    print(f"mode: {options.mode}{' (realistic shape)' if options.realistic else ''}")
    print(f"jobs: {job_description}")
    if options.github_ms:
        print(f"GitHub latency: {options.github_ms:g} ms per call")
    repos = len({d.repository for d in deliveries})
    print(
        f"deliveries: {options.deliveries} signed pull_request.opened, {body_bytes:,} bytes "
        f"each, PRs spread over {repos} repositor{'y' if repos == 1 else 'ies'}; "
        f"concurrency {options.concurrency}; "
        + ("a new connection per request" if options.realistic else "keep-alive connections")
        + f"; {options.http} client in {options.client.replace('-', ' ')}"
    )
    print(
        f"machine: {os.cpu_count()} cores (1-min load average {os.getloadavg()[0]:.2f} before "
        f"the run), Python {platform.python_version()}, uvicorn "
        f"{uvicorn.__version__} ({http_stack()}); app at {app_version()}; server logs JSON "
        f"lines at {options.log_level} to a file"
    )
    job_seconds = time_one_job(options, workdir)
    print(f"(j) one job alone, no server/queue  : {job_seconds * 1000:6.1f} ms (median of 6)")

    stand_in_counts = workdir / "stand-in.json"
    try:
        configure_interpreter()  # as `failclosed serve` does, for every figure
        health, memory = baselines(run, run_id)
        with contextlib.ExitStack() as github_stand_in:
            github_url = (
                github_stand_in.enter_context(
                    stand_in(CASSETTE, options.github_ms / 1000, None, stand_in_counts)
                )
                if options.realistic
                else None
            )
            backend = MODES[options.mode](
                queue_dir, github, job_runner, options.threads, github_url
            )
            print(f"queue: {backend.description} in {queue_dir}")
            try:
                with Served(create_app(run.settings, backend.sink)) as served:
                    sent = run.deliver(served.port, deliveries)
                    drained_at = drain(backend, options.drain_timeout)
                    unfinished = backend.unfinished()
                counts, jobs = backend.counts(), backend.jobs()
            finally:
                backend.close()
        if options.realistic:  # what the jobs asked of the stand-in
            github.merge(json.loads(stand_in_counts.read_text()))
    finally:
        client.close()

    ack = Latency.of(sent)
    accepted_ids = [
        d.delivery_id
        for d, (status, _) in zip(deliveries, sent.outcomes, strict=True)
        if accepted(status)
    ]
    print(f"(c) POST /webhook, {options.mode:<16} : {ack.line()}  [{statuses(sent)}]")
    print(
        f"accepted: {len(accepted_ids)}  rejected: {options.deliveries - len(accepted_ids)}"
        f"  (of {options.deliveries})"
    )
    print(
        f"ack ratios (c)/(a): p50 {ack.p50 / health.p50:5.1f}x  p99 {ack.p99 / health.p99:5.1f}x"
        f"   (c)/(b): p50 {ack.p50 / memory.p50:5.1f}x  p99 {ack.p99 / memory.p99:5.1f}x"
    )
    if drained_at is None:
        print(f"all jobs finished: NO, {unfinished} still unfinished after the timeout")
    else:
        total = drained_at - sent.first_send
        print(
            f"all jobs finished: {total:6.2f} s after the first delivery, "
            f"{drained_at - sent.last_answer:5.2f} s after the last ack "
            f"({len(accepted_ids) / total:4.0f} jobs/s"
            + (
                f", {total / len(accepted_ids) / job_seconds:4.2f}x (j) per job)"
                if accepted_ids and job_seconds > 0.001
                else ")"
            )
        )
    waits = [job.seconds * 1000 for job in jobs.values() if job.seconds is not None]
    print(
        f"job latency (enqueued -> finished): p50 {percentile(waits, 50):7.0f} ms  "
        f"p99 {percentile(waits, 99):7.0f} ms"
    )
    print("queue counts: " + ", ".join(f"{state} {n}" for state, n in counts.items()))
    lost, twice = check_jobs(deliveries, accepted_ids, jobs, github)
    print(f"server log: {log_summary(log_path)}")

    goals = [
        (f"all {options.deliveries} accepted", len(accepted_ids) == options.deliveries),
        (f"p99 ack < {MAX_P99_MS:g} ms", ack.p99 < MAX_P99_MS),
        ("none lost", lost == 0 and drained_at is not None),
        ("none processed twice", twice == 0),
    ]
    print("goals: " + "; ".join(f"{name}: {'met' if met else 'MISSED'}" for name, met in goals))
    return all(met for _, met in goals)


def baselines(run: Run, run_id: str) -> tuple[Latency, Latency]:
    """(a) and (b), on a server whose sink keeps jobs in memory (and runs none)."""
    options = run.options
    sink = InMemoryJobSink(max_jobs=options.deliveries + WARM_UP)
    with Served(create_app(run.settings, sink)) as served:
        # Warm-up, not counted: imports, first validations, the thread pool's threads.
        run.get(served.port, "/healthz", WARM_UP)
        run.deliver(served.port, run.plan(WARM_UP, run_id + "-warm"))
        health_sent = run.get(served.port, "/healthz", options.deliveries)
        memory_sent = run.deliver(served.port, run.plan(options.deliveries, run_id + "-memory"))
    health, memory = Latency.of(health_sent), Latency.of(memory_sent)
    print(f"(a) GET /healthz                    : {health.line()}  [{statuses(health_sent)}]")
    print(f"(b) POST /webhook, in-memory sink   : {memory.line()}  [{statuses(memory_sent)}]")
    return health, memory


def check_jobs(
    deliveries: Sequence[Delivery],
    accepted_ids: Sequence[str],
    jobs: dict[str, JobView],
    github: LoadGitHub,
) -> tuple[int, int]:
    """Print and return (lost, processed twice).

    Lost: an accepted delivery without a job, or whose job is not done. Twice: a job that
    ran or was claimed more than once, a head with more than one check run, or a run for
    a delivery that was never sent.
    """
    missing = JobView("missing", 0, None)
    lost = [i for i in accepted_ids if jobs.get(i, missing).state != "done"]
    ran_twice = {i for i, n in github.runs.items() if n > 1}
    claimed_twice = {i for i, job in jobs.items() if job.attempts > 1}
    checks_twice = [sha for sha, n in github.check_runs.items() if n > 1]
    strangers = set(github.runs) - {d.delivery_id for d in deliveries}
    twice = len(ran_twice | claimed_twice) + len(checks_twice) + len(strangers)
    why_lost = Counter(jobs.get(i, missing).state for i in lost)
    print(
        f"lost: {len(lost)}{f' {dict(why_lost)}' if lost else ''}  "
        f"processed twice: {twice} (run >1: {len(ran_twice)}, claimed >1: "
        f"{len(claimed_twice)}, >1 check run per head: {len(checks_twice)}, "
        f"runs of unknown deliveries: {len(strangers)})"
    )
    conclusions = Counter(github.conclusions.values())
    print(
        f"fake GitHub: {sum(github.runs.values())} job runs, "
        f"{sum(github.check_runs.values())} check runs "
        f"({', '.join(f'{n} {c}' for c, n in sorted(conclusions.items())) or 'none completed'}), "
        f"{github.reviews} reviews, {github.calls} calls"
    )
    return len(lost), twice


def app_version() -> str:
    """The commit the App is at, and whether app/ has uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    return commit + (
        " + uncommitted changes in app/" if git("status", "--porcelain", "app") else ""
    )


def log_summary(path: Path) -> str:
    """`1234 lines (0 WARNING, 0 ERROR)`: what the server logged during the run."""
    levels: Counter[str] = Counter()
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            levels[json.loads(line).get("level", "?")] += 1
    return (
        f"{sum(levels.values())} lines ({levels['WARNING']} WARNING, "
        f"{levels['ERROR'] + levels['CRITICAL']} ERROR)"
    )


def drain(backend: Backend, timeout: float) -> float | None:
    """When (time.monotonic) no job was pending or running any more; None on timeout."""
    deadline = time.monotonic() + timeout
    while backend.unfinished():
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)
    return time.monotonic()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point: 0 when every goal is met, 1 when one is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=[*MODES, *PLANNED], default="embedded", help="queue")
    parser.add_argument("--deliveries", type=int, default=1000, help="default 1000")
    parser.add_argument(
        "--repos", type=int, default=1, help="repositories the PRs are spread over, default 1"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="connections, default 32")
    parser.add_argument("--threads", type=int, default=2, help="worker threads, default 2")
    parser.add_argument("--job", choices=["analyze", "stub"], default="analyze")
    parser.add_argument("--stub-ms", type=float, default=5.0, help="--job stub: sleep per job")
    parser.add_argument(
        "--github-ms",
        type=float,
        help=f"GitHub's latency per call (default 0; --realistic: {REALISTIC_GITHUB_MS:g})",
    )
    parser.add_argument(
        "--realistic",
        action="store_true",
        help="GitHub's shape: a new connection per delivery, ~29 KB payloads, each for a "
        "repository of its own, jobs through the real GitHub client against a stand-in",
    )
    parser.add_argument("--pad-kb", type=int, default=0, help="pad each payload by N KB")
    parser.add_argument(
        "--client",
        choices=["its-own-process", "the-server-process"],
        default="its-own-process",
        help="where the sender runs (in the server's process it competes for its GIL)",
    )
    parser.add_argument(
        "--http", choices=sorted(SENDERS), default="asyncio", help="the sender's HTTP client"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=120.0, help="seconds to wait for the jobs"
    )
    parser.add_argument("--log-level", choices=["INFO", "WARNING"], default="INFO")
    parser.add_argument(
        "--queue-dir", type=Path, help="where the queue file goes (default: a temporary folder)"
    )
    parser.add_argument("--worker-process", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_process:
        return worker_process(*args.worker_process)
    del args.worker_process
    if args.github_ms is None:
        args.github_ms = REALISTIC_GITHUB_MS if args.realistic else 0.0
    if min(args.deliveries, args.repos, args.concurrency, args.threads) < 1:
        parser.error("--deliveries, --repos, --concurrency and --threads must be at least 1")
    if args.mode in PLANNED:
        print(f"--mode {args.mode} is not implemented: {PLANNED[args.mode]}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="failclosed-load-") as tmp:
        met = measure(Options(**vars(args)), Path(tmp))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
