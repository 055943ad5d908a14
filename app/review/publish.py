"""Findings and a pull request's diff -> the exact payloads the app sends to GitHub.

Pure: no network, no GitHub client, no libcst. The module that talks to GitHub posts
what these functions build, so every GitHub limit that would turn a report into a 422
(comments off the diff, too many annotations, too long a summary, too long an action
label, too many SARIF results or too big a SARIF file) is handled here, where it can be
tested exactly.

Rule names are passed in (`rule_names`: code -> name) rather than read from
`analyzers.rules`, because importing the rules imports libcst and `app/` must not.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from failclosed.analyzers.model import (
    CWE,
    SEVERITIES,
    AnalysisError,
    Finding,
    Fix,
    fingerprint,
    fix_hunk,
    split_lines,
)
from failclosed.analyzers.model import plural as _plural

CHECK_NAME = "failclosed"
RULES_DOC = "https://github.com/failclosed/failclosed/blob/main/docs/rules.md"
CWE_URL = "https://cwe.mitre.org/data/definitions/636.html"
SUMMARY_LIMIT = 65_535  # output.summary and output.text
BODY_LIMIT = 65_536  # review and review-comment bodies
ANNOTATION_TEXT_LIMIT = 65_535  # annotation message and raw_details
ANNOTATION_TITLE_LIMIT = 255
ANNOTATIONS_PER_REQUEST = 50
# Inline comments a review carries by default (`FAILCLOSED_MAX_INLINE_COMMENTS`): past a few
# dozen, people stop reading a review; the rest are in the check run, which lists them all.
MAX_INLINE_COMMENTS = 25
CELL_LIMIT = 300  # a summary table cell; longer messages are in the annotations anyway
ANNOTATION_LEVEL = {"error": "failure", "warning": "warning", "note": "notice"}
APPLY_FIXES_ACTION = {
    "label": "Apply fixes",
    "identifier": "apply_fixes",
    "description": "Commit the verified fail-closed patches",
}
ACTION_LIMITS = {"label": 20, "identifier": 20, "description": 40}
FAILED_TITLE = "Could not verify this pull request"
PULL_REQUEST = "pull request"  # what a check run is about: this, or "merge group"


def failed_title(subject: str = PULL_REQUEST) -> str:
    """ "Could not verify this pull request", or "... this merge group" for a queue's."""
    return f"Could not verify this {subject}"


# The path of an analysis error about the whole pull request (GitHub did not list all
# its files), not about one file: it is said as itself, never counted as "1 file".
WHOLE_PULL_REQUEST = "(pull request)"
TABLE_HEADER = "| File | Rule | Severity | Message |\n| --- | --- | --- | --- |"
_FINGERPRINT = re.compile(r"<!-- failclosed:fingerprint=(\S+) -->")

RuleDocUrl = Callable[[str], str]


def default_rule_doc_url(code: str) -> str:
    """The rule's section in docs/rules.md (GitHub anchors are the lower-cased heading)."""
    return f"{RULES_DOC}#{code.lower()}"


# -- the lines of a diff a comment may use -----------------------------------------------


@dataclass(frozen=True)
class DiffLines:
    """Per hunk, the RIGHT-side line numbers (added + context) a review comment may use.

    Kept per hunk because a multi-line comment, and so a multi-line suggestion, must
    start and end in the same hunk.
    """

    hunks: tuple[frozenset[int], ...] = ()

    def spans(self, start: int, end: int) -> bool:
        """Whether every line of start..end is commentable within one hunk."""
        if start < 1 or end < start:
            return False
        wanted = range(start, end + 1)
        return any(all(n in hunk for n in wanted) for hunk in self.hunks)


