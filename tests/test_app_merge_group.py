"""app.review.merge_group: a merge queue's group commit, against a recording fake of the GitHub
port.

The group's branch (`gh-readonly-queue/...`) has no pull request: the job compares the
group's head with its base and completes one check run on the head, and nothing else.
"""

from __future__ import annotations

from typing import Any

import pytest
from support import BASE_SHA, FAIL_OPEN, HEAD_SHA, REPO, SAFE, FakeGitHub, OneInstallation, make_job

from failclosed.app.github.client import GitHubError
from failclosed.app.github.port import ChangedFile, Link
from failclosed.app.model import Claim, Job, JobKind, RetryableError
from failclosed.app.review import publish
from failclosed.app.review.merge_group import COMPARE_FILE_CAP, run_merge_group
from failclosed.app.run.execute import Finished, JobExecutor, RetryLater

MERGE_BASE = "c" * 40
CLEAN = SAFE + "\n\ndef greeting(name):\n    return f'hello {name}'\n"
# Every call a merge-group job makes when a Python file changed: no PR is looked up, no
# review read or posted.
SEQUENCE = ["create_check_run", "compare_commits", "read_files", "update_check_run"]


def merge_group_job(base_sha: str = BASE_SHA) -> Job:
    return make_job("delivery-mg", kind=JobKind.MERGE_GROUP, base_sha=base_sha)


def test_a_fail_open_change_in_the_group_fails_its_check_run_and_posts_no_review() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)
    gh.change("README.md", "old\n", "new\n")  # not Python: not read

    result = run_merge_group(merge_group_job(), gh)

    assert gh.names() == SEQUENCE
    assert result.calls == 4 and result.blocking and result.findings == 1
    assert gh.called("create_check_run") == [(REPO, HEAD_SHA, "failclosed")]
    assert gh.called("compare_commits") == [(REPO, BASE_SHA, HEAD_SHA)]
    assert gh.read_at(HEAD_SHA) == ["app/perms.py"]
    assert gh.read_at(BASE_SHA) == ["app/perms.py", "pyproject.toml"]  # config at the base
    (check,) = gh.check_updates()
    assert (check["head_sha"], check["status"], check["conclusion"]) == (
        HEAD_SHA,
        "completed",
        "failure",
    )
    assert check["output"]["title"] == "1 blocking fail-open path"
    (annotation,) = check["output"]["annotations"]
    assert annotation["path"] == "app/perms.py" and annotation["title"].startswith("FC101")
    assert "actions" not in check  # no branch to commit fixes to
    assert gh.reviews() == []


def test_a_clean_group_passes() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, CLEAN)

    result = run_merge_group(merge_group_job(), gh)

    assert gh.names() == SEQUENCE
    assert not result.blocking and result.final_state == "done"
    assert (gh.conclusion(), gh.title()) == ("success", "No fail-open paths")


def test_only_what_the_group_adds_is_reported() -> None:
    """A fail-open path already on the base branch, untouched by the group, stays quiet."""
    gh = FakeGitHub()
    gh.change("app/perms.py", FAIL_OPEN, FAIL_OPEN + "\n\nVERSION = 2\n")

    run_merge_group(merge_group_job(), gh)

    assert gh.conclusion() == "success"


def test_the_base_side_is_read_at_the_merge_base_github_answers() -> None:
    gh = FakeGitHub(merge_base=MERGE_BASE)
    gh.change("app/perms.py", None, FAIL_OPEN, status="modified")
    gh.contents[(MERGE_BASE, "app/perms.py")] = SAFE.encode()

    run_merge_group(merge_group_job(), gh)

    assert gh.read_at(MERGE_BASE) == ["app/perms.py", "pyproject.toml"]
    assert gh.read_at(BASE_SHA) == []
    assert gh.conclusion() == "failure"


def test_no_python_change_passes_without_reading_files() -> None:
    gh = FakeGitHub()
    gh.change("docs/index.md", "a\n", "b\n")

    result = run_merge_group(merge_group_job(), gh)

    assert gh.names() == ["create_check_run", "compare_commits", "update_check_run"]
    assert result.calls == 3 and gh.conclusion() == "success"


def test_a_file_that_cannot_be_parsed_fails_the_check_as_unverified() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, SAFE + "\ndef broken(:\n")

    run_merge_group(merge_group_job(), gh)

    assert gh.conclusion() == "failure"
    assert gh.title() == "Could not verify this merge group: 1 file could not be analysed"


