"""`failclosed diff BASE [HEAD]`: report only the fail-open paths a branch adds or changes.

The files that changed between the merge base of BASE and HEAD are analysed in both
versions, and only HEAD findings with no identical BASE finding are reported
(`compare.new_or_changed`). Git does the work it is good at, in few processes: one call
lists the changes (with blob ids), one `cat-file --batch` reads every blob.

Decisions, all failing closed where there is a choice:
- Renames are followed (`-M`), so an untouched path in a moved file is not new. Copies
  are not (no `-C`): a copied fail-open path is one more path, reported as new.
- Deleted files, non-`.py` files and submodules are skipped: nothing in HEAD to judge. So
  are files in folders `failclosed scan` does not walk (`.venv`, ...). A linked `.py` file is
  analysed through its target (`links.follow_links`, as in the App), or named as not analysed.
- A `.py` file is analysed whatever its bytes; one git calls binary is not Python and so
  becomes an error (exit code 2), never a silent skip.
- Errors in HEAD are reported; errors in BASE are not (only HEAD is judged), and a BASE
  that cannot be analysed has no findings, so every HEAD finding in that file is reported.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from failclosed.analyzers.compare import base_findings, new_or_changed
from failclosed.analyzers.engine import analyze_source, is_python_path
from failclosed.analyzers.links import Entry, Link, follow_links
from failclosed.analyzers.model import AnalysisError, Report
from failclosed.analyzers.settings import Config

GIT = ("git", "-c", "core.quotepath=off")
REGULAR_FILE_MODES = {"100644", "100755"}
LINK_MODE = "120000"


class GitError(Exception):
    """Git could not answer: the message says why, in words a user can act on."""


@dataclass(frozen=True)
class GitChange:
    """A file present in HEAD that differs from the merge base.

    Paths are POSIX and relative to the repository root. `old_path` is the path in the
    base (differs from `path` for a rename; None for an added file); `blob`/`old_blob`
    are the object ids of the two versions (`old_blob` None when there is no base file).
    """

    path: str
    old_path: str | None
    status: str  # A added, M modified, R renamed, T type changed (symlink -> file), C copied
    blob: str
    old_blob: str | None = None
    link: bool = False  # a symbolic link: `blob` holds its target path, analysed through it


# -- running git ------------------------------------------------------------------------


def _run(
    args: Sequence[str], cwd: Path, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LC_ALL": "C"}  # English messages, which `_explain` relies on
    try:
        return subprocess.run(
            [*GIT, *args], cwd=cwd, input=stdin, capture_output=True, check=False, env=env
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH") from exc
    except OSError as exc:
        raise GitError(f"cannot run git: {exc}") from exc


def git(args: Sequence[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    """Git's stdout; a failing call raises GitError with git's own explanation."""
    done = _run(args, cwd, stdin)
    if done.returncode != 0:
        raise GitError(_explain(done, args, cwd))
    return done.stdout


def _explain(done: subprocess.CompletedProcess[bytes], args: Sequence[str], cwd: Path) -> str:
    text = done.stderr.decode("utf-8", "replace").strip()
    if "not a git repository" in text:
        return f"not a git repository: {cwd}"
    lines = [line.removeprefix("fatal: ").removeprefix("error: ") for line in text.splitlines()]
    return "; ".join(lines) or f"git {' '.join(args)} failed with exit code {done.returncode}"


def repo_root(cwd: Path) -> Path:
    """The work tree's top folder; GitError outside a repository."""
    if not cwd.is_dir():
        raise GitError(f"no such directory: {cwd}")
    out = git(["rev-parse", "--show-toplevel"], cwd)
    return Path(os.fsdecode(out.rstrip(b"\n"))).resolve()


def resolve_commit(rev: str, cwd: Path) -> str:
    """The commit id `rev` names; GitError("unknown revision 'rev'") if none."""
    if not rev or rev.startswith("-"):  # would be read as an option
        raise GitError(f"invalid revision '{rev}'")
    done = _run(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd)
    if done.returncode != 0:
        raise GitError(f"unknown revision '{rev}'")
    return done.stdout.decode("ascii").strip()


def merge_base(base: str, head: str, cwd: Path) -> str:
    """Where HEAD's branch forked from BASE, so that BASE's later commits are not HEAD's."""
    done = _run(["merge-base", base, head], cwd)
    if done.returncode == 1 and not done.stderr.strip():
        raise GitError(
            f"no common ancestor of {base[:12]} and {head[:12]} (a shallow clone? fetch "
            "the full history, e.g. `git fetch --unshallow` or checkout with fetch-depth: 0)"
        )
    if done.returncode != 0:
        raise GitError(_explain(done, ["merge-base", base, head], cwd))
    return done.stdout.decode("ascii").strip()


# -- what changed -----------------------------------------------------------------------


def changed_python_files(
    base_rev: str, head_rev: str = "HEAD", cwd: Path | None = None
) -> list[GitChange]:
    """Python files in HEAD that were added, modified or renamed since the merge base."""
    cwd = Path(cwd or Path.cwd())
    repo_root(cwd)  # "not a git repository" before "unknown revision"
    base = resolve_commit(base_rev, cwd)
    head = resolve_commit(head_rev, cwd)
    fork = merge_base(base, head, cwd)
    raw = git(["diff-tree", "-r", "-z", "-M", "--no-abbrev", fork, head], cwd)
    return [change for change in parse_raw_diff(raw) if is_python_path(change.path)]