def diff_lines(patch: str | None) -> DiffLines:
    """The commentable lines of one file's `patch` from `GET /pulls/{n}/files`.

    GitHub leaves `patch` out for binary and very large files: nothing is commentable
    then. The patch has hunks only, so headers are added for unidiff; lines are split
    on \\n alone (after dropping CRLF's \\r) because a form feed or U+2028 in the code
    is not a line break in a diff. A patch unidiff cannot read makes no line commentable:
    its findings still reach the review body and the check run.
    """
    if not patch:
        return DiffLines()
    text = patch.replace("\r\n", "\n")
    lines = ["--- a/file\n", "+++ b/file\n", *(line + "\n" for line in text.split("\n"))]
    if lines[-1] == "\n":  # the patch's own final newline, not an empty context line
        lines.pop()
    try:
        patched = PatchSet(lines)
    except UnidiffParseError:
        return DiffLines()
    hunks = tuple(
        frozenset(line.target_line_no for line in hunk if line.target_line_no is not None)
        for patched_file in patched
        for hunk in patched_file
    )
    return DiffLines(tuple(hunk for hunk in hunks if hunk))


# -- review comments ---------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedComment:
    """One inline comment of a review we plan to post, with the finding it is about.

    A comment already on the pull request, as read back from GitHub, is a
    `ports.ReviewComment`.
    """

    finding: Finding
    path: str
    body: str
    line: int
    start_line: int | None = None  # set for a multi-line comment

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.finding)

    def to_json(self) -> dict[str, object]:
        """The comment as an element of the review's `comments`."""
        payload: dict[str, object] = {"path": self.path, "body": self.body}
        if self.start_line is not None:
            payload["start_line"] = self.start_line
            payload["start_side"] = "RIGHT"
        payload["line"] = self.line
        payload["side"] = "RIGHT"
        return payload


def fingerprint_marker(finding: Finding) -> str:
    return f"<!-- failclosed:fingerprint={fingerprint(finding)} -->"


def fingerprints_in(body: str) -> set[str]:
    """The fingerprints of the findings a comment or review body is about."""
    return set(_FINGERPRINT.findall(body or ""))


def review_comments(
    findings: Iterable[Finding],
    patches: Mapping[str, str | None],
    rule_doc_url: RuleDocUrl = default_rule_doc_url,
    head_sources: Mapping[str, str] | None = None,
    rule_names: Mapping[str, str] | None = None,
) -> tuple[list[PlannedComment], list[Finding]]:
    """Inline comments for the findings on lines of the diff, and the rest (leftovers).

    A comment off the diff fails the whole review with 422, so every anchor is checked
    against the file's hunks first. A fix whose lines all sit in one hunk becomes a
    ```suggestion on exactly those lines; any other fix is shown as a ```diff block on
    the finding's own lines.
    """
    comments: list[PlannedComment] = []
    leftovers: list[Finding] = []
    cache: dict[str, DiffLines] = {}
    for finding in findings:
        if finding.path not in cache:
            cache[finding.path] = diff_lines(patches.get(finding.path))
        comment = _comment_for(
            finding,
            cache[finding.path],
            rule_doc_url(finding.rule),
            (head_sources or {}).get(finding.path),
            (rule_names or {}).get(finding.rule, ""),
        )
        if comment is None:
            leftovers.append(finding)
        else:
            comments.append(comment)
    return comments, leftovers


def _comment_for(
    finding: Finding, lines: DiffLines, doc_url: str, head_source: str | None, name: str
) -> PlannedComment | None:
    fix = finding.fix
    if fix is not None and lines.spans(fix.line, fix.end_line):
        anchor: tuple[int, int] | None = (fix.line, fix.end_line)
        block = _fenced("suggestion", _strip_final_newline(fix.replacement))
    else:
        anchor = _finding_anchor(finding, lines)
        block = _diff_block(fix, head_source) if fix is not None else ""
    if anchor is None:
        return None
    body = _comment_body(finding, block, doc_url, name)
    if len(body) > BODY_LIMIT:  # a huge fix: say where it is rather than cut a suggestion
        note = "_The fix is too large to show here; it is in the check run's details._"
        body = _comment_body(finding, note, doc_url, name)
    start, end = anchor
    return PlannedComment(
        finding=finding,
        path=finding.path,
        body=body,
        line=end,
        start_line=start if start != end else None,
    )


