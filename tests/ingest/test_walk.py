from __future__ import annotations

import os
from pathlib import Path

import pytest

from lore.config import IngestConfig
from lore.errors import IngestError
from lore.ingest.walk import discover
from lore.types import Skipped


def make(root: Path, *files: str) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {name}\n")


def found(root: Path, config: IngestConfig | None = None) -> list[str]:
    return [p.relative_to(root).as_posix() for p in discover([root], config or IngestConfig())]


def test_walk_is_depth_first_in_sorted_order(tmp_path: Path) -> None:
    make(tmp_path, "b.txt", "a/z.md", "a/b/c.py", "A.txt", "c.txt")
    assert found(tmp_path) == ["A.txt", "a/b/c.py", "a/z.md", "b.txt", "c.txt"]
    assert found(tmp_path) == found(tmp_path)


def test_gitignore_root_nested_and_negated(tmp_path: Path) -> None:
    make(tmp_path, "keep.py", "debug.log", "important.log", "build/out.txt",
         "src/app.py", "src/gen/x.py", "src/notes.tmp", "docs/a.md")
    (tmp_path / ".gitignore").write_text("*.log\n!important.log\nbuild/\n")
    (tmp_path / "src" / ".gitignore").write_text("gen/\n*.tmp\n/app.py\n")
    (tmp_path / "docs" / ".gitignore").write_text("# only a comment\n")
    assert found(tmp_path) == ["docs/a.md", "important.log", "keep.py"]


def test_nested_gitignore_can_reinclude_a_file(tmp_path: Path) -> None:
    make(tmp_path, "a/x.log", "b/x.log")
    (tmp_path / ".gitignore").write_text("*.log\n")
    (tmp_path / "a" / ".gitignore").write_text("!x.log\n")
    assert found(tmp_path) == ["a/x.log"]


def test_gitignore_can_be_turned_off(tmp_path: Path) -> None:
    make(tmp_path, "a.log", "b.txt")
    (tmp_path / ".gitignore").write_text("*.log\n")
    assert found(tmp_path, IngestConfig(respect_gitignore=False)) == ["a.log", "b.txt"]


