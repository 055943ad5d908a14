"""app.review.apply_fixes: the "Apply fixes" button against the recording fake of the GitHub
port."""

from __future__ import annotations

from functools import partial

import isolation_hooks
import pytest
from support import (
    BASE_SHA,
    FAIL_OPEN,
    HEAD_SHA,
    NEIGHBOUR,
    NEW_SHA,
    NUMBER,
    REPO,
    SAFE,
    FakeGitHub,
    make_job,
)

from failclosed.analyzers.isolation import IsolatedAnalyzer
from failclosed.analyzers.model import Finding, Fix
from failclosed.analyzers.settings import Config
from failclosed.app.github.port import ChangedFile, HeadMoved, Link, PullRequest
from failclosed.app.model import Job, JobKind
from failclosed.app.review.analyze import JobTimeout
from failclosed.app.review.apply_fixes import FixNotApplicable, patched_files, run_apply_fixes

# FAIL_OPEN with its verified fix: the handler logs "denying" and returns False.
FIXED = FAIL_OPEN.replace("auto-allowing", "denying").replace("return True", "return False")
MESSAGE_ONE = (
    "failclosed: make 1 permission path fail closed\n"
    "\n"
    "Verified fixes for the new fail-open paths found at aaaaaaa:\n"
    "\n"
    "- app/perms.py: FC101 in has_permission"
)
READS = ["get_pull_request", "list_changed_files", "read_files"]


def apply_job(pull_requests: tuple[int, ...] = (NUMBER,)) -> Job:
    return make_job(
        "delivery-2", HEAD_SHA, pull_requests, kind=JobKind.APPLY_FIXES, check_run_id=99
    )


def test_verified_fixes_are_committed_in_one_commit() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)

    result = run_apply_fixes(apply_job(), gh)

    assert gh.calls == [
        ("get_pull_request", (REPO, NUMBER)),
        ("list_changed_files", (REPO, NUMBER)),
        (
            "read_files",
            (
                REPO,
                [
                    (HEAD_SHA, "app/perms.py"),
                    (BASE_SHA, "app/perms.py"),
                    (BASE_SHA, "pyproject.toml"),
                ],
            ),
        ),
        (
            "commit_files",
            (REPO, "feature", HEAD_SHA, {"app/perms.py": FIXED.encode()}, MESSAGE_ONE),
        ),
    ]
    (pr,) = result.pull_requests
    assert (pr.status, pr.commit_sha, pr.fixes, pr.files) == (
        "committed",
        NEW_SHA,
        1,
        ("app/perms.py",),
    )
    assert result.committed == (NEW_SHA,) and result.api_calls == 4
    assert gh.pr_comments() == []


def test_only_new_findings_are_fixed_and_calls_do_not_grow_with_files() -> None:
    gh = FakeGitHub()
    for i in range(20):
        gh.change(f"app/perms_{i}.py", SAFE, FAIL_OPEN)
    # an untouched fail-open path next to the change is not the PR's to fix
    gh.change("app/old.py", FAIL_OPEN + NEIGHBOUR, FAIL_OPEN + NEIGHBOUR.replace("{}", "[]"))

    result = run_apply_fixes(apply_job(), gh)

    assert gh.names() == [*READS, "commit_files"]
    (_, _, _, files, message) = gh.called("commit_files")[0]
    assert sorted(files) == sorted(f"app/perms_{i}.py" for i in range(20))
    assert all(content == FIXED.encode() for content in files.values())
    assert message.startswith("failclosed: make 20 permission paths fail closed\n\n")
    assert "- app/perms_7.py: FC101 in has_permission" in message
    assert "app/old.py" not in message
    assert result.api_calls == 4


