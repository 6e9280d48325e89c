"""Training retrieval from the answering model (``KnowledgeBase.train_rag``), and the trained
RAG systems ``lore ask --model trained:<name>`` uses.

For each training question, hybrid search finds k candidate passages (never one of the test
split's documents, ``lore.train.qa_split``); the frozen answering model scores
log p(answer | question, passage) for each, in the prompt the answer step would build
(``lore.train.lm_scores`` keeps the scores); and the dense retriever's query encoder learns
from those scores (``lore.train.query_encoder``) while the stored passage vectors stay as they
are, so the index needs no re-embedding.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np

from lore.embed.prompts import record_text_form
from lore.embed.protocol import Embedder
from lore.embed.transformer import TransformerEmbedder
from lore.errors import ConfigError
from lore.generate.answer import Answerer
from lore.generate.protocol import Message, TokenScorer
from lore.learning import SilentTraining, TrainListener, step_progress, trainable
from lore.models.gguf import ADAPTER_MARK, gguf_identity, resolve_gguf
from lore.train.catalog import (
    TrainedModel,
    TrainingData,
    check_name,
    models_root,
    next_name,
    publish,
    staging_dir,
)
from lore.train.lm_scores import Candidates, ScoreCache, score_key
from lore.train.qa_split import RULE, QAExample, question_key
from lore.train.settings import LoraSettings, Part, RagSettings, TrainSettings
from lore.types import Hit

if TYPE_CHECKING:
    from lore.api import KnowledgeBase

Example = TypeVar("Example")
"""What a trainer reads of one question (``Candidates``, ``JointExample``)."""
MIN_QUESTIONS = 8
SCORES_DIR = ".lm-scores"
"""Under the knowledge base's models folder: the answering model's scores, one file per set
of questions, model and candidate settings, shared by every run that trains on them."""
ADAPTER_FILE = "generator.gguf"
"""In a trained system's folder: the answering model's llama.cpp adapter, if it learned."""
MERGED_FILE = "generator-merged.gguf"
"""Beside it, unless trained with ``merge=False``: the answering model with the adapter merged
in, which ``ask`` runs instead (an adapter applied at run time slows every token)."""
QUESTIONS_FILE = "trained-questions.txt"
"""``question_key`` of every question trained on: evaluation refuses test questions among
them."""


@dataclass(frozen=True)
class RagTraining:
    """How ``train_rag`` trains."""

    settings: TrainSettings = field(default_factory=lambda: TrainSettings(batch_size=16))
    rag: RagSettings = field(default_factory=RagSettings)
    k: int = 8
    """Candidate passages per question, from hybrid search."""
    held_out: float = 0.1
    """Share of the training questions kept out to measure before and after, whole
    articles at a time (``QAExample.group``)."""
    generator: str | None = None
    """The answering model whose scores teach the retriever (default ``generate.model``)."""
    template: str = "short"
    name: str | None = None
    keep_unanswerable: bool = False
    """Train on questions whose answer no candidate passage holds (by default they are
    counted, reported and left out: the model's scores then say only which passage misleads
    least)."""
    checkpoint_every: int = 20
    train: Part = "query-encoder"
    """What learns: the query encoder from the frozen model's cached scores, both parts on
    one loss (``joint``), or the answering model alone on gold passages (``generator``)."""
    lora: LoraSettings = field(default_factory=LoraSettings)
    """The answering model's adapter, for ``joint`` and ``generator``."""
    merge: bool = True
    """Also write the answering model with its adapter merged in (``MERGED_FILE``)."""


@dataclass(frozen=True)
class RagSystem:
    """A trained RAG system as ``ask`` uses it."""

    model: TrainedModel
    encoder: Embedder
    """Embeds queries into the stored vectors' space."""
    generator: str
    """The answering model's spec, with its trained adapter when it has one."""


@dataclass(frozen=True)
class Prepared(Generic[Example]):
    """The questions made ready to train on, and the held-out share."""

    train: list[Example]
    held_out: list[Example]
    held_questions: list[QAExample]
    unanswerable: int


