"""Reading chunks with a model into the ledger, planning what a run will cost, building the
knowledge graph from the ledger, and summarising its largest communities."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lore.errors import GenerationError
from lore.generate.protocol import Generator, Message, Sampling
from lore.graph.knowledge import (
    Extraction,
    KnowledgeGraph,
    build_knowledge_graph,
    normalised,
    parse_extraction,
)
from lore.graph.report import summarise
from lore.knowledge.ledger import Ledger, Output, Spent
from lore.knowledge.prompts import VERSION, extraction_messages, summary_messages

WRITTEN_TOKENS = 192
"""Tokens a model may write per chunk: about 15 lines, more than a chunk's worth."""
MAX_CHUNK_CHARS = 4000
"""Longer chunks are read up to here (and less when the model's window is smaller)."""
SUMMARY_TOKENS = 80
SUMMARY_LEVELS = 2
"""Communities summarised: the top level and the one below it..."""
MAX_SUMMARIES = 40
"""...the largest first, this many at most..."""
MIN_SUMMARY_ENTITIES = 3
"""...of at least this many entities."""
SUMMARY_NAMES = 16
"""Central entities, and relations inside the community, that a summary's prompt shows."""
FAILURES_IN_A_ROW = 3
"""A model that fails this many chunks in a row is down, not stumbling on one: stop."""

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ChunkText:
    rowid: int
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class KnowledgePlan:
    """What a run will do: the chunks it reads, and their cost in model calls and tokens."""

    model: str
    extractor: str
    chunks: int
    """Prose chunks in the knowledge base (code is left to the code reader)."""
    pending: tuple[ChunkText, ...]
    prompt_tokens: int
    written_tokens: int
    """At most: ``WRITTEN_TOKENS`` per call."""
    seconds_per_token: float | None
    """Seconds per prompt token in earlier runs of this extractor (None: no earlier run)."""

    @property
    def calls(self) -> int:
        return len(self.pending)

    @property
    def estimated_seconds(self) -> float | None:
        if self.seconds_per_token is None:
            return None
        return self.seconds_per_token * self.prompt_tokens


@dataclass(frozen=True)
class KnowledgeRun:
    """What a run did."""

    extracted: Spent
    summarised: Spent
    failed: int
    """Chunks whose call failed; the next run tries them again."""
    graph: KnowledgeGraph
    """The graph the ledger now holds, the one the summaries were written for."""


class KnowledgeBuilder:
    def __init__(self, ledger: Ledger, generator: Generator) -> None:
        self._ledger = ledger
        self._generator = generator
        self.extractor = f"{generator.name}/{VERSION}"
        """Outputs are kept per model and prompt version: switching either reads again."""

    def plan(self, chunks: Sequence[ChunkText]) -> KnowledgePlan:
        done = self._ledger.extracted(self.extractor, [chunk.id for chunk in chunks])
        pending = tuple(chunk for chunk in chunks if chunk.id not in done)
        spent = self._ledger.spent(self.extractor)
        return KnowledgePlan(
            self._generator.name, self.extractor, len(chunks), pending,
            sum(self._prompt_tokens(self._messages(chunk)) for chunk in pending),
            WRITTEN_TOKENS * len(pending),
            spent.seconds / spent.prompt_tokens if spent.prompt_tokens else None)

    def extract(self, plan: KnowledgePlan, progress: Progress | None = None
                ) -> tuple[Spent, int]:
        """Read the plan's chunks, committing each output as it is written. Returns the
        cost, and how many chunks failed (left for the next run)."""
        spent, failed, in_a_row = Spent(), 0, 0
        for done, chunk in enumerate(plan.pending, start=1):
            try:
                output = self._call(chunk.id, self._messages(chunk), WRITTEN_TOKENS)
            except GenerationError:
                failed, in_a_row = failed + 1, in_a_row + 1
                if in_a_row >= FAILURES_IN_A_ROW:
                    raise
            else:
                in_a_row = 0
                self._ledger.put_extraction(self.extractor, output)
                spent = spent + _cost(output)
            if progress is not None:
                progress(done, len(plan.pending))
        return spent, failed

    def summarise(self, graph: KnowledgeGraph, progress: Progress | None = None) -> Spent:
        """Write the summaries the largest communities lack."""
        have = self._ledger.summaries(self.extractor)
        wanted = [(community, key) for community, key in _digests(graph).items()
                  if key not in have][:MAX_SUMMARIES]
        spent = Spent()
        for done, (community, key) in enumerate(wanted, start=1):
            output = self._call(key, _summary_prompt(graph, community), SUMMARY_TOKENS)
            self._ledger.put_summary(self.extractor, output)
            spent = spent + _cost(output)
            if progress is not None:
                progress(done, len(wanted))
        return spent

    def _call(self, key: str, messages: list[Message], tokens: int) -> Output:
        started = time.perf_counter()
        text = "".join(self._generator.stream(messages, Sampling(max_tokens=tokens)))
        return Output(key, text.strip(), self._prompt_tokens(messages),
                      self._generator.count_tokens(text), time.perf_counter() - started)

    def _messages(self, chunk: ChunkText) -> list[Message]:
        """The chunk's prompt, its text cut to leave room for the answer."""
        room = self._generator.context_tokens - WRITTEN_TOKENS - 16
        text = chunk.text[:MAX_CHUNK_CHARS]
        messages = extraction_messages(chunk.title, text)
        while (tokens := self._prompt_tokens(messages)) > room and text:
            text = text[:int(len(text) * min(0.9, room / tokens))]
            messages = extraction_messages(chunk.title, text)
        return messages

    def _prompt_tokens(self, messages: Sequence[Message]) -> int:
        return sum(self._generator.count_tokens(message.content) for message in messages)


