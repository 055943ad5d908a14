"""analyzers.links: following symbolic links, the one decision of `diff` and the App."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from failclosed.analyzers.links import MAX_HOPS, Entry, Followed, Link, follow_links, link_target


@pytest.mark.parametrize(
    ("link", "target", "resolved"),
    [
        ("auth.py", "docs/auth.txt", "docs/auth.txt"),
        ("app/auth.py", "../docs/./auth.txt", "docs/auth.txt"),
        ("app/auth.py", "impl.py", "app/impl.py"),
        ("app/auth.py", "..", "."),
        ("auth.py", "", "."),
        ("auth.py", "../x.py", None),
        ("app/auth.py", "../../x.py", None),
        ("app/auth.py", "/etc/passwd", None),
        ("auth.py", "a/../../x.py", None),
    ],
)
def test_link_target(link: str, target: str, resolved: str | None) -> None:
    assert link_target(link, target) == resolved


def reader(tree: dict[str, Entry], reads: list[list[str]]):  # type: ignore[no-untyped-def]
    def read(paths: Sequence[str]) -> dict[str, Entry]:
        reads.append(list(paths))
        return {path: tree[path] for path in paths if path in tree}

    return read


def test_links_are_followed_together_one_read_per_step() -> None:
    tree: dict[str, Entry] = {
        "docs/auth.txt": b"code",
        "lib/mid.py": Link("../docs/auth.txt"),
        "docs": None,
    }
    reads: list[list[str]] = []
    followed, reasons = follow_links(
        {"a.py": "docs/auth.txt", "b.py": "lib/mid.py", "c.py": "docs", "d.py": "/abs"},
        reader(tree, reads),
    )
    assert followed == {
        "a.py": Followed("docs/auth.txt", b"code"),
        "b.py": Followed("docs/auth.txt", b"code"),
    }
    assert reasons == {
        "c.py": "a link to docs, which is not a file here: not analysed",
        "d.py": "a link to /abs, outside the repository: not analysed",
    }
    assert reads == [["docs/auth.txt", "lib/mid.py", "docs"], ["docs/auth.txt"]]


def test_loops_and_long_chains_end() -> None:
    tree: dict[str, Entry] = {"x.py": Link("y.py"), "y.py": Link("x.py")}
    tree.update({f"n{i}.py": Link(f"n{i + 1}.py") for i in range(100)})
    reads: list[list[str]] = []
    followed, reasons = follow_links({"a.py": "x.py", "b.py": "n0.py"}, reader(tree, reads))
    assert followed == {}
    assert reasons["a.py"] == "a loop of links (a.py -> x.py -> y.py -> x.py): not analysed"
    assert reasons["b.py"] == f"a chain of more than {MAX_HOPS} links: not analysed"
    assert len(reads) == MAX_HOPS - 1


def test_no_link_reads_nothing() -> None:
    reads: list[list[str]] = []
    assert follow_links({}, reader({}, reads)) == ({}, {})
    assert reads == []
