"""The GitHub Action's script (`action.yml` runs `python -m failclosed.app.commands.action`).

For teams that cannot host the App: the same verdict and the same review, from inside a
workflow, with the workflow's own token.

- What is analysed comes from the event (`GITHUB_EVENT_NAME`, `GITHUB_EVENT_PATH`), as
  `failclosed diff BASE HEAD` does it: only findings new or changed since the merge base,
  read from git (so the checkout needs the full history, `fetch-depth: 0`).
  - pull_request: `base.sha`..`head.sha`. The head, not the merge commit that
    `actions/checkout` checks out: review comments and their suggestions sit on the head's
    lines, and the App judges the head too.
  - merge_group: `base_sha`..`head_sha`; no review (there is no pull request to review).
  - push: `before`..`after`; no review. On the default branch the SARIF file holds the whole
    tree at `after` (code scanning reads each upload as the branch's state); the verdict is
    still the diff's. A push that creates a branch has an all-zero
    `before`: it is diffed against the default branch (`origin/<default>`), so the branch
    is judged on what it adds; the first push of the default branch itself has nothing to
    compare with, and the whole tree is scanned. A push that deletes a branch has nothing
    to analyse.
  - `--base` overrides the event's base; any other event needs it.
- Publishing: the SARIF file, always (action.yml uploads it to code scanning). On a pull
  request with findings, the App's review with ```suggestion comments
  (`app.review.analyze.review_for`, sent by `app.github.client`, the one module that talks to
  GitHub); comments already posted are not posted again. Without a review (merge group,
  push, or a token that may not write to the pull request: a fork's read-only token answers
  403), the findings are annotations
  (workflow commands, `app.review.publish.workflow_commands`) and a notice says why. The job's
  summary gets the check run's summary.
- Exit code, failing closed: 2 when the change cannot be analysed (git, the configuration,
  a file the analyzer could not read), 1 for blocking findings, 0 otherwise. Whether the
  token could post the review never changes it.

`app/` imports no libcst itself: the analysis is `analyzers`' (`gitdiff.diff_report`, as the
CLI's `diff`), as the App's jobs call `analyzers` for theirs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from failclosed.analyzers.config import ConfigError, config_from_toml, load_config
from failclosed.analyzers.engine import analyze_paths, decode
from failclosed.analyzers.gitdiff import GitError, diff_report, git, repo_root, resolve_commit
from failclosed.analyzers.model import Report, plural
from failclosed.analyzers.output import format_report, format_sarif
from failclosed.analyzers.settings import Config
from failclosed.app.github.client import ACTIONS_BOT_LOGIN, DEFAULT_BASE_URL, token_client
from failclosed.app.github.port import GitHubFailure, GitHubPort
from failclosed.app.review import publish
from failclosed.app.review.analyze import own_comments, review_for, rule_names

ZERO_SHA = "0" * 40
CANNOT_ANALYSE = 2  # as `failclosed diff`: the change could not be judged
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
DEFAULT_SARIF = "failclosed.sarif"

# What a run judged, as its messages name it.
SUBJECTS = {"pull_request": publish.PULL_REQUEST, "merge_group": "merge group", "push": "push"}


class ActionError(Exception):
    """The run cannot analyse what its event asks for; the message says what to change."""


class NothingToAnalyse(Exception):
    """The event carries no code to judge (a deleted branch); the message says so."""


@dataclass(frozen=True)
class Target:
    """What one run analyses: `base`..`head` (`base` None: the whole tree at `head`)."""

    event: str
    head: str
    base: str | None
    ref: str  # the git ref the results are about, for the SARIF upload
    pull_request: int | None = None  # the pull request to review, if any
    note: str = ""  # a choice the user should know about, shown as a notice
    # The SARIF file holds the whole tree at `head`, not only what changed: a push to the
    # default branch. Code scanning takes each upload as the branch's full state, so an
    # upload of the diff's findings alone would close the alerts of paths still there.
    whole_tree_sarif: bool = False


# -- the event -> what to analyse ------------------------------------------------------------


def target_of(
    event: str,
    payload: Mapping[str, Any],
    base: str | None = None,
    sha: str | None = None,
    ref: str = "",
) -> Target:
    """Read the event's payload (`GITHUB_EVENT_PATH`). `base` (the action's input) replaces
    the event's base; `sha` and `ref` (`GITHUB_SHA`, `GITHUB_REF`) are the head of an
    event that names none."""
    try:
        if event in PULL_REQUEST_EVENTS:
            pr = payload["pull_request"]
            number = int(pr["number"])
            return Target(
                event,
                head=str(pr["head"]["sha"]),
                base=base or str(pr["base"]["sha"]),
                ref=f"refs/pull/{number}/head",
                pull_request=number,
            )
        if event == "merge_group":
            group = payload["merge_group"]
            return Target(
                event,
                head=str(group["head_sha"]),
                base=base or str(group["base_sha"]),
                ref=str(group["head_ref"]),
            )
        if event == "push":
            return _push_target(payload, base)
    except (KeyError, TypeError, ValueError) as exc:
        raise ActionError(f"the {event} event's payload lacks {exc}") from None
    if not base:
        raise ActionError(
            f"a {event} event names no base to compare with: set the action's `base` input"
        )
    return Target(event, head=sha or "HEAD", base=base, ref=ref)


def _push_target(payload: Mapping[str, Any], base: str | None) -> Target:
    ref = str(payload["ref"])
    if payload.get("deleted") or payload.get("after") == ZERO_SHA:
        raise NothingToAnalyse(f"{ref} was deleted: there is no code to analyse")
    after = str(payload["after"])
    before = str(payload["before"])
    default = str(payload["repository"]["default_branch"])
    if base or before != ZERO_SHA:
        on_default = ref == f"refs/heads/{default}"
        return Target("push", head=after, base=base or before, ref=ref, whole_tree_sarif=on_default)
    if ref == f"refs/heads/{default}":
        return Target(
            "push",
            head=after,
            base=None,
            ref=ref,
            note=f"the first push of {default}: nothing to compare with, the whole tree is scanned",
        )
    return Target(
        "push",
        head=after,
        base=f"refs/remotes/origin/{default}",
        ref=ref,
        note=f"a new branch: compared with the default branch ({default})",
    )


def load_event(path: str | None) -> dict[str, Any]:
    """The event payload the runner wrote; ActionError if it cannot be read."""
    if not path:
        raise ActionError("GITHUB_EVENT_PATH is not set: run this inside a GitHub workflow")
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ActionError(f"cannot read the event payload {path}: {exc}") from exc
    if not isinstance(payload, dict):
        raise ActionError(f"the event payload {path} is not a JSON object")
    return payload


# -- analysis --------------------------------------------------------------------------------


def config_for(target: Target, path: Path | None) -> Config:
    """`--config` when given; otherwise the `[tool.failclosed]` of the repository's
    pyproject.toml at the **base** commit, as the App reads it: a change cannot loosen its
    own check (a new `exclude` takes effect once it is merged). A whole-tree scan (no base)
    reads the working tree's."""
    if path is not None or target.base is None:
        return load_config(path)
    root = repo_root(Path.cwd())
    base = resolve_commit(target.base, root)  # a base the clone lacks: git says so here
    listed = git(["ls-tree", "--name-only", base, "--", "pyproject.toml"], root)
    if not listed.strip():
        return Config()
    text = git(["show", f"{base}:pyproject.toml"], root)
    try:
        return config_from_toml(text.decode("utf-8"), source=f"pyproject.toml at {target.base}")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"pyproject.toml at {target.base}: not UTF-8: {exc}") from exc


