"""Training the answering model as part of the RAG system (``lore train rag --train joint``),
or alone on gold passages (``--train generator``, the baseline the joint system must beat).

The model's GGUF weights are dequantised into PyTorch and a LoRA learns on them
(``lore.train.causal_lm``); with ``joint`` the query encoder learns in the same loss
(``lore.train.joint``). The adapter goes back to llama.cpp as an adapter file
(``lore.train.llama_adapter``), so ``lore ask --model trained:<name>`` answers with the
quantised model at its usual speed, and the index is never re-embedded.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lore.embed.prompts import record_text_form
from lore.embed.transformer import TransformerEmbedder
from lore.errors import ConfigError
from lore.generate.answer import Answerer
from lore.generate.local import LocalGenerator
from lore.generate.protocol import Message
from lore.learning import SilentTraining, TrainListener, step_progress, trainable
from lore.models.gguf import gguf_identity, resolve_gguf, split_adapter
from lore.rag_training import (
    ADAPTER_FILE,
    MERGED_FILE,
    QUESTIONS_FILE,
    Prepared,
    RagTraining,
    candidate_hits,
    examples_digest,
    first_hits,
    gathered,
    holds,
)
from lore.train.catalog import (
    TrainedModel,
    TrainingData,
    check_name,
    next_name,
    publish,
    staging_dir,
)
from lore.train.qa_split import RULE, QAExample, question_key
from lore.types import Hit

if TYPE_CHECKING:
    from lore.api import KnowledgeBase
    from lore.train.causal_lm import TokenRow
    from lore.train.joint import JointExample

GOLD_DEPTH = 50
"""Hits searched for a question's gold passage (``--train generator``)."""


def train_generator_system(kb: KnowledgeBase, examples: Sequence[QAExample], origin: str,
                           excluded: frozenset[str], training: RagTraining,
                           listener: TrainListener | None = None) -> TrainedModel:
    """Train the answering model's adapter (and with ``joint`` the query encoder) on
    ``examples``, never reading the ``excluded`` documents; add the system to ``kb``'s
    catalog as a ``rag`` model.

    Raises:
        ConfigError: the model is not a local GGUF one, the objective trains no model
            (REPLUG), the embedder cannot be trained, too few questions remain, or there is
            too little memory.
    """
    from lore.train.causal_lm import load_causal_lm  # torch and transformers load only here

    listener = listener or SilentTraining()
    started = time.perf_counter()
    joint = training.train == "joint"
    if training.rag.objective == "replug":
        raise ConfigError("REPLUG trains the retriever alone (the model's scores are its "
                          "target); train the model with --objective rag-sequence or rag-token")
    spec = kb.status().embedder
    embedder = trainable(kb.embedder, spec)
    name = check_name(kb.directory, training.name) if training.name else \
        next_name(kb.directory, "rag")
    settings = replace(kb.config.generate, template=training.template,
                       model=training.generator or kb.config.generate.model)
    answerer = kb.answerer(settings)
    generator, base = _local_model(answerer, settings.model)
    check_memory(base)
    ready = prepare(kb, embedder, answerer, generator, examples, excluded, training, listener)
    listener.stage(f"loading {settings.model} into PyTorch (dequantised)")
    lm = load_causal_lm(base)
    digest = examples_digest(examples, excluded)
    listener.stage("measuring the held-out questions before training")
    before = _measure(kb, embedder, lm, ready, training)
    staging, losses, adapted = _train(kb, embedder, lm, ready, digest, settings.model,
                                      training, listener)
    encoder = (TransformerEmbedder(staging / "model", name=f"{name} query encoder",
                                   batch_size=embedder.batch_size) if joint else embedder)
    listener.stage("measuring the held-out questions after training")
    after = _measure(kb, encoder, adapted, ready, training)
    _write_adapter(adapted, training, base, staging / ADAPTER_FILE)
    if training.merge:
        _merge(base, staging, listener)
    asked = sorted({question_key(e.question) for e in examples})
    (staging / QUESTIONS_FILE).write_text("".join(f"{question}\n" for question in asked))
    data = TrainingData(origin, digest, len(ready.train), len(ready.held_out))
    recorded = _recorded(training, settings.model, base, len(excluded), ready.unanswerable)
    return publish(staging, TrainedModel(name, "rag", spec, kb.identity(), data, recorded,
                                         losses, {"before": before, "after": after},
                                         round(time.perf_counter() - started, 1)))


