"""`failclosed diff`: real git repositories, only the fail-open paths a branch adds or changes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from failclosed.analyzers import gitdiff
from failclosed.analyzers.gitdiff import (
    GitChange,
    GitError,
    changed_python_files,
    diff_report,
    parse_raw_diff,
    read_blobs,
)
from failclosed.analyzers.model import Report
from failclosed.analyzers.rules import rule_by_code
from failclosed.analyzers.settings import Config

needs_fc101 = pytest.mark.skipif(
    rule_by_code("FC101") is None, reason="needs rule FC101 (except-returns-allow)"
)

MESSAGE = "Permission request failed: %s, auto-allowing"


def fail_open(name: str = "has_permission", exc: str = "Exception", message: str = MESSAGE) -> str:
    """A permission function that allows when its permission service fails (FC101)."""
    return (
        f"def {name}(user, action):\n"
        "    try:\n"
        "        return client.check(user, action)\n"
        f"    except {exc} as e:\n"
        f'        logger.warning("{message}", e)\n'
        "        return True\n"
    )


def harmless(name: str = "can_edit", body: str = "doc.owner == user") -> str:
    return f"def {name}(user, doc):\n    return {body}\n"


def module(*functions: str) -> str:
    return "\n\n".join(functions)


class Repo:
    """A throwaway repository: write files, commit, branch."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.root, capture_output=True, check=True)
        return done.stdout.decode().strip()

    def write(self, path: str, content: str | bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str = "feature") -> None:
        self.git("switch", "-q", "-c", name)

    def diff(self, base: str = "main", head: str | None = None, **config: object) -> Report:
        return diff_report(base, head, Config(**config), cwd=self.root)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def hermetic_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user or system git config (autocrlf, signing, ...); no repository above tmp_path."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def on_feature(
    repo: Repo, base: dict[str, str | bytes], head: dict[str, str | bytes | None]
) -> None:
    """Commit `base` on main, then `head` (None deletes) on branch `feature`, checked out."""
    for path, content in base.items():
        repo.write(path, content)
    repo.commit("base")
    repo.branch()
    for path, content in head.items():
        if content is None:
            (repo.root / path).unlink()
        else:
            repo.write(path, content)
    repo.commit("head")


def lines_of(report: Report) -> list[tuple[str, str, int]]:
    return [(f.path, f.function, f.line) for f in report.findings]


# -- findings: new or changed only ------------------------------------------------------


@needs_fc101
def test_new_fail_open_function_is_reported(repo: Repo) -> None:
    on_feature(
        repo,
        {"app/perms.py": harmless()},
        {"app/perms.py": module(harmless(), fail_open())},
    )
    report = repo.diff()
    assert lines_of(report) == [("app/perms.py", "has_permission", 10)]
    assert report.findings[0].fix is not None  # HEAD is analysed with fixes
    assert report.exit_code() == 1


@needs_fc101
def test_untouched_fail_open_in_changed_file_is_not_reported(repo: Repo) -> None:
    on_feature(
        repo,
        {"app/perms.py": module(fail_open(), harmless())},
        {"app/perms.py": module(fail_open(), harmless(body="doc.owner == user.id"))},
    )
    report = repo.diff()
    assert report.findings == [] and report.errors == []
    assert report.exit_code() == 0


@needs_fc101
@pytest.mark.parametrize(
    "edited",
    [
        fail_open(message="Permission check failed: %s, allowing anyway"),
        fail_open(exc="(ConnectionError, TimeoutError)"),
        fail_open(exc="BaseException"),
    ],
    ids=["log-message", "exception-types", "broader-exception"],
)
def test_edited_pre_existing_handler_is_reported(repo: Repo, edited: str) -> None:
    on_feature(repo, {"app/perms.py": fail_open()}, {"app/perms.py": edited})
    assert lines_of(repo.diff()) == [("app/perms.py", "has_permission", 6)]


