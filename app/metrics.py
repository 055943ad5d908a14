"""`GET /metrics` in Prometheus' text format, and the counters the App keeps for it.

- `failclosed_webhook_deliveries_total{event,status}`: deliveries by the status answered.
- `failclosed_jobs{state}`: jobs in the queue per state, read from the queue at scrape
  time, so in the Redis mode every replica shows the whole cluster's queue.
- `failclosed_jobs_finished_total{kind,state}`, `failclosed_job_seconds{kind}` and
  `failclosed_job_latency_seconds{kind}`: jobs this process finished, how long each
  attempt ran, and how long from the delivery's acceptance to the job's end.
- `failclosed_github_requests_total{method,status}` and
  `failclosed_github_rate_limit_remaining`: the App's GitHub traffic, and what GitHub's
  last `x-ratelimit-remaining` header said.

One registry for the process (`REGISTRY`); workers in the Redis mode are other processes,
so their job counters are theirs (`failclosed worker --metrics-port`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()

DELIVERIES = Counter(
    "failclosed_webhook_deliveries",
    "Webhook deliveries, by GitHub event and the HTTP status answered.",
    ["event", "status"],
    registry=REGISTRY,
)
JOBS_FINISHED = Counter(
    "failclosed_jobs_finished",
    "Job attempts this process ended, by kind and outcome (a final state, or retried).",
    ["kind", "state"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "failclosed_job_seconds",
    "How long one attempt of a job ran.",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
JOB_LATENCY = Histogram(
    "failclosed_job_latency_seconds",
    "From accepting the delivery to the job's end (queueing, retries and take-overs).",
    ["kind"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
GITHUB_REQUESTS = Counter(
    "failclosed_github_requests",
    "Requests sent to GitHub, by method and response status.",
    ["method", "status"],
    registry=REGISTRY,
)
RATE_LIMIT_REMAINING = Gauge(
    "failclosed_github_rate_limit_remaining",
    "x-ratelimit-remaining of GitHub's last answer that carried it (NaN before any).",
    registry=REGISTRY,
)
RATE_LIMIT_REMAINING.set(float("nan"))  # unknown, not "exhausted"


def observe_github_response(response: httpx.Response) -> None:
    """httpx response hook of the GitHub client: count it, keep the rate-limit headroom."""
    GITHUB_REQUESTS.labels(response.request.method, str(response.status_code)).inc()
    remaining = response.headers.get("x-ratelimit-remaining")
    if remaining is not None and remaining.isdigit():
        RATE_LIMIT_REMAINING.set(int(remaining))


class QueueCollector(Collector):
    """`failclosed_jobs{state}`, asked of the queue at each scrape."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("failclosed_queue_up", "1 if the queue answered this scrape.")
        try:
            counts = self._counts()
        except Exception:  # the queue is down: say so, do not fail the whole scrape
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        family = GaugeMetricFamily(
            "failclosed_jobs", "Jobs in the queue, by state.", labels=["state"]
        )
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family


_queue_collector: QueueCollector | None = None


def watch_queue(counts: Callable[[], dict[str, int]]) -> None:
    """Report this queue's counts at `/metrics` (the latest queue wins: one per process)."""
    global _queue_collector
    if _queue_collector is not None:
        REGISTRY.unregister(_queue_collector)
    _queue_collector = QueueCollector(counts)
    REGISTRY.register(_queue_collector)


router = APIRouter(tags=["metrics"])


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus' text exposition format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
