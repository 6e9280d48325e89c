"""``global`` and ``local``: LazyGraphRAG's answers over the concept graph's communities
(Edge et al., Microsoft Research 2024).

1. The model writes a few other queries for the question; each is searched, and the fused
   ranking scores every community by its best chunks.
2. ``CommunitySearch`` tests chunks for relevance within ``query.relevance_budget`` tests,
   community by community, going down into the sub-communities that hold relevant ones.
3. Map: the model notes what the relevant chunks say about the question, taken in turns
   from the communities that held them (a few per call, ``query.claim_calls`` calls).
4. Reduce: the answer is written from those notes and the chunks they cite.

``global`` reads the collection as a whole: when nothing in it matches the question above
the relevance threshold ("what are the main themes?"), every chunk counts as relevant and the
search becomes a sweep over communities, best-ranked chunks first; it answers with a sentence
per topic (the ``overview`` template). ``local`` is for questions about a named thing: the
graph retriever joins the ranking, nothing counts as relevant unless the test says so, and
the answer is the usual one to three sentences.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np

from lore.errors import QueryError
from lore.generate.answer import Answerer
from lore.query.common import answer, budget_step, searched, written_step
from lore.query.community_search import CommunitySearch, Found, Trace
from lore.query.prompts import REWRITE, claims_messages, lines_of, planning_messages
from lore.query.protocol import CommunityReader, Event, Planning
from lore.types import Hit, Passage, Step

RANK_DEPTH = 1000
"""Chunks each query ranks; communities whose chunks all rank lower come last, by size."""
PROBES = 3
"""Best-ranked chunks ``global`` tests first to tell whether the question names anything in
the collection; they count against the budget."""
SUB_QUERIES = 2
"""Queries the model writes beside the question."""
MAX_SOURCES = 16
"""Chunks the answer reads at most."""
LEAD_CHARS = 400
"""The part of a chunk the map step and the answer read: its first sentences, up to this."""
CLAIM_TOKENS = 32
"""Tokens the map step may write per chunk it reads."""
OVERVIEW_TOKENS = 320
"""Tokens ``global``'s answer may take: a sentence per topic."""
_CITATION = re.compile(r"\[(\d+)\]")


class LazyGraph:
    """One of LazyGraphRAG's two searches; see the module docstring."""

    def __init__(self, name: str, retrievers: tuple[str, ...], whole_collection: bool,
                 template: str) -> None:
        self.name = name
        self._retrievers = retrievers
        self._whole_collection = whole_collection
        self._template = template

    def run(self, question: str, planning: Planning) -> Iterator[Event]:
        reader = planning.communities
        if reader is None:
            raise QueryError(f"the {self.name} strategy reads a knowledge base's concept "
                             "graph; this one was asked without it")
        graph, _ = reader.graph()
        if not len(graph.communities):
            yield Step("communities", "the concept graph has no communities (too few "
                       "documents, or none that name concepts); answering from one search")
            hits, step = searched(planning, question, planning.k)
            yield step
            yield from answer(planning, question, planning.read(hits))
            return
        queries, steps = self._queries(question, planning)
        yield from steps
        started = time.perf_counter()
        ranks = _fused_ranks([reader.rank(text, RANK_DEPTH, self._retrievers)
                              for text in queries])
        budget = planning.settings.relevance_budget
        probes = min(PROBES, budget) if self._whole_collection else 0
        everything = probes > 0 and _matches_nothing(reader, question, ranks, probes)
        search = CommunitySearch(
            graph, ranks,
            (lambda rowids: np.zeros(len(rowids))) if everything
            else (lambda rowids: reader.relevant(question, rowids)),
            budget - probes, planning.settings.community_tests,
            planning.settings.community_misses)
        found, trace = search.run()
        trace.tests += probes
        yield Step("relevance", _described(trace, found, everything, reader.test_name),
                   seconds=time.perf_counter() - started)
        passages = _sources(reader, found)
        notes: list[str] = []
        if passages and planning.settings.claim_calls > 0:
            notes, steps = self._claims(question, passages, planning)
            yield from steps
        yield from self._answer(question, passages, notes, planning)

    def _queries(self, question: str, planning: Planning) -> tuple[list[str], list[Step]]:
        written = planning.budget.write(planning_messages(question, REWRITE, n=SUB_QUERIES),
                                        planning.settings.plan_tokens)
        if written is None:
            return [question], [budget_step(planning)]
        subs = lines_of(written.text, SUB_QUERIES, question)
        return [question, *subs], [written_step("rewrite", written)]

    def _claims(self, question: str, passages: Sequence[Passage], planning: Planning
                ) -> tuple[list[str], list[Step]]:
        """The map step: notes on the passages, a batch of them per model call, each note
        citing its passage by its number among all of them."""
        size = math.ceil(len(passages) / planning.settings.claim_calls)
        notes: list[str] = []
        steps: list[Step] = []
        for start in range(0, len(passages), size):
            batch = [(number, passage.hit.title or passage.hit.path, passage.text)
                     for number, passage in enumerate(passages[start:start + size],
                                                      start=start + 1)]
            written = planning.budget.write(claims_messages(question, batch),
                                            CLAIM_TOKENS * len(batch), stop=())
            if written is None:
                steps.append(budget_step(planning))
                break
            steps.append(written_step("claims", written))
            notes += _cited_lines(written.text, [number for number, _, _ in batch])
        return notes, steps

    def _answer(self, question: str, passages: Sequence[Passage], notes: Sequence[str],
                planning: Planning) -> Iterator[Event]:
        """The reduce step: the answer from the notes and the passages they cite; every
        passage already passed the relevance test, so the answer step's own gate is off."""
        settings = planning.answerer.settings
        tokens = max(settings.answer_tokens, OVERVIEW_TOKENS) \
            if self._template == "overview" else settings.answer_tokens
        reducer = Answerer(planning.answerer.generator,
                           replace(settings, template=self._template, mode="stuff",
                                   source_mass=None, question_likelihood=0.0,
                                   min_relevance=None, answer_tokens=tokens))
        yield from reducer.stream(question, passages, planning.started, notes)