@needs_fc101
def test_code_moved_down_is_not_reported(repo: Repo) -> None:
    on_feature(
        repo,
        {"app/perms.py": fail_open()},
        {
            "app/perms.py": "import logging\n\nlogger = logging.getLogger(__name__)\n\n\n"
            + fail_open()
        },
    )
    assert changed_python_files("main", cwd=repo.root)[0].path == "app/perms.py"
    assert repo.diff().findings == []


@needs_fc101
def test_new_path_next_to_an_old_one_is_reported_alone(repo: Repo) -> None:
    on_feature(
        repo,
        {"app/perms.py": module(harmless(), fail_open())},
        {"app/perms.py": module(harmless(), fail_open(), fail_open(name="can_delete"))},
    )
    assert [f.function for f in repo.diff().findings] == ["can_delete"]


@needs_fc101
def test_renamed_file_with_untouched_finding_is_not_reported(repo: Repo) -> None:
    on_feature(
        repo,
        {"app/perms.py": module(fail_open(), harmless())},
        {"app/perms.py": None, "app/auth/permissions.py": module(fail_open(), harmless())},
    )
    (change,) = changed_python_files("main", cwd=repo.root)
    assert (change.status, change.old_path, change.path) == (
        "R",
        "app/perms.py",
        "app/auth/permissions.py",
    )
    assert repo.diff().findings == []


@needs_fc101
@pytest.mark.parametrize(
    "old_path", ["tests/perms.py", "vendor/perms.py", ".venv/perms.py", "docs/perms.txt"]
)
def test_code_moved_in_from_where_it_was_never_analysed_counts_as_new(
    repo: Repo, old_path: str
) -> None:
    """Its base version was never checked (test code, excluded, tooling, not Python), so
    comparing with it would hide every fail-open path it brings: all of it is new."""
    code = module(fail_open(), harmless())
    on_feature(repo, {old_path: code}, {old_path: None, "src/perms.py": code})
    report = repo.diff(exclude=("vendor/**",))
    assert [f.path for f in report.findings] == ["src/perms.py"]
    assert report.exit_code() == 1


@needs_fc101
def test_renamed_and_edited_file_is_reported(repo: Repo) -> None:
    edited = fail_open(message="Permission request failed (%s): allowing")
    on_feature(
        repo,
        {"app/perms.py": module(fail_open(), harmless())},
        {"app/perms.py": None, "app/auth/permissions.py": module(edited, harmless())},
    )
    assert changed_python_files("main", cwd=repo.root)[0].status == "R"
    assert lines_of(repo.diff()) == [("app/auth/permissions.py", "has_permission", 6)]


@needs_fc101
def test_copied_fail_open_path_is_reported_as_new(repo: Repo) -> None:
    on_feature(
        repo,
        {"app/perms.py": module(fail_open(), harmless())},
        {"app/perms_v2.py": module(fail_open(), harmless())},
    )
    assert lines_of(repo.diff()) == [("app/perms_v2.py", "has_permission", 6)]


@needs_fc101
def test_change_only_on_the_base_branch_is_not_reported(repo: Repo) -> None:
    """Compared with the merge base, not BASE's tip, which moved on after the fork."""
    repo.write("app/perms.py", module(fail_open(), harmless()))
    repo.commit("fork point")
    repo.branch("feature")
    repo.write("app/perms.py", module(fail_open(), harmless(body="False")))
    repo.commit("feature edits another function")
    repo.git("switch", "-q", "main")
    repo.write("app/perms.py", module(fail_open().replace("return True", "return False")))
    repo.write("app/later.py", fail_open(name="can_delete"))
    repo.commit("main fixes the path and adds a file after the fork")
    repo.git("switch", "-q", "feature")

    assert [c.path for c in changed_python_files("main", cwd=repo.root)] == ["app/perms.py"]
    # Against main's tip, where the path is fixed, the untouched path would look new.
    assert repo.diff().findings == []
    # The other way round, main's own new file is what main adds.
    reverse = diff_report("feature", "main", Config(), cwd=repo.root)
    assert lines_of(reverse) == [("app/later.py", "can_delete", 6)]


