"""A cross-encoder for LazyGraphRAG's relevance test, trained on SQuAD articles that the global
questions never ask about.

    python benchmarks/relevance_reranker.py                 # articles 31-48, 1,000 questions
    python benchmarks/global_questions.py --methods global,global-cross \\
        --cross-encoder PRINTED_FOLDER

``global_questions.py`` asks about articles 1-30; this trains on two questions per paragraph
of the articles after them (``--first 30``), in a knowledge base of those articles alone, so
no question or paragraph of a tested article is read in training. ``lore train reranker``
holds out a fifth of the questions, measures the ranking before and after on them, and fits
the score above which a passage counts as relevant (``lore.train.held_out.fit_threshold``),
which the relevance test then uses. Prints the model's folder and its held-out numbers;
writes ``results/relevance_reranker.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from common import machine
from global_questions import DATA, articles, knowledge_base

import lore
from lore.learning import RERANKER_TRAINING
from lore.train.pairs import Pair, PairSet

RESULTS = Path(__file__).resolve().parent / "results"


def pairs(first: int, count: int, limit: int, per_paragraph: int) -> PairSet:
    """Up to ``per_paragraph`` questions of each paragraph of articles ``first`` ..
    ``first + count - 1``: every paragraph's first question, then every second one, up to
    ``limit`` in all."""
    paragraphs = {record["_id"]: record["text"]
                  for records in articles(first, count).values() for record in records}
    questions = {}
    with open(DATA / "queries.jsonl") as handle:
        for line in handle:
            record = json.loads(line)
            questions[record["_id"]] = record["text"]
    asked: dict[str, list[Pair]] = {}
    with open(DATA / "qrels" / "test.tsv") as handle:
        next(handle)
        for line in handle:
            query, paragraph, _ = line.rstrip("\n").split("\t")
            if paragraph in paragraphs:
                asked.setdefault(paragraph, []).append(
                    Pair(questions[query], paragraphs[paragraph], source=f"{query}:{paragraph}"))
    kept = [found[turn] for turn in range(per_paragraph) for found in asked.values()
            if turn < len(found)][:limit]
    return PairSet(tuple(kept), f"squad-v1.1-dev articles {first + 1}-{first + count}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first", type=int, default=30, help="skip this many articles")
    parser.add_argument("--articles", type=int, default=18)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--per-paragraph", type=int, default=2)
    parser.add_argument("--loss", default="listwise", choices=("listwise", "bce"))
    parser.add_argument("--held-out", type=float, default=0.2)
    args = parser.parse_args()
    training = dataclasses.replace(
        RERANKER_TRAINING, held_out=args.held_out,
        settings=dataclasses.replace(RERANKER_TRAINING.settings, loss=args.loss))
    folder = knowledge_base(articles(args.first, args.articles), args.first)
    chosen = pairs(args.first, args.articles, args.pairs, args.per_paragraph)
    with lore.open(folder) as kb:
        model = kb.train_reranker(chosen, training)
    print(f"trained {model.spec} on {model.data.pairs} pairs in {model.seconds:.0f} s")
    for name, values in model.metrics.items():
        print(f"  {name}: " + ", ".join(f"{key} {value:g}" for key, value in values.items()))
    print(f"folder: {model.model_dir}")
    path = RESULTS / "relevance_reranker.json"
    kept = json.loads(path.read_text())["runs"] if path.exists() else {}
    kept[f"squad:{args.first}:{args.articles}:{args.pairs}:{args.per_paragraph}:{args.loss}"] = {
        "model": model.to_json()}
    path.write_text(json.dumps({"machine": machine(), "runs": kept}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