def test_gitignore_of_the_enclosing_repository_applies(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make(repo, "sub/deep/a.log", "sub/deep/b.txt", "sub/deep/skip/c.txt")
    (repo / ".git").mkdir()
    (repo / ".gitignore").write_text("*.log\n")
    (repo / "sub" / ".gitignore").write_text("deep/skip/\n")
    assert found(repo / "sub" / "deep") == ["b.txt"]


def test_hidden_entries_are_skipped_unless_asked(tmp_path: Path) -> None:
    make(tmp_path, ".env", ".config/x.txt", "visible.txt")
    assert found(tmp_path) == ["visible.txt"]
    assert found(tmp_path, IngestConfig(hidden=True)) == [".config/x.txt", ".env", "visible.txt"]


def test_tool_folders_are_always_skipped(tmp_path: Path) -> None:
    make(tmp_path, ".git/config", "node_modules/p/index.js", "pkg/__pycache__/m.pyc",
         ".venv/lib/x.py", ".lore/lore.db", "env2/pyvenv.cfg", "env2/lib/site.py", "main.py")
    assert found(tmp_path, IngestConfig(hidden=True)) == ["main.py"]


def test_include_and_exclude_globs_match_paths_relative_to_the_root(tmp_path: Path) -> None:
    make(tmp_path, "a.py", "src/b.py", "src/deep/c.txt", "docs/d.md", "docs/x/e.md", "f.md")
    assert found(tmp_path, IngestConfig(include=("*.py",))) == ["a.py", "src/b.py"]
    assert found(tmp_path, IngestConfig(include=("src/**",))) == ["src/b.py", "src/deep/c.txt"]
    assert found(tmp_path, IngestConfig(include=("docs/*.md",))) == ["docs/d.md"]
    assert found(tmp_path, IngestConfig(exclude=("src/**", "*.md"))) == ["a.py"]
    assert found(tmp_path, IngestConfig(exclude=("docs",))) == [
        "a.py", "f.md", "src/b.py", "src/deep/c.txt",
    ]


def test_missing_root_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(IngestError, match="no such file") as caught:
        list(discover([missing], IngestConfig()))
    assert caught.value.path == str(missing)


def test_explicit_file_roots_are_always_yielded(tmp_path: Path) -> None:
    make(tmp_path, ".hidden.md", "ignored.log")
    (tmp_path / ".gitignore").write_text("*.log\n")
    roots = [tmp_path / ".hidden.md", tmp_path / "ignored.log"]
    config = IngestConfig(exclude=("*.md",))
    assert list(discover(roots, config)) == roots


def test_each_file_is_yielded_once_across_roots(tmp_path: Path) -> None:
    make(tmp_path, "docs/a.md", "b.txt")
    roots = [tmp_path / "docs", tmp_path, tmp_path / "docs" / "a.md"]
    assert [p.name for p in discover(roots, IngestConfig())] == ["a.md", "b.txt"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinked_folders_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    make(outside, "secret.txt")
    tree = tmp_path / "tree"
    make(tree, "a/real.txt")
    (tree / "a" / "loop").symlink_to(tree, target_is_directory=True)
    (tree / "out").symlink_to(outside, target_is_directory=True)
    (tree / "link.txt").symlink_to(tree / "a" / "real.txt")
    (tree / "broken.txt").symlink_to(tree / "missing.txt")
    assert found(tree) == ["a/real.txt"]
    assert found(tree / "out") == ["secret.txt"]


def discover_reporting(roots: list[Path], config: IngestConfig | None = None
                       ) -> tuple[list[str], dict[str, str]]:
    skipped: list[Skipped] = []
    files = [p.name for p in discover(roots, config or IngestConfig(), on_skip=skipped.append)]
    return files, {Path(item.path).name: item.reason for item in skipped}


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_symlink_to_a_file_outside_the_roots_is_skipped_and_reported(tmp_path: Path) -> None:
    make(tmp_path / "home", "secret.txt")
    corpus = tmp_path / "corpus"
    make(corpus, "note.txt")
    (corpus / "passwd_link.txt").symlink_to(tmp_path / "home" / "secret.txt")
    files, skipped = discover_reporting([corpus])
    assert files == ["note.txt"]
    assert "outside the folders being indexed" in skipped["passwd_link.txt"]
    assert "--follow-links" in skipped["passwd_link.txt"]
    followed, warned = discover_reporting([corpus], IngestConfig(follow_outside_links=True))
    assert followed == ["note.txt", "passwd_link.txt"]
    assert warned["passwd_link.txt"].startswith("indexed through a symlink to ")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_symlink_into_another_root_is_followed(tmp_path: Path) -> None:
    make(tmp_path / "shared", "common.txt")
    corpus = tmp_path / "corpus"
    make(corpus, "note.txt")
    (corpus / "link.txt").symlink_to(tmp_path / "shared" / "common.txt")
    files, skipped = discover_reporting([corpus, tmp_path / "shared"])
    assert files == ["link.txt", "note.txt"] and skipped == {}  # common.txt: the same file


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_symlink_loop_and_a_dangling_link_are_reported_and_the_walk_goes_on(
        tmp_path: Path) -> None:
    folder = tmp_path / "d"
    make(folder, "c.txt")
    (folder / "a.txt").symlink_to("b.txt")
    (folder / "b.txt").symlink_to("a.txt")
    (folder / "gone.txt").symlink_to("missing.txt")
    files, skipped = discover_reporting([folder])
    assert files == ["c.txt"]
    assert skipped == {"a.txt": "a symlink loop", "b.txt": "a symlink loop",
                       "gone.txt": "a dangling symlink: its target does not exist"}