@needs_fc101
def test_head_defaults_to_the_head_commit(repo: Repo) -> None:
    on_feature(
        repo, {"app/perms.py": harmless()}, {"app/perms.py": module(harmless(), fail_open())}
    )
    assert lines_of(repo.diff(head=None)) == lines_of(repo.diff(head="feature")) != []
    repo.git("switch", "-q", "main")
    assert repo.diff(head=None).findings == []
    assert len(repo.diff(head="feature").findings) == 1  # an explicit HEAD need not be checked out


@needs_fc101
def test_excluded_files_are_not_analysed(repo: Repo) -> None:
    on_feature(
        repo,
        {"README.md": "x\n"},
        {"vendor/lib/perms.py": fail_open(), "app/perms.py": "def broken(:\n"},
    )
    report = repo.diff(exclude=("vendor/**", "app/perms.py"))
    assert report.findings == [] and report.errors == []


# -- file shapes ------------------------------------------------------------------------


def test_deleted_and_non_python_files_are_skipped(repo: Repo) -> None:
    on_feature(
        repo,
        {"app/old.py": fail_open(), "app/keep.py": harmless()},
        {
            "app/old.py": None,
            "README.md": "# readme\n",
            "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "app/settings.toml": "allow = true\n",
            "app/perms.pyc": b"\x00\x00binary",
        },
    )
    assert changed_python_files("main", cwd=repo.root) == []
    report = repo.diff()
    assert report.findings == [] and report.errors == []


