"""Training a knowledge base's retriever or reranker on a set's training judgments, scored on
its test queries, which training never sees.

    python benchmarks/train.py retriever                         # SciFact, MNRL, 1 mined negative
    python benchmarks/train.py retriever --loss triplet --epochs 2
    python benchmarks/train.py reranker --negatives 3            # a cross-encoder from MiniLM
    python benchmarks/train.py reranker --over DIR              # over a trained retriever
    python benchmarks/train.py reranker --model reranker-5 --max-length 256,128   # no training
    python benchmarks/train.py head --head biattention          # a scoring head on vectors
    python benchmarks/train.py head --head biattention --over DIR   # over a trained retriever's
    python benchmarks/train.py retriever --synthetic 1000        # no labels: written questions
    python benchmarks/train.py retriever --set cosqa --split dev
    LORE_MODEL=e5-small python benchmarks/train.py retriever --set cmrc2018-dev --qa-split
    python benchmarks/train.py retriever --set squad-v1.1-dev --qa-split --questions 2000

Everything goes through lore's own API, as a user's run would: the SciFact corpus is indexed
with the shipped MiniLM (cached under the eval cache), ``kb.train_retriever`` or
``kb.train_reranker`` trains on the pairs of ``qrels/<split>.tsv`` (query texts only) with hard
negatives mined by the knowledge base's hybrid search (or, with ``--synthetic N``, on questions
the local model writes for N of the corpus's chunks, no judgment read), and the model lands in
that knowledge base's catalog. A retriever is scored by indexing the test corpus with it (dense
and hybrid nDCG@10, and for sets whose queries have several relevant documents, such as
HotpotQA's two gold paragraphs, the share of queries with all of them in the top 10); a
reranker reorders the first 20 hybrid hits of each test query, and its time per query is
measured; a scoring head reorders the first 100 dense (and hybrid) hits from their stored
vectors, and the search time with and without it is measured. Writes ``results/train.json``
(runs keyed by their settings).

``--qa-split`` is for a question-answering set with no training judgments (CMRC 2018, SQuAD):
its questions are split by ``lore.train.qa_split`` (by article title), the retriever trains
on the training side's (question, gold document) pairs in a knowledge base of the training
side's documents alone, so no test document is ever a positive or a mined negative, and it
is scored on the test side's questions over the whole corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import all_relevant_share, machine
from rich.console import Console

from lore.api import KnowledgeBase
from lore.cli_output import StageProgress
from lore.config import LoreConfig
from lore.eval.beir import BeirSet, beir_pairs, load_beir, read_corpus
from lore.eval.qa import qa_examples
from lore.eval.retrieval import EvalSettings, document_ranking, evaluate, open_indexed, score_query
from lore.fitting import fit_tuning
from lore.learning import HEAD_TRAINING, RERANKER_TRAINING, Training
from lore.models.files import default_cache_dir
from lore.rerank.cross_encoder import CrossEncoderReranker
from lore.rerank.reorder import rerank
from lore.retrieve.tuning import Tuning
from lore.synthesis import synthetic_pairs
from lore.train.catalog import TrainedModel
from lore.train.negatives import Mining
from lore.train.pairs import PairSet, pairs_from_judgments
from lore.types import SearchMode

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "train.json"
RERANK_DEPTH = 20
HEAD_MODES: tuple[SearchMode, ...] = ("dense", "hybrid")


def retriever_scores(dataset: BeirSet, config: LoreConfig, model: str | None
                     ) -> dict[str, float]:
    """Dense and hybrid nDCG@10 on the test queries, the corpus indexed with ``model``, and
    where queries have several relevant documents, the share with all in the top 10."""
    scores = {}
    with open_indexed(dataset, default_cache_dir(os.environ) / "eval", config, model) as kb:
        for mode in ("dense", "hybrid"):
            report, traces = evaluate(kb, dataset, EvalSettings(mode))
            scores[mode] = report.metrics["ndcg@10"]
            share = all_relevant_share(traces, dataset.qrels)
            if share is not None:
                scores[f"{mode}_all_relevant_in_top10"] = share
    return scores


def reranker_scores(kb: KnowledgeBase, dataset: BeirSet, model: Path,
                    lengths: list[int | None]) -> dict[str, float]:
    """Hybrid nDCG@10 without and with the cross-encoder over the first 20 hits, reading
    pairs of up to each of ``lengths`` tokens (None: the model's own maximum)."""
    hits = {qid: kb.search(text, k=100, mode="hybrid", rerank="")
            for qid, text in dataset.queries.items()}
    scores = {"hybrid": statistics.fmean(
        score_query(document_ranking(hits[qid]), dataset.qrels[qid])["ndcg@10"] for qid in hits)}
    for length in lengths:
        reranker = CrossEncoderReranker(model, max_length=length)
        reranked, times = [], []
        for qid, text in dataset.queries.items():
            started = time.perf_counter()
            ordered = rerank(reranker, text, hits[qid], k=100, depth=RERANK_DEPTH)
            times.append((time.perf_counter() - started) * 1000)
            reranked.append(score_query(document_ranking(ordered), dataset.qrels[qid])["ndcg@10"])
        suffix = "" if length is None else f"@{length}"
        scores |= {f"hybrid+reranker{suffix}": statistics.fmean(reranked),
                   f"rerank_ms_median{suffix}": statistics.median(times),
                   f"rerank_ms_p90{suffix}": statistics.quantiles(times, n=10)[-1]}
    return scores


def head_scores(kb: KnowledgeBase, dataset: BeirSet, spec: str) -> dict[str, float]:
    """Dense and hybrid nDCG@10 without and with the head over the first 100 hits, and the
    search time of each (the head's cost is the difference)."""
    scores: dict[str, list[float]] = {}
    for qid, text in dataset.queries.items():
        for mode in HEAD_MODES:
            for name, rerank_spec in ((mode, ""), (f"{mode}+head", spec)):
                started = time.perf_counter()
                hits = kb.search(text, k=100, mode=mode, rerank=rerank_spec)
                scores.setdefault(f"{name}_ms", []).append((time.perf_counter() - started) * 1000)
                scores.setdefault(name, []).append(
                    score_query(document_ranking(hits), dataset.qrels[qid])["ndcg@10"])
    return {name: statistics.median(values) if name.endswith("_ms") else statistics.fmean(values)
            for name, values in scores.items()}


def with_fitted_params(kb: KnowledgeBase, dataset: BeirSet, spec: str,
                       args: argparse.Namespace) -> dict[str, Any]:
    """The head's scores again after ``lore train params`` on the training pairs (kept only
    when better on training queries held out of the fit); the cached knowledge base gets its
    defaults back afterwards, so later runs start from the same place."""
    fit = fit_tuning(kb, beir_pairs(DATA / args.set, args.split))
    try:
        return {"fitted": fit.fitted.describe(), "kept": fit.kept,
                "held_out": fit.held_out, "scores": head_scores(kb, dataset, spec)}
    finally:
        kb.tune(Tuning(), save=True)


def train(kb: KnowledgeBase, args: argparse.Namespace, training: Training,
          pairs: PairSet | None) -> TrainedModel:
    """Train on ``pairs``, else on the set's ``--split`` judgments or ``--synthetic``
    questions."""
    with StageProgress() as progress:
        if pairs is None and args.synthetic:
            pairs, _ = synthetic_pairs(kb, args.synthetic, listener=progress)
        elif pairs is None:
            pairs = beir_pairs(DATA / args.set, args.split)
        if args.kind == "retriever":
            return kb.train_retriever(pairs, training, progress)
        if args.kind == "head":
            return kb.train_head(pairs, args.head, training, progress)
        return kb.train_reranker(pairs, training, listener=progress)


def qa_split_sets(folder: Path, cache: Path, questions: int
                  ) -> tuple[PairSet, BeirSet, BeirSet]:
    """A QA set split by ``lore.train.qa_split``: (question, gold document) pairs for
    ``questions`` of the training side drawn with seed 0 (0: all), a corpus of the training
    side's documents alone (written under ``cache``), and the test side's questions over the
    whole corpus."""
    _, split = qa_examples(folder)
    drawn = list(split.train) if not questions else \
        random.Random(0).sample(list(split.train), min(questions, len(split.train)))
    whole = load_beir(folder, "test")
    side = cache / f"{whole.name}-training-side"
    side.mkdir(parents=True, exist_ok=True)
    kept = [line for line in whole.corpus.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line)["_id"] not in split.test_documents]
    text = "\n".join(kept) + "\n"
    corpus = side / "corpus.jsonl"
    if not corpus.is_file() or corpus.read_text(encoding="utf-8") != text:
        corpus.write_text(text, encoding="utf-8")
    documents = read_corpus(whole.corpus, {d for e in drawn for d in e.documents})
    pairs = pairs_from_judgments({e.id: e.question for e in drawn},
                                 {e.id: e.documents for e in drawn}, documents,
                                 f"{whole.name} qa.jsonl, training side ({split.describe()})")
    training_side = BeirSet(side.name, side, "train", {}, {})
    test_ids = [e.id for e in split.test if e.id in whole.qrels]
    test = BeirSet(whole.name, whole.directory, "test",
                   {q: whole.queries[q] for q in test_ids}, {q: whole.qrels[q] for q in test_ids})
    return pairs, training_side, test


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["retriever", "reranker", "head"])
    parser.add_argument("--head", default="interactive", choices=["biattention", "interactive"])
    parser.add_argument("--set", default="scifact")
    parser.add_argument("--split", default="train")
    parser.add_argument("--synthetic", type=int, default=0,
                        help="train on questions written for this many chunks, not on --split")
    parser.add_argument("--loss", help="mnrl, triplet or contrastive; bce or listwise")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--negatives", type=int, default=None, help="mined a pair (0: none)")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--over", help="with a reranker, rerank the hits of the corpus indexed "
                        "with this embedder (a trained retriever's model folder); with a head, "
                        "train and score it over that corpus's vectors")
    parser.add_argument("--fit-params", action="store_true",
                        help="with a head: score again after fitting BM25 and fusion to the "
                        "training pairs (lore train params)")
    parser.add_argument("--model", help="score this model of the catalog (reranker-3), "
                        "trained before, instead of training one")
    parser.add_argument("--max-length", default="",
                        help="with a reranker: pair lengths to score at, comma-separated "
                        "(256,128); default the model's own")
    parser.add_argument("--qa-split", action="store_true",
                        help="a retriever for a QA set: train on the training side of "
                        "lore.train.qa_split, score on its test side")
    parser.add_argument("--questions", type=int, default=0,
                        help="with --qa-split: train on this many training-side questions, "
                        "drawn with seed 0 (default all)")
    args = parser.parse_args()
    if args.qa_split and (args.kind != "retriever" or args.synthetic or args.model):
        parser.error("--qa-split trains a retriever from the set's own questions")
    lengths: list[int | None] = [int(n) for n in args.max_length.split(",") if n] or [None]
    defaults = {"retriever": Training(), "reranker": RERANKER_TRAINING,
                "head": HEAD_TRAINING}[args.kind]
    settings = replace(defaults.settings, epochs=args.epochs or defaults.settings.epochs,
                       loss=args.loss or defaults.settings.loss,
                       batch_size=args.batch_size or defaults.settings.batch_size,
                       learning_rate=args.lr or defaults.settings.learning_rate)
    count = (defaults.mining or Mining()).count if args.negatives is None else args.negatives
    training = Training(settings, Mining(count=count) if count else None, held_out=0.0)
    config = LoreConfig.from_env(os.environ)
    cache = default_cache_dir(os.environ) / "eval"
    pairs, training_side = None, None
    if args.qa_split:
        pairs, training_side, dataset = qa_split_sets(DATA / args.set, cache, args.questions)
    else:
        dataset = load_beir(DATA / args.set, "test")
    scores: dict[str, Any] = {}
    with open_indexed(training_side or dataset, cache, config,
                      args.over if args.kind == "head" else None) as kb:
        started = time.perf_counter()
        model = train(kb, args, training, pairs) if args.model is None else \
            next(m for m in kb.models() if m.name == args.model)
        seconds = time.perf_counter() - started if args.model is None else model.seconds
        if args.kind == "retriever":
            scores = {"base": retriever_scores(dataset, config, None),
                      "trained": retriever_scores(dataset, config, str(model.model_dir))}
        elif args.kind == "head":
            scores = {**head_scores(kb, dataset, model.spec)}
            if args.fit_params:
                scores["params"] = with_fitted_params(kb, dataset, model.spec, args)
        elif args.over is None:
            scores = reranker_scores(kb, dataset, model.model_dir, lengths)
    if args.kind == "reranker" and args.over is not None:
        with open_indexed(dataset, cache, config, args.over) as over_kb:
            scores = reranker_scores(over_kb, dataset, model.model_dir, lengths)
    over = f"-over-{Path(args.over).parent.name}" if args.over else ""
    kind = f"head-{args.head}" if args.kind == "head" else args.kind
    drawn = f"{args.questions}-" if args.questions else ""
    data = f"synthetic{args.synthetic}-" if args.synthetic else \
        f"qa-split-{drawn}" if args.qa_split else "" if args.split == "train" else f"{args.split}-"
    embedder = "" if config.embed.model == LoreConfig().embed.model else f"-{config.embed.model}"
    name = f"{args.set}-{data}{kind}{embedder}-{settings.loss}-e{settings.epochs}-n{count}-" \
           f"lr{settings.learning_rate:g}{over}"
    result = {"model": model.name, "embedder": config.embed.model,
              "test_queries": len(dataset.queries), "pairs": model.data.pairs,
              "digest": model.data.digest,
              "settings": model.settings, "train_seconds": round(seconds, 1),
              "losses": model.losses, "scores": scores}
    Console().print({k: result[k] for k in ("model", "pairs", "train_seconds", "scores")})
    runs = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else {}
    runs[name] = result
    RESULTS.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
