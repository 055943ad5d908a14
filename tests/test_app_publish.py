"""app.review.publish: exact GitHub payloads from hand-made findings and patches as GitHub sends
them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from support import FAIL_OPEN

from failclosed.analyzers.model import AnalysisError, Finding, Fix
from failclosed.app.review import publish
from failclosed.app.review.publish import DiffLines, diff_lines

HEAD = FAIL_OPEN
# `GET /pulls/{n}/files` patch of HEAD against a base whose check had no try/except.
PATCH = (
    "@@ -4,4 +4,8 @@ logger = logging.getLogger(__name__)\n"
    " \n"
    " \n"
    " def has_permission(user, action):\n"
    "-    return client.check(user, action)\n"
    "+    try:\n"
    "+        return client.check(user, action)\n"
    "+    except Exception as e:\n"
    '+        logger.warning("Permission request failed: %s, auto-allowing", e)\n'
    "+        return True"
)
FIX = Fix(
    line=10,
    end_line=11,
    replacement=(
        '        logger.warning("Permission request failed: %s, denying", e)\n'
        "        return False\n"
    ),
)
MESSAGE = "The except handler returns True (allow) when the check fails."
FINDING = Finding(
    rule="FC101",
    path="app/perms.py",
    line=9,
    end_line=11,
    severity="error",
    message=MESSAGE,
    function="has_permission",
    fix=FIX,
    key="0123456789abcdef",
)
DOCS = "https://github.com/failclosed/failclosed/blob/main/docs/rules.md#fc101"
MARKER = "<!-- failclosed:fingerprint=FC101:app/perms.py:0123456789abcdef -->"
NAMES = {"FC101": "except-returns-allow", "FC102": "swallowed-error-allows"}


def finding(**changes: object) -> Finding:
    fields = {**FINDING.__dict__, **changes}
    return Finding(**fields)  # type: ignore[arg-type]


# -- diff_lines ------------------------------------------------------------------------


def test_diff_lines_added_and_context_lines_of_each_hunk():
    patch = (
        "@@ -1,3 +1,3 @@\n import os\n-import sys\n+import re\n x = 1\n"
        "@@ -20,3 +20,4 @@ def f():\n     a()\n+    b()\n     c()\n-    d()\n+    e()\n"
    )
    assert diff_lines(patch) == DiffLines((frozenset({1, 2, 3}), frozenset({20, 21, 22, 23})))


def test_diff_lines_of_the_realistic_patch():
    assert diff_lines(PATCH) == DiffLines((frozenset(range(4, 12)),))


def test_diff_lines_crlf_and_no_newline_marker():
    lf = "@@ -1,2 +1,3 @@\n a\n-b\n+c\n+d\n\\ No newline at end of file\n"
    crlf = lf.replace("\n", "\r\n")
    assert diff_lines(crlf) == diff_lines(lf) == DiffLines((frozenset({1, 2, 3}),))


def test_diff_lines_without_patch_or_only_deletions():
    assert diff_lines(None) == diff_lines("") == DiffLines()
    assert diff_lines("@@ -3,2 +2,0 @@\n-a\n-b\n") == DiffLines()


def test_diff_lines_does_not_split_on_form_feed():
    patch = "@@ -1,1 +1,2 @@\n x = 1\n+\x0c# page two\n"
    assert diff_lines(patch) == DiffLines((frozenset({1, 2}),))


def test_diff_lines_unreadable_patch_has_no_commentable_lines():
    assert diff_lines("@@ -1,5 +1,5 @@\n a\n") == DiffLines()


def test_spans_needs_one_hunk():
    lines = DiffLines((frozenset({1, 2, 3}), frozenset({10, 11})))
    assert lines.spans(1, 3)
    assert lines.spans(11, 11)
    assert not lines.spans(3, 10)
    assert not lines.spans(4, 4)
    assert not lines.spans(2, 1)


# -- review comments -------------------------------------------------------------------


def test_multi_line_suggestion_exact_payload():
    comments, leftovers = publish.review_comments(
        [FINDING], {"app/perms.py": PATCH}, rule_names=NAMES
    )
    assert leftovers == []
    assert [c.to_json() for c in comments] == [
        {
            "path": "app/perms.py",
            "body": (
                f"**FC101** `except-returns-allow` (error): {MESSAGE}\n\n"
                "```suggestion\n"
                '        logger.warning("Permission request failed: %s, denying", e)\n'
                "        return False\n"
                "```\n\n"
                f"[FC101 docs]({DOCS}) · [CWE-636](https://cwe.mitre.org/data/definitions/636.html)"
                f"\n\n{MARKER}"
            ),
            "start_line": 10,
            "start_side": "RIGHT",
            "line": 11,
            "side": "RIGHT",
        }
    ]


def test_single_line_fix_is_a_single_line_comment():
    fix = Fix(line=11, end_line=11, replacement="        return False\n")
    (comment,), _ = publish.review_comments([finding(fix=fix)], {"app/perms.py": PATCH})
    payload = comment.to_json()
    assert (payload["line"], payload["side"]) == (11, "RIGHT")
    assert "start_line" not in payload and "start_side" not in payload
    assert "```suggestion\n        return False\n```" in comment.body


def test_fix_deleting_lines_is_an_empty_suggestion():
    fix = Fix(line=10, end_line=10, replacement="")
    (comment,), _ = publish.review_comments([finding(fix=fix)], {"app/perms.py": PATCH})
    assert "```suggestion\n```" in comment.body


def test_suggestion_fence_outlasts_backticks_in_the_fix():
    fix = Fix(line=11, end_line=11, replacement='        return "```"\n')
    (comment,), _ = publish.review_comments([finding(fix=fix)], {"app/perms.py": PATCH})
    assert '````suggestion\n        return "```"\n````' in comment.body


def test_fix_outside_the_hunk_is_a_diff_block_on_the_finding_lines():
    # Only lines 10..12 are in the diff; the fix starts at line 9.
    patch = "@@ -10,2 +10,3 @@ def has_permission(user, action):\n a\n+b\n c"
    fix = Fix(line=9, end_line=11, replacement="    except Exception:\n        return False\n")
    found = finding(line=11, end_line=11, fix=fix)
    (comment,), leftovers = publish.review_comments(
        [found], {"app/perms.py": patch}, head_sources={"app/perms.py": HEAD}
    )
    assert leftovers == []
    assert "```suggestion" not in comment.body
    assert comment.to_json()["line"] == 11 and comment.start_line is None
    assert (
        "This fix touches lines outside this diff, so it cannot be a suggestion:\n\n"
        "```diff\n"
        "@@ -9,3 +9,2 @@\n"
        "-    except Exception as e:\n"
        '-        logger.warning("Permission request failed: %s, auto-allowing", e)\n'
        "-        return True\n"
        "+    except Exception:\n"
        "+        return False\n"
        "```"
    ) in comment.body


def test_fix_outside_the_hunk_without_the_head_file_shows_only_new_lines():
    patch = "@@ -10,2 +10,3 @@\n a\n+b\n c"
    fix = Fix(line=9, end_line=11, replacement="    except Exception:\n        return False\n")
    (comment,), _ = publish.review_comments(
        [finding(line=11, end_line=11, fix=fix)], {"app/perms.py": patch}
    )
    assert (
        "lines 9-11 become:\n\n```diff\n+    except Exception:\n+        return False\n```"
    ) in comment.body
    assert "\n-" not in comment.body


def test_finding_without_fix_is_anchored_on_its_lines():
    (comment,), _ = publish.review_comments([finding(fix=None)], {"app/perms.py": PATCH})
    assert comment.to_json() == {
        "path": "app/perms.py",
        "body": (
            f"**FC101** (error): {MESSAGE}\n\n"
            f"[FC101 docs]({DOCS}) · [CWE-636](https://cwe.mitre.org/data/definitions/636.html)"
            f"\n\n{MARKER}"
        ),
        "start_line": 9,
        "start_side": "RIGHT",
        "line": 11,
        "side": "RIGHT",
    }


def test_finding_partly_in_the_hunk_is_anchored_on_its_last_line():
    patch = "@@ -10,2 +10,3 @@\n a\n+b\n c"
    (comment,), _ = publish.review_comments([finding(fix=None)], {"app/perms.py": patch})
    assert (comment.start_line, comment.line) == (None, 11)


def test_findings_off_the_diff_and_in_binary_files_are_leftovers():
    off = finding(line=30, end_line=31, fix=None)
    binary = finding(path="assets/logo.png", line=1, end_line=1, fix=None)
    unlisted = finding(path="app/other.py", line=1, end_line=1, fix=None)
    comments, leftovers = publish.review_comments(
        [FINDING, off, binary, unlisted], {"app/perms.py": PATCH, "assets/logo.png": None}
    )
    assert [c.finding for c in comments] == [FINDING]
    assert leftovers == [off, binary, unlisted]


def test_custom_doc_url():
    (comment,), _ = publish.review_comments(
        [FINDING], {"app/perms.py": PATCH}, rule_doc_url=lambda code: f"https://x.test/{code}"
    )
    assert "[FC101 docs](https://x.test/FC101)" in comment.body


# -- fingerprints and review payload ---------------------------------------------------


def test_fingerprint_round_trips_and_odd_paths_cannot_break_the_marker():
    assert publish.fingerprints_in(f"text\n{MARKER}\nmore") == {
        "FC101:app/perms.py:0123456789abcdef"
    }
    odd = finding(path="odd dir/a -->.py")
    marker = publish.fingerprint_marker(odd)
    assert marker == "<!-- failclosed:fingerprint=FC101:odd%20dir/a%20--%3E.py:0123456789abcdef -->"
    assert publish.fingerprints_in(marker) == {publish.fingerprint(odd)}
    assert publish.fingerprints_in("") == set()


def test_new_comments_drops_comments_already_posted():
    other = finding(rule="FC102", key="fedcba9876543210", fix=None)
    comments, _ = publish.review_comments([FINDING, other], {"app/perms.py": PATCH})
    existing = [comments[0].body, "an unrelated human comment"]
    assert publish.new_comments(comments, existing) == [comments[1]]
    assert publish.new_comments(comments, []) == comments
    # A second push moved the code two lines down: same key, so still a repeat.
    moved = finding(line=11, end_line=13, fix=None)
    assert publish.new_findings([moved], existing) == []


def test_review_payload_exact():
    comments, leftovers = publish.review_comments(
        [FINDING, finding(line=30, end_line=30, severity="warning", fix=None, key="k2")],
        {"app/perms.py": PATCH},
    )
    payload = publish.review_payload(comments, leftovers, "a" * 40)
    assert payload == {
        "commit_id": "a" * 40,
        "event": "COMMENT",
        "body": (
            "**failclosed** found 2 fail-open paths in this pull request (1 blocking).\n\n"
            "1 finding commented on inline.\n\n"
            "1 finding on lines outside this diff:\n\n"
            f"- `app/perms.py:30` **FC101** (warning): {MESSAGE} "
            "<!-- failclosed:fingerprint=FC101:app/perms.py:k2 -->"
        ),
        "comments": [comments[0].to_json()],
    }


def test_review_payload_none_when_nothing_to_say():
    assert publish.review_payload([], [], "a" * 40) is None


def test_review_payload_with_leftovers_only_has_no_comments():
    payload = publish.review_payload([], [finding(fix=None)], "b" * 40)
    assert payload is not None
    assert payload["comments"] == []
    assert MARKER in str(payload["body"])


# -- check runs ------------------------------------------------------------------------


def numbered(count: int, **changes: object) -> list[Finding]:
    return [finding(line=i + 1, end_line=i + 1, key=f"k{i}", **changes) for i in range(count)]


def test_check_run_exact_payload():
    (payload,) = publish.check_run_payloads(
        [FINDING], [], "c" * 40, details="https://app.test/r/1", rule_names=NAMES
    )
    output = payload.pop("output")
    assert payload == {
        "name": "failclosed",
        "head_sha": "c" * 40,
        "status": "completed",
        "conclusion": "failure",
        "details_url": "https://app.test/r/1",
        "actions": [
            {
                "label": "Apply fixes",
                "identifier": "apply_fixes",
                "description": "Commit the verified fail-closed patches",
            }
        ],
    }
    assert output["title"] == "1 blocking fail-open path"
    assert output["annotations"] == [
        {
            "path": "app/perms.py",
            "start_line": 9,
            "end_line": 11,
            "annotation_level": "failure",
            "title": "FC101 except-returns-allow",
            "message": MESSAGE,
            "raw_details": FIX.replacement,
        }
    ]
    summary = output["summary"]
    assert summary.startswith(
        "**1 finding** (1 error, 0 warnings, 0 notes).\n\n"
        "| File | Rule | Severity | Message |\n| --- | --- | --- | --- |\n"
        f"| `app/perms.py:9` | FC101 except-returns-allow | error | {MESSAGE} |\n\n"
        "**What fail-open means.**"
    )
    assert "CWE-636" in summary
    assert "`# failclosed: ignore[FCxxx] reason`" in summary


def test_annotation_levels_and_no_raw_details_without_fix():
    findings = [
        finding(severity="error", fix=None),
        finding(severity="warning", fix=None),
        finding(severity="note", fix=None),
    ]
    (payload,) = publish.check_run_payloads(findings, [], "c" * 40)
    annotations = payload["output"]["annotations"]
    assert [a["annotation_level"] for a in annotations] == ["failure", "warning", "notice"]
    assert all("raw_details" not in a for a in annotations)
    assert annotations[0]["title"] == "FC101"  # no rule names given
    assert "actions" not in payload


def test_120_findings_make_three_annotation_batches():
    payloads = publish.check_run_payloads(numbered(120), [], "c" * 40)
    assert [len(p["output"]["annotations"]) for p in payloads] == [50, 50, 20]
    assert "actions" in payloads[0]
    first_title = payloads[0]["output"]["title"]
    first_summary = payloads[0]["output"]["summary"]
    for later in payloads[1:]:
        assert set(later) == {"output"}
        assert later["output"]["title"] == first_title == "120 blocking fail-open paths"
        assert later["output"]["summary"] == first_summary
    lines = [a["start_line"] for p in payloads for a in p["output"]["annotations"]]
    assert lines == list(range(1, 121))


def test_no_findings_no_errors_is_success_with_empty_annotations():
    (payload,) = publish.check_run_payloads([], [], "c" * 40)
    assert payload["conclusion"] == "success"
    assert payload["output"]["title"] == "No fail-open paths"
    assert payload["output"]["annotations"] == []
    assert "actions" not in payload


def test_errors_fail_closed_even_without_findings():
    errors = [AnalysisError("app/broken.py", "invalid syntax (line 3)")]
    (payload,) = publish.check_run_payloads([], errors, "c" * 40)
    assert payload["status"] == "completed"
    assert payload["conclusion"] == "failure"
    assert payload["output"]["title"] == (
        "Could not verify this pull request: 1 file could not be analysed"
    )
    assert "| `app/broken.py` | invalid syntax (line 3) |" in payload["output"]["summary"]


def test_only_non_blocking_findings_succeed():
    (payload,) = publish.check_run_payloads(
        [finding(severity="warning"), finding(severity="note", fix=None)], [], "c" * 40
    )
    assert payload["conclusion"] == "success"
    assert payload["output"]["title"] == "No blocking fail-open paths (2 findings to review)"
    assert "actions" in payload  # the warning has a fix


@pytest.mark.parametrize(
    ("findings", "errors"),
    [
        ([], [AnalysisError("a.py", "x")]),
        ([finding(severity="error", fix=None)], []),
        ([finding(severity="warning")], [AnalysisError("a.py", "x")]),
    ],
)
def test_never_success_neutral_or_skipped_when_blocked(findings, errors):
    for payload in publish.check_run_payloads(findings, errors, "c" * 40)[:1]:
        assert payload["conclusion"] == "failure"


def test_summary_is_truncated_under_the_limit():
    long = "m" * 250 + " é|x"  # multi-byte and a pipe that must be escaped
    payloads = publish.check_run_payloads(numbered(1000, message=long), [], "c" * 40)
    summary = payloads[0]["output"]["summary"]
    assert len(summary) <= 65_535 and len(summary.encode()) <= 65_535
    assert "not shown here; see the annotations" in summary
    assert "é\\|x |" in summary
    assert summary.rstrip().endswith(publish.RULES_DOC)  # the explanation is kept
    assert len(payloads) == 20


def test_summary_truncated_even_with_vast_errors():
    errors = [AnalysisError(f"pkg/{i}.py", "e" * 400) for i in range(500)]
    summary = publish.check_run_payloads([], errors, "c" * 40)[0]["output"]["summary"]
    assert len(summary.encode()) <= 65_535
    assert summary.endswith("_…(summary truncated; see the annotations)_")


def test_action_fields_within_github_limits():
    for field, limit in publish.ACTION_LIMITS.items():
        assert len(publish.APPLY_FIXES_ACTION[field]) <= limit
    (payload,) = publish.check_run_payloads([FINDING], [], "c" * 40)
    assert len(payload["actions"]) <= 3
    for action in payload["actions"]:
        assert len(action["label"]) <= 20
        assert len(action["identifier"]) <= 20
        assert len(action["description"]) <= 40


def test_failed_check_run_payload():
    payload = publish.failed_check_run_payload("the analyzer timed out\nafter 60 s", "d" * 40)
    assert payload == {
        "name": "failclosed",
        "head_sha": "d" * 40,
        "status": "completed",
        "conclusion": "failure",
        "output": {
            "title": "Could not verify this pull request",
            "summary": (
                "failclosed could not analyse this pull request: "
                "the analyzer timed out after 60 s\n\n"
                "The check fails closed: an unverified change is not allowed through. "
                "Push again or re-run the check to retry."
            ),
        },
    }
    assert "head_sha" not in publish.failed_check_run_payload("x")
    huge = publish.failed_check_run_payload("x" * 100_000)["output"]["summary"]
    assert len(huge.encode()) <= 65_535


# -- apply fixes -----------------------------------------------------------------------


def test_apply_fixes_bottom_up():
    source = "a\nb\nc\nd\ne\n"
    fixes = [
        Fix(line=1, end_line=1, replacement="A1\nA2\n"),  # grows: later lines would shift
        Fix(line=4, end_line=5, replacement="DE\n"),
        Fix(line=2, end_line=2, replacement=""),
    ]
    assert publish.apply_fixes_content(source, fixes) == "A1\nA2\nc\nDE\n"


def test_apply_fixes_realistic_and_identical_fixes_once():
    fixed = publish.apply_fixes_content(HEAD, [FIX, FIX])
    assert fixed == HEAD.replace("auto-allowing", "denying").replace("return True", "return False")


def test_apply_fixes_overlap_and_out_of_range_raise():
    with pytest.raises(ValueError, match="overlap"):
        publish.apply_fixes_content(
            "a\nb\nc\n",
            [
                Fix(line=1, end_line=2, replacement="x\n"),
                Fix(line=2, end_line=3, replacement="y\n"),
            ],
        )
    with pytest.raises(ValueError, match="outside"):
        publish.apply_fixes_content("a\n", [Fix(line=2, end_line=2, replacement="x\n")])


# -- boundaries --------------------------------------------------------------------------


def test_publish_does_not_import_libcst_or_the_network():
    tree = ast.parse(Path(publish.__file__).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    roots = {name.split(".")[0] for name in imported}
    assert not roots & {"libcst", "httpx", "requests", "urllib3", "socket"}
    assert "failclosed.analyzers.rules" not in imported  # it imports libcst


def test_importing_publish_loads_no_libcst():
    code = "import sys, failclosed.app.review.publish; sys.exit('libcst' in sys.modules)"
    root = Path(publish.__file__).resolve().parent.parent
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0