def _fused_ranks(rankings: Sequence[Sequence[int]]) -> dict[int, int]:
    """One rank per chunk from several rankings, by reciprocal rank fusion."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, rowid in enumerate(ranking, start=1):
            fused[rowid] = fused.get(rowid, 0.0) + 1.0 / (60 + rank)
    order = sorted(fused, key=lambda rowid: -fused[rowid])
    return {rowid: rank for rank, rowid in enumerate(order, start=1)}


def _matches_nothing(reader: CommunityReader, question: str, ranks: dict[int, int],
                     probes: int) -> bool:
    """Whether none of the ``probes`` best-ranked chunks passes the relevance test: the
    question names nothing in the collection, so it is about the collection as a whole."""
    best = sorted(ranks, key=ranks.__getitem__)[:probes]
    return not best or bool((reader.relevant(question, best) < 0).all())


def _sources(reader: CommunityReader, found: Sequence[Found]) -> list[Passage]:
    """Relevant chunks taken in turns from the communities that held them (the most
    relevant of each first, communities in the order found), ``MAX_SOURCES`` at most, each
    cut to its lead: a question about the whole collection reads a chunk of each theme, one
    about a single thing reads many chunks of its community."""
    groups: dict[int, list[Found]] = {}
    for item in found:
        groups.setdefault(item.top, []).append(item)
    queues = [sorted(items, key=lambda item: -item.margin) for items in groups.values()]
    chosen: list[Found] = []
    while len(chosen) < MAX_SOURCES and any(queues):
        for queue in queues:
            if queue and len(chosen) < MAX_SOURCES:
                chosen.append(queue.pop(0))
    hits = reader.hits([item.rowid for item in chosen])
    return [_lead(hits[item.rowid]) for item in chosen if item.rowid in hits]


def _lead(hit: Hit) -> Passage:
    """The chunk's first sentences, up to ``LEAD_CHARS``."""
    text = hit.chunk.text
    if len(text) > LEAD_CHARS:
        cut = max(text.rfind(mark, 0, LEAD_CHARS) for mark in (". ", "。", "! ", "? ", "\n"))
        text = text[:cut + 1] if cut > LEAD_CHARS // 3 else text[:LEAD_CHARS]
    return Passage(hit, text.strip(), hit.chunk.start, hit.chunk.start + len(text))


def _cited_lines(text: str, numbers: Sequence[int]) -> list[str]:
    """The map step's lines, each citing one of ``numbers``: a line citing none is given
    the number of the source at its position, and dropped when there is none."""
    kept: list[str] = []
    for position, line in enumerate(lines_of(text, 2 * len(numbers))):
        cited = [int(n) for n in _CITATION.findall(line) if int(n) in numbers]
        if cited:
            kept.append(line)
        elif position < len(numbers) and len(line) >= 8:
            kept.append(f"{_CITATION.sub('', line).rstrip()} [{numbers[position]}]")
    return kept


def _described(trace: Trace, found: Sequence[Found], everything: bool, test: str) -> str:
    how = ("the question matches no passage, so it is read as about the whole collection: "
           "every chunk counts as relevant" if everything else f"tested by {test}")
    return (f"{trace.tests} relevance tests over {trace.visits} community visits, "
            f"{trace.depth} level(s) deep; {len(found)} relevant chunks in "
            f"{len({item.top for item in found})} top-level communities ({how})")


GLOBAL = LazyGraph("global", ("lexical", "dense"), whole_collection=True, template="overview")
LOCAL = LazyGraph("local", ("lexical", "dense", "graph"), whole_collection=False,
                  template="answer")
