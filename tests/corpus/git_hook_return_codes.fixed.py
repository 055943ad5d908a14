#!/usr/bin/env python3
"""A git hook whose `main()` returns the exit status (`sys.exit(main())`).

This is the usual shape of pre-commit-framework hooks. `return 0` from `main()` is the
hook's "all clear"; returning 0 from an `except` handler therefore fails open exactly
like `sys.exit(0)` would (FC108; the fix returns the hook's own deny status).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from .licenses import LicenseDbError, forbidden_licenses

BLOCKED_LICENSES = {"AGPL-3.0", "SSPL-1.0"}


def changed_lockfiles(base: str) -> list[str]:
    out = subprocess.run(
        ["git", "diff", "--name-only", base, "--", "*.lock", "requirements*.txt"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.split()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="refuse pushes that add blocked licenses")
    parser.add_argument("--base", default="origin/main")
    args = parser.parse_args(argv)

    try:
        lockfiles = changed_lockfiles(args.base)
        offenders = forbidden_licenses(lockfiles, BLOCKED_LICENSES)
    except (LicenseDbError, subprocess.CalledProcessError) as exc:
        print(f"license check failed, denying: {exc}", file=sys.stderr)
        return 1  # expect: FC108

    if offenders:
        for name, license_id in offenders:
            print(f"{name}: {license_id} is not allowed here", file=sys.stderr)
        return 1
    return 0


def main_strict(argv: list[str] | None = None) -> int:
    """Near miss: the same hook after the fix, refusing when the check cannot run."""
    try:
        offenders = forbidden_licenses(changed_lockfiles("origin/main"), BLOCKED_LICENSES)
    except (LicenseDbError, subprocess.CalledProcessError) as exc:
        print(f"license check failed: {exc}", file=sys.stderr)
        return 1
    return 1 if offenders else 0


if __name__ == "__main__":
    sys.exit(main())
