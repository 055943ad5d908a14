"""The `failclosed` command: `setup` registers the GitHub App, `serve` runs it, `worker` runs
its jobs in the Redis mode, `jobs` shows its queue, everything else is the analyzer's.

The dispatch lives in `app/` because `analyzers/` must not know about the App; the
analyzer's own CLI (`scan`, `diff`, `rules`) is reached unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """`failclosed setup`, `serve [--host H] [--port P]`, `worker`, `jobs`, or the analyzer's."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["setup"]:
        from app.setup import main as setup_main

        return setup_main(args[1:])
    if args[:1] == ["serve"]:
        from app.serve import main as serve_main

        return serve_main(args[1:])
    if args[:1] == ["worker"]:
        from app.serve import worker_main

        return worker_main(args[1:])
    if args[:1] == ["jobs"]:
        from app.queue_cli import main as jobs_main

        return jobs_main(args[1:])
    from analyzers.cli import main as analyzer_main

    return analyzer_main(args)


if __name__ == "__main__":
    sys.exit(main())