def train_rag(kb: KnowledgeBase, examples: Sequence[QAExample], origin: str,
              excluded: frozenset[str], training: RagTraining,
              listener: TrainListener | None = None) -> TrainedModel:
    """Train ``kb``'s query encoder from its answering model on ``examples`` (never reading
    the ``excluded`` documents) and add the result to its catalog as a ``rag`` model.

    Raises:
        ConfigError: the embedder cannot be trained, the answering model gives no token
            scores, too few questions remain, or the name is taken.
    """
    listener = listener or SilentTraining()
    started = time.perf_counter()
    spec = kb.status().embedder
    embedder = trainable(kb.embedder, spec)
    name = check_name(kb.directory, training.name) if training.name else \
        next_name(kb.directory, "rag")
    settings = replace(kb.config.generate, template=training.template,
                       model=training.generator or kb.config.generate.model)
    answerer = kb.answerer(settings)
    if answerer.scorer is None:
        raise ConfigError(f"the answering model {settings.model!r} gives no token scores; "
                          "train with a local model (--generator qwen-0.5b)")
    digest = examples_digest(examples, excluded)
    scores = ScoreCache(models_root(kb.directory) / SCORES_DIR /
                        f"{_key(digest, spec, settings.model, training)}.jsonl")
    ready = prepare(kb, embedder, answerer, examples, excluded, training, scores, listener)
    listener.stage("measuring the held-out questions before training")
    before = measure(kb, embedder, ready, training)
    staging, losses = train_encoder(kb, embedder, ready, digest, settings.model, training,
                                    listener)
    listener.stage("measuring the held-out questions after training")
    trained = TransformerEmbedder(staging / "model", name=f"{name} query encoder",
                                  batch_size=embedder.batch_size)
    after = measure(kb, trained, ready, training)
    asked = sorted({question_key(e.question) for e in examples})
    (staging / QUESTIONS_FILE).write_text("".join(f"{question}\n" for question in asked))
    data = TrainingData(origin, digest, len(ready.train), len(ready.held_out))
    recorded = {"generator": settings.model, "template": training.template, "k": training.k,
                "objective": training.rag.objective, "temperature": training.rag.temperature,
                "lm_temperature": training.rag.lm_temperature, "split_rule": RULE,
                "excluded_documents": len(excluded), "unanswerable": ready.unanswerable,
                "keep_unanswerable": training.keep_unanswerable,
                "settings": asdict(training.settings)}
    return publish(staging, TrainedModel(name, "rag", spec, kb.identity(), data, recorded,
                                         losses, {"before": before, "after": after},
                                         round(time.perf_counter() - started, 1)))


def train_encoder(kb: KnowledgeBase, embedder: TransformerEmbedder,
                  ready: Prepared[Candidates],
                  digest: str, generator: str, training: RagTraining,
                  listener: TrainListener) -> tuple[Path, list[float]]:
    """Train the query encoder into a staging folder that resumes from its checkpoint;
    returns the folder and the losses."""
    from lore.train.checkpoint import Checkpoint
    from lore.train.query_encoder import train_query_encoder  # torch loads only to train

    fingerprint = {"kind": "rag", "base": str(embedder.model_dir), "data": digest,
                   "generator": generator,
                   "settings": repr(asdict(replace(training, name=None)))}
    key = hashlib.sha256(repr(sorted(fingerprint.items())).encode()).hexdigest()[:12]
    staging = staging_dir(kb.directory, f"rag-{key}")
    checkpoint = Checkpoint(staging / "checkpoint", fingerprint, training.checkpoint_every)
    report = train_query_encoder(
        embedder.model_dir, ready.train, training.settings, training.rag, staging / "model",
        step_progress(listener, f"training the query encoder on {len(ready.train)} questions"),
        checkpoint)
    record_text_form(staging / "model", embedder.text_form)
    return staging, report.losses


def prepare(kb: KnowledgeBase, embedder: TransformerEmbedder, answerer: Answerer,
            examples: Sequence[QAExample], excluded: frozenset[str], training: RagTraining,
            cache: ScoreCache, listener: TrainListener) -> Prepared[Candidates]:
    """Each question's candidates, their stored vectors and the model's scores; the held-out
    share drawn with the seed."""
    listener.stage(f"scoring passages with {answerer.generator.name} "
                   f"({len(cache)} scores from an earlier run)", len(examples))
    return gathered(examples, lambda example: candidates_for(
        kb, embedder, answerer, example, excluded, training, cache), training, listener)


