"""Structure in results: MMR diversification and widening a hit to its section or sentences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lore
from lore.config import LoreConfig
from lore.errors import QueryError
from lore.retrieve.diversify import mmr
from lore.retrieve.widen import sentence_window, widen_span
from lore.types import Chunk


def unit(rows: list[list[float]]) -> np.ndarray:
    matrix = np.array(rows, dtype=np.float32)
    normed: np.ndarray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return normed


def test_mmr_zero_diversity_keeps_the_ranking() -> None:
    ranking = [(1, 3.0), (2, 2.0), (3, 1.0)]
    assert mmr(ranking, unit([[1, 0], [1, 0], [0, 1]]), k=3, diversity=0.0) == ranking


def test_mmr_moves_a_near_duplicate_below_a_different_hit() -> None:
    ranking = [(1, 0.9), (2, 0.89), (3, 0.6), (4, 0.1)]
    vectors = unit([[1, 0, 0], [1, 0.01, 0], [0, 1, 0], [0, 0, 1]])
    assert [key for key, _ in mmr(ranking, vectors, k=2, diversity=0.5)][:2] == [1, 3]


def test_mmr_keeps_every_candidate_and_checks_its_range() -> None:
    ranking = [(i, 1.0 - i / 10) for i in range(6)]
    vectors = unit([[1, i] for i in range(6)])
    out = mmr(ranking, vectors, k=3, diversity=0.7)
    assert sorted(out) == sorted(ranking)
    with pytest.raises(ValueError, match="0..1"):
        mmr(ranking, vectors, k=3, diversity=1.5)


DOC = "Alpha one. Alpha two. Alpha three.\n\nBeta one. Beta two. Beta three. Beta four."


def test_sentence_window_grows_by_sentences_within_the_paragraph() -> None:
    start = DOC.index("Beta two.")
    a, b = sentence_window(DOC, start, start + len("Beta two."), sentences=1)
    assert DOC[a:b] == "Beta one. Beta two. Beta three."
    a, b = sentence_window(DOC, start, start + len("Beta two."), sentences=5)
    assert DOC[a:b] == "Beta one. Beta two. Beta three. Beta four."


def test_parent_span_is_used_when_it_holds_the_chunk() -> None:
    start = DOC.index("Beta two.")
    chunk = Chunk(doc_id="d", text="Beta two.", start=start, end=start + 9, view="Beta two.",
                  parent=(DOC.index("Beta one."), len(DOC)))
    a, b = widen_span(DOC, chunk, "parent")
    assert DOC[a:b].startswith("Beta one.") and DOC[a:b].endswith("Beta four.")
    assert widen_span(DOC, chunk, "none") == (start, start + 9)


def test_search_diversity_and_passages_through_the_api(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    section = " ".join(f"Caching rule {i}: entries expire after a timeout." for i in range(60))
    (root / "cache.md").write_text(f"# Cache\n\n## Expiry\n\n{section}\n")
    (root / "retry.md").write_text("# Retry\n\nCaching of failed requests: retries expire.\n")
    with lore.open(tmp_path / "kb", model="hash", config=LoreConfig()) as kb:
        kb.index([root])
        plain = kb.search("caching entries expire", k=3, mode="lexical")
        varied = kb.search("caching entries expire", k=3, mode="lexical", diversity=0.9)
        assert {Path(h.path).name for h in plain} == {"cache.md"}
        assert {Path(h.path).name for h in varied} == {"cache.md", "retry.md"}
        [passage] = kb.passages(plain[:1], widen="window", sentences=1)
        assert plain[0].chunk.text in passage.text
        assert passage.start <= plain[0].chunk.start and passage.end >= plain[0].chunk.end
        with pytest.raises(QueryError, match="diversity"):
            kb.search("caching", diversity=2.0)
