"""How to fuse lexical and dense rankings: every strategy on the five shared sets.

For each set, lore's own lexical and dense candidate lists (100 chunks each, as ``hybrid``
fuses them) are collected once per query and cached; every fusion strategy is then scored on
the same lists, so the comparison isolates fusion. nDCG@10 over documents (max passage).

    python benchmarks/fusion.py                 # all five sets; writes results/fusion.json
    python benchmarks/fusion.py --sets scifact  # one set
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import machine
from rich.console import Console
from rich.table import Table

from lore.config import LoreConfig
from lore.embed.choose import ENGLISH
from lore.eval.beir import load_beir
from lore.eval.metrics import ndcg_at_k
from lore.eval.retrieval import corpus_key, open_indexed
from lore.models.files import default_cache_dir
from lore.retrieve.fuse import fuse_adaptive, fuse_rrf, fuse_weighted, fuse_zscore
from lore.retrieve.protocol import RankedList
from lore.text.script import mostly_non_latin

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"scifact": "scifact", "cosqa": "cosqa", "cmrc2018": "cmrc2018-dev",
        "hotpotqa": "hotpotqa-dev-distractor-500", "squad": "squad-v1.1-dev"}
CACHE = Path(__file__).resolve().parent / ".cache" / "fusion"
RESULTS = Path(__file__).resolve().parent / "results" / "fusion.json"

Ranking = list[tuple[int, float]]
Candidates = dict[str, object]


@dataclass(frozen=True)
class Signals:
    """What adaptive fusion knows of a query: can the embedder read it, how much is code."""

    dense_reads: bool
    code_share: float


Strategy = Callable[[Ranking, Ranking, Signals], Ranking]


def adaptive(lexical: Ranking, dense: Ranking, signals: Signals) -> Ranking:
    lists = [RankedList("lexical", lexical), RankedList("dense", dense)]
    return fuse_adaptive(lists, [True, signals.dense_reads], signals.code_share)

STRATEGIES: dict[str, Strategy] = {
    "lexical": lambda lex, dense, s: lex,
    "dense": lambda lex, dense, s: dense,
    "rrf (k=60)": lambda lex, dense, s: fuse_rrf([lex, dense], k=60),
    "min-max 0.5/0.5": lambda lex, dense, s: fuse_weighted([lex, dense], [0.5, 0.5]),
    "min-max 0.3/0.7": lambda lex, dense, s: fuse_weighted([lex, dense], [0.3, 0.7]),
    "min-max 0.7/0.3": lambda lex, dense, s: fuse_weighted([lex, dense], [0.7, 0.3]),
    "z-score 0.5/0.5": lambda lex, dense, s: fuse_zscore([lex, dense], [0.5, 0.5]),
    "adaptive (default)": adaptive,
}


def collect(folder: str, config: LoreConfig, limit: int | None) -> list[Candidates]:
    """Per judged query: its id, text, both candidate lists and the documents of their keys."""
    dataset = load_beir(DATA / folder, "test", limit)
    cache_root = default_cache_dir(os.environ) / "eval"
    part = f"-first{limit}" if limit else ""
    path = CACHE / f"{corpus_key(dataset, config.embed.model, config)}{part}.json.gz"
    if path.exists():
        return list(json.loads(gzip.decompress(path.read_bytes())))
    rows: list[Candidates] = []
    with open_indexed(dataset, cache_root, config) as kb:
        embedder = kb.status().embedder
        for qid, text in dataset.queries.items():
            lists = {}
            for mode in ("lexical", "dense"):
                hits = kb.search(text, k=100, mode=mode)
                lists[mode] = [(h.chunk.id, h.doc_key, h.score, h.chunk.kind) for h in hits]
            rows.append({"id": qid, "text": text, "embedder": embedder, **lists})
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps(rows).encode()))
    return rows


def score(rows: list[Candidates], qrels: dict[str, dict[str, int]],
          strategy: Strategy) -> float:
    run: dict[str, list[str]] = {}
    for row in rows:
        keys: dict[str, int] = {}
        docs: dict[int, str] = {}
        kinds: list[str] = []
        lists: list[Ranking] = []
        for mode in ("lexical", "dense"):
            ranking = []
            for chunk, doc, value, kind in row[mode]:  # type: ignore[attr-defined]
                key = keys.setdefault(chunk, len(keys))
                docs[key] = doc
                kinds.append(kind)
                ranking.append((key, float(value)))
            lists.append(ranking)
        text, english_only = str(row["text"]), row["embedder"] == ENGLISH
        code = sum(1 for kind in kinds if kind == "code") / len(kinds) if kinds else 0.0
        signals = Signals(not (english_only and mostly_non_latin(text)), code)
        fused = strategy(lists[0], lists[1], signals)
        run[str(row["id"])] = list(dict.fromkeys(docs[key] for key, _ in fused))
    return ndcg_at_k(run, {q: qrels[q] for q in run}, 10).mean


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    parser.add_argument("--limit", type=int, help="only the first N judged queries of each set")
    args = parser.parse_args()
    config = LoreConfig.from_env(os.environ)
    results: dict[str, dict[str, float]] = {}
    for name in args.sets.split(","):
        folder = SETS[name]
        rows = collect(folder, config, args.limit)
        qrels = load_beir(DATA / folder, "test").qrels
        results[name] = {label: score(rows, qrels, s) for label, s in STRATEGIES.items()}
        results[name]["embedder"] = rows[0]["embedder"] if rows else ""  # type: ignore[assignment]
    table = Table(title="nDCG@10 by fusion strategy (same candidate lists)")
    table.add_column("strategy")
    for name in results:
        table.add_column(f"{name} ({results[name]['embedder']})", justify="right")
    for label in STRATEGIES:
        table.add_row(label, *(f"{results[n][label]:.4f}" for n in results))
    Console().print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    # Runs of some sets update their entries and keep the others.
    kept = json.loads(RESULTS.read_text()).get("ndcg@10", {}) if RESULTS.exists() else {}
    kept.update({f"{name}{f' (first {args.limit})' if args.limit else ''}": value
                 for name, value in results.items()})
    RESULTS.write_text(json.dumps({"machine": machine(), "ndcg@10": kept}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