def _recorded(training: RagTraining, generator: str, base: Path, excluded: int,
              unanswerable: int) -> dict[str, Any]:
    """The manifest's settings: what was trained, on what, and how."""
    return {"train": training.train, "generator": generator,
            "generator_base": gguf_identity(base), "template": training.template,
            "k": training.k if training.train == "joint" else 1,
            "objective": training.rag.objective, "temperature": training.rag.temperature,
            "split_rule": RULE, "excluded_documents": excluded, "unanswerable": unanswerable,
            "keep_unanswerable": training.keep_unanswerable, "merged": training.merge,
            "settings": asdict(training.settings), "lora": asdict(training.lora)}


def prepare(kb: KnowledgeBase, embedder: TransformerEmbedder, answerer: Answerer,
            generator: LocalGenerator, examples: Sequence[QAExample],
            excluded: frozenset[str], training: RagTraining, listener: TrainListener
            ) -> Prepared[JointExample]:
    """Each question's passages (its top k, or its gold passage) as the model's tokens."""
    listener.stage("finding and reading each question's passages", len(examples))

    def made(example: QAExample) -> JointExample | None:
        hits = (candidate_hits(kb, example.question, excluded, training.k)
                if training.train == "joint" else gold_hits(kb, example, excluded))
        return joint_example(kb, embedder, answerer, generator, example, hits, training)

    return gathered(examples, made, training, listener)


def gold_hits(kb: KnowledgeBase, example: QAExample, excluded: frozenset[str]) -> list[Hit]:
    """The question's first hit in one of its gold documents that holds an answer (the
    passage the generator-only baseline learns to read), or none."""
    for hit in candidate_hits(kb, example.question, excluded, GOLD_DEPTH):
        if hit.doc_key in example.documents and holds(hit.chunk.text, example.answers):
            return [hit]
    return []


def joint_example(kb: KnowledgeBase, embedder: TransformerEmbedder, answerer: Answerer,
                  generator: LocalGenerator, example: QAExample, hits: Sequence[Hit],
                  training: RagTraining) -> JointExample | None:
    """The question's passages as the answer step would prompt with them, the answer
    appended; None when no passage holds an answer (unless those are kept)."""
    from lore.train.joint import JointExample

    prompts = [answerer.source_prompt(example.question, p) for p in kb.passages(hits)]
    read = [prompt.sources[0].passage.text for prompt in prompts]
    if not hits or not training.keep_unanswerable and not any(
            holds(text, example.answers) for text in read):
        return None
    answer = example.answers[0]
    rows = tuple(answer_row(generator, prompt.messages, answer) for prompt in prompts)
    vectors = embedder.embed_documents([hit.chunk.view for hit in hits])
    return JointExample(embedder.query_input(example.question), vectors, rows)


def answer_row(generator: LocalGenerator, messages: Sequence[Message], answer: str
               ) -> TokenRow:
    """The prompt with ``answer`` as the assistant's turn, in the model's tokens, and the span
    trained on: the answer and the token that ends the turn, so the model learns to stop
    where the answer does (trained on the answer alone, it learned to run on)."""
    tokens, start, end = generator.text_token_span((*messages, Message("assistant", answer)),
                                                   answer)
    if end < len(tokens) and generator.ends_turn(tokens[end]):
        end += 1
    return tokens, start, end