def _finding_anchor(finding: Finding, lines: DiffLines) -> tuple[int, int] | None:
    """The finding's lines if they are all in one hunk, else its last or first line."""
    for start, end in (
        (finding.line, finding.end_line),
        (finding.end_line, finding.end_line),
        (finding.line, finding.line),
    ):
        if lines.spans(start, end):
            return start, end
    return None


def _comment_body(finding: Finding, block: str, doc_url: str, name: str) -> str:
    title = f"**{finding.rule}**" + (f" `{name}`" if name else "") + f" ({finding.severity})"
    parts = [f"{title}: {finding.message}"]
    if block:
        parts.append(block)
    parts.append(f"[{finding.rule} docs]({doc_url}) · [{CWE}]({CWE_URL})")
    parts.append(fingerprint_marker(finding))
    return "\n\n".join(parts)


def _diff_block(fix: Fix, head_source: str | None) -> str:
    """The fix as a ```diff: `-` lines only when the head file is there to read them."""
    new = [_strip_final_newline(line) for line in split_lines(fix.replacement)]
    old_lines = split_lines(head_source) if head_source is not None else None
    lead = "This fix touches lines outside this diff, so it cannot be a suggestion"
    if old_lines is None or fix.line < 1 or fix.end_line > len(old_lines):
        text = "\n".join(f"+{line}" for line in new)
        return f"{lead}; lines {fix.line}-{fix.end_line} become:\n\n" + _fenced("diff", text)
    old = [_strip_final_newline(line) for line in old_lines[fix.line - 1 : fix.end_line]]
    return f"{lead}:\n\n" + _fenced("diff", "\n".join(fix_hunk(fix, old)))


def _strip_final_newline(text: str) -> str:
    """GitHub's suggestion block holds the lines without the last line end."""
    for end in ("\r\n", "\n", "\r"):
        if text.endswith(end):
            return text[: -len(end)]
    return text