def test_fork_pull_request_lookup_and_explanation_without_a_commit() -> None:
    fork = PullRequest(NUMBER, HEAD_SHA, BASE_SHA, "patch-1", "someone/app")
    gh = FakeGitHub(pr=fork, prs_for_commit=[NUMBER])
    gh.change("app/perms.py", SAFE, FAIL_OPEN)

    result = run_apply_fixes(apply_job(pull_requests=()), gh)

    assert gh.names() == [
        "pull_requests_for_commit",
        "get_pull_request",
        "comment_on_pull_request",
    ]
    (comment,) = gh.pr_comments()
    assert "`someone/app`" in comment and "cannot push" in comment
    assert "Add suggestion to batch" in comment and "Commit suggestions" in comment
    assert result.pull_requests[0].status == "fork" and result.committed == ()


def test_a_deleted_fork_is_a_fork_not_a_moved_branch() -> None:
    """GitHub answers `head.repo: null` once the fork is gone: nobody can push there."""
    gone = PullRequest(NUMBER, HEAD_SHA, BASE_SHA, "patch-1", "")
    gh = FakeGitHub(pr=gone)
    gh.change("app/perms.py", SAFE, FAIL_OPEN)

    result = run_apply_fixes(apply_job(), gh)

    (comment,) = gh.pr_comments()
    assert "a repository that no longer exists" in comment
    assert result.pull_requests[0].status == "fork" and "commit_files" not in gh.names()


def test_no_pull_request_for_the_head_does_nothing() -> None:
    gh = FakeGitHub()

    result = run_apply_fixes(apply_job(pull_requests=()), gh)

    assert result.status == "nothing"
    assert gh.names() == ["pull_requests_for_commit"]


def test_branch_moved_before_the_job_commits_nothing() -> None:
    moved = PullRequest(NUMBER, "c" * 40, BASE_SHA, "feature", REPO)
    gh = FakeGitHub(pr=moved)
    gh.change("app/perms.py", SAFE, FAIL_OPEN)

    result = run_apply_fixes(apply_job(), gh)

    assert gh.names() == ["get_pull_request", "comment_on_pull_request"]
    (comment,) = gh.pr_comments()
    assert "branch moved" in comment and "`aaaaaaa`" in comment and "`ccccccc`" in comment
    assert "Re-run the failclosed check" in comment and "Nothing was committed" in comment
    assert result.pull_requests[0].status == "head_moved"


def test_branch_moving_during_the_commit_is_reported() -> None:
    gh = FakeGitHub(fail={"commit_files": HeadMoved("feature is at cccc now")})
    gh.change("app/perms.py", SAFE, FAIL_OPEN)

    result = run_apply_fixes(apply_job(), gh)

    assert gh.names() == [*READS, "commit_files", "comment_on_pull_request"]
    (comment,) = gh.pr_comments()
    assert "`feature` moved" in comment and "nothing was committed" in comment
    assert result.pull_requests[0].status == "head_moved" and result.committed == ()


def test_a_file_that_cannot_be_analysed_blocks_every_fix() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)
    gh.change("app/broken.py", SAFE, "def has_permission(:\n")

    result = run_apply_fixes(apply_job(), gh)

    assert gh.names() == [*READS, "comment_on_pull_request"]
    (comment,) = gh.pr_comments()
    assert "1 file could not be analysed" in comment and "`app/broken.py`" in comment
    assert "Nothing was committed" in comment
    assert result.pull_requests[0].status == "refused"


def test_a_fix_of_a_file_analysed_through_a_link_is_not_committed() -> None:
    """Committing the fixed target at the link's path would replace the link with a copy
    and leave the target, which the other importers run, failing open."""
    gh = FakeGitHub()
    gh.contents[(HEAD_SHA, "auth.py")] = Link("docs/auth.txt")
    gh.contents[(HEAD_SHA, "docs/auth.txt")] = FAIL_OPEN.encode()
    gh.files.append(ChangedFile("auth.py", "added", patch="@@ -0,0 +1 @@\n+docs/auth.txt"))

    result = run_apply_fixes(apply_job(), gh)

    assert "commit_files" not in gh.names()
    (comment,) = gh.pr_comments()
    assert "auth.py is a symbolic link to docs/auth.txt: fix that file" in comment
    assert "Nothing was committed" in comment
    assert result.pull_requests[0].status == "refused"


