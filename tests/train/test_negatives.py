from __future__ import annotations

from collections.abc import Sequence

import pytest

from lore.errors import ConfigError
from lore.train.negatives import Mining, mine_negatives
from lore.train.pairs import Pair

RANKED = ["the positive", "a paraphrase", "near miss", "far one", "farther", "unrelated"]
COSINE = {"the positive": 0.80, "a paraphrase": 0.78, "near miss": 0.60, "far one": 0.50,
          "farther": 0.40, "unrelated": 0.10}


def candidates(query: str, count: int) -> list[str]:
    return RANKED[:count]


def similarity(query: str, texts: Sequence[str]) -> list[float]:
    return [COSINE[text] for text in texts]


def test_candidates_within_the_margin_are_skipped_as_likely_positives() -> None:
    report = mine_negatives([Pair("q", "the positive")], candidates, similarity,
                            Mining(count=2, first_rank=1, last_rank=6, margin=0.05))
    assert report.pairs[0].negatives == ("near miss", "far one")
    assert (report.mined, report.too_close, report.without) == (2, 1, 0)


def test_ranks_bound_the_candidates_read() -> None:
    report = mine_negatives([Pair("q", "the positive")], candidates, similarity,
                            Mining(count=5, first_rank=4, last_rank=5, margin=0.0))
    assert report.pairs[0].negatives == ("far one", "farther")


def test_another_positive_of_the_same_query_is_never_a_negative() -> None:
    pairs = [Pair("q", "the positive"), Pair("q", "near miss")]
    report = mine_negatives(pairs, candidates, similarity,
                            Mining(count=3, first_rank=1, last_rank=6, margin=0.0))
    assert all("near miss" not in p.negatives and "the positive" not in p.negatives
               for p in report.pairs)


def test_a_pair_with_nothing_far_enough_gets_no_negative() -> None:
    report = mine_negatives([Pair("q", "unrelated")], candidates, similarity,
                            Mining(count=2, first_rank=1, last_rank=6, margin=0.0))
    assert report.pairs[0].negatives == () and report.without == 1


@pytest.mark.parametrize("mining", [dict(count=0), dict(first_rank=5, last_rank=4),
                                    dict(margin=-0.1)])
def test_impossible_settings_are_refused(mining: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        Mining(**mining)  # type: ignore[arg-type]