def _fenced(info: str, text: str) -> str:
    """A fenced block whose fence is longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}" if text else f"{fence}{info}\n{fence}"


def new_comments(
    comments: Iterable[PlannedComment], existing_bodies: Iterable[str]
) -> list[PlannedComment]:
    """Comments whose finding no existing comment is about yet.

    A redelivered webhook or a second push must not repeat a comment; the hidden
    fingerprint identifies the finding whatever the line it sits on now.
    """
    seen = set().union(*(fingerprints_in(body) for body in existing_bodies))
    return [comment for comment in comments if comment.fingerprint not in seen]


def new_findings(findings: Iterable[Finding], existing_bodies: Iterable[str]) -> list[Finding]:
    """Leftovers not yet listed in an earlier review body (which carries their markers)."""
    seen = set().union(*(fingerprints_in(body) for body in existing_bodies))
    return [finding for finding in findings if fingerprint(finding) not in seen]


def review_order(finding: Finding) -> tuple[int, str, int, int, str, str]:
    """Which findings a capped review comments on first: blocking ones (severity error,
    then warning, then note), then by file and line; the fingerprint settles ties, so the
    same findings are chosen on every run and a redelivery posts nothing new."""
    rank = SEVERITIES.index(finding.severity) if finding.severity in SEVERITIES else 99
    return (rank, finding.path, finding.line, finding.end_line, finding.rule, fingerprint(finding))


@dataclass(frozen=True)
class ReviewPlan:
    """One pull request's commentable findings, split by where a reader finds them.

    `new` goes inline in this review; `earlier` already has a live comment of ours;
    `over_limit` is commentable but past the limit; `off_diff` sits on lines no comment
    may use. The last two are only in the check run, and the review says so.
    """

    new: list[PlannedComment]
    earlier: list[Finding]
    over_limit: list[Finding]
    off_diff: list[Finding]
    limit: int


def plan_review(
    comments: Sequence[PlannedComment],
    off_diff: Sequence[Finding],
    existing_bodies: Iterable[str],
    limit: int = MAX_INLINE_COMMENTS,
) -> ReviewPlan:
    """Choose at most `limit` comments in `review_order`, then drop those already posted.

    The limit picks from every commentable finding, posted or not, rather than from the
    unposted ones: otherwise each redelivery (or retried job) would post the next `limit`
    comments, and a pull request with 200 findings would get them all after all.
    """
    bodies = list(existing_bodies)
    ranked = sorted(comments, key=lambda c: review_order(c.finding))
    chosen, rest = ranked[: max(limit, 0)], ranked[max(limit, 0) :]
    unposted = {c.fingerprint for c in new_comments(comments, bodies)}
    posted = {c.fingerprint for c in comments} - unposted
    return ReviewPlan(
        new=[c for c in chosen if c.fingerprint not in posted],
        earlier=[c.finding for c in ranked if c.fingerprint in posted],
        over_limit=[c.finding for c in rest if c.fingerprint not in posted],
        off_diff=list(off_diff),
        limit=limit,
    )


def planned_review_payload(plan: ReviewPlan, head_sha: str) -> dict[str, object] | None:
    """The review of `plan`, or None when it has no new inline comment (nothing new to
    say: a redelivery must not post the same counts again)."""
    if not plan.new:
        return None
    return review_payload(
        plan.new,
        [],
        head_sha,
        earlier=plan.earlier,
        over_limit=plan.over_limit,
        off_diff=plan.off_diff,
        limit=plan.limit,
    )


def _elsewhere_note(over_limit: Sequence[Finding], off_diff: Sequence[Finding], limit: int) -> str:
    """How many findings are not inline, why, and where every one of them is."""
    hidden = [*over_limit, *off_diff]
    if not hidden:
        return ""
    blocking = sum(f.severity == "error" for f in hidden)
    reasons = []
    if over_limit:
        reasons.append(
            f"{len(over_limit)} past the limit of {_plural(limit, 'inline comment')} a review"
        )
    if off_diff:
        reasons.append(f"{len(off_diff)} on lines outside this diff")
    return (
        f"**{len(hidden)} more** ({blocking} blocking) not commented on inline: "
        f"{', '.join(reasons)}. The **{CHECK_NAME}** check run lists every finding in its "
        "summary and annotations (the Checks tab of this pull request)."
    )


def review_payload(
    comments: Sequence[PlannedComment],
    leftovers: Sequence[Finding],
    head_sha: str,
    *,
    earlier: Sequence[Finding] = (),
    over_limit: Sequence[Finding] = (),
    off_diff: Sequence[Finding] = (),
    limit: int = MAX_INLINE_COMMENTS,
) -> dict[str, object] | None:
    """The body of `POST /pulls/{n}/reviews`, or None when there is nothing new to say.

    The event is COMMENT: the check run is what blocks a merge, so the review never
    requests changes that a later push could not dismiss. `leftovers` are listed in the
    body; `earlier` (commented on by an earlier review), `over_limit` and `off_diff` (only
    in the check run, see `plan_review`) are counted, not listed, so the body stays short.
    """
    if not comments and not leftovers:
        return None
    everything = [
        *(c.finding for c in comments),
        *leftovers,
        *earlier,
        *over_limit,
        *off_diff,
    ]
    blocking = sum(f.severity == "error" for f in everything)
    head = (
        f"**failclosed** found {_plural(len(everything), 'fail-open path')} "
        f"in this pull request ({blocking} blocking)."
    )
    parts = [head]
    if comments:
        said = f"{_plural(len(comments), 'finding')} commented on inline."
        if earlier:
            said += f" {len(earlier)} more already commented on in an earlier review."
        parts.append(said)
    elsewhere = _elsewhere_note(over_limit, off_diff, limit)
    if elsewhere:
        parts.append(elsewhere)
    if leftovers:
        listed = [
            f"- `{f.path}:{f.line}` **{f.rule}** ({f.severity}): "
            f"{_one_line(f.message)} {fingerprint_marker(f)}"
            for f in leftovers
        ]
        parts.append(
            f"{_plural(len(leftovers), 'finding')} on lines outside this diff:\n\n"
            + "\n".join(listed)
        )
    body = _truncate("\n\n".join(parts), BODY_LIMIT, "the check run lists every finding")
    return {
        "commit_id": head_sha,
        "event": "COMMENT",
        "body": body,
        "comments": [comment.to_json() for comment in comments],
    }


# -- check runs --------------------------------------------------------------------------


def check_run_payloads(
    findings: Sequence[Finding],
    errors: Sequence[AnalysisError],
    head_sha: str,
    details: str | None = None,
    rule_names: Mapping[str, str] | None = None,
    unread: Sequence[str] = (),
    offer_fixes: bool = True,
    subject: str = PULL_REQUEST,
) -> list[dict[str, object]]:
    """The completed check run: the first body for POST (or PATCH), then PATCHes.

    GitHub takes at most 50 annotations a request, so the first body carries the first
    50 and each later body the next 50, with the same title and summary (a PATCH
    replaces them). It fails closed: a file that could not be analysed fails the check
    like a blocking finding, since nobody knows whether it fails open. `details` is the
    run's `details_url`. `unread` names the changed Python files the configuration left
    out when none was analysed: the title says so, so a pass never looks like a review.
    Without `offer_fixes` (a merge group: no branch to commit to) there is no "Apply
    fixes" button; `subject` names what was checked ("pull request", "merge group").
    """
    title = _check_title(findings, errors, unread, subject)
    summary = _check_summary(findings, errors, rule_names or {})
    if unread and not findings and not errors:
        summary = _unread_note(unread, subject) + "\n\n" + summary
    annotations = [_annotation(f, rule_names or {}) for f in findings]
    batches = [
        annotations[i : i + ANNOTATIONS_PER_REQUEST]
        for i in range(0, len(annotations), ANNOTATIONS_PER_REQUEST)
    ] or [[]]
    blocking = bool(errors) or any(f.severity == "error" for f in findings)
    first: dict[str, object] = {
        "name": CHECK_NAME,
        "head_sha": head_sha,
        "status": "completed",
        "conclusion": "failure" if blocking else "success",
    }
    if details:
        first["details_url"] = details
    first["output"] = {"title": title, "summary": summary, "annotations": batches[0]}
    if offer_fixes and any(f.fix is not None for f in findings):
        first["actions"] = [dict(APPLY_FIXES_ACTION)]
    rest: list[dict[str, object]] = [
        {"output": {"title": title, "summary": summary, "annotations": batch}}
        for batch in batches[1:]
    ]
    return [first, *rest]


def failed_check_run_payload(
    reason: str, head_sha: str | None = None, subject: str = PULL_REQUEST
) -> dict[str, object]:
    """The run when analysis itself failed: a failure, never success, neutral or skipped.

    Neutral and skipped pass branch protection like success, so an app that crashed
    would let an unverified pull request merge. `reason` is shown as is: pass a message
    meant for the pull request's readers, not a traceback with secrets in it.
    """
    summary = (
        f"failclosed could not analyse this {subject}: {_one_line(reason)}\n\n"
        "The check fails closed: an unverified change is not allowed through. "
        "Push again or re-run the check to retry."
    )
    payload: dict[str, object] = {"name": CHECK_NAME}
    if head_sha:
        payload["head_sha"] = head_sha
    payload.update(
        status="completed",
        conclusion="failure",
        output={
            "title": failed_title(subject),
            "summary": _truncate(summary, SUMMARY_LIMIT, "reason truncated"),
        },
    )
    return payload


def not_analysed_payload(status: str, reason: str) -> dict[str, object]:
    """The run of a head that is no longer any open PR's: cancelled, which (unlike
    neutral or skipped) does not pass branch protection."""
    title = "Superseded" if status == "superseded" else "Not analysed"
    return {
        "name": CHECK_NAME,
        "status": "completed",
        "conclusion": "cancelled",
        "output": {
            "title": title,
            "summary": f"Not analysed: {_one_line(reason)}. Re-run the check to analyse it.",
        },
    }


def _check_title(
    findings: Sequence[Finding],
    errors: Sequence[AnalysisError],
    unread: Sequence[str] = (),
    subject: str = PULL_REQUEST,
) -> str:
    if errors:
        return f"{failed_title(subject)}: {not_analysed(errors)}"
    if unread and not findings:
        if len(unread) == 1:
            return "Nothing analysed: the changed Python file is excluded by the configuration"
        return (
            f"Nothing analysed: all {len(unread)} changed Python files are excluded "
            "by the configuration"
        )
    blocking = sum(f.severity == "error" for f in findings)
    if blocking:
        return _plural(blocking, "blocking fail-open path")
    if findings:
        return f"No blocking fail-open paths ({_plural(len(findings), 'finding')} to review)"
    return "No fail-open paths"


def not_analysed(errors: Sequence[AnalysisError]) -> str:
    """What could not be analysed: the pull request's own errors as they are, then how
    many files."""
    files = sum(e.path != WHOLE_PULL_REQUEST for e in errors)
    said = [e.message for e in errors if e.path == WHOLE_PULL_REQUEST]
    if files:
        said.append(f"{_plural(files, 'file')} could not be analysed")
    return "; ".join(said)


def _unread_note(unread: Sequence[str], subject: str = PULL_REQUEST) -> str:
    """Which files were left out, so a reviewer sees what the pass does not cover."""
    shown = ", ".join(f"`{_cell(p)}`" for p in unread[:20])
    more = f" and {len(unread) - 20} more" if len(unread) > 20 else ""
    return (
        f"**Not analysed.** The repository's `exclude` setting (or a folder failclosed "
        f"always skips) leaves out every changed Python file: {shown}{more}. Nothing in "
        f"this {subject} was checked for fail-open paths."
    )


def _check_summary(
    findings: Sequence[Finding], errors: Sequence[AnalysisError], names: Mapping[str, str]
) -> str:
    """Markdown: findings table, unanalysed files, what fail-open means, how to suppress.

    Rows that do not fit under the limit are dropped with a note (the annotations still
    carry every finding); the explanation at the end is always kept.
    """
    counts = ", ".join(_plural(sum(f.severity == s for f in findings), s) for s in SEVERITIES)
    intro = f"**{_plural(len(findings), 'finding')}** ({counts})."
    rows = [
        f"| `{_cell(f.path)}:{f.line}` | {_cell(_rule_title(f.rule, names))} "
        f"| {f.severity} | {_cell(f.message)} |"
        for f in findings
    ]
    tail = [
        "**What fail-open means.** A permission check that answers *allow* when it cannot "
        "decide (an exception, a timeout, a missing config or field) fails open "
        f"([{CWE}]({CWE_URL})): any outage, or any input that makes the check crash, "
        "grants access. Fail closed: when you cannot verify it is safe, deny.",
        "**Suppressing a finding** you have reviewed: add `# failclosed: ignore[FCxxx] reason` "
        "on its line. A suppression without a reason is not honoured (FC900). "
        f"Rules: {RULES_DOC}",
    ]
    if errors:
        error_rows = "\n".join(f"| `{_cell(e.path)}` | {_cell(e.message)} |" for e in errors)
        tail.insert(
            0,
            f"**{not_analysed(errors)}**, so this check fails "
            "closed: nobody can tell whether they fail open.\n\n"
            f"| File | Error |\n| --- | --- |\n{error_rows}",
        )
    return _fit_rows(intro, rows, tail)


def _fit_rows(intro: str, rows: list[str], tail: list[str]) -> str:
    """The summary with as many table rows as fit under the limit, and a note if not all."""

    def build(shown: int) -> str:
        hidden = len(rows) - shown
        table = "\n".join([TABLE_HEADER, *rows[:shown]]) if shown else ""
        note = _hidden_note(hidden) if hidden else ""
        return "\n\n".join(part for part in (intro, table, note, *tail) if part)

    def fits(shown: int) -> bool:
        return len(build(shown).encode()) <= SUMMARY_LIMIT

    if fits(len(rows)):
        return build(len(rows))
    low, high = 0, len(rows)  # the most rows that fit, by bisection
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    # Only a vast error list can still be too long: cut it, keeping the note.
    return _truncate(build(low), SUMMARY_LIMIT, "summary truncated; see the annotations")


def _hidden_note(hidden: int) -> str:
    return f"_…and {_plural(hidden, 'more finding')} not shown here; see the annotations._"


def _annotation(finding: Finding, names: Mapping[str, str]) -> dict[str, object]:
    annotation: dict[str, object] = {
        "path": finding.path,
        "start_line": finding.line,
        "end_line": finding.end_line,
        "annotation_level": ANNOTATION_LEVEL[finding.severity],
        "title": _truncate(_rule_title(finding.rule, names), ANNOTATION_TITLE_LIMIT, ""),
        "message": _truncate(finding.message, ANNOTATION_TEXT_LIMIT, "truncated"),
    }
    if finding.fix is not None:
        annotation["raw_details"] = _truncate(
            finding.fix.replacement, ANNOTATION_TEXT_LIMIT, "truncated"
        )
    return annotation


def _rule_title(code: str, names: Mapping[str, str]) -> str:
    name = names.get(code)
    return f"{code} {name}" if name else code


# -- code scanning (the default-branch scan) ---------------------------------------------

# The analysis's category (SARIF `runs[].automationDetails.id`, category then `/`): one for
# every upload of the default branch, so each upload replaces the last one's alerts (a
# finding gone from it is closed as fixed) instead of adding a second set beside them.
SARIF_CATEGORY = "failclosed/default-branch"
MAX_SARIF_RESULTS = 25_000  # per run: GitHub rejects an upload with more
MAX_SARIF_GZIP_BYTES = 10_000_000  # GitHub's cap on the gzipped SARIF
TRUNCATED_PROPERTY = "failclosed/truncatedResults"
_LEVEL_ORDER = {"error": 0, "warning": 1, "note": 2}


class SarifTooLarge(ValueError):
    """The SARIF is over code scanning's size cap even gzipped: nothing can be uploaded."""


