"""From retrieved passages to a grounded ``Answer``: the relevance gate, the prompt, the
model, and the citation check, in one of three modes (``stuff``, ``rag-sequence``,
``rag-token``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from lore.config import GenerateConfig
from lore.errors import ConfigError
from lore.generate.citations import attribute, check_citations
from lore.generate.marginal import rag_sequence, rag_token, source_priors
from lore.generate.prompt import Prompt, build_prompt, question_language, template_named
from lore.generate.protocol import Generator, Sampling, TokenScorer
from lore.text.analyze import analyze
from lore.types import Answer, Passage, Source, Timings

GateScores = Callable[[str, Sequence[Passage]], Sequence[float]]
"""Per passage, the dense score the relevance floor is compared with."""

NOT_FOUND = {
    "en": "The knowledge base does not contain the answer to this question.",
    "zh": "知识库中没有这个问题的答案。",
}


class Answerer:
    """Answers questions from passages with one generator and one set of settings.

    The ``rag-sequence`` and ``rag-token`` modes and ``generate.question_likelihood`` read
    the model's token probabilities, so they need a generator that is also a
    ``TokenScorer`` (a local GGUF model, or the scripted fake); a server is refused with a
    ``ConfigError`` before any question.

    Example::

        answerer = Answerer(create_generator(settings), settings, relevance_floor=0.36)
        for event in answerer.stream(question, kb.passages(hits), time.perf_counter()):
            ...  # text pieces, then the Answer
    """

    def __init__(self, generator: Generator, settings: GenerateConfig,
                 relevance_floor: float | None = None,
                 gate_scores: GateScores | None = None) -> None:
        """``relevance_floor``: the ``relevance`` under which a question is answered "not in
        the knowledge base", calibrated per embedder (its registry entry in
        ``lore.embed.registry``); ``generate.min_relevance`` overrides it, None turns the gate
        off. ``gate_scores``: the embedder's own scores of the passages, for hits a trained
        query encoder found, whose cosines sit on another scale than the floor's (by default
        the hits' dense scores)."""
        self.generator = generator
        self.settings = settings
        self.gate_scores = gate_scores
        self.floor = (settings.min_relevance if settings.min_relevance is not None
                      else relevance_floor)
        template_named(settings.template)  # an unknown name fails before any question
        for name in ("source_mass", "weighed_source_mass"):
            mass = getattr(settings, name)
            if mass is not None and not 0 < mass <= 1:
                raise ConfigError(f"generate.{name} {mass} must be in (0, 1]: the share of "
                                  "p(source | question) the model reads, or None for every "
                                  "source")
        if settings.question_likelihood is not None and settings.question_likelihood < 0:
            raise ConfigError(f"generate.question_likelihood {settings.question_likelihood} "
                              "must be 0 (off) or more")
        if settings.likelihood_sources < 1:
            raise ConfigError(f"generate.likelihood_sources {settings.likelihood_sources} "
                              "must be 1 or more")
        self.scorer: TokenScorer | None = \
            generator if isinstance(generator, TokenScorer) else None
        """The generator as a ``TokenScorer``; None for a server."""
        if settings.question_likelihood and self.scorer is None:
            raise ConfigError("generate.question_likelihood needs per-token probabilities "
                              "from a local GGUF model; set it to 0 with a server")
        self.weight = question_weight(settings.question_likelihood, self.scorer is not None)
        """The question likelihood's weight in p(source | question); 0 when off."""
        if settings.mode != "stuff" and self.scorer is None:
            raise ConfigError(f"answer mode {settings.mode!r} needs per-token probabilities "
                              "from a local GGUF model; use mode stuff with a server")

    def adjusted(self, **changes: Any) -> Answerer:
        """The same generator and relevance floor with some settings changed (a strategy that
        reads every source it gathered sets ``source_mass=None``)."""
        return Answerer(self.generator, replace(self.settings, **changes), self.floor)

    def stream(self, question: str, passages: Sequence[Passage], started: float,
               notes: Sequence[str] = ()) -> Iterator[str | Answer]:
        """Answer text as it is generated, then the ``Answer``.

        Args:
            started: ``time.perf_counter()`` when the question arrived (timings count from it).
            notes: lines the prompt shows after the sources (``build_prompt``).
        """
        retrieved = time.perf_counter()
        timings = Timings(retrieve=retrieved - started)
        base = Answer(question=question, text="", mode=self.settings.mode,
                      model=self.generator.name, timings=timings)
        if not self.relevant(question, passages):
            text = NOT_FOUND[question_language(question)]
            yield text
            done = time.perf_counter() - started
            yield replace(base, text=text, found=False,
                          timings=replace(timings, first_token=done, total=done))
            return
        sources = self.sources(passages, question)
        if self.settings.mode == "stuff":
            prompt = self._prompt(question, sources, notes)
            sources, prompt_tokens = list(prompt.sources), prompt.tokens
            shown = render(prompt)
            generated = self.generator.stream(prompt.messages, self._sampling(sources))
        else:
            prompts = [self._prompt(question, [source], notes) for source in sources]
            sources = [prompt.sources[0] for prompt in prompts]  # as read, perhaps cut
            shown = "\n\n".join(render(prompt) for prompt in prompts)
            generated, prompt_tokens = self._marginal(prompts, sources)
        pieces: list[str] = []
        first = 0.0
        for piece in generated:
            first = first or time.perf_counter() - started
            pieces.append(piece)
            yield piece
        timings = replace(timings, prompt_tokens=prompt_tokens)
        yield self._finish(replace(base, timings=timings, prompt=shown), "".join(pieces),
                           sources, first, started)

    def relevant(self, question: str, passages: Sequence[Passage]) -> bool:
        """Whether the passages clear the embedder's relevance floor (``relevance``)."""
        if not passages:
            return False
        if self.floor is None:
            return True
        scores = self.gate_scores(question, passages) if self.gate_scores else None
        return relevance(question, passages, scores) >= self.floor

    def sources(self, passages: Sequence[Passage], question: str = "") -> list[Source]:
        """Numbered sources with p(source | question); a widened passage too long for the
        prompt falls back to its chunk, one that repeats an earlier source is dropped, and
        the sources past ``generate.source_mass`` of the probability are left out. With
        ``generate.question_likelihood`` (on by default for a local model), p(source |
        question) also weighs how likely the model finds ``question`` after each of the first
        ``generate.likelihood_sources``, which are reordered by it, and the cut is
        ``generate.weighed_source_mass``."""
        kept = distinct([self._fitting(passage) for passage in passages])
        priors = source_priors([p.hit.score for p in kept], self.settings.prior_temperature)
        mass = self.settings.source_mass
        if self.weight and question and len(kept) > 1:
            scored = min(len(kept), self.settings.likelihood_sources)
            head = self._weighed(question, kept[:scored], priors[:scored])
            order = np.argsort(-head, kind="stable")
            kept = [kept[i] for i in order] + kept[scored:]
            priors = np.concatenate([head[order], priors[scored:]])
            mass = self.settings.weighed_source_mass
        count = within_mass(priors, mass)
        kept, priors = kept[:count], priors[:count] / priors[:count].sum()
        return [Source(number, passage, float(prior))
                for number, (passage, prior) in enumerate(zip(kept, priors, strict=True),
                                                          start=1)]

    def source_prompt(self, question: str, passage: Passage) -> Prompt:
        """The prompt that reads ``passage`` alone, cut as the answer step cuts it: what
        p(answer | question, passage) is scored on."""
        return self._prompt(question, [Source(1, self._fitting(passage), 1.0)])

    def _weighed(self, question: str, passages: Sequence[Passage], priors: np.ndarray
                 ) -> np.ndarray:
        """p(z | x) proportional to priors * p(x | z) ** weight, p(x | z) from a prompt with
        source z alone, as the answer's would be; the scored sources keep the share of
        probability retrieval gave them together. Scored last to first: the first is the
        likeliest to be read alone, and its prompt is then still in the KV cache."""
        assert self.scorer is not None  # refused in __init__
        asked = question.strip()
        evidence = np.zeros(len(passages))
        for index in reversed(range(len(passages))):
            prompt = self._prompt(question, [Source(1, passages[index], 1.0)])
            evidence[index] = self.scorer.text_logprob(prompt.messages, asked)
        logits = np.log(np.maximum(priors, 1e-300)) + self.weight * evidence
        weights = np.exp(logits - logits.max())
        posterior: np.ndarray = weights / weights.sum() * priors.sum()
        return posterior

    def _fitting(self, passage: Passage) -> Passage:
        if self.generator.count_tokens(passage.text) <= self.settings.source_tokens:
            return passage
        chunk = passage.hit.chunk
        return Passage(passage.hit, chunk.text, chunk.start, chunk.end)

    def _sampling(self, sources: Sequence[Source]) -> Sampling:
        """Greedy, up to the answer budget, ending where the template's answers end; a
        copying template's answer is a span of ``sources``."""
        template = template_named(self.settings.template)
        copy_from = tuple(s.passage.text for s in sources) if template.copy else ()
        return Sampling(max_tokens=self.settings.answer_tokens, stop=template.stop,
                        copy_from=copy_from)

    def _marginal(self, prompts: Sequence[Prompt], sources: list[Source]
                  ) -> tuple[Iterator[str], int]:
        """RAG-Token or RAG-Sequence over one prompt per source; (pieces, prompt tokens).
        A copying RAG-Token answer is a span of any source; each RAG-Sequence candidate, of
        its own."""
        assert self.scorer is not None  # refused in __init__
        tokens = [self.scorer.prompt_tokens(prompt.messages) for prompt in prompts]
        priors = np.array([s.prior for s in sources])
        size = sum(len(t) for t in tokens)
        sampling = self._sampling(sources)
        if self.settings.mode == "rag-token":
            return rag_token(self.scorer, tokens, priors, sampling), size
        best, _, _ = rag_sequence(self.scorer, tokens, priors, sampling,
                                  own_source=bool(sampling.copy_from))
        return iter([best]), size

    def _prompt(self, question: str, sources: Sequence[Source], notes: Sequence[str] = ()
                ) -> Prompt:
        settings = self.settings
        return build_prompt(question, sources, self.generator, settings.answer_tokens,
                            settings.template, settings.source_tokens, notes)

    def _finish(self, base: Answer, text: str, sources: list[Source], first: float,
                started: float) -> Answer:
        checked = attribute(check_citations(text.strip(), len(sources)),
                            [source.passage.text for source in sources])
        total = time.perf_counter() - started
        timings = replace(base.timings, first_token=first or total, total=total,
                          answer_tokens=self.generator.count_tokens(text))
        return replace(base, text=checked.text, sources=tuple(sources),
                       citations=checked.citations, invalid_citations=checked.invalid,
                       uncited=checked.uncited, timings=timings)


