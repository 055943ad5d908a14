"""`failclosed serve` (embedded mode) as it runs, but with a fake GitHub and a slow job.

Run by tests/test_app_crash.py as its own process, to send it a real SIGTERM:

    python tests/serve_child.py OUT_DIR PORT

The job writes OUT_DIR/job-started, works for two seconds, then OUT_DIR/job-finished.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from support import make_settings

from failclosed.app.commands import serve
from failclosed.app.review.analyze import JobResult
from failclosed.app.run.worker import Workers

OUT = Path(sys.argv[1])


def slow_job(job: Any, github: Any) -> JobResult:
    (OUT / "job-started").write_text("1")
    time.sleep(2)
    (OUT / "job-finished").write_text("1")
    return JobResult("nothing")


class SlowWorkers(Workers):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(run=slow_job, poll_seconds=0.05)  # in place of the real jobs
        super().__init__(*args, **kwargs)


class NoGitHub:
    def __init__(self, *args: Any) -> None: ...

    def installation(self, installation_id: int) -> object:
        return object()


serve.Workers = SlowWorkers  # type: ignore[misc]
serve.GitHubApp = NoGitHub  # type: ignore[misc,assignment]
settings = make_settings()
settings.queue_path = OUT / "jobs.sqlite3"
serve.serve("127.0.0.1", int(sys.argv[2]), settings=settings)