@dataclass(frozen=True)
class SarifUpload:
    """The body of `POST /code-scanning/sarifs`, and what went into it."""

    body: dict[str, object]
    results: int  # results uploaded
    dropped: int  # results left out past `MAX_SARIF_RESULTS`
    gzipped_bytes: int


def sarif_upload(
    log: dict[str, Any],
    commit_sha: str,
    ref: str,
    max_results: int = MAX_SARIF_RESULTS,
    max_gzip_bytes: int = MAX_SARIF_GZIP_BYTES,
) -> SarifUpload:
    """The upload of a one-run SARIF `log` (`analyzers.output.sarif_log`) for `commit_sha`
    on `ref`: the run given our stable category, cut to `max_results` (blocking first),
    gzipped then base64-encoded as the endpoint wants. `SarifTooLarge` past
    `max_gzip_bytes`: a partial analysis would close the alerts of the files left out."""
    (run,) = log["runs"]
    results = sorted(run.get("results", []), key=lambda r: _LEVEL_ORDER.get(r.get("level"), 3))
    kept = results[:max_results]
    dropped = len(results) - len(kept)
    properties = dict(run.get("properties") or {})
    if dropped:
        properties[TRUNCATED_PROPERTY] = {"total": len(results), "uploaded": len(kept)}
    run = {**run, "automationDetails": {"id": f"{SARIF_CATEGORY}/"}, "results": kept}
    if properties:
        run["properties"] = properties
    document = json.dumps({**log, "runs": [run]}, separators=(",", ":")).encode()
    packed = gzip.compress(document, mtime=0)
    if len(packed) > max_gzip_bytes:
        raise SarifTooLarge(
            f"the SARIF of {commit_sha[:12]} is {len(packed):,} bytes gzipped, over code "
            f"scanning's {max_gzip_bytes:,}: nothing was uploaded"
        )
    body: dict[str, object] = {
        "commit_sha": commit_sha,
        "ref": ref,
        "sarif": base64.b64encode(packed).decode("ascii"),
    }
    return SarifUpload(body, len(kept), dropped, len(packed))


