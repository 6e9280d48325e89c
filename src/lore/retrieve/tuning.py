"""Retrieval parameters a knowledge base fits to its own queries (``lore train params``).

BM25's k1 and b, whether a term the query repeats counts each time, and the lexical list's
weight in adaptive fusion over prose. Defaults are Lucene's k1 1.2 and b 0.75, each query term
once, and equal fusion weights; a knowledge base keeps fitted values only when they beat these
on pairs held out of the fitting (``lore.fitting``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from lore.errors import ConfigError


@dataclass(frozen=True)
class Tuning:
    k1: float = 1.2
    b: float = 0.75
    lexical_weight: float | None = None
    """The lexical list's weight in adaptive fusion over prose; None: every list weighs the
    same. (Over code, ``lore.retrieve.fuse.CODE_LEXICAL_WEIGHT`` applies.)"""
    query_repeats: bool = False
    """Count a term the query repeats each time (Lucene and bm25s do), which weighs what a
    long query dwells on; off, each term counts once, which ranked SciFact's short claims
    better (docs/training.md)."""

    def __post_init__(self) -> None:
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise ConfigError(f"BM25 k1={self.k1}, b={self.b}: need k1 >= 0 and 0 <= b <= 1")
        if self.lexical_weight is not None and not 0 < self.lexical_weight < 1:
            raise ConfigError(f"lexical weight {self.lexical_weight} must lie in (0, 1)")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Tuning:
        """The tuning a store recorded; the defaults when it recorded none."""
        if not text:
            return cls()
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError) as error:
            raise ConfigError(f"the recorded retrieval tuning {text!r} is unreadable ({error}); "
                              "fit it again with `lore train params`") from None

    def describe(self) -> str:
        weight = "equal" if self.lexical_weight is None else f"{self.lexical_weight:g}"
        repeats = ", repeated query terms counted" if self.query_repeats else ""
        return f"BM25 k1 {self.k1:g}, b {self.b:g}{repeats}; lexical weight {weight}"
