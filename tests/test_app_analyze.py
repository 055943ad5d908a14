"""app.review.analyze: the analyze job against a recording fake of the GitHub port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import partial

import isolation_hooks
import pytest
from support import (
    BASE_SHA,
    FAIL_OPEN,
    HEAD_SHA,
    NEIGHBOUR,
    NUMBER,
    REPO,
    SAFE,
    FakeGitHub,
    make_job,
)

import failclosed.app.review.analyze
from failclosed.analyzers.isolation import ChildPool, IsolatedAnalyzer
from failclosed.app.github.port import ChangedFile, Link, PullRequest, ReviewComment
from failclosed.app.model import JobKind
from failclosed.app.review import publish
from failclosed.app.review.analyze import (
    FIXED_MARKER,
    MAX_FIXED_REPLIES,
    JobTimeout,
    failure_reason,
    run_analysis,
)

FULL_SEQUENCE = [
    "create_check_run",  # first: whatever fails next fails it visibly
    # the job's PR, every other open PR of the head (they share one check run) and the
    # review comments already on each, in one GraphQL query
    "read_pull_requests",
    "list_changed_files",
    "read_files",  # head and base together
    "create_review",
    "update_check_run",
]


# -- a new fail-open path --------------------------------------------------------------------


def test_new_fail_open_check_gets_a_suggestion_and_fails_the_check() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)

    result = run_analysis(make_job(), gh)

    assert gh.calls == [
        ("create_check_run", (REPO, HEAD_SHA, publish.CHECK_NAME)),
        ("read_pull_requests", (REPO, (NUMBER,), HEAD_SHA)),
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
        ("create_review", (REPO, NUMBER, gh.reviews()[0])),
        ("update_check_run", (REPO, 99, gh.check_updates()[0])),
    ]
    (review,) = gh.reviews()
    assert review["commit_id"] == HEAD_SHA and review["event"] == "COMMENT"
    (comment,) = review["comments"]
    assert comment["path"] == "app/perms.py"
    assert (comment["start_line"], comment["line"]) == (10, 11)  # the logger line and return
    assert "```suggestion" in comment["body"] and "return False" in comment["body"]
    assert "FC101" in comment["body"]
    (check,) = gh.check_updates()
    assert check["status"] == "completed" and check["conclusion"] == "failure"
    (annotation,) = check["output"]["annotations"]
    assert annotation["path"] == "app/perms.py" and annotation["start_line"] == 11
    assert annotation["annotation_level"] == "failure"
    assert annotation["title"].startswith("FC101 ")  # the rule name is passed to publish
    assert result.status == "published"
    assert (result.findings, result.blocking, result.api_calls) == (1, True, 6)


def test_untouched_fail_open_next_to_the_change_is_not_reported() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", FAIL_OPEN + NEIGHBOUR, FAIL_OPEN + NEIGHBOUR.replace("{}", "[]"))

    result = run_analysis(make_job(), gh)

    assert gh.names() == [
        "create_check_run",
        "read_pull_requests",
        "list_changed_files",
        "read_files",  # head and base together
        "update_check_run",
    ]
    assert gh.reviews() == []
    assert gh.conclusion() == "success"
    assert (result.status, result.findings, result.blocking) == ("published", 0, False)


def test_rename_with_untouched_finding_and_ignored_files_report_nothing() -> None:
    gh = FakeGitHub()
    gh.change(
        "app/perms.py",
        FAIL_OPEN,
        FAIL_OPEN,
        status="renamed",
        previous_path="app/old_perms.py",
        patch=None,
    )
    gh.change("README.md", "old\n", "new\n")
    gh.change("app/gone.py", FAIL_OPEN, None, status="removed")
    gh.change("app/data.pyc", None, "binary")

    run_analysis(make_job(), gh)

    assert gh.called("read_files") == [
        (
            REPO,
            [
                (HEAD_SHA, "app/perms.py"),
                (BASE_SHA, "app/old_perms.py"),
                (BASE_SHA, "pyproject.toml"),
            ],
        )
    ]
    assert gh.reviews() == []
    assert gh.conclusion() == "success"
    assert gh.check_updates()[0]["output"]["annotations"] == []


@pytest.mark.parametrize("old_path", ["vendor/lib.py", "docs/auth_snippet.txt", "tests/lib.py"])
def test_code_renamed_in_from_where_it_was_never_analysed_counts_as_new(old_path: str) -> None:
    """The base config excludes vendor/; docs/*.txt is not Python; tests/ is test code.
    None of them was ever checked, so the moved code is all new: the check fails."""
    gh = FakeGitHub()
    gh.change("payments/lib.py", FAIL_OPEN, FAIL_OPEN, status="renamed", previous_path=old_path)
    gh.contents[(BASE_SHA, "pyproject.toml")] = b'[tool.failclosed]\nexclude = ["vendor"]\n'

    run_analysis(make_job(), gh)

    assert gh.conclusion() == "failure"
    assert [c["path"] for c in gh.check_updates()[0]["output"]["annotations"]] == [
        "payments/lib.py"
    ]


def test_added_file_is_read_at_head_only_and_all_its_findings_are_new() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", None, FAIL_OPEN)

    result = run_analysis(make_job(), gh)

    assert gh.called("read_files") == [
        # only the configuration at the base
        (REPO, [(HEAD_SHA, "app/perms.py"), (BASE_SHA, "pyproject.toml")])
    ]
    assert result.findings == 1 and gh.conclusion() == "failure"


# -- failing closed --------------------------------------------------------------------------


def test_syntax_error_in_a_changed_file_fails_as_unverified() -> None:
    gh = FakeGitHub()
    gh.change("app/broken.py", SAFE, "def has_permission(:\n")

    result = run_analysis(make_job(), gh)

    assert gh.conclusion() == "failure"
    assert gh.title().startswith(publish.FAILED_TITLE)
    assert "does not parse" in gh.check_updates()[-1]["output"]["summary"]
    assert result.blocking


def test_missing_head_content_fails_rather_than_passes() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, None)  # listed as modified, but the read returns None

    run_analysis(make_job(), gh)

    assert gh.conclusion() == "failure"
    assert gh.title().startswith(publish.FAILED_TITLE)
    assert "could not be read" in gh.check_updates()[-1]["output"]["summary"]


# -- symbolic links (issue 11 item 4) ----------------------------------------------------------


def test_a_linked_file_is_analysed_through_its_target_in_the_repository() -> None:
    """`auth.py -> docs/auth.txt`: GitHub's blob of the link is the text `docs/auth.txt`,
    which parses as Python and passed. Its target's code is what `import auth` runs."""
    gh = FakeGitHub()
    gh.link("auth.py", "docs/auth.txt")
    gh.contents[(HEAD_SHA, "docs/auth.txt")] = FAIL_OPEN.encode()

    result = run_analysis(make_job(), gh)

    reads = gh.called("read_files")
    assert [wanted for _, wanted in reads] == [
        [(HEAD_SHA, "auth.py"), (BASE_SHA, "pyproject.toml")],
        [(HEAD_SHA, "docs/auth.txt")],  # one more read, only because there is a link
    ]
    assert gh.conclusion() == "failure"
    (annotation,) = gh.check_updates()[0]["output"]["annotations"]
    assert (annotation["path"], annotation["start_line"]) == ("auth.py", 11)
    assert "FC101" in annotation["title"]
    # No suggestion on the link's one-line diff: it would replace the link's target path.
    assert gh.reviews() == []
    assert (result.findings, result.blocking, result.api_calls) == (1, True, 6)


def test_a_chain_of_links_is_followed_one_read_per_step() -> None:
    gh = FakeGitHub()
    gh.link("app/auth.py", "../lib/mid.py")
    gh.contents[(HEAD_SHA, "lib/mid.py")] = Link("../docs/auth.txt")  # already in the repo
    gh.contents[(HEAD_SHA, "docs/auth.txt")] = FAIL_OPEN.encode()

    run_analysis(make_job(), gh)

    assert gh.read_at(HEAD_SHA) == ["app/auth.py", "lib/mid.py", "docs/auth.txt"]
    assert gh.conclusion() == "failure"
    (annotation,) = gh.check_updates()[0]["output"]["annotations"]
    assert annotation["path"] == "app/auth.py"


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("../../etc/passwd", "a link to ../../etc/passwd, outside the repository"),
        ("/etc/passwd", "a link to /etc/passwd, outside the repository"),
        ("docs/gone.txt", "a link to app/docs/gone.txt, which is not a file here"),
        ("loop.py", "a loop of links (app/loop.py -> app/loop.py)"),
    ],
)
def test_a_link_that_leads_to_no_file_of_the_repository_fails_as_not_analysed(
    target: str, why: str
) -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, SAFE.replace("action", "act"))
    gh.link("app/loop.py" if target == "loop.py" else "app/auth.py", target)

    result = run_analysis(make_job(), gh)

    assert gh.conclusion() == "failure"
    assert gh.title().startswith(publish.FAILED_TITLE)
    assert why in gh.check_updates()[-1]["output"]["summary"]
    assert result.blocking
    assert len(gh.called("read_files")) <= 2  # a loop is seen, not walked 40 times


def test_a_link_in_the_base_is_no_base_to_compare_with() -> None:
    """The file was a link and is a file now: all of it is new (as in `failclosed diff`)."""
    gh = FakeGitHub()
    gh.change("app/perms.py", None, FAIL_OPEN, status="modified")
    gh.contents[(BASE_SHA, "app/perms.py")] = Link("perms_impl.py")
    gh.contents[(BASE_SHA, "app/perms_impl.py")] = FAIL_OPEN.encode()

    result = run_analysis(make_job(), gh)

    assert len(gh.called("read_files")) == 1  # a base link is not followed
    assert result.findings == 1 and gh.conclusion() == "failure"


def test_the_base_config_is_read_through_a_link() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)
    gh.contents[(BASE_SHA, "pyproject.toml")] = Link("config/pyproject.toml")
    gh.contents[(BASE_SHA, "config/pyproject.toml")] = b'[tool.failclosed]\nexclude = ["app/**"]\n'

    run_analysis(make_job(), gh)

    assert gh.read_at(BASE_SHA) == ["app/perms.py", "pyproject.toml", "config/pyproject.toml"]
    assert gh.conclusion() != "failure"  # the repository's exclude was applied


def test_a_base_config_linked_outside_the_repository_fails_the_check() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, SAFE.replace("action", "act"))
    gh.contents[(BASE_SHA, "pyproject.toml")] = Link("/etc/pyproject.toml")

    run_analysis(make_job(), gh)

    assert gh.conclusion() == "failure"
    summary = gh.check_updates()[-1]["output"]["summary"]
    assert "pyproject.toml is a link to /etc/pyproject.toml, outside the repository" in summary


def test_a_file_whose_analysis_never_ends_fails_the_check_once_as_not_verified() -> None:
    """Issue 11 item 1: the file's analysis runs in the job's child process and is killed
    past its budget; the other files are still reviewed, and the check run is completed
    once, as failure, by a job that ends normally (nothing for the queue to retry)."""
    gh = FakeGitHub()
    gh.change("app/slow.py", None, FAIL_OPEN)  # hangs in the child (isolation_hooks)
    gh.change("app/perms.py", SAFE, FAIL_OPEN)
    isolate = partial(IsolatedAnalyzer, before=isolation_hooks.hang_on_slow)

    result = run_analysis(make_job(), gh, file_budget_seconds=0.5, isolate=isolate)

    assert result.status == "published" and result.blocking
    assert result.findings == 1  # app/perms.py, analysed by the replacement child
    (completed,) = [u for u in gh.check_updates() if u.get("status") == "completed"]
    assert completed["conclusion"] == "failure"
    assert completed["output"]["title"] == f"{publish.FAILED_TITLE}: 1 file could not be analysed"
    summary = completed["output"]["summary"]
    assert "| `app/slow.py` | could not be verified: analysis ran past 0.5 s |" in summary


def test_jobs_take_turns_with_the_same_warm_analysis_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting a child per job would cost more than a small PR's analysis: the process's
    jobs share a pool of idle children."""
    pool = ChildPool()
    monkeypatch.setattr(failclosed.app.review.analyze, "ANALYSIS_CHILDREN", pool)
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)
    try:
        run_analysis(make_job(), gh)
        child = pool.take()
        assert child.alive and child.calls == 1
        pool.give_back(child)
        run_analysis(make_job(), gh)
        assert pool.take() is child and child.calls == 2 and child.started == 1
        pool.give_back(child)
    finally:
        pool.close()


def test_port_error_after_the_check_run_fails_it_and_is_reraised() -> None:
    gh = FakeGitHub(fail={"list_changed_files": ConnectionError("GitHub returned 502")})
    gh.change("app/perms.py", SAFE, FAIL_OPEN)

    with pytest.raises(ConnectionError, match="502") as raised:
        run_analysis(make_job(), gh)

    assert gh.names() == [
        "create_check_run",
        "read_pull_requests",
        "list_changed_files",
        "update_check_run",
    ]
    (check,) = gh.check_updates()
    assert check["status"] == "completed" and check["conclusion"] == "failure"
    assert check["output"]["title"] == publish.FAILED_TITLE
    assert "ConnectionError: GitHub returned 502" in check["output"]["summary"]
    assert "Traceback" not in check["output"]["summary"]
    assert any("check run 99" in note for note in raised.value.__notes__)


def test_error_while_posting_the_review_still_fails_the_check() -> None:
    gh = FakeGitHub(fail={"create_review": ValueError("422 Unprocessable Entity")})
    gh.change("app/perms.py", SAFE, FAIL_OPEN)

    with pytest.raises(ValueError):
        run_analysis(make_job(), gh)

    assert gh.names()[-2:] == ["create_review", "update_check_run"]
    assert gh.conclusion() == "failure" and gh.title() == publish.FAILED_TITLE


def test_failing_to_mark_the_check_keeps_the_original_error() -> None:
    gh = FakeGitHub(
        fail={
            "list_changed_files": ConnectionError("down"),
            "update_check_run": ConnectionError("still down"),
        }
    )

    with pytest.raises(ConnectionError) as raised:
        run_analysis(make_job(), gh)

    assert str(raised.value) == "down"
    assert any("could not be completed" in note for note in raised.value.__notes__)
    assert gh.names()[-1] == "update_check_run"  # it was tried


def test_check_run_creation_failure_propagates_with_nothing_to_mark() -> None:
    gh = FakeGitHub(fail={"create_check_run": ConnectionError("down")})

    with pytest.raises(ConnectionError):
        run_analysis(make_job(), gh)

    assert gh.names() == ["create_check_run"]  # nothing visible yet: nothing to mark


def test_running_out_of_time_fails_the_check() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)
    ticks: Iterator[float] = iter([0.0, 1000.0, 1000.0, 1000.0])

    with pytest.raises(JobTimeout):
        run_analysis(make_job(), gh, budget_seconds=60, clock=lambda: next(ticks))

    assert gh.conclusion() == "failure"
    assert "ran out of time" in gh.check_updates()[-1]["output"]["summary"]
    assert gh.reviews() == []


def test_failure_reason_is_one_short_line_without_credentials() -> None:
    exc = RuntimeError("401 for token ghs_abcdefghijklmnopqrstuvwxyz\nBearer abc.def " + "x" * 999)

    reason = failure_reason(exc)

    assert reason.startswith("RuntimeError: 401 for ")
    assert "ghs_" not in reason and "abc.def" not in reason and "\n" not in reason
    assert len(reason) < 400


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("Authorization: token v1.0123456789abcdef0123456789abcdef01234567", "v1.0123"),
        ("sent token 0123456789abcdef0123456789abcdef01234567", "0123456789"),
        ("JWT eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2lnbmF0dXJl rejected", "eyJ"),
        ("401 for token ghs_abcdefghijklmnopqrstuvwxyz", "ghs_"),
    ],
)
def test_failure_reason_scrubs_token_shapes(message: str, secret: str) -> None:
    reason = failure_reason(RuntimeError(message))
    assert secret not in reason and "[redacted]" in reason


def test_failure_reason_keeps_words_that_only_sit_next_to_token() -> None:
    """Issue 11: this became "installation [redacted] failed", which hid what failed."""
    message = "reading PR: GitHub installation token request failed: 401 Bad credentials"
    assert failure_reason(RuntimeError(message)) == f"RuntimeError: {message}"


# -- stale, empty and repeated jobs ----------------------------------------------------------


def test_a_head_that_moved_on_gets_its_check_run_cancelled_as_superseded() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)

    result = run_analysis(make_job(head_sha="c" * 40), gh, stale_read_wait=0)

    assert result.status == "superseded"
    assert gh.names() == [
        "create_check_run",
        "read_pull_requests",
        "read_pull_requests",  # read again: the API can lag behind the webhook
        "update_check_run",
    ]
    (check,) = gh.check_updates()
    assert (check["status"], check["conclusion"]) == ("completed", "cancelled")
    assert check["output"]["title"] == "Superseded"


class LaggingPullRequest(FakeGitHub):
    """GitHub's API shows the previous head on the first read, the webhook's on the next."""

    def pull_request(self, repo: str, number: int) -> PullRequest:
        pr = super().pull_request(repo, number)
        if len(self.called("read_pull_requests")) == 1:
            return replace(pr, head_sha="c" * 40)
        return pr


def test_a_pull_request_read_that_lags_behind_the_webhook_is_read_again() -> None:
    gh = LaggingPullRequest()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)

    result = run_analysis(make_job(), gh, stale_read_wait=0.01)

    assert result.status == "published" and result.blocking
    assert gh.conclusion() == "failure"
    assert gh.called("read_pull_requests") == [
        (REPO, (NUMBER,), HEAD_SHA),
        (REPO, (NUMBER,), None),  # only the PR that lagged, by number
    ]


def test_a_rerun_takes_up_the_check_run_github_reset_to_queued() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)
    rerun = make_job().model_copy(
        update={"event": "check_run", "action": "rerequested", "check_run_id": 4242}
    )

    run_analysis(rerun, gh)

    assert "create_check_run" not in gh.names()
    first, last = gh.called("update_check_run")[0], gh.called("update_check_run")[-1]
    assert first[1:] == (4242, {"status": "in_progress"})
    assert (last[1], last[2]["conclusion"]) == (4242, "failure")


def test_job_without_pull_requests_looks_them_up_and_may_find_none() -> None:
    gh = FakeGitHub()

    result = run_analysis(make_job(pull_requests=()), gh)

    assert result.status == "nothing"
    assert gh.names() == ["create_check_run", "read_pull_requests", "update_check_run"]
    assert gh.check_updates()[0]["conclusion"] == "cancelled"  # never left in progress
    assert result.api_calls == 3


def test_fork_rerun_finds_its_pull_request_by_head_sha() -> None:
    gh = FakeGitHub(prs_for_commit=[NUMBER])
    gh.change("app/perms.py", SAFE, FAIL_OPEN)

    result = run_analysis(make_job(pull_requests=()), gh)

    assert gh.calls[1] == ("read_pull_requests", (REPO, (), HEAD_SHA))
    assert gh.names() == FULL_SEQUENCE
    assert [pr.number for pr in result.pull_requests] == [NUMBER]
    assert result.status == "published" and result.blocking
    assert result.api_calls == len(gh.calls) == 6


def test_apply_fixes_job_is_refused() -> None:
    gh = FakeGitHub()
    fixes = make_job().model_copy(update={"kind": JobKind.APPLY_FIXES})

    with pytest.raises(ValueError, match="analyze"):
        run_analysis(fixes, gh)
    assert gh.calls == []


def test_redelivery_posts_no_second_review() -> None:
    first = FakeGitHub()
    first.change("app/perms.py", SAFE, FAIL_OPEN)
    run_analysis(make_job(), first)

    again = FakeGitHub(existing=first.comments_posted())
    again.change("app/perms.py", SAFE, FAIL_OPEN)
    result = run_analysis(make_job(), again)

    assert again.reviews() == []
    assert again.replies() == []  # the finding is still there: nothing is "fixed"
    assert again.names() == [n for n in FULL_SEQUENCE if n != "create_review"]
    assert again.conclusion() == "failure"  # still blocking: the path is still there
    assert result.api_calls == 5


def test_our_fingerprint_in_someone_elses_comment_does_not_silence_the_review() -> None:
    """Anyone can paste the hidden fingerprint; only the App's own comments count."""
    first = FakeGitHub()
    first.change("app/perms.py", SAFE, FAIL_OPEN)
    run_analysis(make_job(), first)
    pasted = [replace(c, by_app=False) for c in first.comments_posted()]

    again = FakeGitHub(existing=pasted)
    again.change("app/perms.py", SAFE, FAIL_OPEN)
    run_analysis(make_job(), again)

    assert [c["body"] for r in again.reviews() for c in r["comments"]] == [c.body for c in pasted]


# -- calls per pull request ------------------------------------------------------------------


def many_files(count: int) -> FakeGitHub:
    gh = FakeGitHub()
    for i in range(count):
        gh.change(f"app/perms_{i}.py", SAFE, FAIL_OPEN)
    return gh


def test_port_calls_do_not_grow_with_the_number_of_files() -> None:
    one, twenty = many_files(1), many_files(20)

    small = run_analysis(make_job(), one)
    large = run_analysis(make_job(), twenty)

    assert one.names() == twenty.names() == FULL_SEQUENCE
    assert small.api_calls == large.api_calls == len(twenty.calls) == 6
    assert large.findings == 20
    (review,) = twenty.reviews()
    assert len(review["comments"]) == 20
    ((_, wanted),) = twenty.called("read_files")  # one read: 20 files, both sides, the config
    assert [sha for sha, _ in wanted] == [HEAD_SHA] * 20 + [BASE_SHA] * 21


def test_more_than_50_findings_complete_the_check_in_batches() -> None:
    gh = many_files(51)

    result = run_analysis(make_job(), gh)

    updates = gh.check_updates()
    assert [len(u["output"]["annotations"]) for u in updates] == [50, 1]
    assert updates[0]["conclusion"] == "failure"
    assert result.api_calls == 7


OTHER_BASE = "d" * 40
OTHER_NUMBER = 8


class SameHeadTwoBases(FakeGitHub):
    """Branch `feature` open against two bases: the fail-open path is new against one
    (PR 7) and already on the other (PR 8)."""

    def pull_request(self, repo: str, number: int) -> PullRequest:
        base = BASE_SHA if number == NUMBER else OTHER_BASE
        return PullRequest(number, HEAD_SHA, base, "feature", REPO)


def test_one_check_run_for_the_head_with_the_worst_result_of_all_its_pull_requests() -> None:
    """A check run belongs to the commit: PR 8's green must not pass PR 7's red."""
    for job_prs in ((OTHER_NUMBER,), (NUMBER,), (NUMBER, OTHER_NUMBER)):
        gh = SameHeadTwoBases(prs_for_commit=[NUMBER, OTHER_NUMBER])
        gh.change("app/perms.py", SAFE, FAIL_OPEN)
        gh.contents[(OTHER_BASE, "app/perms.py")] = FAIL_OPEN.encode()

        result = run_analysis(make_job(pull_requests=job_prs), gh)

        assert len(gh.called("create_check_run")) == 1, job_prs
        assert gh.conclusion() == "failure", job_prs
        assert [pr.number for pr in result.pull_requests] == [NUMBER, OTHER_NUMBER]
        assert [pr.findings for pr in result.pull_requests] == [1, 0]
        assert result.blocking
        # only PR 7 has something new to say
        assert [args[1] for args in gh.called("create_review")] == [NUMBER]


# -- answering comments whose finding is fixed ----------------------------------------------


def posted_on_fail_open() -> list[ReviewComment]:
    """Our comment from an earlier run, when the head still failed open."""
    first = FakeGitHub()
    first.change("app/perms.py", SAFE, FAIL_OPEN)
    run_analysis(make_job(), first)
    return first.comments_posted()


def test_fixed_finding_is_answered_once_with_the_head_sha() -> None:
    gh = FakeGitHub(existing=posted_on_fail_open())
    (ours,) = gh.existing
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR)  # the push that fixed it

    result = run_analysis(make_job(), gh)

    assert gh.names() == [
        "create_check_run",
        "read_pull_requests",
        "list_changed_files",
        "read_files",  # head and base together
        "reply_to_review_comment",
        # to resolve the comment's thread: none listed here, and a comment read without its
        # thread (REST's shape) makes the job list them
        "review_threads",
        "update_check_run",
    ]
    assert gh.called("reply_to_review_comment") == [
        (REPO, NUMBER, ours.id, f"Fixed in aaaaaaa.\n\n{FIXED_MARKER}")
    ]
    assert gh.conclusion() == "success"
    assert result.pull_requests[0].answered == 1 and result.api_calls == 7

    run_analysis(make_job(), gh)  # redelivered: the reply from the first run is there now

    assert len(gh.replies()) == 1


def test_a_finding_that_comes_back_after_it_was_fixed_gets_a_new_comment() -> None:
    gh = FakeGitHub(existing=posted_on_fail_open())
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR)
    run_analysis(make_job(), gh)  # fixed: the comment is answered "Fixed in ..."
    assert len(gh.replies()) == 1 and gh.reviews() == []

    gh.files.clear()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)  # and the fail-open path is back
    run_analysis(make_job(), gh)

    (review,) = gh.reviews()
    assert len(review["comments"]) == 1
    assert "```suggestion" in review["comments"][0]["body"]


def test_only_our_unanswered_top_level_comments_on_analysed_files_are_answered() -> None:
    (ours,) = posted_on_fail_open()
    elsewhere = replace(ours, id=2, body=ours.body.replace("app/perms.py", "app/other.py"))
    elsewhere = replace(elsewhere, path="app/other.py")
    human = ReviewComment(3, "please also add a test", "app/perms.py")
    quoted = replace(ours, id=4, in_reply_to_id=ours.id)
    pasted = ReviewComment(5, ours.body, "app/perms.py")  # our fingerprint, someone else's
    gh = FakeGitHub(existing=[ours, elsewhere, human, quoted, pasted])
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR)

    run_analysis(make_job(), gh)

    # app/other.py is not in this PR's changes: unknown, so nothing is claimed about it
    assert [comment_id for comment_id, _ in gh.replies()] == [ours.id]


def test_a_file_that_cannot_be_analysed_gets_no_fixed_reply() -> None:
    gh = FakeGitHub(existing=posted_on_fail_open())
    gh.change("app/perms.py", SAFE, "def has_permission(:\n")

    run_analysis(make_job(), gh)

    assert gh.replies() == []
    assert gh.conclusion() == "failure"


def test_a_finding_that_is_no_longer_new_is_not_called_fixed() -> None:
    # The base now has the same fail-open code (say, merged from elsewhere): the finding is
    # no longer new, so it is not reported, but it is not fixed either.
    gh = FakeGitHub(existing=posted_on_fail_open())
    gh.change("app/perms.py", FAIL_OPEN, FAIL_OPEN + NEIGHBOUR)

    result = run_analysis(make_job(), gh)

    assert result.findings == 0 and gh.replies() == []


def test_fixed_replies_are_capped_per_run() -> None:
    (ours,) = posted_on_fail_open()
    many = [replace(ours, id=i) for i in range(1, MAX_FIXED_REPLIES + 6)]
    gh = FakeGitHub(existing=many)
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR)

    run_analysis(make_job(), gh)
    assert len(gh.replies()) == MAX_FIXED_REPLIES
    run_analysis(make_job(), gh)  # the next run answers the rest
    assert len(gh.replies()) == MAX_FIXED_REPLIES + 5


def test_a_file_list_shorter_than_the_pr_fails_as_unverified() -> None:
    """GitHub lists at most 3,000 files: a file past the cap must not let the PR pass."""
    gh = FakeGitHub(
        pr=PullRequest(NUMBER, HEAD_SHA, BASE_SHA, "feature", REPO, changed_files=3_001)
    )
    gh.change("app/perms.py", SAFE, SAFE + "\n")
    run_analysis(make_job(), gh)
    assert gh.conclusion() == "failure"
    assert gh.title().startswith("Could not verify this pull request")
    assert "3001" in gh.check_updates()[-1]["output"]["summary"].replace(",", "")


def test_a_pr_past_githubs_file_list_cap_is_titled_for_what_happened() -> None:
    """Issue 11: a 3,101-file PR was titled "1 file could not be analysed": the 101 that
    GitHub never listed were counted as one file (here it said "2 files")."""
    gh = FakeGitHub(
        pr=PullRequest(NUMBER, HEAD_SHA, BASE_SHA, "feature", REPO, changed_files=3_101)
    )
    gh.change("app/perms.py", SAFE, SAFE + "\n")
    gh.change("app/broken.py", SAFE, "def has_permission(:\n")
    gh.files += [ChangedFile(f"docs/page{i}.md", "added") for i in range(2_998)]

    run_analysis(make_job(), gh)

    unlisted = "GitHub listed only 3,000 of the 3,101 changed files (its cap)"
    assert gh.conclusion() == "failure"
    assert gh.title() == (
        f"{publish.FAILED_TITLE}: {unlisted}: the rest could not be analysed; "
        "1 file could not be analysed"
    )
    summary = gh.check_updates()[-1]["output"]["summary"]
    assert f"**{unlisted}: the rest could not be analysed; 1 file could not be analysed**" in (
        summary
    )


def test_findings_off_the_diff_go_to_the_check_run_not_a_review_each_delivery() -> None:
    """No patch (binary-sized diff): nothing is commentable, so no review, twice over."""
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN, patch=None)
    run_analysis(make_job(), gh)
    run_analysis(make_job(), gh)  # a redelivery
    assert gh.reviews() == []
    assert [u["conclusion"] for u in gh.check_updates()] == ["failure", "failure"]
    annotations = gh.check_updates()[-1]["output"]["annotations"]
    assert [(a["path"], a["title"].split()[0]) for a in annotations] == [("app/perms.py", "FC101")]


# -- the repository's own configuration ------------------------------------------------------

GATEKEEP_SAFE = """\
def gatekeep(user, action):
    try:
        return client.check(user, action)
    except Exception:
        return False
"""
GATEKEEP_OPEN = GATEKEEP_SAFE.replace("return False", "return True")
NAMES_GATEKEEP = b'[tool.failclosed]\npermission-functions = ["gatekeep"]\n'


def test_the_repository_configuration_at_the_base_names_its_permission_functions() -> None:
    """`gatekeep` is no permission name by default; the repository's pyproject says it is."""
    plain = FakeGitHub()
    plain.change("app/gate.py", GATEKEEP_SAFE, GATEKEEP_OPEN)
    assert run_analysis(make_job(), plain).findings == 0

    configured = FakeGitHub()
    configured.change("app/gate.py", GATEKEEP_SAFE, GATEKEEP_OPEN)
    configured.contents[(BASE_SHA, "pyproject.toml")] = NAMES_GATEKEEP
    result = run_analysis(make_job(), configured)
    assert result.findings == 1 and configured.conclusion() == "failure"


def test_a_pull_request_cannot_loosen_its_own_check_through_the_configuration() -> None:
    gh = FakeGitHub()
    gh.change("app/gate.py", GATEKEEP_SAFE, GATEKEEP_OPEN)
    gh.contents[(BASE_SHA, "pyproject.toml")] = NAMES_GATEKEEP
    # The PR also rewrites pyproject.toml to exclude the file; only the base's counts.
    gh.change("pyproject.toml", NAMES_GATEKEEP.decode(), '[tool.failclosed]\nexclude = ["app"]\n')

    assert run_analysis(make_job(), gh).findings == 1
    assert "pyproject.toml" not in gh.read_at(HEAD_SHA)


def test_an_unusable_configuration_fails_the_check_as_unverified() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR)
    gh.contents[(BASE_SHA, "pyproject.toml")] = b"[tool.failclosed]\npermision-functions = []\n"

    run_analysis(make_job(), gh)

    assert gh.conclusion() == "failure"
    assert gh.title().startswith(publish.FAILED_TITLE)
    summary = gh.check_updates()[-1]["output"]["summary"]
    assert "pyproject.toml" in summary and "permision-functions" in summary


def test_excluded_and_tooling_folders_are_not_analysed() -> None:
    gh = FakeGitHub()
    gh.change("vendored/perms.py", SAFE, FAIL_OPEN)
    gh.change(".venv/lib/site.py", SAFE, FAIL_OPEN)
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR)
    gh.contents[(BASE_SHA, "pyproject.toml")] = b'[tool.failclosed]\nexclude = ["vendored"]\n'

    result = run_analysis(make_job(), gh)

    assert result.findings == 0 and gh.conclusion() == "success"
    assert len(gh.called("read_files")) == 1
    assert ".venv/lib/site.py" not in gh.read_at(HEAD_SHA)


def test_a_pull_request_whose_python_files_are_all_excluded_says_so_in_the_title() -> None:
    gh = FakeGitHub()
    gh.change("vendored/perms.py", SAFE, FAIL_OPEN)
    gh.change("vendored/more.py", SAFE, FAIL_OPEN)
    gh.change(".venv/lib/site.py", SAFE, FAIL_OPEN)  # tooling: not the repository's code
    gh.contents[(BASE_SHA, "pyproject.toml")] = b'[tool.failclosed]\nexclude = ["vendored"]\n'

    run_analysis(make_job(), gh)

    output = gh.check_updates()[0]["output"]
    assert gh.title() == (
        "Nothing analysed: all 2 changed Python files are excluded by the configuration"
    )
    assert "`vendored/perms.py`" in output["summary"] and "Not analysed" in output["summary"]


def test_a_partly_excluded_pull_request_keeps_its_usual_title() -> None:
    gh = FakeGitHub()
    gh.change("vendored/perms.py", SAFE, FAIL_OPEN)
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR)
    gh.contents[(BASE_SHA, "pyproject.toml")] = b'[tool.failclosed]\nexclude = ["vendored"]\n'

    run_analysis(make_job(), gh)

    assert gh.title() == "No fail-open paths"
