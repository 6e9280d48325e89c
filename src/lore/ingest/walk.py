"""Find the files to index under the roots a user names.

The walk is depth-first in sorted name order, so the same tree always yields the same
sequence. It honours ``.gitignore`` files (nested ones too, and those of the enclosing git
repository above a root), skips hidden entries unless asked, and never enters version-control,
dependency, cache or knowledge-base folders.

Symlinks: folders behind them are never entered (they could loop or leave the tree); a
symlinked file is indexed when its target lies inside one of the roots, and otherwise skipped
and reported unless ``IngestConfig.follow_outside_links`` says to follow it. Loops, dangling
links and folders that cannot be listed are reported too; none of them stops the walk.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from lore.config import DEFAULT_KB_DIR, IngestConfig
from lore.errors import IngestError, os_error_reason
from lore.types import Skipped

OnSkip = Callable[[Skipped], None]

ALWAYS_SKIPPED = frozenset({
    ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".eggs", DEFAULT_KB_DIR.name,
})
"""Folder names never entered, whatever the settings. Any folder holding a ``pyvenv.cfg``
(a virtual environment under another name) is skipped too."""


@dataclass(frozen=True, slots=True)
class _Ignore:
    """The patterns of one ``.gitignore``: a path under the root that starts with ``base``
    is checked as ``prefix`` + the rest (``prefix`` is set for files above the root)."""

    base: str
    prefix: str
    spec: pathspec.GitIgnoreSpec


@dataclass(frozen=True, slots=True)
class _Filters:
    include: pathspec.GitIgnoreSpec | None
    exclude: pathspec.GitIgnoreSpec | None
    hidden: bool
    gitignore: bool
    inside: tuple[str, ...]
    """The resolved roots: a symlink's target must lie under one of them."""
    follow_outside: bool
    on_skip: OnSkip


def discover(roots: Sequence[Path], config: IngestConfig,
             on_skip: OnSkip | None = None) -> Iterator[Path]:
    """Yield every file to index under ``roots``, each once, in a deterministic order.

    A root that is a file is always yielded, even if hidden or excluded. Inside folders,
    ``config.include``/``config.exclude`` are gitignore-style globs matched against the path
    relative to the root (``*.py`` matches at any depth, ``docs/*.md`` only directly in docs).
    Symlinks are handled as the module docstring says; what is skipped, and why, goes to
    ``on_skip`` (symlinks leading outside the roots, loops, dangling links, folders that cannot
    be listed; a followed outside link is reported as a warning).

    Raises:
        IngestError: a root does not exist.

    Example:
        >>> config = IngestConfig(include=("*.md",))
        >>> files = list(discover([Path("docs")], config))  # doctest: +SKIP
    """
    filters = _Filters(
        include=_spec(config.include), exclude=_spec(config.exclude),
        hidden=config.hidden, gitignore=config.respect_gitignore,
        inside=tuple(os.path.realpath(root) for root in roots),
        follow_outside=config.follow_outside_links, on_skip=on_skip or (lambda _: None),
    )
    seen: set[Path] = set()
    for root in roots:
        if not root.exists():
            raise IngestError(str(root), "no such file or directory; check the path")
        files = _walk_root(root, filters) if root.is_dir() else iter([root])
        for path in files:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                yield path


def _spec(patterns: Sequence[str]) -> pathspec.GitIgnoreSpec | None:
    return pathspec.GitIgnoreSpec.from_lines(patterns) if patterns else None


def _walk_root(root: Path, filters: _Filters) -> Iterator[Path]:
    ignores = _enclosing_ignores(root) if filters.gitignore else []
    yield from _walk(root, "", ignores, filters)


def _walk(folder: Path, rel: str, ignores: list[_Ignore], filters: _Filters) -> Iterator[Path]:
    """Depth-first walk of ``folder``, whose path relative to the root is ``rel``."""
    if filters.gitignore:
        ignores = ignores + _read_ignore(folder / ".gitignore", rel)
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as exc:
        filters.on_skip(Skipped(str(folder), f"folder cannot be listed: {os_error_reason(exc)}"))
        return
    for entry in entries:
        path_rel = f"{rel}{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            if _enter(entry, path_rel, ignores, filters):
                yield from _walk(Path(entry.path), path_rel + "/", ignores, filters)
        elif _keep_file(entry.name, path_rel, ignores, filters) and \
                _is_indexable_file(entry, filters):
            yield Path(entry.path)


def _is_indexable_file(entry: os.DirEntry[str], filters: _Filters) -> bool:
    """A regular file, or a symlink to one inside the roots (or outside, when allowed)."""
    if not entry.is_symlink():
        return entry.is_file(follow_symlinks=False)
    try:
        is_file = stat.S_ISREG(os.stat(entry.path).st_mode)
    except OSError as exc:
        why = ("a symlink loop" if exc.errno == errno.ELOOP else
               "a dangling symlink: its target does not exist")
        filters.on_skip(Skipped(entry.path, why))
        return False
    if not is_file:
        return False
    target = os.path.realpath(entry.path)
    if within(target, filters.inside):
        return True
    if filters.follow_outside:
        filters.on_skip(Skipped(entry.path, f"indexed through a symlink to {target}, outside "
                                            "the folders being indexed"))
        return True
    filters.on_skip(Skipped(entry.path, f"a symlink to {target}, outside the folders being "
                                        "indexed; lore index --follow-links indexes it"))
    return False


def within(path: str, roots: Sequence[str]) -> bool:
    """``path`` is one of ``roots`` or lies under one (all absolute, resolved paths)."""
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _enter(entry: os.DirEntry[str], rel: str, ignores: list[_Ignore], filters: _Filters) -> bool:
    name = entry.name
    if name in ALWAYS_SKIPPED or (name.startswith(".") and not filters.hidden):
        return False
    if os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
        return False
    if filters.exclude is not None and filters.exclude.match_file(rel + "/"):
        return False
    return not _ignored(rel + "/", ignores)


def _keep_file(name: str, rel: str, ignores: list[_Ignore], filters: _Filters) -> bool:
    if name.startswith(".") and not filters.hidden:
        return False
    if filters.include is not None and not filters.include.match_file(rel):
        return False
    if filters.exclude is not None and filters.exclude.match_file(rel):
        return False
    return not _ignored(rel, ignores)


def _ignored(rel: str, ignores: list[_Ignore]) -> bool:
    """Git's rule: the deepest ``.gitignore`` with a matching pattern decides, last pattern wins."""
    verdict = False
    for ignore in ignores:
        if not rel.startswith(ignore.base):
            continue
        include = ignore.spec.check_file(ignore.prefix + rel[len(ignore.base):]).include
        if include is not None:
            verdict = include
    return verdict


def _read_ignore(path: Path, base: str, prefix: str = "") -> list[_Ignore]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [_Ignore(base, prefix, pathspec.GitIgnoreSpec.from_lines(lines))] if lines else []


def _enclosing_ignores(root: Path) -> list[_Ignore]:
    """The ``.gitignore`` files from the enclosing repository's top down to above ``root``.

    Their patterns are anchored at their own folder, so each checks ``<root from there>/<path>``.
    """
    root = root.resolve()
    top = next((p for p in (root, *root.parents) if (p / ".git").exists()), None)
    if top is None or top == root:
        return []
    between = reversed(root.relative_to(top).parents[:-1])
    ignores = []
    for above in (top, *(top / folder for folder in between)):
        prefix = root.relative_to(above).as_posix() + "/"
        ignores.extend(_read_ignore(above / ".gitignore", "", prefix))
    return ignores
