"""What a job costs through the real GitHub client (issue 11, "Faster jobs").

    python bench/github_client.py [--jobs 100] [--latency-ms 8] [--mode both|before|after]
                                  [--threads 1] [--cassette e2e_seed] [--tls]

Runs real analyze jobs (`JobExecutor.execute` -> `run_analysis`, the analysis in a pooled
child process as the App runs it) through the real `GitHubApp` / `GitHubClient`
(githubkit, httpx) against a local stand-in for GitHub on 127.0.0.1 that answers every
request after a fixed latency. The stand-in runs in a process of its own (its CPU is not
the worker's) and serves the answers recorded in a cassette of `tests/cassettes/`
(default `e2e_seed`: a one-file PR with one new finding, so each job posts a review: a
check run, one GraphQL query for the PR, the other open PRs of its head and its review
comments, its files, both sides' contents in one query, the review and the completed
check run: 6 calls; 8 before that query replaced three REST reads, 9 before the two reads
of contents became one). Plain HTTP with keep-alive by default, so what is measured
is the client's own work; `--tls` serves HTTPS with a throwaway self-signed certificate
(trusted through `SSL_CERT_FILE`, which httpx and `shared_ssl_context` honour: certifi's
bundle with it appended, so that building a context costs what it does in production),
so each new connection also costs a TLS handshake, as with GitHub.

Two behaviours, measured in the same run, alternately job by job (so the machine's load
falls on both alike):

- `before`: the client as it was before issue 11: never entered, so githubkit builds (and
  closes) an `httpx.Client` for every request, and with it a new SSL context that loads
  the CA bundle;
- `after`: the App as it is: the job's client entered for the job (`app.run.execute`), one
  `httpx.Client` and connection per job, every client on the process's one SSL context.

Prints, per behaviour: per-job wall and CPU time of this (the worker) process, median and
mean; port calls per job (`JobResult.calls`), HTTP requests and `httpx` clients per job.
`--threads N` runs the jobs on N threads (as N worker threads do) and prints the drain
time and the process CPU per job instead of alternating. The first jobs of each
behaviour (the token, `GET /app`, the analysis child's start) are not counted.
Figures only, never a pass/fail: the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASSETTES = ROOT / "tests" / "cassettes"
WARM_UP = 3  # jobs per behaviour not counted
DROPPED_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


# -- the stand-in for GitHub (its own process) ----------------------------------------------


def graphql_key(body: bytes | str) -> tuple[str, ...]:
    """A GraphQL request by its operation's name and what it asks: its variables, but for
    the repository's owner and name (another repository's same question gets the same
    answer, with `--any-repo`)."""
    try:
        payload = json.loads(body)
        query, variables = payload.get("query") or "", payload.get("variables") or {}
    except (ValueError, AttributeError):
        return ()
    operation = query.split("(", 1)[0].split("{", 1)[0].strip()
    asked = (f"{k}={v}" for k, v in sorted(variables.items()) if k not in ("owner", "name"))
    return (operation, *asked)


def graphql_repository(body: bytes) -> str | None:
    """The `owner/name` a GraphQL request's variables name, if they do."""
    try:
        variables = json.loads(body).get("variables") or {}
    except (ValueError, AttributeError):
        return None
    owner, name = variables.get("owner"), variables.get("name")
    return f"{owner}/{name}" if isinstance(owner, str) and isinstance(name, str) else None


def load_answers(cassette: Path) -> dict[Any, tuple[int, list[tuple[str, str]], bytes]]:
    """(method, path) -> the first answer recorded for it; GraphQL by what it reads."""
    import yaml

    answers: dict[Any, tuple[int, list[tuple[str, str]], bytes]] = {}
    for interaction in yaml.safe_load(cassette.read_text())["interactions"]:
        request, response = interaction["request"], interaction["response"]
        path = urlsplit(request["uri"]).path
        key: Any = (request["method"], path)
        if path == "/graphql":
            key = ("graphql", graphql_key(request["body"] or ""))
        headers = [
            (name, value)
            for name, values in response["headers"].items()
            if name.lower() not in DROPPED_HEADERS
            for value in values
        ]
        body = response["body"]["string"]
        answers.setdefault(
            key,
            (response["status"]["code"], headers, body.encode() if isinstance(body, str) else body),
        )
    return answers


