"""The lease fence of one attempt (`AttemptPort`): only named reads pass unchecked.

A write made after another attempt took the job over would race that attempt on the same
pull request, so the fence fails closed: any method it was not told is a read is treated
as a write, including one added to the port after the fence was written.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import pytest
from support import HEAD_SHA, NUMBER, REPO, FakeGitHub, OneInstallation, make_job

from failclosed.app.github.client import GitHubError
from failclosed.app.github.port import GitHubPort
from failclosed.app.model import Claim
from failclosed.app.review.analyze import JobResult
from failclosed.app.run.execute import AttemptPort, Finished, JobExecutor, LeaseLost, RetryLater

# One plausible call of each operation of the port, by name.
SAMPLE_CALLS: dict[str, tuple[Any, ...]] = {
    "get_pull_request": (REPO, NUMBER),
    "list_changed_files": (REPO, NUMBER),
    "compare_commits": (REPO, "b" * 40, HEAD_SHA),
    "read_files": (REPO, [(HEAD_SHA, "app/perms.py")]),
    "create_check_run": (REPO, HEAD_SHA, "failclosed", "d-1"),
    "find_check_run": (REPO, HEAD_SHA, "failclosed", "d-1"),
    "update_check_run": (REPO, 99, {"status": "completed"}),
    "create_review": (REPO, NUMBER, {"body": "a review"}),
    "pull_requests_for_commit": (REPO, HEAD_SHA),
    "review_comments": (REPO, NUMBER),
    "read_pull_requests": (REPO, (NUMBER,), HEAD_SHA),
    "reply_to_review_comment": (REPO, NUMBER, 1, "a reply"),
    "review_threads": (REPO, NUMBER),
    "resolve_review_threads": (REPO, ["PRRT_a"]),
    "comment_on_pull_request": (REPO, NUMBER, "a comment"),
    "commit_files": (REPO, "feature", HEAD_SHA, {"app/perms.py": b""}, "a commit"),
    "read_tree": (REPO, HEAD_SHA),
    "upload_sarif": (REPO, {"commit_sha": HEAD_SHA, "ref": "refs/heads/main", "sarif": ""}),
}


def port_operations() -> frozenset[str]:
    """The methods the `GitHubPort` Protocol itself declares (not its private machinery)."""
    return frozenset(
        name
        for name, value in vars(GitHubPort).items()
        if inspect.isfunction(value) and not name.startswith("_")
    )


PORT_WRITES = sorted(port_operations() - AttemptPort.READS)


@dataclass
class RawClient:
    """An HTTP client that can write anything, unaware of leases."""

    sent: list[str] = field(default_factory=list)

    def delete(self, path: str) -> None:
        self.sent.append(f"DELETE {path}")


@dataclass
class GitHubWithANewWrite(FakeGitHub):
    """The port as it might grow: a write nobody told the fence about, and (as
    `GitHubClient` has) a raw HTTP client kept in a private attribute."""

    deleted: list[str] = field(default_factory=list)
    _http: RawClient = field(default_factory=lambda: RawClient())

    def delete_branch(self, repo: str, branch: str) -> None:
        self._record("delete_branch", repo, branch)
        self._delete_ref(repo, f"heads/{branch}")
        self.deleted.append(branch)

    def _delete_ref(self, repo: str, ref: str) -> None:
        self._http.delete(f"/repos/{repo}/git/refs/{ref}")


@dataclass
class Lease:
    """Stands in for the queue's `still_held`: says whether the attempt holds the job,
    and counts how often it was asked."""

    held: bool
    asked: int = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.held


def attempt(inner: FakeGitHub, lease: Lease) -> AttemptPort:
    """The port a first attempt of an analysis job sees (no check run from before)."""
    claim = Claim(id=1, job=make_job(), attempt=1, recovered=False, check_run_id=None)
    return AttemptPort(inner, claim, record=lambda _: None, still_held=lease)


def refusal(port: AttemptPort, name: str, *args: Any) -> LeaseLost:
    """The `LeaseLost` that calling `name` through the fence raises."""
    with pytest.raises(LeaseLost) as refused:
        getattr(port, name)(*args)
    return refused.value


def test_a_new_write_is_refused_like_a_known_one_once_the_lease_is_lost() -> None:
    """`delete_branch` is in no list of the fence, yet it is refused as `update_check_run`
    is: same exception, same reason, and neither reaches GitHub."""
    github = GitHubWithANewWrite()
    port = attempt(github, Lease(held=False))

    known = refusal(port, "update_check_run", *SAMPLE_CALLS["update_check_run"])
    new = refusal(port, "delete_branch", REPO, "feature")

    assert type(new) is type(known) and str(new) == str(known)
    assert github.calls == [] and github.deleted == []


def test_a_new_write_asks_the_queue_and_goes_through_while_the_lease_holds() -> None:
    github = GitHubWithANewWrite()
    lease = Lease(held=True)

    attempt(github, lease).delete_branch(REPO, "feature")

    assert github.deleted == ["feature"] and lease.asked == 1


@pytest.mark.parametrize("name", PORT_WRITES)
def test_every_write_of_the_port_is_refused_once_the_lease_is_lost(name: str) -> None:
    """Today's writes, found from the Protocol rather than listed, so none is missed."""
    github = FakeGitHub()

    refusal(attempt(github, Lease(held=False)), name, *SAMPLE_CALLS[name])

    assert github.calls == []


