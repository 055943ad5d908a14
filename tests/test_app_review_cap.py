"""A review carries at most `max_inline_comments` inline comments (issue 13, part 6).

Driven through the real analyze job (`app.review.analyze.run_analysis`: the real analyzer and the
real payload builders) against the recording fake of the GitHub port, with files as GitHub lists
them (`patch` hunks) and the repository's `pyproject.toml` at the base commit. What was
sent is asserted: which findings are inline, what the review's body says, and that every
finding is in the check run (its annotations, 50 a request).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
import test_app_e2e as e2e
from pydantic import ValidationError
from support import BASE_SHA, HEAD_SHA, NUMBER, REPO, FakeGitHub
from support import make_job as job
from test_app_e2e import private_key  # noqa: F401  (a fixture)
from test_app_settings import settings

from failclosed.analyzers.model import Finding
from failclosed.app.commands import serve
from failclosed.app.github.port import ReviewComment
from failclosed.app.review import publish
from failclosed.app.review.analyze import run_analysis

CHECKS = "app/checks.py"  # blocking findings (FC101)
LOOKUPS = "app/lookups.py"  # warnings (FC103, downgraded by the repository's configuration)
PYPROJECT = b'[tool.failclosed]\nseverity = { FC103 = "warning" }\n'
MARKER = re.compile(r"<!-- failclosed:fingerprint=(\S+) -->")


def fail_open_checks(count: int) -> str:
    """`count` permission checks whose except handler allows: one FC101 (error) each."""
    return "".join(
        f"\n\ndef has_permission_{i}(user, action):\n"
        "    try:\n"
        "        return client.check(user, action)\n"
        "    except Exception:\n"
        "        return True\n"
        for i in range(count)
    )


def default_allow_lookups(count: int) -> str:
    """`count` lookups that default to allow: one FC103 each, a warning here."""
    return "".join(
        f'\n\ndef can_access_{i}(decision):\n    return decision.get("allowed", True)\n'
        for i in range(count)
    )


def pull_request(errors: int, warnings: int) -> FakeGitHub:
    """A PR adding both files; the lookups' path sorts first, so only the severity can put
    the blocking findings ahead of them."""
    gh = FakeGitHub()
    gh.contents[(BASE_SHA, "pyproject.toml")] = PYPROJECT
    gh.change(LOOKUPS, None, default_allow_lookups(warnings))
    gh.change(CHECKS, None, fail_open_checks(errors))
    return gh


def inline(gh: FakeGitHub) -> list[dict[str, Any]]:
    return [comment for review in gh.reviews() for comment in review["comments"]]


def annotated(gh: FakeGitHub) -> list[tuple[str, int]]:
    return [
        (a["path"], a["start_line"]) for u in gh.check_updates() for a in u["output"]["annotations"]
    ]


def fingerprints(comments: list[dict[str, Any]]) -> list[str]:
    return [MARKER.findall(c["body"])[0] for c in comments]


def test_blocking_findings_first_then_by_file_and_line_and_the_body_says_where_the_rest_are():
    gh = pull_request(errors=20, warnings=15)

    result = run_analysis(job(), gh)

    (review,) = gh.reviews()
    comments = review["comments"]
    assert len(comments) == publish.MAX_INLINE_COMMENTS == 25
    # Every blocking finding, in line order, then the warnings from the top of their file.
    assert [c["path"] for c in comments] == [CHECKS] * 20 + [LOOKUPS] * 5
    assert [c["line"] for c in comments[:20]] == sorted(c["line"] for c in comments[:20])
    assert [c["line"] for c in comments[20:]] == [4, 8, 12, 16, 20]
    assert all(c["body"].startswith("**FC101**") for c in comments[:20])
    assert all("(warning)" in c["body"] for c in comments[20:])
    assert review["body"] == (
        "**failclosed** found 35 fail-open paths in this pull request (20 blocking).\n\n"
        "25 findings commented on inline.\n\n"
        "**10 more** (0 blocking) not commented on inline: 10 past the limit of 25 inline "
        "comments a review. The **failclosed** check run lists every finding in its summary "
        "and annotations (the Checks tab of this pull request)."
    )
    (check,) = gh.check_updates()
    assert check["conclusion"] == "failure"
    assert "**35 findings** (20 errors, 15 warnings, 0 notes)" in check["output"]["summary"]
    assert len(annotated(gh)) == 35
    assert (result.findings, result.api_calls) == (35, 6)


def test_nothing_is_lost_past_50_annotations_every_finding_is_inline_or_in_the_check_run():
    gh = pull_request(errors=45, warnings=15)

    run_analysis(job(), gh)

    first, second = gh.check_updates()  # GitHub takes 50 annotations a request
    assert len(first["output"]["annotations"]) == 50
    assert len(second["output"]["annotations"]) == 10
    assert first["conclusion"] == "failure" and "conclusion" not in second
    findings = set(annotated(gh))
    assert len(findings) == 60
    comments = inline(gh)
    assert len(comments) == 25 and {c["path"] for c in comments} == {CHECKS}
    # Each inline comment's finding is annotated too: the check run alone has them all.
    ends = {
        (a["path"], a["end_line"]) for u in gh.check_updates() for a in u["output"]["annotations"]
    }
    assert {(c["path"], c["line"]) for c in comments} <= ends
    assert "**35 more** (20 blocking)" in gh.reviews()[0]["body"]


def test_a_redelivery_posts_no_second_review_and_not_the_next_25():
    gh = pull_request(errors=20, warnings=15)
    run_analysis(job(), gh)
    posted = fingerprints(inline(gh))

    again = pull_request(errors=20, warnings=15)
    again.existing = FakeGitHub.comments_posted(gh)

    run_analysis(job(), again)

    assert again.reviews() == []  # the 25 chosen are the same ones, all already posted
    assert len(posted) == len(set(posted)) == 25
    assert again.conclusion() == "failure" and len(annotated(again)) == 35


def test_a_finding_that_moves_into_the_top_25_is_commented_on_and_earlier_ones_are_counted():
    gh = pull_request(errors=20, warnings=15)
    run_analysis(job(), gh)
    # Someone else's comment with our marker is not ours, so it neither counts nor silences.
    earlier = FakeGitHub.comments_posted(gh)[:24]
    pasted = ReviewComment(500, earlier[0].body, LOOKUPS, by_app=False)

    later = pull_request(errors=20, warnings=15)
    later.existing = [*earlier, pasted]

    run_analysis(job(), later)

    (review,) = later.reviews()
    (comment,) = review["comments"]
    assert (comment["path"], comment["line"]) == (LOOKUPS, 20)  # the 25th, not yet posted
    assert review["body"].startswith(
        "**failclosed** found 35 fail-open paths in this pull request (20 blocking).\n\n"
        "1 finding commented on inline. 24 more already commented on in an earlier review.\n\n"
        "**10 more** (0 blocking) not commented on inline"
    )


def test_the_limit_is_configurable_and_zero_leaves_everything_to_the_check_run():
    capped = pull_request(errors=3, warnings=2)
    run_analysis(job(), capped, max_inline_comments=2)
    assert [c["path"] for c in inline(capped)] == [CHECKS, CHECKS]
    assert (
        "**3 more** (1 blocking) not commented on inline: 3 past the limit of 2 inline"
        in (capped.reviews()[0]["body"])
    )

    none = pull_request(errors=3, warnings=2)
    run_analysis(job(), none, max_inline_comments=0)
    assert none.reviews() == []
    assert none.conclusion() == "failure" and len(annotated(none)) == 5


def test_findings_off_the_diff_and_past_the_limit_are_counted_apart():
    gh = FakeGitHub()
    source = fail_open_checks(4)
    # Only the last function's lines are in the diff: GitHub's patch has no other hunk.
    gh.change(CHECKS, None, source, patch=_hunk_of_last_lines(source, 5))

    run_analysis(job(), gh, max_inline_comments=25)

    (review,) = gh.reviews()
    assert len(review["comments"]) == 1
    assert (
        "**3 more** (3 blocking) not commented on inline: 3 on lines outside this diff."
        in review["body"]
    )
    assert len(annotated(gh)) == 4


def _hunk_of_last_lines(source: str, count: int) -> str:
    """A `patch` whose one hunk adds only the file's last `count` lines."""
    lines = source.splitlines()
    start = len(lines) - count + 1
    body = "\n".join("+" + line for line in lines[-count:])
    return f"@@ -{start - 1},0 +{start},{count} @@\n{body}"


