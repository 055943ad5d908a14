"""Split the mined real fixes into the cases we tune on and the third we keep aside.

The split is by repository (all of a repository's cases go to the same side) and is fixed by
a hash of the repository's name, decided before any case was looked at, so nobody chooses
which cases are held out. A held-out case is never materialized while the analyzer changes;
its figure is reported separately, as it is.

    python3 bench/realfixes/split.py                 # lists both sides
    python3 bench/realfixes/split.py OUT             # OUT/train/<slug>/case.json, OUT/holdout/...
    python3 bench/realfixes/split.py --fresh2 OUT    # OUT/seen/..., OUT/sealed/... (counts only)

fresh2 (mined in round 3, scored once whole while unseen) is split in halves the same way:
"seen" is opened to tune on, "sealed" stays unopened until it is scored again.

Then materialize each side with ../shared/realfixes/materialize.py --cases OUT/train (or holdout).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

CASES = Path(__file__).resolve().parent / "cases"
FRESH2 = Path(__file__).resolve().parent / "fresh2"


def side(repo: str) -> str:
    """ "holdout" for about a third of the repositories, "train" for the rest."""
    digest = int(hashlib.sha256(repo.lower().encode()).hexdigest(), 16)
    return "holdout" if digest % 3 == 0 else "train"


def fresh2_side(repo: str) -> str:
    """ "sealed" for about half of fresh2's repositories, "seen" for the rest."""
    digest = int(hashlib.sha256(repo.lower().encode()).hexdigest(), 16)
    return "sealed" if digest % 2 else "seen"


def cases(folder: Path = CASES) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(folder.glob("*/case.json"))}


def main(argv: list[str]) -> int:
    fresh2 = argv[:1] == ["--fresh2"]
    argv = argv[1:] if fresh2 else argv
    folder, choose = (FRESH2, fresh2_side) if fresh2 else (CASES, side)
    found = cases(folder)
    out = Path(argv[0]) if argv else None
    names = ("seen", "sealed") if fresh2 else ("train", "holdout")
    counts: dict[str, list] = {name: [0, 0, set()] for name in names}
    for slug, case in found.items():
        which = choose(case["repo"])
        counts[which][0] += 1
        counts[which][1] += len(case["sites"])
        counts[which][2].add(case["repo"])
        if out is not None:
            dest = out / which / slug
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / slug / "case.json", dest / "case.json")
        elif not (fresh2 and which == "sealed"):
            print(f"{which:8} {slug}")
    for which, (n, sites, repos) in counts.items():
        print(f"{which}: {n} cases, {sites} sites, {len(repos)} repositories")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