# -- workflow commands (the GitHub Action) -------------------------------------------------

# A check run annotation's level -> the workflow command that makes the same annotation.
WORKFLOW_COMMAND = {"failure": "error", "warning": "warning", "notice": "notice"}


def workflow_commands(
    findings: Sequence[Finding],
    errors: Sequence[AnalysisError] = (),
    rule_names: Mapping[str, str] | None = None,
    subject: str = PULL_REQUEST,
) -> list[str]:
    """The findings as workflow commands (`::error file=…,line=…::message`), one a line.

    This is how the GitHub Action annotates a diff when it posts no review (a fork's
    read-only token, a merge group, a push): built from the check run's own annotations,
    so a finding reads the same whichever way it reaches GitHub. A file that could not be
    analysed is an error on that file.
    """
    lines = []
    for finding in findings:
        note = _annotation(finding, rule_names or {})
        properties = {
            "file": note["path"],
            "line": note["start_line"],
            "endLine": note["end_line"],
            "title": note["title"],
        }
        command = WORKFLOW_COMMAND[str(note["annotation_level"])]
        lines.append(_workflow_command(command, properties, str(note["message"])))
    for error in errors:
        properties = {"file": error.path, "title": failed_title(subject)}
        lines.append(_workflow_command("error", properties, error.message))
    return lines