def test_the_choice_does_not_depend_on_the_order_findings_come_in():
    comments, _ = publish.review_comments(
        [_finding(path, line, severity) for path, line, severity in _grid()],
        {"a.py": _all_lines(), "b.py": _all_lines()},
    )
    plans = []
    for seed in range(5):
        shuffled = list(comments)
        random.Random(seed).shuffle(shuffled)
        plans.append(publish.plan_review(shuffled, [], [], limit=4))
    chosen = [[(c.path, c.line) for c in plan.new] for plan in plans]
    assert chosen == [[("b.py", 3), ("b.py", 9), ("a.py", 5), ("a.py", 7)]] * 5
    assert all(len(plan.over_limit) == 2 for plan in plans)


def _grid() -> list[tuple[str, int, str]]:
    return [
        ("a.py", 7, "warning"),
        ("b.py", 9, "error"),
        ("a.py", 5, "warning"),
        ("b.py", 3, "error"),
        ("a.py", 1, "note"),
        ("b.py", 2, "note"),
    ]


def _all_lines() -> str:
    return "@@ -0,0 +1,10 @@\n" + "\n".join(f"+line {n}" for n in range(1, 11))


def _finding(path: str, line: int, severity: str) -> Finding:
    return Finding(
        rule="FC101",
        path=path,
        line=line,
        end_line=line,
        severity=severity,  # type: ignore[arg-type]
        message="m",
        function="f",
        key=f"{path}-{line}",
    )