def test_a_linked_file_in_the_group_is_analysed_through_its_target_as_for_a_pr() -> None:
    """The same decision as a pull request's (`app.review.analyze.read_and_analyze`): the link's
    text is never analysed as Python; its target at the group's head is, one read per step."""
    gh = FakeGitHub()
    gh.link("app/auth.py", "../lib/mid.py")
    gh.contents[(HEAD_SHA, "lib/mid.py")] = Link("../docs/auth.txt")
    gh.contents[(HEAD_SHA, "docs/auth.txt")] = FAIL_OPEN.encode()

    result = run_merge_group(merge_group_job(), gh)

    assert gh.read_at(HEAD_SHA) == ["app/auth.py", "lib/mid.py", "docs/auth.txt"]
    assert result.calls == 6 and result.blocking and result.findings == 1
    (check,) = gh.check_updates()
    assert check["conclusion"] == "failure"
    (annotation,) = check["output"]["annotations"]
    assert annotation["path"] == "app/auth.py" and "FC101" in annotation["title"]
    assert "actions" not in check


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("../../etc/passwd", "a link to ../../etc/passwd, outside the repository"),
        ("docs/gone.txt", "a link to app/docs/gone.txt, which is not a file here"),
    ],
)
def test_a_link_to_no_file_of_the_repository_fails_the_groups_check(target: str, why: str) -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, CLEAN)
    gh.link("app/auth.py", target)

    result = run_merge_group(merge_group_job(), gh)

    assert result.blocking and gh.conclusion() == "failure"
    assert gh.title() == f"{publish.failed_title('merge group')}: 1 file could not be analysed"
    assert why in gh.check_updates()[-1]["output"]["summary"]


def test_a_comparison_at_githubs_file_cap_is_not_taken_as_complete() -> None:
    gh = FakeGitHub()
    gh.files = [ChangedFile(f"docs/page_{i}.md", "added") for i in range(COMPARE_FILE_CAP)]

    run_merge_group(merge_group_job(), gh)

    assert gh.conclusion() == "failure"
    assert "its cap for a comparison" in gh.title()


@pytest.mark.parametrize(
    "error", [GitHubError(502, "GitHub failed"), GitHubError(404, "No common ancestor")]
)
def test_github_failing_the_comparison_fails_the_check_run(error: GitHubError) -> None:
    gh = FakeGitHub(fail={"compare_commits": error})

    with pytest.raises(GitHubError):
        run_merge_group(merge_group_job(), gh)

    assert gh.names() == ["create_check_run", "compare_commits", "update_check_run"]
    assert gh.conclusion() == "failure"
    assert gh.title() == "Could not verify this merge group"
    summary = gh.check_updates()[-1]["output"]["summary"]
    assert str(error.message) in summary
    assert "could not analyse this merge group" in summary and "pull request" not in summary


def test_it_runs_merge_group_jobs_only() -> None:
    analyze = merge_group_job().model_copy(update={"kind": JobKind.ANALYZE, "base_sha": None})

    with pytest.raises(ValueError, match="merge_group jobs"):
        run_merge_group(analyze, FakeGitHub())


# -- through the job runtime's executor (both queue modes) --------------------------------


def claim_of(job: Job) -> Claim:
    return Claim(id=1, job=job, attempt=1, recovered=False, check_run_id=None)


def test_the_executor_runs_a_merge_group_job_with_its_own_runner() -> None:
    gh = FakeGitHub()
    gh.change("app/perms.py", SAFE, FAIL_OPEN)
    recorded: list[int] = []

    outcome = JobExecutor(OneInstallation(gh)).execute(claim_of(merge_group_job()), recorded.append)

    assert outcome == Finished("done")
    assert gh.names() == SEQUENCE
    assert gh.check_run_tags == ["delivery-mg"]  # tagged with the delivery, as every run
    assert recorded == [99]  # the queue keeps the run: a take-over completes the same one


def test_a_transient_github_failure_of_a_merge_group_job_is_retried() -> None:
    gh = FakeGitHub(fail={"compare_commits": GitHubError(503, "GitHub failed")})

    def no_analysis(*_: Any) -> Any:
        raise AssertionError("the analyze runner must not run a merge group")

    outcome = JobExecutor(OneInstallation(gh), run=no_analysis, retry_delays=(5.0,)).execute(
        claim_of(merge_group_job()), lambda _: None
    )

    assert isinstance(outcome, RetryLater) and outcome.delay == 5.0
    assert isinstance(GitHubError(503, "x"), RetryableError)
    assert gh.conclusion() == "failure"  # never left in progress meanwhile
