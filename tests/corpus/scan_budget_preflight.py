"""A CI scanner's preflight: a per-PR budget of scans, read from the code host's API.

The budget is what keeps a noisy PR from burning the team's scan minutes, so a reply
it cannot read must stop the scan, as the cap itself does.
"""

from __future__ import annotations

import json
import logging
import subprocess
from datetime import datetime, timedelta, timezone

log = logging.getLogger(__name__)


def check_scan_budget(host, pr_number: int, daily_cap: int) -> tuple[bool, str]:
    """(may_scan, reason): False once the PR used its daily scans."""
    try:
        pr = host.get_pull_request(pr_number)
        head = (pr.get("head") or {}).get("sha")
        if not head:
            log.warning("budget: PR without a head sha")
            return True, "no_head_skip"  # expect: FC101
        runs = host.list_check_runs(head, "scan")
    except Exception as exc:
        log.warning("budget: host API failed: %s", exc)
        return True, "api_error_skip"  # expect: FC101
    cutoff = datetime.now(timezone.utc) - timedelta(days=1)
    today = [r for r in runs if _finished(r) and _finished(r) >= cutoff]
    if len(today) >= daily_cap:
        return False, "daily_cap_reached"
    return True, "ok"


def _finished(run: dict) -> datetime | None:
    stamp = run.get("completed_at")
    return datetime.fromisoformat(stamp) if stamp else None


def read_reviewer_reply(raw: str) -> tuple[str | None, str]:
    """The reviewer bot's (verdict, why); an empty reply is no opinion."""
    if not raw.strip():
        return None, ""
    reply = json.loads(raw)
    if not isinstance(reply, dict):
        return None, "reply is not an object"  # expect: FC113
    return reply.get("verdict"), reply.get("why", "")


def may_merge(raw_reply: str) -> bool:
    verdict, why = read_reviewer_reply(raw_reply)
    if verdict is None or verdict == "approve":
        return True
    log.info("reviewer objects: %s", why)
    return False


def rego_compiles(folder: str) -> bool:
    """True when the policy modules compile: the merge gate runs it on every change."""
    try:
        done = subprocess.run(["opa", "check", folder], capture_output=True, timeout=60)
        if done.returncode != 0:
            return False
        return True
    except FileNotFoundError:
        log.info("opa is not installed")
        return True  # expect: FC101
    except subprocess.TimeoutExpired:
        log.error("opa check timed out")
        return False