def test_binary_python_file_is_an_error(repo: Repo) -> None:
    on_feature(repo, {"README.md": "x\n"}, {"app/blob.py": b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"})
    report = repo.diff()
    assert [e.path for e in report.errors] == ["app/blob.py"]
    assert report.exit_code() == 2


def test_syntax_error_in_head_is_an_error(repo: Repo) -> None:
    on_feature(repo, {"app/perms.py": harmless()}, {"app/perms.py": "def has_permission(:\n"})
    report = repo.diff()
    assert [e.path for e in report.errors] == ["app/perms.py"]
    assert "does not parse" in report.errors[0].message
    assert report.exit_code() == 2


@needs_fc101
def test_syntax_error_only_in_base_is_ignored(repo: Repo) -> None:
    on_feature(
        repo,
        {"app/perms.py": "def has_permission(:\n", "app/other.py": "print 'py2'\n"},
        {"app/perms.py": fail_open(), "app/other.py": harmless()},
    )
    report = repo.diff()
    assert report.errors == []
    # Nothing in BASE could absorb it, so the fail-open path is reported (failing closed).
    assert lines_of(report) == [("app/perms.py", "has_permission", 6)]


@needs_fc101
def test_crlf_file(repo: Repo) -> None:
    crlf = module(fail_open(), harmless()).replace("\n", "\r\n")
    edited = module(fail_open(), harmless(body="False"), fail_open(name="can_delete"))
    on_feature(repo, {"app/perms.py": crlf}, {"app/perms.py": edited.replace("\n", "\r\n")})
    report = repo.diff()
    assert lines_of(report) == [("app/perms.py", "can_delete", 18)]
    assert report.findings[0].fix is not None
    assert "\r\n" in report.findings[0].fix.replacement


@needs_fc101
def test_line_ending_conversion_alone_is_not_reported(repo: Repo) -> None:
    lf = module(fail_open(), harmless())
    on_feature(repo, {"app/perms.py": lf}, {"app/perms.py": lf.replace("\n", "\r\n")})
    assert [c.path for c in changed_python_files("main", cwd=repo.root)] == ["app/perms.py"]
    assert repo.diff().findings == []


@needs_fc101
def test_tab_indented_file(repo: Repo) -> None:
    tabs = module(fail_open(), harmless()).replace("    ", "\t")
    edited = module(harmless(body="False"), fail_open(), fail_open(name="is_allowed"))
    on_feature(repo, {"app/perms.py": tabs}, {"app/perms.py": edited.replace("    ", "\t")})
    assert lines_of(repo.diff()) == [("app/perms.py", "is_allowed", 18)]


@needs_fc101
def test_file_without_trailing_newline(repo: Repo) -> None:
    base = module(fail_open(), harmless()).rstrip("\n")
    head = module(fail_open(), harmless(body="False"), fail_open(name="can_delete")).rstrip("\n")
    on_feature(repo, {"app/perms.py": base}, {"app/perms.py": head})
    assert lines_of(repo.diff()) == [("app/perms.py", "can_delete", 18)]


@needs_fc101
def test_paths_with_spaces_and_unicode(repo: Repo) -> None:
    path = "my app/zugriff prüfung.py"
    on_feature(repo, {"README.md": "x\n"}, {path: fail_open()})
    (change,) = changed_python_files("main", cwd=repo.root)
    assert change.path == path
    assert lines_of(repo.diff()) == [(path, "has_permission", 6)]


@needs_fc101
def test_paths_are_relative_to_cwd_below_the_root(repo: Repo) -> None:
    on_feature(
        repo,
        {"README.md": "x\n"},
        {"pkg/perms.py": fail_open(), "tools/admin.py": fail_open(name="is_admin")},
    )
    report = diff_report("main", None, Config(), cwd=repo.root / "pkg")
    assert [f.path for f in report.findings] == ["../tools/admin.py", "perms.py"]


@needs_fc101
def test_a_linked_python_file_is_analysed_through_its_target(repo: Repo) -> None:
    """`auth.py -> docs/auth.txt`: what `import auth` runs is the target's code."""
    on_feature(repo, {"docs/auth.txt": module(fail_open())}, {})
    (repo.root / "auth.py").symlink_to("docs/auth.txt")
    repo.commit("symlink")
    report = repo.diff()
    assert [f.path for f in report.findings] == ["auth.py"]
    assert report.errors == [] and report.exit_code() == 1


@pytest.mark.parametrize(
    ("target", "why"),
    [("../../outside.py", "outside the repository"), ("docs/gone.txt", "not a file here")],
)
def test_a_link_that_cannot_be_followed_is_not_analysed_and_says_so(
    repo: Repo, target: str, why: str
) -> None:
    on_feature(repo, {"app/real.py": "x = 1\n"}, {})
    (repo.root / "app/link.py").symlink_to(target)
    repo.commit("symlink")
    report = repo.diff()
    assert [e.path for e in report.errors] == ["app/link.py"]
    assert why in report.errors[0].message and report.exit_code() == 2


@needs_fc101
def test_a_chain_of_links_is_followed_to_the_file(repo: Repo) -> None:
    """`auth.py -> mid.py -> docs/auth.txt`, `mid.py` already a link in main: reading
    `mid.py` gives the text `docs/auth.txt`, which parses as Python (issue 11 item 4)."""
    repo.write("docs/auth.txt", module(fail_open()))
    (repo.root / "mid.py").symlink_to("docs/auth.txt")
    repo.commit("base")
    repo.branch()
    (repo.root / "auth.py").symlink_to("mid.py")
    (repo.root / "loop.py").symlink_to("loop.py")
    repo.commit("links")
    report = repo.diff()
    assert [f.path for f in report.findings] == ["auth.py"]
    assert [(e.path, e.message) for e in report.errors] == [
        ("loop.py", "a loop of links (loop.py -> loop.py): not analysed")
    ]


def test_blobs_are_read_exactly(repo: Repo) -> None:
    contents = [b"a = 1\r\nb = 2\r\n", b"\tx = 1", b"", b"\x00\xff\n\n", "é = 'ü'\n".encode()]
    for number, data in enumerate(contents):
        repo.write(f"f{number}.py", data)
    repo.commit()
    ids = [repo.git("rev-parse", f"HEAD:f{number}.py") for number in range(len(contents))]
    blobs = read_blobs([*ids, ids[0]], repo.root)
    assert [blobs[i] for i in ids] == contents


def test_git_runs_a_fixed_number_of_times_whatever_the_number_of_files(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"app/m{n}.py": harmless(name=f"can_{n}") for n in range(12)}
    on_feature(repo, files, {path: text + "\nX = 1\n" for path, text in files.items()})
    calls = []
    real_run = subprocess.run

    def counting_run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        calls.append(args)
        return real_run(args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(gitdiff.subprocess, "run", counting_run)
    repo.diff()
    assert sum("cat-file" in args for args in calls) == 1
    assert len(calls) <= 8


# -- revisions and errors ---------------------------------------------------------------


def test_unknown_revision(repo: Repo) -> None:
    on_feature(repo, {"a.py": "x = 1\n"}, {})
    with pytest.raises(GitError, match="unknown revision 'nope'"):
        repo.diff(base="nope")
    with pytest.raises(GitError, match="unknown revision 'nope'"):
        repo.diff(head="nope")


def test_revision_that_looks_like_an_option_is_refused(repo: Repo) -> None:
    on_feature(repo, {"a.py": "x = 1\n"}, {})
    with pytest.raises(GitError, match="invalid revision '--output=x'"):
        repo.diff(base="--output=x")


def test_repository_without_commits(repo: Repo) -> None:
    with pytest.raises(GitError, match="unknown revision 'main'"):
        repo.diff()


def test_not_a_git_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match="not a git repository"):
        diff_report("main", None, Config(), cwd=plain)
    with pytest.raises(GitError, match="no such directory"):
        diff_report("main", None, Config(), cwd=tmp_path / "missing")


def test_unrelated_histories(repo: Repo) -> None:
    on_feature(repo, {"a.py": "x = 1\n"}, {})
    repo.git("switch", "-q", "--orphan", "other")
    repo.write("b.py", "y = 1\n")
    repo.commit()
    with pytest.raises(GitError, match="no common ancestor"):
        repo.diff()


# -- parsing git's raw output -----------------------------------------------------------

ZERO = "0" * 40
A, B = "a" * 40, "b" * 40


def raw(*records: tuple[str, ...]) -> bytes:
    return b"".join(b"\0".join(part.encode() for part in record) + b"\0" for record in records)


def test_parse_raw_diff() -> None:
    output = raw(
        (f":000000 100644 {ZERO} {B} A", "new.py"),
        (f":100644 100644 {A} {B} M", "dir with space/ä.py"),
        (f":100644 100644 {A} {B} R087", "old.py", "moved.py"),
        (f":100644 100644 {A} {B} C075", "src.py", "copy.py"),
        (f":100644 000000 {A} {ZERO} D", "gone.py"),
        (f":100644 120000 {A} {B} T", "now_a_link.py"),
        (f":120000 100755 {A} {B} T", "was_a_link.py"),
        (f":000000 160000 {ZERO} {B} A", "submodule"),
    )
    assert parse_raw_diff(output) == [
        GitChange("new.py", None, "A", B, None),
        GitChange("dir with space/ä.py", "dir with space/ä.py", "M", B, A),
        GitChange("moved.py", "old.py", "R", B, A),
        GitChange("copy.py", "src.py", "C", B, A),
        GitChange("now_a_link.py", "now_a_link.py", "T", B, None, link=True),
        GitChange("was_a_link.py", "was_a_link.py", "T", B, None),
    ]
    assert parse_raw_diff(b"") == []


@pytest.mark.parametrize(
    ("path", "python"),
    [
        ("app/perms.py", True),
        ("perms.py", True),
        ("app/perms.pyc", False),
        ("app/perms.pyi", False),
        ("README.md", False),
        (".venv/lib/site.py", False),
        ("pkg/node_modules/x.py", False),
        ("failclosed.egg-info/x.py", False),
        ("venv.py", True),
    ],
)
def test_is_python_path(path: str, python: bool) -> None:
    assert gitdiff.is_python_path(path) is python
