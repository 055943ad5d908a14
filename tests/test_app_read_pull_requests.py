"""`GitHubClient.read_pull_requests`: one GraphQL query for what an analyze job read in three
REST calls (the commit's pull requests, the pull request, its review comments), issue 11.

- Against recorded answers (tests/cassettes/read_pull_requests*.yaml, recorded by
  tests/cassettes/record.py in the shapes of GitHub's GraphQL schema): which PRs come back,
  every page read (associated PRs, threads, a thread's comments), forks, ours told by the
  bot's login.
- Its documents validated against GitHub's schema (the subset in
  tests/data/github-graphql-subset.graphql, from npm `@octokit/graphql-schema`).
- Failing closed: an answer in a shape GitHub does not document, or longer than the pages
  read, is an error, never a shorter list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from graphql import build_schema, parse, validate
from test_app_github import (
    HEAD_SHA,
    NUMBER,
    REPO,
    played,
    private_key,  # noqa: F401  (a fixture)
)

from failclosed.app.github import client as github
from failclosed.app.github.client import (
    MAX_PAGES,
    GitHubApp,
    GitHubClient,
    GitHubError,
    connection_of,
    pull_request_of,
    pull_requests_query,
    thread_comments,
)
from failclosed.app.github.port import PullRequest, ReviewComment

SUBSET = Path(__file__).parent / "data" / "github-graphql-subset.graphql"
FORK = "contributor/Hello-World"
OURS = "PRRT_kwDOABLLss5dDAwMDAwMTE="  # the thread our bot's comment 11 started


@pytest.fixture
def app(private_key: str) -> GitHubApp:  # noqa: F811
    from githubkit.cache import MemCacheStrategy

    return GitHubApp(1, private_key, cache_strategy=MemCacheStrategy())


def graphql_bodies(cassette: Any) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in cassette.requests if r.path == "/graphql"]


# -- against recorded answers -----------------------------------------------------------------


def test_one_query_reads_the_pr_with_its_comments_and_finds_the_other_prs_of_the_head(
    app: GitHubApp,
) -> None:
    with played("read_pull_requests", match_body=True) as cassette:
        reads = app.installation(42).read_pull_requests(REPO, [NUMBER], HEAD_SHA)

    # GitHub's associated PRs also list a closed PR, one whose head moved on, the fork's
    # own PR and merged ones: only the open PRs of this repository headed here are kept.
    assert [read.pull_request.number for read in reads] == [NUMBER, 1400, 1401]
    pr = reads[0].pull_request
    assert pr == PullRequest(
        NUMBER, HEAD_SHA, pr.base_sha, "fix-auth", FORK, draft=False, changed_files=5
    )
    first, second, others, threads_page, comments_page = graphql_bodies(cassette)
    assert first == {
        "query": pull_requests_query(1, True),
        "variables": {
            "owner": "octocat",
            "name": "Hello-World",
            "sha": HEAD_SHA,
            "after": None,
            "n0": NUMBER,
        },
    }
    # the associated PRs' second page, then the two other PRs of the head in one query
    assert second["query"] == pull_requests_query(0, True)
    assert second["variables"]["after"] is not None
    assert others["variables"] == {
        "owner": "octocat",
        "name": "Hello-World",
        "n0": 1400,
        "n1": 1401,
    }
    # a thread of 150 comments and 104 threads: a page more of each, nothing cut
    assert comments_page["query"] == github.COMMENT_PAGE_QUERY
    assert threads_page["query"] == github.THREAD_PAGE_QUERY
    assert threads_page["variables"]["number"] == NUMBER
    listed = reads[0].comments
    assert len(listed) == 5 + 150 + 99
    assert len({c.thread_id for c in listed}) == 4 + 1 + 99
    assert [c for c in listed if c.id in (10, 11, 12, 13, 14)] == [
        ReviewComment(10, "Great stuff!", "file1.txt", None, False, listed[0].thread_id),
        ReviewComment(
            11, "<!-- failclosed:fp:0123abcd --> fails open", "file1.txt", None, True, OURS
        ),  # octoapp, a Bot: GET /app's slug
        ReviewComment(12, "Fixed, thanks.", "app/auth.py", 11, False, OURS),  # a reply in it
        ReviewComment(  # another App's bot, its thread resolved
            13, listed[3].body, "file1.txt", None, False, listed[3].thread_id, True
        ),
        ReviewComment(14, listed[4].body, "file1.txt", None, False, listed[4].thread_id),
    ]
    long_thread = [c for c in listed if 800_000 <= c.id < 900_000]
    assert len(long_thread) == 150
    assert [c.in_reply_to_id for c in long_thread] == [None] + [800_000] * 149
    assert not any(c.by_app for c in long_thread)  # a deleted account among them: not ours
    assert [read.comments for read in reads[1:]] == [(), ()]


def test_prs_by_number_alone_skip_the_commit(app: GitHubApp) -> None:
    """The job's second read of PRs whose head lagged behind the webhook."""
    with played("read_pull_requests_by_number", match_body=True) as cassette:
        reads = app.installation(42).read_pull_requests(REPO, [NUMBER, 1400])

    assert [read.pull_request.number for read in reads] == [NUMBER, 1400]
    first = graphql_bodies(cassette)[0]
    assert first["query"] == pull_requests_query(2, False)
    assert "associatedPullRequests" not in first["query"]
    assert first["variables"] == {
        "owner": "octocat",
        "name": "Hello-World",
        "n0": NUMBER,
        "n1": 1400,
    }