def check_memory(base: Path, available: int | None = None) -> None:
    """Refuse a run the machine's free memory cannot hold even at its least: the dequantised
    float32 weights take about seven times a 4-5 bit file, and training 1 GiB more at the
    very least (activations grow with the prompts; docs/training.md has measured peaks)."""
    needed = 7 * base.stat().st_size + (1 << 30)
    free = available if available is not None else _available_memory()
    if free is not None and free < needed:
        raise ConfigError(f"training {base.name} needs about {needed / 2**30:.1f} GiB of "
                          f"memory and {free / 2**30:.1f} GiB is free; close other programs, "
                          "or train a smaller answering model (--generator)")


def _local_model(answerer: Answerer, spec: str) -> tuple[LocalGenerator, Path]:
    generator = answerer.generator
    base, adapter = split_adapter(spec)
    if not isinstance(generator, LocalGenerator):
        raise ConfigError(f"the answering model {spec!r} cannot be trained here: only a local "
                          "GGUF model can (--generator qwen-0.5b)")
    if adapter is not None:
        raise ConfigError(f"{spec!r} already carries an adapter; train from the plain model "
                          f"(--generator {base})")
    return generator, resolve_gguf(base)


def _train(kb: KnowledgeBase, embedder: TransformerEmbedder, lm: Any, ready: Prepared[JointExample],
           digest: str, generator: str, training: RagTraining, listener: TrainListener
           ) -> tuple[Path, list[float], Any]:
    from lore.train.checkpoint import Checkpoint
    from lore.train.joint import train_joint

    joint = training.train == "joint"
    fingerprint = {"kind": "rag", "base": str(embedder.model_dir), "data": digest,
                   "generator": generator,
                   "settings": repr(asdict(replace(training, name=None)))}
    key = hashlib.sha256(repr(sorted(fingerprint.items())).encode()).hexdigest()[:12]
    staging = staging_dir(kb.directory, f"rag-{key}")
    checkpoint = Checkpoint(staging / "checkpoint", fingerprint, training.checkpoint_every)
    what = "the query encoder and the answering model" if joint else "the answering model"
    report, adapted = train_joint(
        embedder.model_dir if joint else None, lm, ready.train, training.settings,
        training.rag, training.lora, staging,
        step_progress(listener, f"training {what} on {len(ready.train)} questions"),
        checkpoint)
    if joint:
        record_text_form(staging / "model", embedder.text_form)
    return staging, report.losses, adapted


def _measure(kb: KnowledgeBase, encoder: TransformerEmbedder, lm: Any,
             ready: Prepared[JointExample], training: RagTraining) -> dict[str, float]:
    """On the held-out questions: the first hits with ``encoder``, and the answers' marginal
    log-likelihood over their passages (with ``joint``, weighed by ``encoder``)."""
    from sentence_transformers import SentenceTransformer

    from lore.train.joint import held_out_loglik

    if not ready.held_out:
        return {}
    scorer = (SentenceTransformer(str(encoder.model_dir), device="cpu").eval()
              if training.train == "joint" else None)
    loglik = held_out_loglik(scorer, lm, ready.held_out, training.rag.temperature,
                             training.lora.batch_tokens)
    return {**first_hits(kb, encoder, ready.held_questions), "answer_loglik": loglik}


def _write_adapter(adapted: Any, training: RagTraining, base: Path, out: Path) -> None:
    from lore.train.causal_lm import lora_weights
    from lore.train.llama_adapter import write_llama_adapter

    config = adapted.get_base_model().config
    write_llama_adapter(lora_weights(adapted), training.lora.alpha, config.model_type,
                        (config.num_attention_heads, config.num_key_value_heads),
                        gguf_identity(base), out)


def _merge(base: Path, staging: Path, listener: TrainListener) -> None:
    from lore.train.llama_merge import merge_adapter

    listener.stage(f"merging the adapter into a copy of {base.name}")
    adapter = staging / ADAPTER_FILE
    merge_adapter(base, adapter, staging / MERGED_FILE, gguf_identity(adapter),
                  lambda done, total: listener.advance(done))


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes; None where there is none."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