def analyse(target: Target, config: Config) -> Report:
    """Findings of `target`, paths relative to the current directory (the workspace)."""
    if target.base is None:
        return analyze_paths(["."], config)
    return diff_report(target.base, target.head, config)


def head_sources(report: Report, head: str) -> dict[str, str]:
    """The files with findings as they are at `head`, for fixes shown as diffs."""
    sources: dict[str, str] = {}
    for path in dict.fromkeys(f.path for f in report.findings):
        try:
            sources[path] = decode(git(["show", f"{head}:./{path}"], Path.cwd()))
        except (GitError, SyntaxError, LookupError, UnicodeDecodeError):
            continue  # shown as the new lines only
    return sources


# -- publishing ------------------------------------------------------------------------------


def post_review(
    github: GitHubPort,
    repo: str,
    target: Target,
    report: Report,
    names: Mapping[str, str],
    sources: Mapping[str, str],
    max_inline_comments: int = publish.MAX_INLINE_COMMENTS,
) -> tuple[bool, frozenset[str]]:
    """The App's review of `target`'s pull request: whether one was posted (no: all its
    comments are already there), and the fingerprints of the findings that have an inline
    comment of ours now. Raises the port's `GitHubFailure`."""
    assert target.pull_request is not None
    number = target.pull_request
    files = github.list_changed_files(repo, number)
    existing = own_comments(github.review_comments(repo, number))
    payload = review_for(
        report.findings,
        {f.path: f.patch for f in files},
        sources,
        existing,
        target.head,
        names,
        max_inline_comments,
    )
    inline = {p for c in existing for p in publish.fingerprints_in(c.body)}
    if payload is None:
        return False, frozenset(inline)
    github.create_review(repo, number, payload)
    comments = payload.get("comments")
    for comment in comments if isinstance(comments, list) else []:
        inline |= publish.fingerprints_in(str(comment.get("body", "")))
    return True, frozenset(inline)


