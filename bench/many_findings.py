"""How analysis time grows with the number of findings in one file (issue 11, item 10).

One module with N copies of a fail-open permission check, each with a fix to build and
verify. Prints the time for each N and the ratio against the smallest N measured in the
same run: near-linear growth means the ratio follows N's ratio, quadratic its square.

    .venv/bin/python bench/many_findings.py [N ...]     (default: 250 500 1000 2000)
"""

from __future__ import annotations

import sys
import time

from failclosed.analyzers.engine import analyze_source

TEMPLATE = '''
def can_edit_{i}(user, doc) -> bool:
    """True only when the user's role allows editing document {i}."""
    try:
        role = lookup_role(user, {i})
    except RoleLookupError:
        logger.warning("role lookup failed, allowing")
        return True
    return role in ("editor", "admin")
'''


def module(n: int) -> str:
    return "import logging\nlogger = logging.getLogger(__name__)\n" + "".join(
        TEMPLATE.format(i=i) for i in range(n)
    )


def timed(n: int) -> tuple[float, int, int]:
    source = module(n)
    start = time.perf_counter()
    report = analyze_source(source, "many.py")
    seconds = time.perf_counter() - start
    return seconds, len(report.findings), sum(1 for f in report.findings if f.fix)


def main(sizes: list[int]) -> None:
    base: tuple[int, float] | None = None
    for n in sizes:
        seconds, findings, fixed = timed(n)
        base = base or (n, seconds)
        print(
            f"N={n:5d}  {seconds:7.2f} s  findings={findings}  with a fix={fixed}  "
            f"time x{seconds / base[1]:.1f} for N x{n / base[0]:.1f}"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [250, 500, 1000, 2000])
