"""The trained router on questions it never saw: fit on some traces, scored on others.

    python benchmarks/qa.py --runs hotpotqa:101-200:stuff:likelihood-first
    python benchmarks/qa.py --runs hotpotqa:101-200:stuff:iterative
    python benchmarks/router_unseen.py \\
        --train hotpotqa-100-stuff-likelihood-first squad-500-stuff-likelihood-first \\
        --train hotpotqa-100-stuff-iterative squad-500-stuff-auto \\
        --test hotpotqa-101-200-stuff-likelihood-first hotpotqa-101-200-stuff-iterative

Trace names are files of ``results/qa-traces/``; a file that mixes strategies (an ``auto``
run) gives each record to the strategy that answered it. Each question answered by every
strategy is labelled with the one that scored the best F1 (``lore.query.classifier``); the
router is fitted on every training question some strategy answered
(``lore.routing.fit_router``, as ``lore train router`` fits it), and scored on the test
questions: how often it picks the best strategy, and the F1 the test questions would have
scored had each gone where it sends it, beside the rules, always one strategy, and the best
choice per question. Prints a table; writes ``results/router_unseen.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import machine
from rich.console import Console
from rich.table import Table

from lore.config import EmbedConfig
from lore.embed.registry import create_embedder
from lore.query.classifier import Labelled, labels_from_traces
from lore.query.router import route
from lore.routing import fit_router, label_accuracy, routed_f1

RESULTS = Path(__file__).resolve().parent / "results"
TRACES = RESULTS / "qa-traces"


def runs(names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Trace records by the strategy that answered them."""
    by_strategy: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        for line in (TRACES / f"{name}.jsonl").read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                by_strategy.setdefault(str(record.get("strategy", "single")), []).append(record)
    return by_strategy


def always(strategy: str) -> Callable[[Labelled], str]:
    return lambda item: strategy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", nargs="+", action="append", required=True)
    parser.add_argument("--test", nargs="+", required=True)
    args = parser.parse_args()
    train = labels_from_traces(runs([name for group in args.train for name in group]))
    test = labels_from_traces(runs(args.test))
    seen = {item.id for item in train}
    test = [item for item in test if item.id not in seen]
    strategies = sorted({item.strategy for item in train})
    embed = create_embedder(EmbedConfig(model="minilm")).embed_query
    model, fitted = fit_router(train, strategies, embed)
    trained = {item.id: model.route(item.question, embed(item.question)).strategy
               for item in test}
    choosers: dict[str, Callable[[Labelled], str]] = {
        "rules": lambda item: route(item.question).strategy,
        "trained": lambda item: trained[item.id],
        **{f"always {name}": always(name) for name in strategies},
        "best per question": lambda item: item.strategy,
    }
    rows: dict[str, dict[str, Any]] = {}
    for label, choose in choosers.items():
        sent = [choose(item) for item in test]
        rows[label] = {"f1": routed_f1(sent, test), "label_accuracy": label_accuracy(sent, test),
                       "sent": {name: sent.count(name) for name in strategies}}
    table = Table("router", "label accuracy", "F1 had each question gone there", "sent",
                  title=f"{len(test)} unseen questions; fitted on {len(fitted)}")
    for label, row in rows.items():
        table.add_row(label, f"{row['label_accuracy']:.2f}", f"{100 * row['f1']:.1f}",
                      ", ".join(f"{k} {v}" for k, v in row["sent"].items()))
    Console().print(table)
    path = RESULTS / "router_unseen.json"
    path.write_text(json.dumps({"machine": machine(), "train": args.train, "test": args.test,
                                "fitted": len(fitted), "tested": len(test), "rows": rows},
                               indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
