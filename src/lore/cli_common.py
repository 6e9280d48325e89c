"""What every command shares: the ``--kb``, ``--store`` and ``--json`` options, and opening
the knowledge base with lore's own errors shown as one line."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from lore import api
from lore.config import LoreConfig
from lore.errors import LoreError

F = TypeVar("F", bound=Callable[..., Any])


class LoreUsageError(click.ClickException):
    """A LoreError shown as one line, exit code 2 (bad input or state the user can fix)."""

    exit_code = 2


def kb_option(command: F) -> F:
    """``--kb DIR``, and ``--store URL`` beside it (kept for ``opened``, not passed on)."""
    option = click.option("--kb", "kb", envvar="LORE_HOME", type=click.Path(path_type=Path),
                          help="Knowledge-base directory (default: $LORE_HOME, else ./.lore).")
    store = click.option(
        "--store", envvar="LORE_STORE", metavar="URL", expose_value=False,
        callback=_remember_store,
        help="Keep the documents in PostgreSQL with pgvector: postgresql://user@host/db "
             "(?schema=NAME for several collections in one database). Recorded in the --kb "
             "folder on first use; without it, the folder's own SQLite file holds them.")
    return option(store(command))


_STORE_KEY = "lore.store"


def _remember_store(context: click.Context, parameter: click.Parameter,
                    value: str | None) -> str | None:
    if value:
        context.meta[_STORE_KEY] = value
    return value


def given_store() -> str | None:
    """The ``--store`` (or ``LORE_STORE``) of the command running now, if any."""
    context = click.get_current_context(silent=True)
    return context.meta.get(_STORE_KEY) if context is not None else None


def json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON object for programs.")(command)


@contextmanager
def opened(kb: Path | None, model: str | None = None, switch_model: bool = False,
           config: LoreConfig | None = None, create: bool = False
           ) -> Iterator[api.KnowledgeBase]:
    """The knowledge base, with LoreErrors turned into one-line usage errors. Only ``index``
    creates one: a mistyped ``--kb`` elsewhere is an error, not an empty result."""
    try:
        with api.open(kb if kb is not None else api.resolve_kb_dir(None, os.environ),
                      model=model, switch_model=switch_model, config=config,
                      create=create, store=given_store()) as base:
            yield base
    except LoreError as error:
        raise LoreUsageError(str(error)) from None


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM inside ``interruptible``.

    A subclass on purpose: ``python -m`` remembers a plain KeyboardInterrupt that passed out
    of any ``exec`` of a string (dataclasses and namedtuples make their methods that way),
    and ends the process by SIGINT after it has printed its message, even when the
    interrupt was caught."""


STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Stop:
    """Where a stopping signal waits while a line is being written, or after Python swallowed
    the exception it raised."""

    holding = 0
    pending = False


@contextmanager
def whole() -> Iterator[None]:
    """Hold a stopping signal until the block ends: a line written inside is never cut
    (an exception raised in the middle of a write can leave part of it buffered, and a
    JSON line torn)."""
    _Stop.holding += 1
    try:
        yield
    finally:
        _Stop.holding -= 1
        stop_if_asked()


def stop_if_asked() -> None:
    """Raise the stop a signal asked for and that has not ended the run yet: one held by
    ``whole``, or one raised inside a weakref callback or ``__del__``, where Python reports
    an exception and carries on. Progress calls this at every step."""
    if _Stop.pending and not _Stop.holding:
        _Stop.pending = False
        raise Interrupted


def _noting_swallowed_stops(previous: Callable[[sys.UnraisableHookArgs], object]
                            ) -> Callable[[sys.UnraisableHookArgs], None]:
    """An ``unraisablehook`` that keeps a swallowed ``Interrupted`` for ``stop_if_asked``
    instead of printing it; any other exception goes to ``previous``. (A stop swallowed
    after the last step changes nothing: the run has finished.)"""
    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if isinstance(unraisable.exc_value, Interrupted):
            _Stop.pending = True
        else:
            previous(unraisable)
    return hook


@contextmanager
def interruptible(resume: str) -> Iterator[None]:
    """Ctrl-C or SIGTERM ends a run with a message saying how to ``resume`` it."""
    def stop(number: int, frame: object) -> None:
        if _Stop.holding:
            _Stop.pending = True
            return
        raise Interrupted

    previous = {number: signal.signal(number, stop) for number in STOPPING_SIGNALS}
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _noting_swallowed_stops(previous_hook)
    stopping = False
    try:
        yield
    except KeyboardInterrupt:
        stopping = True
        # Once stopping, a second signal must not cut the message short (a process manager
        # may repeat SIGTERM); the run ends with this message either way.
        for number in STOPPING_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise click.ClickException(f"interrupted: {resume}") from None
    finally:
        sys.unraisablehook = previous_hook
        _Stop.pending = False
        if not stopping:
            for number, handler in previous.items():
                signal.signal(number, handler)
