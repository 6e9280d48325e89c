"""Parse ``--where`` expressions into a typed ``Filter``.

Grammar: ``field=value`` or, for dates, ``modified>=2024-01-31`` / ``modified<2024-06-01``.
Fields: ``path`` (glob), ``type`` or ``format``, ``language`` (alias ``lang``), ``kind``.
Repeat a field to allow several values: ``--where type=markdown --where type=pdf``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import get_args

from lore.errors import QueryError
from lore.types import ChunkKind, Filter

_EXPRESSION = re.compile(r"^\s*(\w+)\s*(>=|<=|>|<|=)\s*(.+?)\s*$")
_FIELDS = {"path": "paths", "type": "formats", "format": "formats", "language": "languages",
           "lang": "languages", "kind": "kinds"}


def parse_where(expressions: Sequence[str]) -> Filter:
    """``["path=src/*", "modified>=2024-01-01"]`` -> ``Filter(paths=("src/*",), ...)``."""
    result = Filter()
    for expression in expressions:
        result = _apply(result, expression)
    return result


def _apply(current: Filter, expression: str) -> Filter:
    match = _EXPRESSION.match(expression)
    if not match:
        raise QueryError(f"cannot read filter {expression!r}; write field=value, e.g. "
                         "path=src/*, type=markdown, language=python, modified>=2024-01-31")
    name, op, value = match.groups()
    if name == "modified":
        return _apply_date(current, op, value, expression)
    if name not in _FIELDS:
        raise QueryError(f"unknown filter field {name!r} in {expression!r}; choose from "
                         f"{', '.join(sorted({*_FIELDS, 'modified'}))}")
    if op != "=":
        raise QueryError(f"filter {expression!r}: only '=' applies to {name}")
    if name == "kind" and value not in get_args(ChunkKind):
        raise QueryError(f"filter {expression!r}: a chunk's kind is one of "
                         f"{', '.join(get_args(ChunkKind))}")
    attribute = _FIELDS[name]
    values: tuple[str, ...] = (*getattr(current, attribute), value)
    return replace(current, **{attribute: values})  # type: ignore[arg-type]


def _apply_date(current: Filter, op: str, value: str, expression: str) -> Filter:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(f"filter {expression!r}: {value!r} is not a date; "
                         "write YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp = moment.timestamp()
    if op in (">=", ">"):
        return replace(current, modified_after=stamp)
    if op in ("<=", "<"):
        return replace(current, modified_before=stamp)
    raise QueryError(f"filter {expression!r}: use modified>=DATE or modified<DATE")