@pytest.mark.parametrize("name", sorted(AttemptPort.READS))
def test_each_named_read_passes_without_asking_the_queue(name: str) -> None:
    """A read cannot race another attempt, and it works even after the lease is lost."""
    github = FakeGitHub()
    lease = Lease(held=False)

    getattr(attempt(github, lease), name)(*SAMPLE_CALLS[name])

    assert [called for called, _ in github.calls] == [name]
    assert lease.asked == 0


def test_the_reads_name_only_methods_of_the_github_port() -> None:
    """A misspelt or invented name in `READS` would let a method of that name through
    unchecked if a client ever grew one."""
    unknown = AttemptPort.READS - port_operations()
    assert not unknown, f"READS names what GitHubPort does not declare: {sorted(unknown)}"


def test_the_writes_of_the_port_today_are_all_fenced() -> None:
    """Moving a write into `READS` (so that it goes unchecked) is a change this test shows."""
    assert PORT_WRITES == [
        "comment_on_pull_request",
        "commit_files",
        "create_check_run",
        "create_review",
        "reply_to_review_comment",
        "resolve_review_threads",
        "update_check_run",
        "upload_sarif",
    ]


def test_the_sample_calls_cover_the_whole_port() -> None:
    assert set(SAMPLE_CALLS) == port_operations()


@pytest.mark.parametrize("name", ["_http", "_delete_ref", "files", "deleted"])
def test_what_is_not_a_method_of_the_port_is_not_handed_out(name: str) -> None:
    """Data and private parts of the wrapped client (its HTTP client, say) could write to
    GitHub later, past the fence: the fence does not hand them out, lease or not."""
    lease = Lease(held=True)

    with pytest.raises(AttributeError):
        getattr(attempt(GitHubWithANewWrite(), lease), name)

    assert lease.asked == 0


# -- one client per job ------------------------------------------------------------------


@dataclass
class EnterableGitHub(FakeGitHub):
    """A port that is a context manager, as `GitHubClient` is (one HTTP client inside)."""

    events: list[str] = field(default_factory=list)

    def __enter__(self) -> EnterableGitHub:
        self.events.append("enter")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.events.append("exit")


def first_claim() -> Claim:
    return Claim(id=1, job=make_job(), attempt=1, recovered=False, check_run_id=None)


def test_a_job_runs_inside_its_client_which_is_left_after_it() -> None:
    github = EnterableGitHub()

    def run(_job: Any, port: GitHubPort) -> JobResult:
        github.events.append("run")
        port.update_check_run(REPO, 99, {"status": "completed"})  # through the fence
        return JobResult("nothing")

    outcome = JobExecutor(OneInstallation(github), run=run).execute(first_claim(), lambda _: None)

    assert outcome == Finished("done")
    assert github.events == ["enter", "run", "exit"]
    assert [name for name, _ in github.calls] == ["update_check_run"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [(GitHubError(502, "GitHub failed"), RetryLater), (ValueError("a bug"), Finished)],
)
def test_a_failing_job_leaves_its_client_and_keeps_its_outcome(
    error: Exception, expected: type
) -> None:
    github = EnterableGitHub()

    def run(_job: Any, _port: GitHubPort) -> JobResult:
        github.events.append("run")
        raise error

    outcome = JobExecutor(OneInstallation(github), run=run).execute(first_claim(), lambda _: None)

    assert isinstance(outcome, expected)
    assert github.events == ["enter", "run", "exit"]


def test_a_port_that_is_no_context_manager_is_used_as_it_is() -> None:
    github = FakeGitHub()
    seen: list[GitHubPort] = []

    def run(_job: Any, port: GitHubPort) -> JobResult:
        seen.append(port)
        return JobResult("nothing")

    outcome = JobExecutor(OneInstallation(github), run=run).execute(first_claim(), lambda _: None)

    assert outcome == Finished("done")
    assert isinstance(seen[0], AttemptPort) and seen[0].inner is github


def test_giving_up_fails_the_check_run_inside_one_client() -> None:
    github = EnterableGitHub()
    claim = Claim(id=1, job=make_job(), attempt=7, recovered=True, check_run_id=99)

    outcome = JobExecutor(OneInstallation(github)).give_up(claim, "kept dying")

    assert outcome.state == "failed"
    assert github.events == ["enter", "exit"]
    assert [name for name, _ in github.calls] == ["update_check_run"]
