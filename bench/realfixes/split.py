"""Split the mined real fixes into the cases we tune on and the third we keep aside.

The split is by repository (all of a repository's cases go to the same side) and is fixed by
a hash of the repository's name, decided before any case was looked at, so nobody chooses
which cases are held out. A held-out case is never materialized while the analyzer changes;
its figure is reported separately, as it is.

    python3 bench/realfixes/split.py                 # lists both sides
    python3 bench/realfixes/split.py OUT             # OUT/train/<slug>/case.json, OUT/holdout/...

Then materialize each side with ../shared/realfixes/materialize.py --cases OUT/train (or holdout).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

CASES = Path(__file__).resolve().parent / "cases"


def side(repo: str) -> str:
    """ "holdout" for about a third of the repositories, "train" for the rest."""
    digest = int(hashlib.sha256(repo.lower().encode()).hexdigest(), 16)
    return "holdout" if digest % 3 == 0 else "train"


def cases() -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(CASES.glob("*/case.json"))}


def main(argv: list[str]) -> int:
    found = cases()
    out = Path(argv[0]) if argv else None
    counts = {"train": [0, 0, set()], "holdout": [0, 0, set()]}
    for slug, case in found.items():
        which = side(case["repo"])
        counts[which][0] += 1
        counts[which][1] += len(case["sites"])
        counts[which][2].add(case["repo"])
        if out is not None:
            dest = out / which / slug
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(CASES / slug / "case.json", dest / "case.json")
        else:
            print(f"{which:8} {slug}")
    for which, (n, sites, repos) in counts.items():
        print(f"{which}: {n} cases, {sites} sites, {len(repos)} repositories")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