def test_a_pull_request_github_does_not_know_is_a_404(app: GitHubApp) -> None:
    with played("error_read_pull_requests_404"), pytest.raises(GitHubError) as info:
        app.installation(42).read_pull_requests(REPO, [9999], HEAD_SHA)
    assert info.value.status == 404
    assert "Could not resolve to a PullRequest with the number of 9999" in str(info.value)


# -- the documents against GitHub's schema ----------------------------------------------------


def documents() -> dict[str, str]:
    return {
        "first": pull_requests_query(3, True),
        "commit only": pull_requests_query(0, True),
        "by number": pull_requests_query(1, False),
        "threads": github.THREAD_PAGE_QUERY,
        "comments": github.COMMENT_PAGE_QUERY,
        "review_threads": github.THREADS_QUERY,
        "read_files": github.read_query([2, 1]),
        "resolve": github.resolve_mutation(2),
        "commit": github.COMMIT_MUTATION,
    }


@pytest.mark.parametrize("name", sorted(documents()))
def test_every_document_is_valid_against_githubs_schema(name: str) -> None:
    schema = build_schema(SUBSET.read_text())
    assert validate(schema, parse(documents()[name])) == []


def test_the_schema_subset_says_where_it_comes_from() -> None:
    head = SUBSET.read_text().splitlines()[0]
    assert "@octokit/graphql-schema@" in head and "schema.graphql" in head


def test_a_field_github_does_not_have_would_be_caught() -> None:
    schema = build_schema(SUBSET.read_text())
    wrong = pull_requests_query(1, True).replace("changedFiles", "changed_files")
    assert validate(schema, parse(wrong)) != []


# -- failing closed ----------------------------------------------------------------------------

NODE: dict[str, Any] = {
    "number": 7,
    "state": "OPEN",
    "headRefOid": "a" * 40,
    "baseRefOid": "b" * 40,
    "headRefName": "feature",
    "headRepository": {"nameWithOwner": "fork/app"},
    "isDraft": False,
    "changedFiles": 3,
}


def test_a_pull_request_node_becomes_the_facts_the_job_needs() -> None:
    assert pull_request_of(NODE, 7) == PullRequest(
        7, "a" * 40, "b" * 40, "feature", "fork/app", draft=False, changed_files=3
    )
    deleted_fork = pull_request_of({**NODE, "headRepository": None}, 7)
    assert deleted_fork.head_repo == ""


@pytest.mark.parametrize(
    "change",
    [
        {"changedFiles": None},  # the 3,000-file cap could not be checked
        {"changedFiles": True},
        {"headRefOid": None},
        {"headRefOid": ""},
        {"baseRefOid": 5},
        {"isDraft": None},
        {"number": 8},
        {"headRepository": {"name": "app"}},
    ],
)
def test_a_pull_request_node_missing_a_fact_is_an_error(change: dict[str, Any]) -> None:
    with pytest.raises(GitHubError, match="unexpected data"):
        pull_request_of({**NODE, **change}, 7)


def test_a_missing_pull_request_is_a_404() -> None:
    with pytest.raises(GitHubError) as info:
        pull_request_of(None, 7)
    assert info.value.status == 404


@pytest.mark.parametrize(
    "connection",
    [
        None,
        {"nodes": []},  # no pageInfo: was it all?
        {"pageInfo": {"hasNextPage": False}},
        {"nodes": [None], "pageInfo": {"hasNextPage": False}},  # a node GitHub could not give
        {"nodes": [], "pageInfo": {}},
        {"nodes": [], "pageInfo": {"hasNextPage": True, "endCursor": None}},
    ],
)
def test_a_connection_that_may_be_partial_is_an_error(connection: Any) -> None:
    with pytest.raises(GitHubError, match="unexpected data"):
        connection_of(connection, "reviewThreads")