def parse_raw_diff(raw: bytes) -> list[GitChange]:
    """Regular files present in HEAD, from `git diff-tree -r -z` raw output.

    Each record is `:oldmode newmode oldid newid status` then one path, or two (old, new)
    for renames and copies, all NUL-terminated, so any byte may appear in a path.
    """
    fields = raw.split(b"\0")
    changes = []
    i = 0
    while i < len(fields) and fields[i].startswith(b":"):
        old_mode, new_mode, old_id, new_id, status = fields[i][1:].decode("ascii").split()
        count = 2 if status[0] in "RC" else 1
        paths = [os.fsdecode(p) for p in fields[i + 1 : i + 1 + count]]
        i += 1 + count
        if status[0] == "D" or new_mode not in REGULAR_FILE_MODES | {LINK_MODE}:
            continue
        link = new_mode == LINK_MODE
        has_base = status[0] != "A" and old_mode in REGULAR_FILE_MODES and not link
        changes.append(
            GitChange(
                path=paths[-1],
                old_path=None if status[0] == "A" else paths[0],
                status=status[0],
                blob=new_id,
                old_blob=old_id if has_base else None,
                link=link,
            )
        )
    return changes


def read_blobs(ids: Sequence[str], cwd: Path) -> dict[str, bytes]:
    """Object id -> exact bytes (CRLF and all), read by one `git cat-file --batch`."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        return {}
    out = git(["cat-file", "--batch"], cwd, stdin="".join(f"{i}\n" for i in unique).encode())
    blobs: dict[str, bytes] = {}
    pos = 0
    for oid in unique:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()  # <id> <type> <size>, or <name> missing
        if len(header) != 3 or header[1] != b"blob":
            raise GitError(f"cannot read object {oid}: {out[pos:end].decode('utf-8', 'replace')}")
        start = end + 1
        size = int(header[2])
        blobs[oid] = out[start : start + size]
        pos = start + size + 1  # the content is followed by a newline
    return blobs


# -- the report -------------------------------------------------------------------------


def diff_report(base: str, head: str | None, config: Config, cwd: Path | None = None) -> Report:
    """Findings that HEAD adds or changes relative to its merge base with BASE.

    HEAD defaults to the `HEAD` commit. Paths are shown relative to `cwd` (default: the
    current directory), which may be below the repository root; `exclude` globs in the
    config are matched against these paths, as `failclosed scan` does.
    """
    cwd = Path(cwd or Path.cwd()).resolve()
    root = repo_root(cwd)

    def shown_path(repo_path: str) -> str:
        return Path(os.path.relpath(root / repo_path, cwd)).as_posix()

    def shown(change: GitChange) -> str:
        return shown_path(change.path)

    changes = [
        c
        for c in changed_python_files(base, head or "HEAD", cwd)
        if not config.is_excluded(shown(c))
    ]
    blobs = read_blobs([i for c in changes for i in (c.blob, c.old_blob) if i], cwd)
    report = Report()
    if any(c.link for c in changes):
        changes, unreadable = _through_links(changes, blobs, head or "HEAD", cwd, shown)
        report.errors.extend(unreadable)
    for change in changes:
        old = shown_path(change.old_path) if change.old_path else None
        report.extend(file_report(change, blobs, shown(change), config, old))
    report.sort()
    return report


def _through_links(
    changes: list[GitChange],
    blobs: dict[str, bytes],
    head: str,
    cwd: Path,
    shown: Callable[[GitChange], str],
) -> tuple[list[GitChange], list[AnalysisError]]:
    """A linked `.py` file is analysed through its target when the target is a file of the
    repository (its code is what `import` runs), through a chain of links too; otherwise it
    is named as not analysed. `links.follow_links` decides, as for the App. A link has no
    base to compare with, so all of its target counts as new."""
    commit = resolve_commit(head, cwd)
    links = {c.path: os.fsdecode(blobs[c.blob]) for c in changes if c.link}
    followed, reasons = follow_links(links, lambda paths: tree_entries(commit, paths, cwd))
    kept: list[GitChange] = []
    errors: list[AnalysisError] = []
    for change in changes:
        if not change.link:
            kept.append(change)
        elif change.path in followed:
            target = followed[change.path]
            name = f"{commit}:{target.path}"
            blobs[name] = target.data
            kept.append(replace(change, blob=name, old_blob=None, link=False))
        else:
            errors.append(AnalysisError(shown(change), reasons[change.path]))
    return kept, errors


def tree_entries(commit: str, paths: Sequence[str], cwd: Path) -> dict[str, Entry]:
    """What each repository path is at `commit`: a file's bytes or a link (its target);
    absent for nothing there, a folder or a submodule. Two git calls, however many paths."""
    if not paths:
        return {}
    out = git(["--literal-pathspecs", "ls-tree", "-z", "--full-tree", commit, "--", *paths], cwd)
    found: dict[str, tuple[str, str]] = {}
    for record in out.split(b"\0"):
        meta, tab, name = record.partition(b"\t")
        if tab:
            mode, _kind, oid = meta.decode("ascii").split()
            found[os.fsdecode(name)] = (mode, oid)
    files = REGULAR_FILE_MODES | {LINK_MODE}
    data = read_blobs([oid for mode, oid in found.values() if mode in files], cwd)
    entries: dict[str, Entry] = {}
    for path, (mode, oid) in found.items():
        if mode in REGULAR_FILE_MODES:
            entries[path] = data[oid]
        elif mode == LINK_MODE:
            entries[path] = Link(os.fsdecode(data[oid]))
    return entries


def file_report(
    change: GitChange,
    blobs: Mapping[str, bytes],
    path: str,
    config: Config,
    old_path: str | None = None,
) -> Report:
    """HEAD's errors and the HEAD findings that BASE's version of the file does not have."""
    head = analyze_source(blobs[change.blob], path, config)
    if not head.findings or change.old_blob is None:
        return head
    old = blobs[change.old_blob]
    before = base_findings(old, old_path, path, config)
    return Report(findings=new_or_changed(before, head.findings), errors=head.errors)