REPO_PATH = re.compile(r"^/repos/([^/]+/[^/]+)(/.*)?$")


def recorded_repository(answers: dict[Any, Any]) -> str:
    """The `owner/name` the cassette's requests were made for."""
    for key in answers:
        found = REPO_PATH.match(key[1]) if key[0] != "graphql" else None
        if found:
            return found.group(1)
    raise SystemExit("the cassette has no request to a repository")


@dataclass
class Counts:
    """What an `--any-repo` stand-in was asked to do, per repository (bench/load.py's checks)."""

    calls: int = 0
    check_runs: dict[str, int] = field(default_factory=dict)  # created, per repository
    conclusions: dict[str, str] = field(default_factory=dict)  # "<repo>#<n>" -> conclusion
    reviews: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, method: str, repo: str | None, rest: str, body: bytes) -> None:
        with self.lock:
            self.calls += 1
            if repo is None:
                return
            if method == "POST" and rest == "/check-runs":
                self.check_runs[repo] = self.check_runs.get(repo, 0) + 1
            elif method == "POST" and rest.endswith("/reviews"):
                self.reviews += 1
            elif method == "PATCH" and rest.startswith("/check-runs/"):
                conclusion = json.loads(body or b"{}").get("conclusion")
                if conclusion is not None:
                    self.conclusions[f"{repo}#{len(self.conclusions)}"] = str(conclusion)

    def export(self) -> dict[str, Any]:
        """In the shape of bench/load.py's `LoadGitHub.export` (no job runs: not seen here)."""
        return {
            "runs": {},
            "check_runs": self.check_runs,
            "conclusions": self.conclusions,
            "reviews": self.reviews,
            "calls": self.calls,
        }


def serve(
    cassette: Path,
    latency: float,
    tls: Path | None = None,
    any_repo: Path | None = None,
) -> None:
    """Answer on 127.0.0.1 (a free port, printed on stdout) until stdin closes; over TLS
    with `tls`/cert.pem and key.pem when given.

    `any_repo` (a file to write counts to): answer for any repository as for the
    cassette's, with its `owner/name` in the answers replaced by the one asked for, so that
    many jobs, each for a repository of its own, can run at once (bench/load.py); what was
    asked is counted (`Counts`) and written to that file as JSON when stdin closes."""
    answers = load_answers(cassette)
    recorded = recorded_repository(answers)
    counts = Counts()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as GitHub
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK would add ~40 ms to every answer.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            path = urlsplit(self.path).path
            asked = REPO_PATH.match(path) if any_repo is not None else None
            if asked:
                path = f"/repos/{recorded}{asked.group(2) or ''}"
                counts.count(self.command, asked.group(1), asked.group(2) or "", body)
            elif any_repo is not None:
                counts.count(self.command, None, path, body)
            key: Any = (self.command, path)
            repository = asked.group(1) if asked else None
            if path == "/graphql":
                key = ("graphql", graphql_key(body))
                repository = graphql_repository(body) if any_repo is not None else None
            time.sleep(latency)
            status, headers, payload = answers.get(
                key, (404, [("content-type", "application/json")], b'{"message": "Not Found"}')
            )
            if repository:
                payload = payload.replace(recorded.encode(), repository.encode())
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls / "cert.pem", tls / "key.pem")
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # the parent closes it (or dies)
    server.shutdown()
    if any_repo is not None:
        any_repo.write_text(json.dumps(counts.export()))


def self_signed(folder: Path) -> None:
    """A throwaway certificate for 127.0.0.1 (its own CA) and its key, in `folder`."""
    import datetime

    import certifi
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "failclosed bench stand-in")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # What the client trusts: certifi's bundle, as in production, and this certificate.
    bundle = Path(certifi.where()).read_bytes()
    (folder / "trusted.pem").write_bytes(bundle + b"\n" + (folder / "cert.pem").read_bytes())
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@contextlib.contextmanager
def stand_in(
    cassette: Path, latency: float, tls: Path | None, any_repo: Path | None = None
) -> Iterator[str]:
    """The stand-in's base URL while it runs (see `serve`)."""
    command = [sys.executable, __file__, "--serve", str(cassette)]
    command += ["--latency-ms", str(latency * 1e3)]
    if tls is not None:
        command += ["--tls-folder", str(tls)]
    if any_repo is not None:
        command += ["--any-repo", str(any_repo)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        scheme = "https" if tls is not None else "http"
        yield f"{scheme}://127.0.0.1:{child.stdout.readline().strip()}"
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)


