"""What every ``Store`` backend writes and reads alike: a chunk as a row of columns, a row
read back as a ``StoredChunk``, and the error for vectors a search asked for and did not find."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lore.errors import StoreError
from lore.store.protocol import StoredChunk
from lore.types import Chunk


def chunk_row(chunk: Chunk, order: int) -> tuple[object, ...]:
    """id, doc_id, order, start, end, lines, page, kind, section (JSON), parent span, symbol,
    text, view and view hash: the columns both stores keep, in that order."""
    lines = chunk.lines or (None, None)
    parent = chunk.parent or (None, None)
    return (chunk.id, chunk.doc_id, order, chunk.start, chunk.end, lines[0], lines[1],
            chunk.page, chunk.kind, json.dumps(list(chunk.section), ensure_ascii=False),
            parent[0], parent[1], chunk.symbol, chunk.text, chunk.view, chunk.view_hash)


def stored_chunk(row: Any) -> StoredChunk:
    """A chunk read back: its rowid, ``chunk_row``'s columns from doc_id on (order left out;
    the section as JSON text or already decoded), then its document's path, title and key."""
    (rowid, doc_id, start, end, line_start, line_end, page, kind, section, parent_start,
     parent_end, symbol, text, view, path, title, key) = row
    chunk = Chunk(
        doc_id=str(doc_id), text=str(text), start=int(start), end=int(end),
        view=str(view), kind="code" if kind == "code" else "prose",
        section=tuple(section if isinstance(section, list) else json.loads(str(section))),
        parent=(int(parent_start), int(parent_end)) if parent_start is not None else None,
        lines=(int(line_start), int(line_end)) if line_start is not None else None,
        page=int(page) if page is not None else None,
        symbol=str(symbol),
    )
    return StoredChunk(int(rowid), chunk, str(path), str(title), str(key))


def missing_vectors_error(missing: Sequence[int]) -> StoreError:
    """``vectors_by_rowid`` asked for chunks that have no vector (now)."""
    return StoreError(f"{len(missing)} chunks (rowid {missing[0]}, ...) have no stored "
                      "vector: the store changed during the search (search again) or the "
                      "vector index is out of step (delete index/vectors to rebuild)")