def relevance(question: str, passages: Sequence[Passage],
              dense: Sequence[float] | None = None) -> float:
    """What the relevance floor is compared with: the best dense score (cosine) among the
    passages (``dense``, or the hits' own); infinite when one passage holds every term of the
    question (an identifier such as ``ttl`` that the embedder cannot read, but BM25 can) or
    none has a dense score; minus infinity for no passages. ``benchmarks/relevance.py``
    calibrates the floors on it."""
    if not passages:
        return -math.inf
    if dense is None:
        dense = [p.hit.scores["dense"] for p in passages if "dense" in p.hit.scores]
    terms = set(analyze(question))
    if not dense or (terms and any(terms <= set(analyze(p.hit.chunk.view)) for p in passages)):
        return math.inf
    return max(dense)


DEFAULT_QUESTION_LIKELIHOOD = 0.1
"""``generate.question_likelihood`` when unset and the model gives token probabilities."""


def question_weight(setting: float | None, scores_tokens: bool) -> float:
    """The question likelihood's weight: the setting, or by default 0.1 for a model that
    scores tokens and 0 for one that cannot (a server)."""
    if setting is not None:
        return setting
    return DEFAULT_QUESTION_LIKELIHOOD if scores_tokens else 0.0


def within_mass(priors: np.ndarray, mass: float | None) -> int:
    """How many leading sources it takes for their priors to reach ``mass`` (all for None).

    A small model reading several passages is misled by the unlikely ones: on 150 SQuAD
    questions (``short``, k=3), keeping the sources within 0.9 of p(source | question)
    instead of all three takes Qwen2.5-Coder-0.5B from EM 36.7 / F1 45.9 to 44.0 / 53.3
    (``benchmarks/qa.py --runs squad:150:stuff,squad:150:stuff:all-sources``). Reading 2.1
    sources on average instead of 3, it also answers sooner."""
    if mass is None or priors.size == 0:
        return int(priors.size)
    reached = np.flatnonzero(np.cumsum(priors) >= mass - 1e-9)
    return int(reached[0]) + 1 if reached.size else int(priors.size)


def distinct(passages: Sequence[Passage]) -> list[Passage]:
    """``passages`` less those lying within an earlier one of the same document: two chunks
    of one section widen to the same parent, and the model would read it twice."""
    kept: list[Passage] = []
    for passage in passages:
        doc = passage.hit.chunk.doc_id
        if not any(k.hit.chunk.doc_id == doc and k.start <= passage.start
                   and passage.end <= k.end for k in kept):
            kept.append(passage)
    return kept


def render(prompt: Prompt) -> str:
    return "\n\n".join(f"{m.role}: {m.content}" for m in prompt.messages)