def test_a_connection_gives_its_next_cursor_only_when_there_is_a_next_page() -> None:
    assert connection_of(
        {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": "x"}}, "c"
    ) == ([], None)
    assert connection_of(
        {"nodes": [{}], "pageInfo": {"hasNextPage": True, "endCursor": "x"}}, "c"
    ) == (
        [{}],
        "x",
    )


def comment(**fields: Any) -> dict[str, Any]:
    return {
        "fullDatabaseId": "4000000000",  # past 32 bits: why fullDatabaseId
        "databaseId": None,
        "body": "b",
        "path": "a.py",
        "author": {"__typename": "Bot", "login": "octoapp"},
        **fields,
    }


def test_a_threads_comments_are_ours_only_for_our_bot_and_replies_point_at_its_first() -> None:
    thread = {"id": "PRRT_x", "isResolved": True}
    got = thread_comments(
        thread,
        [
            comment(),
            comment(
                fullDatabaseId=None, databaseId=5, author={"__typename": "User", "login": "octoapp"}
            ),
            comment(fullDatabaseId="6", author={"__typename": "Bot", "login": "octoapp-evil"}),
            comment(fullDatabaseId="7", author=None),  # a deleted account
        ],
        "octoapp[bot]",
    )
    assert [(c.id, c.in_reply_to_id, c.by_app) for c in got] == [
        (4_000_000_000, None, True),
        (5, 4_000_000_000, False),
        (6, 4_000_000_000, False),
        (7, 4_000_000_000, False),
    ]
    assert {(c.thread_id, c.thread_resolved) for c in got} == {("PRRT_x", True)}


@pytest.mark.parametrize(
    "thread, bad",
    [
        ({"id": "PRRT_x", "isResolved": False}, comment(fullDatabaseId=None)),
        ({"id": "PRRT_x", "isResolved": False}, comment(body=None)),
        ({"id": "PRRT_x", "isResolved": False}, comment(path=None)),
        ({"id": "PRRT_x", "isResolved": False}, comment(author="octoapp")),
        ({"id": None, "isResolved": False}, comment()),
        ({"id": "PRRT_x"}, comment()),
    ],
)
def test_a_comment_or_thread_missing_what_the_job_needs_is_an_error(
    thread: dict[str, Any], bad: dict[str, Any]
) -> None:
    """A comment of ours that could not be read would be posted again: fail, and retry."""
    with pytest.raises(GitHubError, match="unexpected data"):
        thread_comments(thread, [bad], "octoapp[bot]")


class EndlessGitHub:
    """A githubkit stand-in whose every GraphQL answer says there is one more page."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.queries = 0
        self.graphql = self

    def rest(self, version: str) -> Any:
        return None

    def request(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        self.queries += 1
        return self.answer


MORE = {"hasNextPage": True, "endCursor": "next"}


def test_a_commit_in_more_prs_than_the_pages_read_fails_rather_than_stop_short() -> None:
    endless = EndlessGitHub(
        {"repository": {"head": {"associatedPullRequests": {"nodes": [], "pageInfo": MORE}}}}
    )
    client = GitHubClient(endless, bot_login=lambda: "octoapp[bot]")  # type: ignore[arg-type]

    with pytest.raises(GitHubError, match="more than"):
        client.read_pull_requests(REPO, [], HEAD_SHA)
    assert endless.queries == MAX_PAGES


def test_threads_past_the_pages_read_fail_rather_than_stop_short() -> None:
    threads = {"nodes": [], "pageInfo": MORE}
    endless = EndlessGitHub(
        {
            "repository": {
                "p0": {**NODE, "reviewThreads": threads},
                "pullRequest": {"reviewThreads": threads},
            }
        }
    )
    client = GitHubClient(endless, bot_login=lambda: "octoapp[bot]")  # type: ignore[arg-type]

    with pytest.raises(GitHubError, match="more than"):
        client.read_pull_requests(REPO, [7])
    assert endless.queries == MAX_PAGES


def test_a_threads_comments_past_the_pages_read_fail_rather_than_stop_short() -> None:
    thread = {
        "id": "PRRT_x",
        "isResolved": False,
        "comments": {"nodes": [comment()], "pageInfo": MORE},
    }
    pull = {**NODE, "reviewThreads": {"nodes": [thread], "pageInfo": {"hasNextPage": False}}}
    endless = EndlessGitHub(
        {"repository": {"p0": pull}, "node": {"comments": {"nodes": [], "pageInfo": MORE}}}
    )
    client = GitHubClient(endless, bot_login=lambda: "octoapp[bot]")  # type: ignore[arg-type]

    with pytest.raises(GitHubError, match="more than"):
        client.read_pull_requests(REPO, [7])
    assert endless.queries == MAX_PAGES
