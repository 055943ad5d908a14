"""Fixed findings get their review threads resolved (issue 13, part 6).

Two layers, each with what was sent to GitHub:
- `app.github.client.GitHubClient` against recorded answers (tests/cassettes/review_threads.yaml,
  resolve_review_threads.yaml, error_resolve_unknown_thread.yaml, recorded by
  tests/cassettes/record.py in the shapes of GitHub's GraphQL schema: `PRRT_` node ids,
  `fullDatabaseId` a BigInt sent as a string, a bot's `login` without `[bot]`).
- The analyze job (`app.review.analyze.run_analysis`, real analyzer and payloads) against the
  recording fake of the port: which threads it resolves, how many calls that costs, and
  that GitHub failing to resolve them changes neither the verdict nor the findings.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
from support import FAIL_OPEN, NEIGHBOUR, NUMBER, REPO, SAFE, FakeGitHub
from support import make_job as job
from test_app_github import NUMBER as RECORDED_NUMBER
from test_app_github import REPO as RECORDED_REPO
from test_app_github import played, private_key  # noqa: F401  (a fixture)

from failclosed.app.github.client import (
    MAX_THREAD_PAGES,
    THREADS_QUERY,
    GitHubApp,
    GitHubError,
    resolve_mutation,
    review_thread_of,
)
from failclosed.app.github.port import ReviewComment, ReviewThread
from failclosed.app.review.analyze import FIXED_MARKER, run_analysis, threads_to_resolve
from failclosed.app.run.execute import AttemptPort

# -- the client, against recorded GraphQL answers ---------------------------------------------

OURS = "PRRT_kwDOABLLss5dDAwMDAwMTE="  # the thread comment 11 (our bot's) started
A_PERSONS = "PRRT_kwDOABLLss5dDAwMDAwMTA="  # comment 10's, octocat's


@pytest.fixture
def app(private_key: str) -> GitHubApp:  # noqa: F811
    from githubkit.cache import MemCacheStrategy

    return GitHubApp(1, private_key, cache_strategy=MemCacheStrategy())


def graphql_bodies(cassette: object) -> list[dict[str, object]]:
    return [json.loads(r.body) for r in cassette.requests if r.path == "/graphql"]  # type: ignore[attr-defined]


def test_review_threads_are_read_page_by_page_and_ours_are_told_by_the_bot_login(
    app: GitHubApp,
) -> None:
    with played("review_threads") as cassette:
        threads = app.installation(42).review_threads(RECORDED_REPO, RECORDED_NUMBER)

    # 4 threads of the recorded comments, then 100 a person started: two pages.
    assert len(threads) == 104
    assert threads[:4] == [
        ReviewThread(A_PERSONS, False, 10, by_app=False),
        ReviewThread(OURS, False, 11, by_app=True),  # octoapp, a Bot: GET /app's slug
        ReviewThread(threads[2].id, True, 13, by_app=False),  # other-app's bot
        ReviewThread(threads[3].id, False, 14, by_app=False),  # a person pasting our marker
    ]
    first, second = graphql_bodies(cassette)
    assert first == {
        "query": THREADS_QUERY,
        "variables": {"owner": "octocat", "name": "Hello-World", "number": 1347, "after": None},
    }
    answer = json.loads(cassette.responses[2]["body"]["string"])
    cursor = answer["data"]["repository"]["pullRequest"]["reviewThreads"]["pageInfo"]
    assert cursor["hasNextPage"] is True
    assert second["variables"] == {**first["variables"], "after": cursor["endCursor"]}  # type: ignore[dict-item]
    # What GitHub's schema calls these: a thread's first comment, its author an Actor.
    assert "comments(first: 1)" in THREADS_QUERY and "__typename login" in THREADS_QUERY
    assert "reviewThreads(first: 100, after: $after)" in THREADS_QUERY


def test_threads_are_resolved_in_one_mutation_with_an_alias_each(app: GitHubApp) -> None:
    with played("resolve_review_threads", match_body=True) as cassette:
        app.installation(42).resolve_review_threads(RECORDED_REPO, [OURS, A_PERSONS])

    (body,) = graphql_bodies(cassette)
    assert body == {"query": resolve_mutation(2), "variables": {"t0": OURS, "t1": A_PERSONS}}
    assert body["query"] == (
        "mutation ResolveThreads($t0: ID!, $t1: ID!) {\n"
        "  r0: resolveReviewThread(input: {threadId: $t0}) { thread { id isResolved } }\n"
        "  r1: resolveReviewThread(input: {threadId: $t1}) { thread { id isResolved } }\n"
        "}"
    )


def test_a_thread_github_cannot_resolve_is_a_github_error(app: GitHubApp) -> None:
    with played("error_resolve_unknown_thread"), pytest.raises(GitHubError) as info:
        app.installation(42).resolve_review_threads(RECORDED_REPO, ["PRRT_kwDOnope"])
    assert info.value.status == 404
    assert "Could not resolve to a node with the global id" in str(info.value)


def test_a_thread_node_is_ours_only_for_our_bot() -> None:
    def node(typename: str, login: str, full: object = "4000000000") -> dict[str, object]:
        author = {"__typename": typename, "login": login}
        first = {"fullDatabaseId": full, "databaseId": None, "author": author}
        return {"id": "PRRT_x", "isResolved": False, "comments": {"nodes": [first]}}

    assert review_thread_of(node("Bot", "octoapp"), "octoapp[bot]") == ReviewThread(
        "PRRT_x", False, 4_000_000_000, by_app=True
    )  # an id past 32 bits: why fullDatabaseId
    assert not review_thread_of(node("User", "octoapp"), "octoapp[bot]").by_app  # type: ignore[union-attr]
    assert not review_thread_of(node("Bot", "octoapp-evil"), "octoapp[bot]").by_app  # type: ignore[union-attr]
    ghost = {"id": "PRRT_y", "isResolved": True, "comments": {"nodes": [{"author": None}]}}
    assert review_thread_of(ghost, "octoapp[bot]") == ReviewThread("PRRT_y", True, None)
    assert review_thread_of({"isResolved": True}, "octoapp[bot]") is None
    assert MAX_THREAD_PAGES * 100 >= 10_000


# -- the job ----------------------------------------------------------------------------------


def posted_on_fail_open() -> ReviewComment:
    """Our comment from an earlier run, when the head still failed open."""
    first = FakeGitHub()
    first.change("app/perms.py", SAFE, FAIL_OPEN)
    run_analysis(job(), first)
    (comment,) = first.comments_posted()
    return comment


def fixed_push(threads: list[ReviewThread], **fail: Exception) -> tuple[FakeGitHub, int]:
    """The push that fixes our comment's finding; the comment's id."""
    ours = posted_on_fail_open()
    gh = FakeGitHub(existing=[ours], threads=threads, fail=dict(fail))
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR)
    return gh, ours.id


def test_the_fixed_findings_thread_is_resolved_after_the_reply() -> None:
    ours = posted_on_fail_open()
    threads = [
        ReviewThread("PRRT_ours", False, ours.id, by_app=True),
        ReviewThread("PRRT_people", False, 77, by_app=False),
    ]
    gh = FakeGitHub(existing=[ours], threads=threads)
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR)

    result = run_analysis(job(), gh)

    assert gh.names()[-4:] == [
        "reply_to_review_comment",
        "review_threads",
        "resolve_review_threads",
        "update_check_run",
    ]
    assert gh.called("review_threads") == [(REPO, NUMBER)]
    assert gh.called("resolve_review_threads") == [(REPO, ["PRRT_ours"])]
    assert gh.replies() == [(ours.id, f"Fixed in aaaaaaa.\n\n{FIXED_MARKER}")]
    assert gh.conclusion() == "success"
    (pr,) = result.pull_requests
    assert (pr.answered, pr.resolved, result.api_calls) == (1, 1, 8)  # 6 before, +2


def test_threads_read_with_the_pull_request_are_resolved_without_listing_them() -> None:
    """`read_pull_requests` gives each comment its thread: the reply and one mutation."""
    ours = replace(posted_on_fail_open(), thread_id="PRRT_ours")
    done = replace(ours, id=ours.id + 1, thread_id="PRRT_done", thread_resolved=True)
    gh = FakeGitHub(existing=[ours, done])
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR)

    result = run_analysis(job(), gh)

    assert gh.names()[-4:] == [
        "reply_to_review_comment",
        "reply_to_review_comment",  # the same finding, commented on twice, both fixed
        "resolve_review_threads",
        "update_check_run",
    ]
    assert "review_threads" not in gh.names()
    assert gh.called("resolve_review_threads") == [(REPO, ["PRRT_ours"])]  # not the resolved one
    (pr,) = result.pull_requests
    assert (pr.answered, pr.resolved, result.api_calls) == (2, 1, 8)  # 6, 2 replies, 1 mutation


def test_only_open_threads_our_bot_started_with_a_fixed_comment_are_resolved() -> None:
    threads = [
        ReviewThread("mine", False, 1, by_app=True),
        ReviewThread("mine-done", True, 2, by_app=True),  # resolved already
        ReviewThread("theirs", False, 3, by_app=False),  # another author started it
        ReviewThread("mine-not-fixed", False, 4, by_app=True),
        ReviewThread("no-comment", False, None, by_app=True),
    ]
    assert threads_to_resolve(threads, [1, 2, 3]) == ["mine"]
    assert threads_to_resolve(threads, []) == []


def test_a_thread_whose_first_comment_is_not_our_bots_in_graphql_is_left_alone() -> None:
    gh, ours = fixed_push([])
    gh.threads = [ReviewThread("PRRT_x", False, ours, by_app=False)]

    run_analysis(job(), gh)

    assert len(gh.replies()) == 1  # REST says the comment is ours: it is answered
    assert gh.called("resolve_review_threads") == []  # GraphQL does not: not resolved


def test_nothing_fixed_costs_no_thread_call() -> None:
    gh = FakeGitHub(existing=[posted_on_fail_open()])
    gh.change("app/perms.py", SAFE, FAIL_OPEN)  # still failing open

    result = run_analysis(job(), gh)

    assert "review_threads" not in gh.names() and "resolve_review_threads" not in gh.names()
    assert result.api_calls == 5 and gh.conclusion() == "failure"


@pytest.mark.parametrize(
    "step, error",
    [
        ("resolve_review_threads", GitHubError(403, "Resource not accessible by integration")),
        ("review_threads", GitHubError(502, "Server Error")),  # retryable: still cosmetic
        ("review_threads", GitHubError(0, "could not reach GitHub (ConnectError)")),
    ],
)
def test_github_failing_to_resolve_changes_neither_verdict_nor_findings(
    step: str, error: GitHubError, caplog: pytest.LogCaptureFixture
) -> None:
    ours = posted_on_fail_open()
    other_finding = FAIL_OPEN.replace("has_permission", "can_edit")
    gh = FakeGitHub(
        existing=[ours],
        threads=[ReviewThread("PRRT_ours", False, ours.id, by_app=True)],
        fail={step: error},
    )
    # The old finding is fixed; another one, blocking, is new in the same push.
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR + "\n" + other_finding)
    caplog.set_level(logging.WARNING, logger="failclosed.app.review.analyze")

    result = run_analysis(job(), gh)

    assert result.status == "published"
    assert gh.conclusion() == "failure"  # the new finding still blocks: never green
    (check,) = gh.check_updates()
    assert [a["start_line"] for a in check["output"]["annotations"]] != []
    assert len(gh.reviews()[0]["comments"]) == 1  # and is commented on
    assert result.pull_requests[0].resolved == 0
    assert any("could not resolve the fixed review threads" in r.message for r in caplog.records)


def test_a_clean_push_stays_green_when_resolving_fails() -> None:
    gh, ours = fixed_push([], resolve_review_threads=GitHubError(403, "Forbidden"))
    gh.threads = [ReviewThread("PRRT_ours", False, ours, by_app=True)]

    result = run_analysis(job(), gh)

    assert gh.conclusion() == "success"  # the verdict is the analysis', not the cosmetics'
    assert result.pull_requests[0].answered == 1


def test_a_failure_that_is_not_githubs_still_fails_the_job_closed() -> None:
    """A bug in our own code (or a lost lease) is not swallowed as cosmetic."""
    gh, _ = fixed_push([], review_threads=RuntimeError("a bug"))

    with pytest.raises(RuntimeError):
        run_analysis(job(), gh)

    assert gh.conclusion() == "failure"
    assert gh.title() == "Could not verify this pull request"


def test_reading_threads_is_a_read_and_resolving_them_a_fenced_write() -> None:
    assert "review_threads" in AttemptPort.READS
    assert "resolve_review_threads" not in AttemptPort.READS


def test_a_redelivery_resolves_nothing_twice() -> None:
    ours = posted_on_fail_open()
    gh = FakeGitHub(existing=[ours], threads=[ReviewThread("PRRT_ours", False, ours.id, True)])
    gh.change("app/perms.py", SAFE, SAFE + NEIGHBOUR)
    run_analysis(job(), gh)
    gh.threads = [replace(gh.threads[0], resolved=True)]

    run_analysis(job(), gh)  # the reply is there now: nothing to answer, nothing to read

    assert len(gh.called("review_threads")) == 1
    assert len(gh.called("resolve_review_threads")) == 1