# -- the jobs ----------------------------------------------------------------------------


@dataclass
class Traffic:
    """Every HTTP request this process sends, and through which `httpx` transport (one per
    `httpx.Client`), counted by a wrapper around httpx's transport."""

    requests: int = 0
    transports: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    kept: list[object] = field(default_factory=list)  # so that no id is reused

    def install(self) -> None:
        import httpx

        real = httpx.HTTPTransport.handle_request
        traffic = self

        def counted(transport: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            with traffic.lock:
                traffic.requests += 1
                if id(transport) not in traffic.transports:
                    traffic.transports.add(id(transport))
                    traffic.kept.append(transport)
            return real(transport, request)

        httpx.HTTPTransport.handle_request = counted  # type: ignore[method-assign]


class NotEntered:
    """The installation client as jobs got it before issue 11: a port that is no context
    manager, so `app.run.execute` cannot enter it and every request builds its own client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@dataclass
class Behaviour:
    name: str
    executor: Any
    before: bool
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    requests: int = 0
    clients: int = 0
    jobs: int = 0


def make_behaviour(name: str, base_url: str, private_key: str) -> Behaviour:
    from githubkit.cache import MemCacheStrategy

    from failclosed.app.github.client import GitHubApp
    from failclosed.app.review.analyze import run_analysis
    from failclosed.app.run.execute import JobExecutor

    github_app = GitHubApp(1, private_key, base_url=base_url, cache_strategy=MemCacheStrategy())
    before = name == "before"
    calls: list[int] = []

    class Installations:
        def installation(self, installation_id: int) -> Any:
            client = github_app.installation(installation_id)
            return NotEntered(client) if before else client

    def run(job: Any, port: Any) -> Any:
        result = run_analysis(job, port)
        calls.append(result.calls)
        if result.status != "published" or result.findings != 1:
            raise SystemExit(f"unexpected job result: {result}")
        return result

    behaviour = Behaviour(name, JobExecutor(Installations(), run=run), before)
    behaviour.calls = calls
    return behaviour


@contextlib.contextmanager
def old_ssl(before: bool) -> Iterator[None]:
    """`before`: every client builds its own SSL context again (httpx's `verify=True`)."""
    import failclosed.app.github.client

    if not before:
        yield
        return
    shared = failclosed.app.github.client.shared_ssl_context
    failclosed.app.github.client.shared_ssl_context = lambda: True  # type: ignore[assignment,return-value]
    try:
        yield
    finally:
        failclosed.app.github.client.shared_ssl_context = shared


def the_job(cassette: Path) -> Any:
    """The cassette's analyze job: its repository, head commit and pull request."""
    import yaml

    from failclosed.app.receive.webhooks import Job, JobKind

    for interaction in yaml.safe_load(cassette.read_text())["interactions"]:
        request = interaction["request"]
        path = urlsplit(request["uri"]).path
        if request["method"] == "POST" and path.endswith("/check-runs"):
            repo = path.removeprefix("/repos/").removesuffix("/check-runs")
            head_sha = json.loads(request["body"])["head_sha"]
        if request["method"] == "GET" and "/pulls/" in path and path.endswith("/files"):
            number = int(path.rsplit("/", 2)[1])
    return Job(
        kind=JobKind.ANALYZE,
        delivery_id="bench",
        event="pull_request",
        action="synchronize",
        installation_id=1,
        repository=repo,
        head_sha=head_sha,
        pull_requests=(number,),
    )


def one_job(behaviour: Behaviour, job: Any, traffic: Traffic, counted: bool) -> None:
    from failclosed.app.run.execute import Finished
    from failclosed.app.run.queue import Claim

    claim = Claim(id=1, job=job, attempt=1, recovered=False, check_run_id=None)
    requests, clients = traffic.requests, len(traffic.transports)
    with old_ssl(behaviour.before):
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = behaviour.executor.execute(claim, lambda _: None)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if outcome != Finished("done"):
        raise SystemExit(f"the job did not finish: {outcome}")
    if counted:
        behaviour.wall.append(wall)
        behaviour.cpu.append(cpu)
        behaviour.requests += traffic.requests - requests
        behaviour.clients += len(traffic.transports) - clients
        behaviour.jobs += 1


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:7.1f} {statistics.fmean(values) * 1e3:7.1f}"


def report(behaviours: list[Behaviour]) -> None:
    print(
        f"{'':8} {'wall ms':>15} {'CPU ms':>15} {'calls':>6} {'requests':>9} {'clients':>8}\n"
        f"{'':8} {'median    mean':>15} {'median    mean':>15} {'/job':>6} {'/job':>9} {'/job':>8}"
    )
    for b in behaviours:
        counted_calls = b.calls[WARM_UP:]
        print(
            f"{b.name:8} {ms(b.wall)} {ms(b.cpu)} {statistics.fmean(counted_calls):6.1f}"
            f" {b.requests / b.jobs:9.1f} {b.clients / b.jobs:8.1f}"
        )
    if len(behaviours) == 2:
        old, new = behaviours
        for what, a, b in (("wall", old.wall, new.wall), ("CPU", old.cpu, new.cpu)):
            ratio = statistics.median(a) / statistics.median(b)
            print(f"{what}: median {ratio:.1f}x less after")


def drain(behaviour: Behaviour, job: Any, traffic: Traffic, jobs: int, threads: int) -> None:
    """`jobs` jobs on `threads` threads: the time to drain them and CPU per job."""
    with old_ssl(behaviour.before):  # both behaviours never run at the same time here
        for _ in range(WARM_UP):
            one_job(behaviour, job, traffic, counted=False)
        wall, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(threads) as pool:
            for future in [
                pool.submit(one_job, behaviour, job, traffic, True) for _ in range(jobs)
            ]:
                future.result()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"{behaviour.name:8} {jobs} jobs on {threads} threads: drained in {wall:.2f} s,"
        f" {cpu / jobs * 1e3:.1f} ms CPU per job, median job wall"
        f" {statistics.median(behaviour.wall) * 1e3:.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100, help="counted jobs per behaviour")
    parser.add_argument("--latency-ms", type=float, default=8.0)
    parser.add_argument("--mode", choices=["both", "before", "after"], default="both")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cassette", default="e2e_seed", help="a cassette of tests/cassettes")
    parser.add_argument("--tls", action="store_true", help="HTTPS, a handshake per connection")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tls-folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--any-repo", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    latency = args.latency_ms / 1e3
    if args.serve:
        serve(args.serve, latency, args.tls_folder, args.any_repo)
        return 0
    tls = Path(tempfile.mkdtemp(prefix="failclosed-bench-")) if args.tls else None
    if tls is not None:
        self_signed(tls)
        # Read by httpx (`verify=True`) and by shared_ssl_context, before either builds one.
        os.environ["SSL_CERT_FILE"] = str(tls / "trusted.pem")

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    import failclosed.app.review.analyze

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    cassette = CASSETTES / f"{args.cassette}.yaml"
    job = the_job(cassette)
    traffic = Traffic()
    traffic.install()
    names = ["before", "after"] if args.mode == "both" else [args.mode]
    print(
        f"{args.jobs} jobs per behaviour ({args.cassette}, {job.repository}#"
        f"{job.pull_requests[0]}), stand-in latency {args.latency_ms:g} ms, "
        f"{args.threads} thread(s), {'HTTPS' if tls else 'HTTP'}"
    )
    try:
        with stand_in(cassette, latency, tls) as base_url:
            behaviours = [make_behaviour(name, base_url, private_key) for name in names]
            if args.threads > 1:
                for behaviour in behaviours:
                    drain(behaviour, job, traffic, args.jobs, args.threads)
                return 0
            for i in range(WARM_UP + args.jobs):
                for behaviour in behaviours:
                    one_job(behaviour, job, traffic, counted=i >= WARM_UP)
            report(behaviours)
    finally:
        failclosed.app.review.analyze.ANALYSIS_CHILDREN.close()
        if tls is not None:
            shutil.rmtree(tls, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
