"""The knowledge-base directory: where it is, making it, and one writer at a time."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from lore.config import LoreConfig
from lore.errors import ConfigError, StoreError
from lore.store.sqlite import STORE_FILE


def resolve_kb_dir(explicit: str | Path | None, environ: Mapping[str, str]) -> Path:
    """``--kb DIR`` if given, else ``$LORE_HOME``, else ``./.lore``."""
    if explicit is not None:
        return Path(explicit).expanduser()
    return LoreConfig.from_env(environ).kb_dir.expanduser()


def prepare_directory(directory: Path, create: bool) -> None:
    """Make sure ``directory`` can hold a knowledge base, creating it when ``create``."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"knowledge base path {directory} is a file; point --kb (or "
                          "LORE_HOME) at a directory, which lore creates when missing")
    if not create and not (directory / STORE_FILE).exists():
        raise StoreError(f"no knowledge base at {directory}: check the path (--kb or "
                         f"LORE_HOME), or build one with `lore index PATH --kb {directory}`")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the knowledge base folder {directory}: "
                          f"{exc.strerror}; point --kb (or LORE_HOME) at a folder you may "
                          "write") from None


@contextmanager
def writer_lock(directory: Path, name: str = ".write.lock", doing: str = "writing to"
                ) -> Iterator[None]:
    """One writer per knowledge base (or per part of it, by lock ``name``); readers never
    wait for it."""
    with (directory / name).open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"another lore process is {doing} {directory}; "
                             "wait for it to finish and try again") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def files_under(known: Sequence[str], paths: Sequence[str | Path]) -> list[str]:
    """The ``known`` file paths that are one of ``paths`` or lie inside one of them."""
    targets = [str(Path(p).expanduser().resolve()) for p in paths]
    return [f for f in known
            if any(f == t or f.startswith(t.rstrip(os.sep) + os.sep) for t in targets)]
