"""Fine-tuning the dense retriever on a set's training judgments, scored on its test split.

    python benchmarks/train_retriever.py                        # SciFact train, MNRL, 1 epoch
    python benchmarks/train_retriever.py --loss triplet --mine 1 --epochs 2

Pairs come from ``qrels/train.tsv`` (query text and the judged document's title and text;
never a query's metadata); ``--mine N`` adds N hard negatives per pair from lore's hybrid
search over the base model's cached knowledge base. The model trained from the shipped
MiniLM is saved under ``.cache/trained/``, the test corpus is indexed with it, and dense and
hybrid nDCG@10 on the test queries (which training never saw) are printed beside the base
model's. Writes ``results/train_retriever.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from common import machine
from rich.console import Console
from rich.progress import Progress

from lore.config import LoreConfig
from lore.embed.registry import create_minilm
from lore.eval.beir import load_beir
from lore.eval.retrieval import EvalSettings, evaluate, open_indexed
from lore.models.files import default_cache_dir
from lore.train.negatives import Mining, mine_negatives
from lore.train.pairs import PairSet, pairs_from_judgments
from lore.train.settings import TrainSettings
from lore.train.trainer import train_bi_encoder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRAINED = Path(__file__).resolve().parent / ".cache" / "trained"
RESULTS = Path(__file__).resolve().parent / "results" / "train_retriever.json"


def corpus_texts(folder: Path) -> dict[str, str]:
    texts = {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts[str(record["_id"])] = f"{record.get('title', '')}\n\n{record['text']}".strip()
    return texts


def training_pairs(folder: Path, split: str) -> PairSet:
    train = load_beir(folder, split)
    return pairs_from_judgments(train.queries, {q: list(d) for q, d in train.qrels.items()},
                                corpus_texts(folder), f"{folder.name} qrels/{split}.tsv")


def mined(pairs: PairSet, folder: Path, count: int) -> PairSet:
    """Hard negatives from hybrid search in the base model's knowledge base of the corpus."""
    config = LoreConfig.from_env(os.environ)
    texts = corpus_texts(folder)
    base = create_minilm()
    with open_indexed(load_beir(folder, "test"), default_cache_dir(os.environ) / "eval",
                      config) as kb:
        def candidates(query: str, n: int) -> list[str]:
            hits = kb.search(query, k=n, mode="hybrid")
            return list(dict.fromkeys(texts[h.doc_key] for h in hits if h.doc_key in texts))

        vectors: dict[str, np.ndarray] = {}  # each passage is embedded once

        def similarity(query: str, passages: list[str]) -> list[float]:
            fresh = [p for p in dict.fromkeys(passages) if p not in vectors]
            if fresh:
                vectors.update(zip(fresh, base.embed_documents(fresh), strict=True))
            return (np.stack([vectors[p] for p in passages]) @ base.embed_query(query)).tolist()

        report = mine_negatives(pairs.pairs, candidates, similarity, Mining(count=count))
    Console().print(f"mined {report.mined} negatives; {report.too_close} skipped as likely "
                    f"positives; {report.without} pairs without one")
    return PairSet(report.pairs, pairs.origin, pairs.skipped)


def scores(folder: Path, model: str | None) -> dict[str, float]:
    config = LoreConfig.from_env(os.environ)
    dataset = load_beir(folder, "test")
    with open_indexed(dataset, default_cache_dir(os.environ) / "eval", config, model) as kb:
        return {mode: evaluate(kb, dataset, EvalSettings(mode))[0].metrics["ndcg@10"]
                for mode in ("dense", "hybrid")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="scifact")
    parser.add_argument("--split", default="train")
    parser.add_argument("--loss", default="mnrl", choices=["mnrl", "triplet", "contrastive"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--mine", type=int, default=0, help="hard negatives per pair")
    parser.add_argument("--lr", type=float, default=2e-5, help="peak learning rate")
    args = parser.parse_args()
    folder = DATA / args.set
    pairs = training_pairs(folder, args.split)
    if args.mine:
        pairs = mined(pairs, folder, args.mine)
    settings = TrainSettings(loss=args.loss, epochs=args.epochs, batch_size=args.batch_size,
                             learning_rate=args.lr)
    name = f"{args.set}-{args.loss}-e{args.epochs}-m{args.mine}-lr{args.lr:g}"
    out = TRAINED / name
    started = time.perf_counter()
    with Progress() as bar:
        task = bar.add_task(f"training on {len(pairs.pairs)} pairs", total=None)
        report = train_bi_encoder(create_minilm().model_dir,
                                  pairs.pairs, settings, out,
                                  lambda step, steps, loss: bar.update(
                                      task, completed=step, total=steps,
                                      description=f"loss {loss:.3f}"))
    seconds = time.perf_counter() - started
    result = {"pairs": len(pairs.pairs), "digest": pairs.digest, "settings": vars(settings),
              "train_seconds": seconds, "losses": report.losses,
              "base": scores(folder, None), "trained": scores(folder, str(out))}
    Console().print({k: result[k] for k in ("pairs", "train_seconds", "base", "trained")})
    runs = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else {}
    runs[name] = result
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
