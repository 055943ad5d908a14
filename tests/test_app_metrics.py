"""GET /metrics: Prometheus' text format with deliveries, queue states, jobs and GitHub calls."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from support import (
    OneInstallation,
    fake_for,
    github_headers,
    load_payload,
    make_settings,
    request,
    sign,
    workers,
)

from failclosed.app import metrics
from failclosed.app.github.client import GitHubApp
from failclosed.app.receive.server import create_app
from failclosed.app.run.queue import SqliteJobQueue


def scrape(app: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by name and labels."""
    response = request(app, "GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_deliveries_queue_states_and_jobs_are_counted(tmp_path: Path) -> None:
    payload = load_payload("pull_request.opened")
    queue = SqliteJobQueue(tmp_path / "jobs.sqlite3")
    sink = workers(queue, OneInstallation(fake_for(payload)))
    app = create_app(make_settings(), sink)
    body = json.dumps(payload).encode()
    before = scrape(app)
    try:
        assert (
            request(app, "POST", "/webhook", body, github_headers("pull_request", body)).status_code
            == 202
        )
        bad = github_headers("pull_request", body)
        bad["X-Hub-Signature-256"] = sign(body, secret="not-the-webhook-secret-1234")
        bad["X-GitHub-Event"] = "made-up-by-a-stranger"
        assert request(app, "POST", "/webhook", body, bad).status_code == 401
        sink.join()
    finally:
        sink.stop()
    after = scrape(app)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("failclosed_webhook_deliveries_total", event="pull_request", status="202") == 1
    # an unauthenticated caller's event name is not a label value
    assert delta("failclosed_webhook_deliveries_total", event="-", status="401") == 1
    assert not any("made-up-by-a-stranger" in str(key) for key in after)
    assert after[("failclosed_jobs", (("state", "done"),))] == 1
    assert after[("failclosed_queue_up", ())] == 1
    assert delta("failclosed_jobs_finished_total", kind="analyze", state="done") == 1
    assert delta("failclosed_job_seconds_count", kind="analyze") == 1
    assert delta("failclosed_job_latency_seconds_count", kind="analyze") == 1


def test_a_queue_that_does_not_answer_is_reported_not_fatal(tmp_path: Path) -> None:
    class Broken:
        def enqueue(self, job: object) -> None: ...

        def counts(self) -> dict[str, int]:
            raise ConnectionError("Redis is down")

    samples = scrape(create_app(make_settings(), Broken()))
    assert samples[("failclosed_queue_up", ())] == 0
    assert not any(name == "failclosed_jobs" for name, _ in samples)


def test_github_responses_are_counted_with_the_rate_limit_left() -> None:
    before = metrics.GITHUB_REQUESTS.labels("GET", "200")._value.get()
    response = httpx.Response(
        200,
        headers={"x-ratelimit-remaining": "4987"},
        request=httpx.Request("GET", "https://api.github.com/repos/o/r/pulls/1"),
    )
    metrics.observe_github_response(response)
    assert metrics.GITHUB_REQUESTS.labels("GET", "200")._value.get() == before + 1
    assert metrics.RATE_LIMIT_REMAINING._value.get() == 4987
    # and every installation client of the App reports through that hook
    client = GitHubApp(1, "not used").installation(42)
    assert metrics.observe_github_response in client._github.config.event_hooks["response"]
