"""``lore train`` and ``lore models``: learn a knowledge base's retriever and reranker from its
data, and list what was learned."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypeVar

import click

from lore.api import KnowledgeBase
from lore.cli_common import LoreUsageError, interruptible, json_option, kb_option, opened
from lore.cli_output import ProgressListener, StageProgress, shown, stderr, stdout
from lore.errors import LoreError
from lore.eval.beir import beir_pairs
from lore.eval.qa import qa_examples
from lore.fitting import fit_tuning
from lore.learning import HEAD_TRAINING, RERANKER_TRAINING, Training
from lore.rag_training import RagTraining
from lore.rerank.heads import HEAD_KINDS, HeadKind
from lore.synthesis import synthetic_pairs
from lore.train.catalog import TrainedModel
from lore.train.negatives import Mining
from lore.train.pairs import PairSet, load_pairs
from lore.train.settings import (
    DEFAULT_TEMPERATURE,
    OBJECTIVES,
    PARTS,
    LoraSettings,
    Objective,
    Part,
    RagSettings,
    TrainSettings,
)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


PAIR_SOURCES: list[Callable[[F], F]] = [
    click.option("--pairs", "pairs_file", type=click.Path(dir_okay=False, path_type=Path),
                 help='JSONL of {"query", "positive", "negatives"?} lines.'),
    click.option("--beir", type=click.Path(file_okay=False, path_type=Path),
                 help="A BEIR folder: pairs from its judged queries of --split."),
    click.option("--split", default="train", show_default=True,
                 help="With --beir: the judgments qrels/SPLIT.tsv."),
    click.option("--synthetic", type=click.IntRange(1), metavar="N",
                 help="No labels: the local model writes questions for N chunks."),
    click.option("--generator", help="With --synthetic: the model that writes them "
                 "(default: the answering model)."),
]
COMMON: list[Callable[[F], F]] = [
    click.option("--seed", type=int, default=0, show_default=True),
    click.option("--skip-missing", is_flag=True,
                 help="Leave out pairs whose positive is not in the knowledge base."),
    kb_option, json_option,
]


def training_options(losses: tuple[str, ...], negatives: int, batch_size: int,
                     learning_rate: float, epochs: int = 1) -> Callable[[F], F]:
    """The options ``train retriever`` and ``train reranker`` share, with their defaults."""
    options = [
        *PAIR_SOURCES,
        click.option("--loss", type=click.Choice(losses), default=losses[0], show_default=True),
        click.option("--epochs", type=click.IntRange(1, 100), default=epochs, show_default=True),
        click.option("--batch-size", type=click.IntRange(2, 4096), default=batch_size,
                     show_default=True),
        click.option("--lr", "learning_rate", type=click.FloatRange(0, min_open=True),
                     default=learning_rate, show_default=True, help="Peak learning rate."),
        click.option("--negatives", type=click.IntRange(0, 50), default=negatives,
                     show_default=True, help="Hard negatives mined a pair (0: none)."),
        click.option("--held-out", type=click.FloatRange(0, 0.5), default=0.1,
                     show_default=True, help="Share of queries kept out to measure."),
        click.option("--name", help="The model's name (default <kind>-<n>)."),
        *COMMON,
    ]
    return decorated(options)


def decorated(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def read_pairs(pairs_file: Path | None, beir: Path | None, split: str) -> PairSet:
    if (pairs_file is None) == (beir is None):
        raise LoreUsageError("give the training pairs: --pairs FILE.jsonl or --beir FOLDER")
    try:
        return load_pairs(pairs_file) if pairs_file is not None else beir_pairs(beir or "", split)
    except LoreError as error:
        raise LoreUsageError(str(error)) from None


def run_training(kb: Path | None, as_json: bool, options: dict[str, Any],
                 train: Callable[[KnowledgeBase, PairSet, StageProgress], T]) -> T:
    """Read or write the pairs the options name, then ``train`` on them."""
    pairs_file, beir = options.pop("pairs_file"), options.pop("beir")
    split, synthetic, generator = (options.pop(name) for name in
                                   ("split", "synthetic", "generator"))
    if sum(x is not None for x in (pairs_file, beir, synthetic)) != 1:
        raise LoreUsageError("give the training pairs: --pairs FILE.jsonl, --beir FOLDER or "
                             "--synthetic N")
    pairs = read_pairs(pairs_file, beir, split) if synthetic is None else None
    with opened(kb) as base, StageProgress(bars=not as_json) as progress, interruptible(
            "run the same command again to resume from the last checkpoint (saved every 20 "
            "steps; synthetic questions already written are kept)"):
        try:
            if pairs is None:
                pairs, written = synthetic_pairs(base, synthetic, options["seed"], generator,
                                                 progress)
                stderr.print(f"synthetic questions: {written.kept} of {written.written} kept "
                             f"(dropped: {written.dropped or 'none'})")
            return train(base, pairs, progress)
        except LoreError as error:
            raise LoreUsageError(str(error)) from None


def training(options: dict[str, Any], defaults: Training) -> Training:
    settings = replace(defaults.settings, loss=options["loss"], epochs=options["epochs"],
                       batch_size=options["batch_size"],
                       learning_rate=options["learning_rate"], seed=options["seed"])
    mining = None
    if options["negatives"]:
        base = defaults.mining or Mining()
        mining = Mining(options["negatives"], base.first_rank, base.last_rank, base.margin)
    return Training(settings, mining, options["held_out"], options["name"],
                    options["skip_missing"], defaults.checkpoint_every)


@click.group(name="train")
def train_group() -> None:
    """Learn this knowledge base's retriever, reranker, scoring head or retrieval parameters
    from labelled pairs or synthetic questions."""


@train_group.command(name="retriever")
@training_options(("mnrl", "triplet", "contrastive"), negatives=1, batch_size=32,
                  learning_rate=2e-5)
@click.option("--use", is_flag=True, help="Re-embed the knowledge base with the result.")
def train_retriever(kb: Path | None, as_json: bool, use: bool, **options: Any) -> None:
    """Fine-tune the embedder on (query, positive) pairs, with mined hard negatives."""
    model = run_training(kb, as_json, options, lambda base, pairs, progress:
                         base.train_retriever(pairs, training(options, Training()), progress))
    if use:
        with opened(kb, model.spec, switch_model=True) as base, ProgressListener() as listener:
            base.reembed(listener)
    report(model, as_json, f"lore reembed --model {model.spec}" if not use else "")


@train_group.command(name="reranker")
@training_options(("listwise", "bce"), negatives=3, batch_size=16, learning_rate=1e-4)
@click.option("--base", "base_model", default="minilm", show_default=True,
              help="The transformer to start from: minilm, trained:<name> or a folder.")
def train_reranker(kb: Path | None, as_json: bool, base_model: str, **options: Any) -> None:
    """Train a cross-encoder reranker on (query, positive) pairs and mined negatives."""
    model = run_training(kb, as_json, options, lambda base, pairs, progress:
                         base.train_reranker(pairs, training(options, RERANKER_TRAINING),
                                             base_model, progress))
    report(model, as_json, f"lore search QUERY --rerank {model.spec}")


@train_group.command(name="head")
@training_options(("mnrl",), negatives=3, batch_size=64, learning_rate=1e-3,
                  epochs=HEAD_TRAINING.settings.epochs)
@click.option("--kind", "head_kind", type=click.Choice(HEAD_KINDS), default="interactive",
              show_default=True, help="biattention: hᵀW₁tanh(W₂[h;d]+b); interactive: "
              "FFN([h;d;h⊙d;h−d]).")
def train_head(kb: Path | None, as_json: bool, head_kind: HeadKind, **options: Any) -> None:
    """Train a scoring head that reranks from the stored vectors (no extra encoding)."""
    model = run_training(kb, as_json, options, lambda base, pairs, progress:
                         base.train_head(pairs, head_kind, training(options, HEAD_TRAINING),
                                         progress))
    report(model, as_json, f"lore search QUERY --rerank {model.spec}")


@train_group.command(name="params")
@decorated([*PAIR_SOURCES,
            click.option("--held-out", type=click.FloatRange(0.05, 0.5), default=0.2,
                         show_default=True, help="Share of queries kept out to confirm."),
            *COMMON])
def train_params(kb: Path | None, as_json: bool, **options: Any) -> None:
    """Fit BM25's k1 and b and the fusion weight; kept only if they beat the current ones on
    held-out queries."""
    fit = run_training(kb, as_json, options, lambda base, pairs, progress: fit_tuning(
        base, pairs, options["held_out"], options["seed"], options["skip_missing"], progress))
    if as_json:
        click.echo(json.dumps({"before": asdict(fit.before), "fitted": asdict(fit.fitted),
                               "kept": fit.kept, "held_out": fit.held_out,
                               "queries": {"fitting": fit.queries[0],
                                           "held_out": fit.queries[1]}}))
        return
    stdout.print(f"fitted on {fit.queries[0]} queries: {fit.fitted.describe()}")
    for name in ("before", "fitted"):
        metrics = fit.held_out[name]
        stdout.print(f"  {name:>7} on {fit.queries[1]} held-out queries: hybrid nDCG@10 "
                     f"{metrics.get('ndcg@10', 0):.4f}, MRR@10 {metrics.get('mrr@10', 0):.4f}")
    stdout.print("kept: searches use the fitted parameters" if fit.kept else
                 f"not kept: no better than {fit.before.describe()} on held-out queries")


@train_group.command(name="router")
@click.option("--traces", "traces", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A `lore eval qa --strategy NAME --trace FILE` run; one per strategy, "
                   "over the same questions (repeat the option).")
@click.option("--held-out", type=click.FloatRange(0.05, 0.5), default=0.2, show_default=True,
              help="Share of questions kept out to measure the router.")
@kb_option
@json_option
def train_router(traces: tuple[Path, ...], held_out: float, kb: Path | None,
                 as_json: bool) -> None:
    """Train the router `auto` uses: which strategy answered each traced question best,
    learned from the question."""
    try:
        with opened(kb) as base:
            model = base.train_router(list(traces), held_out)
    except LoreError as error:
        raise LoreUsageError(str(error)) from None
    report(model, as_json, f"LORE_ROUTER={model.spec} lore ask QUESTION --strategy auto")


def report(model: TrainedModel, as_json: bool, next_step: str) -> None:
    if as_json:
        click.echo(json.dumps({**model.to_json(), "path": str(model.path)}))
        return
    stdout.print(f"trained {model.spec} ({model.kind}) in {model.seconds:.0f} s on "
                 f"{model.data.pairs} pairs; {model.data.held_out} held out")
    before, after = model.metrics.get("before", {}), model.metrics.get("after", {})
    for metric in after:
        stdout.print(f"  held-out {metric:>10}  {before.get(metric, float('nan')):.4f} -> "
                     f"{after[metric]:.4f}")
    relevance = model.metrics.get("relevance")
    if relevance:
        stdout.print(f"  relevant above {relevance['threshold']:.4g} (held-out F1 "
                     f"{relevance['f1']:.3f}, precision {relevance['precision']:.3f}, "
                     f"recall {relevance['recall']:.3f})")
    if next_step:
        stdout.print(f"use it: {next_step}")


@train_group.command(name="rag")
@click.option("--qa", "qa_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="A QA folder (qa.jsonl beside its corpus: its training side of lore's "
                   "split; the test side's documents are never read), or a JSONL file of "
                   '{"_id", "question", "answers"} lines, all trained on.')
@click.option("--train", "part", type=click.Choice(PARTS), default="query-encoder",
              show_default=True, help="What learns: query-encoder (the answering model frozen, "
              "its scores cached), joint (the query encoder and a LoRA on the answering model, "
              "one loss), or generator (the LoRA alone, on each question's gold passage).")
@click.option("--objective", type=click.Choice(OBJECTIVES), default="rag-sequence",
              show_default=True, help="rag-sequence: -log Σ p(z|x) p(y|x,z) (EMDR²); "
              "rag-token: mixed per token; replug: KL to the model's preference.")
@click.option("--k", "k", type=click.IntRange(2, 50), default=8, show_default=True,
              help="Candidate passages a question.")
@click.option("--limit", type=click.IntRange(1), help="Train on this many questions (a "
              "seeded sample).")
@click.option("--epochs", type=click.IntRange(1, 100), default=1, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=16, show_default=True)
@click.option("--lr", "learning_rate", type=click.FloatRange(0, min_open=True), default=2e-5,
              show_default=True)
@click.option("--temperature", type=click.FloatRange(0, min_open=True),
              default=DEFAULT_TEMPERATURE, show_default=True,
              help="τ of the retriever's softmax over cosines.")
@click.option("--generator", help="The answering model that scores passages (default: "
              "generate.model).")
@click.option("--template", default="short", show_default=True)
@click.option("--held-out", type=click.FloatRange(0, 0.5), default=0.1, show_default=True)
@click.option("--keep-unanswerable", is_flag=True, help="Train on questions whose answer "
              "no candidate passage holds too.")
@click.option("--lora-rank", type=click.IntRange(1, 256), default=8, show_default=True,
              help="The answering model's adapter rank (joint, generator).")
@click.option("--lora-layers", type=click.IntRange(1), help="Adapt only the model's last N "
              "layers (backpropagation stops below them); default every layer.")
@click.option("--lora-lr", type=click.FloatRange(0, min_open=True), default=1e-4,
              show_default=True, help="The adapter's learning rate.")
@click.option("--merge/--no-merge", default=True, show_default=True,
              help="Also write the answering model with the adapter merged in, which `ask` "
              "runs at the plain model's speed (--no-merge keeps only the small adapter, "
              "applied at run time).")
@click.option("--name", help="The model's name (default rag-<n>).")
@click.option("--seed", type=int, default=0, show_default=True)
@kb_option
@json_option
def train_rag(qa_path: Path, part: Part, objective: Objective, k: int, limit: int | None,
              epochs: int, batch_size: int, learning_rate: float, temperature: float,
              generator: str | None, template: str, held_out: float, keep_unanswerable: bool,
              lora_rank: int, lora_layers: int | None, lora_lr: float, merge: bool,
              name: str | None, seed: int, kb: Path | None, as_json: bool) -> None:
    """Train retrieval from the answering model on (question, answers) pairs (the RAG paper's
    marginal likelihood over the top-k passages, or REPLUG's KL), or train both together."""
    try:
        examples, split = qa_examples(qa_path)
        if qa_path.is_dir():
            examples, excluded = list(split.train), split.test_documents
            stderr.print(f"{qa_path.name}: {split.describe()}; training reads none of the "
                         f"{len(excluded)} test documents")
        else:
            excluded = frozenset()
        if limit is not None and limit < len(examples):
            examples = random.Random(seed).sample(examples, limit)
    except LoreError as error:
        raise LoreUsageError(str(error)) from None
    settings = TrainSettings(epochs=epochs, batch_size=batch_size,
                             learning_rate=learning_rate, seed=seed)
    lora = LoraSettings(rank=lora_rank, alpha=2 * lora_rank, layers=lora_layers,
                        learning_rate=lora_lr)
    plan = RagTraining(settings, RagSettings(objective, temperature), k, held_out, generator,
                       template, name, keep_unanswerable, train=part, lora=lora, merge=merge)
    with opened(kb) as base, StageProgress(bars=not as_json) as progress, interruptible(
            "run the same command again: scored passages are kept, and training resumes "
            "from its last checkpoint"):
        try:
            model = base.train_rag(examples, str(qa_path), excluded, plan, progress)
        except LoreError as error:
            raise LoreUsageError(str(error)) from None
    report(model, as_json, f"lore ask QUESTION --model {model.spec} --template {template}")


@click.group(name="models")
def models_group() -> None:
    """The models trained for this knowledge base."""


@models_group.command(name="list")
@kb_option
@json_option
def list_models(kb: Path | None, as_json: bool) -> None:
    """Each trained model: kind, base, data, held-out metrics before and after."""
    with opened(kb) as base:
        models, in_use = base.models(), base.status().embedder
    if as_json:
        click.echo(json.dumps([{**m.to_json(), "path": str(m.path),
                                "in_use": m.spec == in_use} for m in models]))
        return
    if not models:
        stdout.print("no trained models; train one with `lore train retriever --pairs FILE`")
    for model in models:
        after = model.metrics.get("after", {})
        before = model.metrics.get("before", {})
        mark = " (in use)" if model.spec == in_use else ""
        if model.kind == "rag":
            trained = {"joint": "query encoder and adapter", "generator": "adapter"}.get(
                str(model.settings.get("train")), "query encoder")
            stdout.print(f"{shown(model.spec)}  rag: {trained} over {shown(model.base)}, "
                         f"answering model {model.settings['generator']}, "
                         f"{model.settings['objective']}, {model.data.pairs} questions of "
                         f"{shown(model.data.origin)}, held-out first source holds the answer "
                         f"{before.get('first_holds_answer', 0):.3f} -> "
                         f"{after.get('first_holds_answer', 0):.3f}, {model.created}")
            continue
        if model.kind == "router":
            routes = ", ".join(model.settings["strategies"])
            stdout.print(f"{shown(model.spec)}  router over {routes}, "
                         f"{model.data.pairs} questions, held-out accuracy "
                         f"{before.get('accuracy', 0):.3f} (rules) -> "
                         f"{after.get('accuracy', 0):.3f}, {model.created}")
            continue
        ndcg = f"nDCG@10 {before.get('ndcg@10', 0):.3f} -> {after.get('ndcg@10', 0):.3f}"
        stdout.print(f"{shown(model.spec)}{mark}  {model.kind} from {shown(model.base)}, "
                     f"{model.data.pairs} pairs of {shown(model.data.origin)}, "
                     f"{model.settings['settings']['loss']}, held-out {ndcg}, {model.created}")
