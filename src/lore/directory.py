"""The knowledge-base directory: where it is, making it, and one writer at a time."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from lore.config import LoreConfig
from lore.errors import ConfigError, StoreError
from lore.store.protocol import Store
from lore.store.sqlite import STORE_FILE, SqliteStore

STORE_LOCATION = "store-location"
"""In a knowledge-base directory whose documents live in a database: its URL, written once
(readable by this user alone, as it may hold a password), so later commands find it."""


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
    if not create and not (directory / STORE_FILE).exists() \
            and not (directory / STORE_LOCATION).exists():
        raise StoreError(f"no knowledge base at {directory}: check the path (--kb or "
                         f"LORE_HOME), or build one with `lore index PATH --kb {directory}`")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the knowledge base folder {directory}: "
                          f"{exc.strerror}; point --kb (or LORE_HOME) at a folder you may "
                          "write") from None


def open_store(directory: Path, location: str | None) -> Store:
    """The store of the knowledge base in ``directory``: the database it recorded (or
    ``location``, recorded now), else its own SQLite file.

    Raises:
        ConfigError: ``location`` is no ``postgresql://`` URL, or another than the one the
            directory recorded.
        StoreError: the database cannot be opened (the message says why).
    """
    from lore.store.postgres import PostgresStore, is_postgres, redacted

    recorded_file = directory / STORE_LOCATION
    recorded = recorded_file.read_text().strip() if recorded_file.exists() else None
    if location is not None and not is_postgres(location):
        raise ConfigError(f"--store {location!r} is not a postgresql:// URL; leave it out to "
                          f"keep the documents in {directory / STORE_FILE}")
    if location is not None and recorded is not None and location != recorded:
        raise ConfigError(f"{directory} keeps its documents in {redacted(recorded)}, not "
                          f"{redacted(location)}; use another --kb folder for another store")
    if location is None and recorded is None:
        return SqliteStore(directory / STORE_FILE)
    if location is not None and (directory / STORE_FILE).exists():
        raise ConfigError(f"{directory} keeps its documents in its own {STORE_FILE}; use "
                          "another --kb folder for a knowledge base in a database")
    store = PostgresStore(location or recorded or "")
    if recorded is None and location is not None:
        _record_location(recorded_file, location)
    return store


def _record_location(path: Path, location: str) -> None:
    """Write ``location`` to ``path`` whole or not at all, readable by this user alone."""
    partial = path.with_name(path.name + ".part")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(location + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


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
    """The ``known`` file paths that are one of ``paths`` or lie inside one of them: as given
    (a name the store knows that is on no disk here) or resolved."""
    targets = [form for p in paths for form in (str(p), str(Path(p).expanduser().resolve()))]
    return [f for f in known
            if any(f == t or f.startswith(t.rstrip(os.sep) + os.sep) for t in targets)]