def gathered(examples: Sequence[QAExample], make: Callable[[QAExample], Example | None],
             training: RagTraining, listener: TrainListener) -> Prepared[Example]:
    """What ``make`` reads of each question (None: no passage holds its answer), counted on
    ``listener``'s stage, with whole groups held out by the seed.

    Raises:
        ConfigError: fewer than ``MIN_QUESTIONS`` questions are left.
    """
    kept: list[tuple[QAExample, Example]] = []
    unanswerable = 0
    for done, example in enumerate(examples, start=1):
        made = make(example)
        if made is None:
            unanswerable += 1
        else:
            kept.append((example, made))
        listener.advance(done, f"{unanswerable} without the answer in any passage")
    if len(kept) < MIN_QUESTIONS:
        raise ConfigError(f"only {len(kept)} of {len(examples)} questions have their answer in "
                          f"a retrieved passage; at least {MIN_QUESTIONS} are needed "
                          "(index the documents they ask about, or --keep-unanswerable)")
    held = held_out_rows([example for example, _ in kept], training.held_out,
                         training.settings.seed)
    return Prepared([c for i, (_, c) in enumerate(kept) if i not in held],
                    [c for i, (_, c) in enumerate(kept) if i in held],
                    [e for i, (e, _) in enumerate(kept) if i in held], unanswerable)


def held_out_rows(examples: Sequence[QAExample], share: float, seed: int) -> set[int]:
    """Rows of ``examples`` to hold out: whole groups (articles), about ``share`` of the
    questions, so the held-out numbers are about articles training did not read."""
    groups = sorted({example.group or example.id for example in examples})
    random.Random(seed).shuffle(groups)
    sizes = Counter(example.group or example.id for example in examples)
    chosen: set[str] = set()
    held = 0
    for group in groups[:-1]:  # at least one group is left to train on
        if held >= share * len(examples):
            break
        chosen.add(group)
        held += sizes[group]
    return {row for row, example in enumerate(examples)
            if (example.group or example.id) in chosen}


def candidates_for(kb: KnowledgeBase, embedder: TransformerEmbedder, answerer: Answerer,
                   example: QAExample, excluded: frozenset[str], training: RagTraining,
                   cache: ScoreCache) -> Candidates | None:
    """The question's first k passages outside ``excluded``, scored; None when none holds an
    answer and unanswerable questions are not kept."""
    hits = candidate_hits(kb, example.question, excluded, training.k)
    prompts = [answerer.source_prompt(example.question, p) for p in kb.passages(hits)]
    answer = example.answers[0]
    read = [prompt.sources[0].passage.text for prompt in prompts]
    if not hits or not training.keep_unanswerable and not any(
            holds(text, example.answers) for text in read):
        return None
    scorer = answerer.scorer
    assert isinstance(scorer, TokenScorer)  # checked by train_rag
    keys = [score_key(answerer.generator.name, training.template, example.question, answer,
                      text) for text in read]
    fresh = {key: scorer.text_token_logprobs((*prompt.messages, Message("assistant", answer)),
                                             answer)
             for key, prompt in zip(keys, prompts, strict=True) if cache.get(key) is None}
    if fresh:
        cache.put(fresh)
    lm = [cache.get(key) for key in keys]
    length = max(len(row) for row in lm if row is not None)
    rows = np.zeros((len(lm), length))
    for i, row in enumerate(lm):
        assert row is not None
        rows[i, :len(row)] = row
    vectors = embedder.embed_documents([hit.chunk.view for hit in hits])
    return Candidates(embedder.query_input(example.question), vectors, rows)


def candidate_hits(kb: KnowledgeBase, question: str, excluded: frozenset[str], k: int
                   ) -> list[Hit]:
    """The question's first ``k`` hybrid hits outside the ``excluded`` documents."""
    hits = kb.search(question, k=min(1000, 2 * k + 8), mode="hybrid", rerank="")
    return [hit for hit in hits if hit.doc_key not in excluded][:k]


