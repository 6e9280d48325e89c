"""Scoring the SQL route on the metadata test set (``lore.testing.metadata_fixture``): is an
answer exactly the one the reference statement gives?

- One value (a count, a date, a title): the answer's text is that value (a date may carry a
  time after it).
- File names: the answer names exactly those files (each fixture name is unique and no name
  lies inside another).
- Metadata and content ("which PDFs mention invoices"): the last search ran only among the
  files the metadata part allows, and found every file that holds the content.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath

from lore.store.metadata import MetadataRows
from lore.testing.metadata_fixture import FILES, MetadataQuestion
from lore.types import Answer

NAMES = frozenset(PurePath(relative).name for relative in FILES)


def truth(question: MetadataQuestion, rows: MetadataRows) -> object:
    """The right answer: what the reference statement returned, as one value or as the set
    of file names (or paths' names) it returned."""
    if question.content:
        return frozenset(PurePath(str(row[0])).name for row in rows.rows)
    cells = [str(cell) for row in rows.rows for cell in row]
    named = frozenset(PurePath(cell).name for cell in cells) & NAMES
    if named:
        return named
    return cells[0] if len(cells) == 1 else frozenset(cells)


def correct(question: MetadataQuestion, answer: Answer, right: object) -> bool:
    """Whether ``answer`` is exactly ``right`` (see the module docstring)."""
    if question.content:
        searches = [step for step in answer.steps if step.kind == "retrieve"]
        if not searches:
            return False
        found = {PurePath(hit.path).name for hit in searches[-1].hits}
        assert isinstance(right, frozenset)
        return bool(found) and found <= right and question.mentions <= found
    text = answer.text.strip().rstrip(".。")
    if isinstance(right, frozenset):
        return named_in(text) == right
    return text == str(right) or (len(str(right)) == 10 and text.startswith(str(right)))


def named_in(text: str, names: Iterable[str] = NAMES) -> frozenset[str]:
    return frozenset(name for name in names if name in text)
