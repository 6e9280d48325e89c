"""Hard negatives mined with lore's own search: passages it ranks high for a query that do
not answer it, which teach a retriever more than random ones.

A passage that scores nearly as well as the positive is likely an unlabelled positive
(judgments are incomplete): it is skipped, not used as a negative. The margin is on the
embedder's cosine similarity, after "Hard negatives" in sentence-transformers
(``util.mine_hard_negatives``, ``absolute_margin``) and RocketQA's denoised negatives (Qu et
al., NAACL 2021).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lore.errors import ConfigError
from lore.train.pairs import Pair, with_negatives

Candidates = Callable[[str, int], list[str]]
"""Passage texts for a query, best first: lore's hybrid search, asked for that many."""
Similarity = Callable[[str, Sequence[str]], list[float]]
"""Cosine similarity of a query with each passage, by the embedder being trained."""


@dataclass(frozen=True)
class Mining:
    """Which of the search's candidates become negatives."""

    count: int = 3
    """Negatives kept per pair."""
    first_rank: int = 2
    """The best rank a negative may have (1-based); rank 1 is most often a true match."""
    last_rank: int = 30
    """Candidates are read down to this rank."""
    margin: float = 0.05
    """A candidate within this cosine of the positive is taken for an unlabelled positive."""

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.first_rank <= self.last_rank:
            raise ConfigError(f"mining count {self.count} and ranks {self.first_rank}.."
                              f"{self.last_rank}: need count >= 1 and 1 <= first <= last")
        if self.margin < 0:
            raise ConfigError(f"mining margin {self.margin} must be 0 or more")


@dataclass(frozen=True)
class MiningReport:
    pairs: tuple[Pair, ...]
    mined: int
    """Negatives added over all pairs."""
    too_close: int
    """Candidates skipped as likely unlabelled positives (within the margin)."""
    without: int
    """Pairs that got no negative."""


def overlaps(passage: str, positive: str) -> bool:
    """One text holds the other (whitespace aside): a chunk of the positive's own document is
    the positive, not a negative."""
    a, b = " ".join(passage.split()), " ".join(positive.split())
    return a in b or b in a


def mine_negatives(pairs: Sequence[Pair], candidates: Candidates, similarity: Similarity,
                   mining: Mining = Mining()) -> MiningReport:
    """Each pair with up to ``mining.count`` hard negatives from its query's candidates."""
    known: dict[str, set[str]] = {}
    for pair in pairs:  # a query's other positives are never its negatives
        known.setdefault(pair.query, set()).add(pair.positive)
    mined = too_close = without = 0
    out: list[Pair] = []
    for pair in pairs:
        found = candidates(pair.query, mining.last_rank)[mining.first_rank - 1:]
        found = [text for text in found
                 if not any(overlaps(text, positive) for positive in known[pair.query])]
        scores = similarity(pair.query, [pair.positive, *found])
        ceiling = scores[0] - mining.margin
        kept = [text for text, score in zip(found, scores[1:], strict=True) if score < ceiling]
        too_close += len(found) - len(kept)
        kept = kept[:mining.count]
        mined += len(kept)
        without += not kept
        out.append(with_negatives(pair, kept))
    return MiningReport(tuple(out), mined, too_close, without)