def holds(text: str, answers: Sequence[str]) -> bool:
    """Whether ``text`` holds one of ``answers`` (case and spacing aside)."""
    flat = " ".join(text.casefold().split())
    return any(" ".join(a.casefold().split()) in flat for a in answers if a.strip())


def measure(kb: KnowledgeBase, encoder: Embedder, ready: Prepared[Candidates],
            training: RagTraining
            ) -> dict[str, float]:
    """On the held-out questions: the share whose first (and first 3) hybrid hits hold an
    answer with ``encoder`` embedding the query, and the answer's marginal log-likelihood
    over their candidates, log Σ_z p(z|x) p(y|x,z)."""
    if not ready.held_out:
        return {}
    marginal = []
    for example, candidates in zip(ready.held_questions, ready.held_out, strict=True):
        query = encoder.embed_query(example.question)
        logits = candidates.passages @ query / training.rag.temperature
        log_prior = logits - np.logaddexp.reduce(logits)
        marginal.append(float(np.logaddexp.reduce(log_prior + candidates.lm.sum(axis=1))))
    return {**first_hits(kb, encoder, ready.held_questions),
            "answer_loglik": float(np.mean(marginal))}


def first_hits(kb: KnowledgeBase, encoder: Embedder, questions: Sequence[QAExample]
               ) -> dict[str, float]:
    """The share of ``questions`` whose first (and first 3) hybrid hits hold an answer with
    ``encoder`` embedding the query."""
    first = top3 = 0
    for example in questions:
        hits = kb.search(example.question, k=3, mode="hybrid", rerank="",
                         query_encoder=encoder)
        first += bool(hits) and holds(hits[0].chunk.text, example.answers)
        top3 += any(holds(hit.chunk.text, example.answers) for hit in hits)
    count = max(1, len(questions))
    return {"first_holds_answer": first / count, "top3_holds_answer": top3 / count}


def load_rag_system(kb: KnowledgeBase, model: TrainedModel, embedder_in_use: str) -> RagSystem:
    """The trained system ``model`` is, checked against the index it was trained for."""
    if model.base != embedder_in_use:
        raise ConfigError(f"{model.spec} was trained against vectors of {model.base!r}, but "
                          f"this knowledge base is now embedded with {embedder_in_use!r}; "
                          f"train it again (`lore train rag`) or `lore reembed --model "
                          f"{model.base}`")
    batch = getattr(kb.embedder, "batch_size", 32)
    encoder = (TransformerEmbedder(model.model_dir, name=f"{model.spec} query encoder",
                                   batch_size=batch)
               if model.model_dir.is_dir() else kb.embedder)  # the generator alone learned
    generator = str(model.settings["generator"])
    adapter, merged = model.path / ADAPTER_FILE, model.path / MERGED_FILE
    if merged.is_file():
        generator = str(merged)
    elif adapter.is_file():
        trained_on, base = model.settings.get("generator_base"), resolve_gguf(generator)
        if trained_on != gguf_identity(base):
            raise ConfigError(f"{model.spec}'s adapter was trained on another {generator!r} "
                              f"than {base}; train it again (`lore train rag --train "
                              f"{model.settings.get('train')}`)")
        generator = f"{generator}{ADAPTER_MARK}{adapter}"
    return RagSystem(model, encoder, generator)


def trained_questions(model: TrainedModel) -> set[str]:
    path = model.path / QUESTIONS_FILE
    return set(path.read_text().split()) if path.is_file() else set()


def examples_digest(examples: Sequence[QAExample], excluded: frozenset[str]) -> str:
    hasher = hashlib.sha256()
    for example in examples:
        for text in (example.id, example.question, *example.answers):
            hasher.update(text.encode("utf-8") + b"\x00")
        hasher.update(b"\x01")
    for document in sorted(excluded):
        hasher.update(document.encode("utf-8") + b"\x02")
    return hasher.hexdigest()


def _key(digest: str, embedder: str, generator: str, training: RagTraining) -> str:
    fields = f"{digest}|{embedder}|{generator}|{training.k}|{training.template}|" \
             f"{training.keep_unanswerable}"
    return hashlib.sha256(fields.encode()).hexdigest()[:12]