def read_graph(ledger: Ledger, extractor: str, chunks: Sequence[ChunkText]) -> KnowledgeGraph:
    """The graph of what the ledger holds from ``extractor`` for these chunks."""
    written = ledger.extracted(extractor, [chunk.id for chunk in chunks])
    extractions: dict[int, Extraction] = {
        chunk.rowid: parse_extraction(written[chunk.id], chunk.text[:MAX_CHUNK_CHARS])
        for chunk in chunks if chunk.id in written}
    return build_knowledge_graph(extractions)


def read_summaries(ledger: Ledger, extractor: str, graph: KnowledgeGraph) -> dict[int, str]:
    """The summaries already written for the graph's communities, by community id."""
    kept = ledger.summaries(extractor)
    return {community: kept[key] for community, key in _digests(graph).items() if key in kept}


def _cost(output: Output) -> Spent:
    return Spent(1, output.prompt_tokens, output.written_tokens, output.seconds)


def _digests(graph: KnowledgeGraph) -> dict[int, str]:
    """The communities worth a summary, the largest first, by id: each with a digest of its
    members, so a community that comes back unchanged keeps its summary."""
    communities = graph.graph.communities
    chosen = [int(c) for c in range(len(communities))
              if communities.level[c] < SUMMARY_LEVELS
              and len(communities.nodes(c)) >= MIN_SUMMARY_ENTITIES]
    chosen.sort(key=lambda c: (-len(communities.chunk_rows(c)), -len(communities.nodes(c)), c))
    digests: dict[int, str] = {}
    for community in chosen[:MAX_SUMMARIES]:
        members = sorted(normalised(graph.names[int(graph.graph.concepts[node])])
                         for node in communities.nodes(community).tolist())
        digests[community] = hashlib.sha256("\n".join(members).encode()).hexdigest()[:32]
    return digests


def _summary_prompt(graph: KnowledgeGraph, community: int) -> list[Message]:
    central = summarise(graph.graph, graph.names, community, SUMMARY_NAMES).central
    entity_of = {graph.names[int(graph.graph.concepts[node])]: int(graph.graph.concepts[node])
                 for node in graph.graph.communities.nodes(community).tolist()}
    shown = [f"{name} ({graph.kinds[entity_of[name]]})" for name in central]
    inside = set(entity_of.values())
    relations = [text for (a, b), texts in graph.relations.items()
                 if a in inside and b in inside for text in texts[:1]][:SUMMARY_NAMES]
    return summary_messages(shown, relations)