def _workflow_command(command: str, properties: Mapping[str, object], message: str) -> str:
    """`::command key=value,...::message`, escaped as the Actions runner unescapes it: a
    line break or `::` in a message or file name cannot start a command of its own."""
    shown = ",".join(f"{key}={_escape_property(str(value))}" for key, value in properties.items())
    return f"::{command} {shown}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


# -- the apply-fixes commit --------------------------------------------------------------


def apply_fixes_content(source: str, fixes: Iterable[Fix]) -> str:
    """`source` with every fix of one file applied, bottom-up so line numbers hold.

    Identical fixes (two findings closed by one patch) are applied once; overlapping
    different fixes, or a fix past the end of the file (made for another version of
    it), raise ValueError rather than commit a guess.
    """
    unique = sorted(set(fixes), key=lambda f: (f.line, f.end_line))
    lines = split_lines(source)
    for fix in unique:
        if fix.line < 1 or fix.end_line < fix.line or fix.end_line > len(lines):
            raise ValueError(f"fix for lines {fix.line}-{fix.end_line} is outside the file")
    for before, after in itertools.pairwise(unique):
        if after.line <= before.end_line:
            raise ValueError(
                f"fixes overlap: lines {before.line}-{before.end_line} "
                f"and {after.line}-{after.end_line}"
            )
    for fix in reversed(unique):
        lines[fix.line - 1 : fix.end_line] = [fix.replacement]
    return "".join(lines)


# -- text helpers ------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    """A markdown table cell: one line, pipes escaped, bounded."""
    cell = _one_line(text).replace("|", "\\|")
    return cell if len(cell) <= CELL_LIMIT else cell[: CELL_LIMIT - 1] + "…"


def _truncate(text: str, limit: int, note: str) -> str:
    """`text` cut to at most `limit` characters *and* UTF-8 bytes, with a note if cut.

    GitHub documents the limits in characters; counting bytes as well stays under them
    whichever GitHub enforces.
    """
    if len(text.encode()) <= limit:
        return text
    suffix = f"\n\n_…({note})_" if note else "…"
    budget = limit - len(suffix.encode())
    cut = text.encode()[:budget].decode(errors="ignore")
    return cut + suffix