def test_a_file_past_its_budget_blocks_every_fix_and_the_job_goes_on() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)
    gh.change("app/slow.py", SAFE, FAIL_OPEN)  # hangs in the child (isolation_hooks)
    isolate = partial(IsolatedAnalyzer, before=isolation_hooks.hang_on_slow)

    result = run_apply_fixes(apply_job(), gh, file_budget_seconds=0.5, isolate=isolate)

    (comment,) = gh.pr_comments()
    assert "`app/slow.py`: could not be verified: analysis ran past 0.5 s" in comment
    assert "Nothing was committed" in comment
    assert result.pull_requests[0].status == "refused"


def test_nothing_to_apply_is_said() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR)

    result = run_apply_fixes(apply_job(), gh)

    assert gh.names() == [*READS, "comment_on_pull_request"]
    assert "no verified fixes to apply at `aaaaaaa`" in gh.pr_comments()[0]
    assert result.pull_requests[0].status == "nothing_to_apply"


def test_port_error_is_reported_on_the_pull_request_and_reraised() -> None:
    gh = FakeGitHub(fail={"list_changed_files": ConnectionError("GitHub returned 502")})

    with pytest.raises(ConnectionError):
        run_apply_fixes(apply_job(), gh)

    assert gh.names() == ["get_pull_request", "list_changed_files", "comment_on_pull_request"]
    (comment,) = gh.pr_comments()
    assert "could not apply the fixes: ConnectionError: GitHub returned 502" in comment
    assert "commit_files" not in gh.names()


def test_running_out_of_time_commits_nothing() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)
    ticks = iter([0.0, 1000.0, 1000.0, 1000.0])

    with pytest.raises(JobTimeout):
        run_apply_fixes(apply_job(), gh, budget_seconds=60, clock=lambda: next(ticks))

    assert "commit_files" not in gh.names()
    assert "ran out of time" in gh.pr_comments()[0]


def test_second_pull_request_of_the_same_branch_is_not_committed_twice() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)

    result = run_apply_fixes(apply_job(pull_requests=(NUMBER, NUMBER + 1)), gh)

    assert len(gh.called("commit_files")) == 1 and gh.pr_comments() == []
    assert [pr.commit_sha for pr in result.pull_requests] == [NEW_SHA, NEW_SHA]


def test_analyze_job_is_refused() -> None:
    gh = FakeGitHub()
    analyze = apply_job().model_copy(update={"kind": JobKind.ANALYZE})

    with pytest.raises(ValueError, match="apply_fixes"):
        run_apply_fixes(analyze, gh)
    assert gh.calls == []


# -- building the files ---------------------------------------------------------------------


def finding(path: str, fix: Fix) -> Finding:
    return Finding("FC101", path, fix.line, fix.end_line, "error", "fails open", "f", fix=fix)


def test_a_fix_outside_the_file_is_not_applied() -> None:
    bad = finding("app/perms.py", Fix(40, 41, "return False\n"))

    with pytest.raises(FixNotApplicable, match="outside the file"):
        patched_files([bad], {"app/perms.py": FAIL_OPEN.encode()}, Config())


def test_a_fix_that_breaks_the_file_is_not_applied() -> None:
    bad = finding("app/perms.py", Fix(10, 11, "        return (\n"))

    with pytest.raises(FixNotApplicable, match="does not analyse once fixed"):
        patched_files([bad], {"app/perms.py": FAIL_OPEN.encode()}, Config())


def test_the_file_keeps_its_encoding_and_line_ends() -> None:
    source = ("# -*- coding: latin-1 -*-\n# café\n" + FAIL_OPEN).replace("\n", "\r\n")
    fix = Fix(12, 13, '        logger.warning("denied: %s", e)\r\n        return False\r\n')

    (content,) = patched_files(
        [finding("app/perms.py", fix)], {"app/perms.py": source.encode("latin-1")}, Config()
    ).values()

    assert content.decode("latin-1").startswith("# -*- coding: latin-1 -*-\r\n# café\r\n")
    assert content.decode("latin-1").endswith("        return False\r\n")