def review_or_say_why(
    target: Target,
    report: Report,
    names: Mapping[str, str],
    sources: Mapping[str, str],
    env: Mapping[str, str],
    args: argparse.Namespace,
    out: TextIO,
) -> frozenset[str] | None:
    """Post the review when the token may: the fingerprints of the findings commented on
    inline, None when there is no review. Every GitHub failure becomes a notice or a
    warning, never the job's failure: the verdict is the exit code, and the annotations
    carry every finding not commented on."""
    token = env.get("GITHUB_TOKEN", "")
    if not token:
        _notice(out, "failclosed posted no review", "no token: the findings are annotations")
        return None
    repo = env.get("GITHUB_REPOSITORY", "")
    client = token_client(
        token, env.get("GITHUB_API_URL") or DEFAULT_BASE_URL, bot_login=args.comment_author
    )
    try:
        with client:
            posted, inline = post_review(
                client, repo, target, report, names, sources, args.max_inline_comments
            )
    except GitHubFailure as exc:
        if getattr(exc, "status", None) == 403:
            _notice(
                out,
                "failclosed posted no review",
                "this token may not write to the pull request (a pull request from a fork "
                "gets a read-only GITHUB_TOKEN; the workflow needs `pull-requests: write` "
                f"otherwise): the findings are annotations on this run instead. {exc}",
            )
        else:
            print(
                f"::warning title=failclosed could not post its review::{_data(str(exc))}. "
                "The findings are annotations on this run instead.",
                file=out,
            )
        return None
    said = "posted a review" if posted else "found every finding already commented on"
    print(f"failclosed {said} on #{target.pull_request}", file=out)
    return inline


def write_summary(
    path: str | None, report: Report, target: Target, names: Mapping[str, str]
) -> None:
    """The check run's title and summary as the job's summary: the same text as the App."""
    if not path:
        return
    first = publish.check_run_payloads(
        report.findings, report.errors, target.head, rule_names=names, offer_fixes=False
    )[0]
    output = first["output"]
    assert isinstance(output, dict)
    with open(path, "a", encoding="utf-8") as summary:
        summary.write(f"## failclosed: {output['title']}\n\n{output['summary']}\n")


def write_outputs(path: str | None, outputs: Mapping[str, object]) -> None:
    """`name=value` lines for the step's outputs (`GITHUB_OUTPUT`); values are one line."""
    if not path:
        return
    with open(path, "a", encoding="utf-8") as file:
        for name, value in outputs.items():
            file.write(f"{name}={' '.join(str(value).split())}\n")


def _notice(out: TextIO, title: str, message: str) -> None:
    print(f"::notice title={title}::{_data(message)}", file=out)


