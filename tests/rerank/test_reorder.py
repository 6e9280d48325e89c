"""Reordering hits by a reranker: what moves, what stays, and what each hit records."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from lore.errors import ConfigError, RetrievalError
from lore.rerank.reorder import order_by_scores, rerank
from lore.testing.fakes import OverlapReranker
from lore.types import Chunk, Hit


def hit(text: str, score: float) -> Hit:
    chunk = Chunk(doc_id="d", text=text, start=0, end=len(text), view=text)
    return Hit(chunk=chunk, score=score, source="hybrid", path="/notes.md",
               scores={"lexical": score * 10, "dense": score}, ranks={"lexical": 1})


HITS = [hit("stock prices fell", 0.9), hit("the cat sat on the mat", 0.8),
        hit("cats eat fish", 0.7), hit("a cat ate the fish on the mat", 0.6),
        hit("interest rates rose", 0.5)]
QUERY = "cat fish mat"


def texts(hits: Sequence[Hit]) -> list[str]:
    return [h.chunk.text for h in hits]


def test_all_hits_are_reordered_by_score_best_first() -> None:
    out = rerank(OverlapReranker(), QUERY, HITS)
    assert texts(out) == ["a cat ate the fish on the mat", "the cat sat on the mat",
                          "cats eat fish", "stock prices fell", "interest rates rose"]


def test_each_reranked_hit_records_score_and_rank_beside_the_first_stage() -> None:
    best = rerank(OverlapReranker(), QUERY, HITS)[0]
    assert best.source == "rerank"
    assert best.score == pytest.approx(1.0)
    assert best.scores == {"lexical": 6.0, "dense": 0.6, "rerank": pytest.approx(1.0)}
    assert best.ranks == {"lexical": 1, "rerank": 1}
    assert best.chunk == HITS[3].chunk


def test_only_the_first_depth_hits_move_and_the_rest_follow_unchanged() -> None:
    out = rerank(OverlapReranker(), QUERY, HITS, depth=3)
    assert texts(out[:3]) == ["the cat sat on the mat", "cats eat fish", "stock prices fell"]
    assert out[3:] == HITS[3:]
    assert [h.ranks.get("rerank") for h in out] == [1, 2, 3, None, None]


def test_ties_keep_their_first_stage_order() -> None:
    out = rerank(OverlapReranker(), "nothing matches", HITS)
    assert texts(out) == texts(HITS)


def test_k_cuts_after_reranking() -> None:
    assert texts(rerank(OverlapReranker(), QUERY, HITS, k=1)) == \
        ["a cat ate the fish on the mat"]
    assert rerank(OverlapReranker(), QUERY, HITS, k=0) == []


def test_depth_zero_and_no_hits_leave_nothing_to_score() -> None:
    class Refuses:
        name = "refuses"

        def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
            raise AssertionError("nothing should be scored")

    assert rerank(Refuses(), QUERY, HITS, depth=0) == HITS
    assert rerank(Refuses(), QUERY, []) == []


def test_the_reranker_reads_the_chunk_view() -> None:
    seen: list[str] = []

    class Records:
        name = "records"

        def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
            seen.extend(passages)
            return np.zeros(len(passages), dtype=np.float32)

    chunk = Chunk(doc_id="d", text="body", start=0, end=4, view="Title > Section\nbody")
    rerank(Records(), QUERY, [Hit(chunk=chunk, score=1.0, source="dense", path="/a.md")])
    assert seen == ["Title > Section\nbody"]


@pytest.mark.parametrize("scores", [np.zeros(2, dtype=np.float32),
                                    np.array([1, np.nan, 0, 0, 0], dtype=np.float32)])
def test_a_broken_reranker_is_reported(scores: np.ndarray) -> None:
    class Broken:
        name = "broken"

        def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
            return scores

    with pytest.raises(RetrievalError, match="broken"):
        rerank(Broken(), QUERY, HITS)


@pytest.mark.parametrize("k, depth", [(-1, None), (None, -2)])
def test_negative_k_or_depth_is_refused(k: int | None, depth: int | None) -> None:
    with pytest.raises(ConfigError):
        rerank(OverlapReranker(), QUERY, HITS, k=k, depth=depth)


def test_order_by_scores_is_pure() -> None:
    out = order_by_scores(HITS[:2], np.array([0.1, 0.2], dtype=np.float32))
    assert texts(out) == ["the cat sat on the mat", "stock prices fell"]
    assert HITS[0].source == "hybrid"  # the input hits are frozen and untouched
