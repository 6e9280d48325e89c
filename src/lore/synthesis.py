"""Synthetic training pairs for a knowledge base: questions its chunks answer, written by the
local model and kept when the knowledge base's own search finds the chunk again
(``lore.train.synthetic``).

The questions are journaled under ``<kb>/training/``, one file per answering model and seed,
so a second run (or a run cut short) asks the model only about chunks it has not seen.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from lore.errors import ConfigError
from lore.generate.registry import create_generator
from lore.learning import SilentTraining, TrainListener
from lore.text.script import mostly_non_latin
from lore.train.pairs import MIN_PAIRS, PairSet
from lore.train.synthetic import Source, SyntheticReport, synthesize
from lore.types import Chunk

if TYPE_CHECKING:
    from lore.api import KnowledgeBase

ROUND_TRIP_DEPTH = 20
"""A question is kept when hybrid search ranks its chunk among this many."""
MIN_CHUNK_CHARS = 120
"""Shorter chunks (a heading, a signature) say too little to ask about; a chunk mostly in
Chinese, Japanese or Korean script needs a third as many characters, which carry more."""


def synthetic_pairs(kb: KnowledgeBase, count: int, seed: int = 0, model: str | None = None,
                    listener: TrainListener | None = None) -> tuple[PairSet, SyntheticReport]:
    """Pairs from up to ``count`` chunks drawn at random (fixed by ``seed``).

    Raises:
        ConfigError: the knowledge base holds no chunk long enough to ask about, or too few
            questions survive the round trip to train on.
    """
    listener = listener or SilentTraining()
    settings = replace(kb.config.generate, model=model or kb.config.generate.model)
    sources = [Source(_key(chunk.doc_id, chunk.start), chunk.text)
               for chunk in kb.sample_chunks(count, seed, long_enough)]
    if not sources:
        raise ConfigError(f"the knowledge base {kb.directory} holds no chunk of "
                          f"{MIN_CHUNK_CHARS}+ characters to write questions about; index "
                          "documents first (`lore index PATH`)")
    generator = create_generator(settings)

    def found(question: str) -> list[str]:
        hits = kb.search(question, k=ROUND_TRIP_DEPTH, mode="hybrid", rerank="")
        return [_key(hit.chunk.doc_id, hit.chunk.start) for hit in hits]

    journal = kb.directory / "training" / f"synthetic-{_slug(settings.model)}-seed{seed}.jsonl"
    listener.stage(f"writing questions with {settings.model}", len(sources))
    kept = 0

    def progress(done: int, outcome: object) -> None:
        nonlocal kept
        kept += bool(getattr(outcome, "kept", False))
        listener.advance(done, f"{kept} kept")

    report = synthesize(sources, generator, found, journal, progress)
    origin = f"synthetic questions ({settings.model}, seed {seed}, {journal})"
    if report.kept < MIN_PAIRS:
        raise ConfigError(f"only {report.kept} of {report.written} synthetic questions found "
                          f"their chunk again (dropped: {report.dropped}); at least {MIN_PAIRS} "
                          "are needed: ask for more (--synthetic N) or index more text")
    return PairSet(report.pairs, origin), report


def long_enough(chunk: Chunk) -> bool:
    floor = MIN_CHUNK_CHARS // 3 if mostly_non_latin(chunk.text) else MIN_CHUNK_CHARS
    return len(chunk.text.strip()) >= floor


def _key(doc_id: str, start: int) -> str:
    return f"{doc_id}:{start}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or "model"