def _data(text: str) -> str:
    """A workflow command's message on one line (`%0A`), as the runner unescapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


# -- the command -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m failclosed.app.commands.action",
        description="failclosed's GitHub Action: analyse the event's change and report it.",
    )
    parser.add_argument(
        "--base", default="", help="git revision to compare with (default: the event's base)"
    )
    parser.add_argument("--sarif-file", default=DEFAULT_SARIF, type=Path, metavar="FILE")
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML with [tool.failclosed]")
    parser.add_argument(
        "--review",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="post a review on a pull request (default: yes)",
    )
    parser.add_argument(
        "--max-inline-comments", type=int, default=publish.MAX_INLINE_COMMENTS, metavar="N"
    )
    parser.add_argument(
        "--comment-author",
        default=ACTIONS_BOT_LOGIN,
        metavar="LOGIN",
        help="the account the token posts as: its earlier comments are not repeated",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the action in the current directory (the workspace); the job's exit code."""
    env = os.environ if environ is None else environ
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    event = env.get("GITHUB_EVENT_NAME", "")
    outputs: dict[str, object] = {"sarif-file": "", "findings": 0, "blocking": 0}
    try:
        payload = load_event(env.get("GITHUB_EVENT_PATH"))
        target = target_of(
            event, payload, args.base or None, env.get("GITHUB_SHA"), env.get("GITHUB_REF", "")
        )
        if target.note:
            _notice(out, "failclosed", target.note)
        config = config_for(target, args.config)
        report = analyse(target, config)
        scanned = analyze_paths(["."], config) if target.whole_tree_sarif else report
    except NothingToAnalyse as exc:
        _notice(out, "failclosed", str(exc))
        write_outputs(env.get("GITHUB_OUTPUT"), outputs)
        return 0
    except (ActionError, ConfigError, GitError) as exc:
        return _cannot_analyse(out, env, outputs, str(exc))
    except Exception as exc:  # a bug must not look like "nothing found"
        return _cannot_analyse(
            out, env, outputs, f"internal error: {type(exc).__name__}: {exc} (a bug in failclosed)"
        )
    return report_and_exit(report, target, args, env, out, outputs, scanned)


def report_and_exit(
    report: Report,
    target: Target,
    args: argparse.Namespace,
    env: Mapping[str, str],
    out: TextIO,
    outputs: dict[str, object],
    scanned: Report | None = None,
) -> int:
    """Write the SARIF file (of `scanned`, the whole tree, when given), review or annotate,
    summarise; the exit code of `report`."""
    args.sarif_file.parent.mkdir(parents=True, exist_ok=True)
    args.sarif_file.write_text(format_sarif(scanned or report), encoding="utf-8")
    names = rule_names()
    sources = head_sources(report, target.head)
    out.write(format_report(report, "text", sources.get))
    inline: frozenset[str] = frozenset()
    if target.pull_request is not None and report.findings and args.review:
        inline = review_or_say_why(target, report, names, sources, env, args, out) or inline
    # What the review does not carry inline (past its limit, off the diff, or no review at
    # all) is annotated, so that every finding is on the run, as the review's body says.
    shown = [f for f in report.findings if publish.fingerprint(f) not in inline]
    subject = SUBJECTS.get(target.event, "change")
    for line in publish.workflow_commands(shown, report.errors, names, subject):
        print(line, file=out)
    if report.errors:
        print(
            f"::error title={publish.failed_title(subject)}::"
            f"{plural(len(report.errors), 'file')} could "
            "not be analysed: failing closed, since nobody can tell whether they fail open",
            file=out,
        )
    write_summary(env.get("GITHUB_STEP_SUMMARY"), report, target, names)
    outputs.update(
        {
            "sarif-file": args.sarif_file,
            "findings": len(report.findings),
            "blocking": sum(f.severity == "error" for f in report.findings),
            "sha": target.head,
            "ref": target.ref,
        }
    )
    write_outputs(env.get("GITHUB_OUTPUT"), outputs)
    return report.exit_code()


def _cannot_analyse(
    out: TextIO, env: Mapping[str, str], outputs: Mapping[str, object], reason: str
) -> int:
    print(f"::error title=failclosed could not analyse this change::{_data(reason)}", file=out)
    write_outputs(env.get("GITHUB_OUTPUT"), outputs)
    return CANNOT_ANALYSE


if __name__ == "__main__":
    sys.exit(main())