def test_the_limit_is_a_setting_the_analyze_job_gets(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().max_inline_comments == publish.MAX_INLINE_COMMENTS
    monkeypatch.setenv("FAILCLOSED_MAX_INLINE_COMMENTS", "10")
    runners = serve.job_runners(settings())
    assert runners["run"].keywords["max_inline_comments"] == 10  # type: ignore[attr-defined]
    for bad in (-1, 101):
        with pytest.raises(ValidationError, match="max_inline_comments"):
            settings(max_inline_comments=bad)


def test_head_sha_of_the_review_is_the_analysed_head():
    gh = pull_request(errors=1, warnings=0)
    run_analysis(job(), gh)
    assert gh.reviews()[0]["commit_id"] == HEAD_SHA
    assert gh.called("create_review")[0][:2] == (REPO, NUMBER)


# -- end to end: a signed delivery through the real app, GitHub replayed ----------------------


def test_end_to_end_the_review_posts_25_comments_and_the_check_run_all_60_findings(
    private_key: str,  # noqa: F811  (the fixture imported above)
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """tests/cassettes/e2e_review_cap.yaml: the request bodies were checked against
    GitHub's OpenAPI description when it was recorded (tests/cassettes/record_e2e.py)."""
    run = e2e.run_scenario("review_cap", private_key, caplog, tmp_path)

    assert e2e.calls(run) == [
        e2e.TOKEN,
        *e2e.analysis(),
        e2e.REVIEW,
        e2e.CHECK_UPDATE,  # the verdict and the first 50 annotations
        e2e.CHECK_UPDATE,  # the other 10
    ]
    review = run.one(*e2e.REVIEW).json()
    comments = review["comments"]
    assert len(comments) == 25
    assert all(c["body"].startswith("**FC101**") for c in comments)  # blocking first
    lines = [c["line"] for c in comments]
    assert lines == sorted(lines)  # in line order
    assert review["body"] == (
        "**failclosed** found 60 fail-open paths in this pull request (40 blocking).\n\n"
        "25 findings commented on inline.\n\n"
        "**35 more** (15 blocking) not commented on inline: 35 past the limit of 25 inline "
        "comments a review. The **failclosed** check run lists every finding in its summary "
        "and annotations (the Checks tab of this pull request)."
    )
    first, rest = (sent.json() for sent in run.to(*e2e.CHECK_UPDATE))
    assert (first["conclusion"], len(first["output"]["annotations"])) == ("failure", 50)
    assert len(rest["output"]["annotations"]) == 10 and "conclusion" not in rest
    annotated = {
        (a["path"], a["end_line"]) for body in (first, rest) for a in body["output"]["annotations"]
    }
    assert len(annotated) == 60
    warnings = [
        a["end_line"]
        for body in (first, rest)
        for a in body["output"]["annotations"]
        if a["annotation_level"] == "warning"
    ]
    assert len(warnings) == 20 and max(warnings) < lines[0]  # above them in the file, yet last
    assert {(c["path"], c["line"]) for c in comments} <= annotated  # nothing only inline
