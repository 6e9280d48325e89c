"""Evaluation reports as files: a markdown table, the same numbers as JSON, and a picture of
quality against latency (one point per retrieval mode)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from lore.errors import MissingDependency
from lore.eval.retrieval import METRICS, RetrievalReport


def markdown_table(reports: Sequence[RetrievalReport]) -> str:
    """One row per report: set, mode, embedder, queries, every metric, median and p90 ms."""
    names = list(METRICS)
    header = ["set", "mode", "embedder", "queries", *names, "median ms", "p90 ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in reports:
        cells = [r.dataset, r.mode, r.embedder, str(r.queries),
                 *(f"{r.metrics[n]:.4f}" for n in names),
                 f"{r.latency_ms['median']:.2f}", f"{r.latency_ms['p90']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_comparison(reports: Sequence[RetrievalReport], out: Path) -> list[Path]:
    """``retrieval.md``, ``retrieval.json`` and ``recall_latency.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    table = out / "retrieval.md"
    table.write_text(markdown_table(reports), encoding="utf-8")
    data = out / "retrieval.json"
    data.write_text(json.dumps([dataclasses.asdict(r) for r in reports], indent=2,
                               ensure_ascii=False) + "\n", encoding="utf-8")
    picture = out / "recall_latency.png"
    plot_recall_latency(reports, picture)
    return [table, data, picture]


def plot_recall_latency(reports: Sequence[RetrievalReport], path: Path) -> None:
    """Recall@10 and nDCG@10 against median latency, one labelled point per report."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependency(f"the recall/latency picture ({path.name}) needs matplotlib: "
                                "pip install 'lore[plots]'") from None
    matplotlib.use("Agg")  # files only; never a window
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    for metric, marker in (("recall@10", "o"), ("ndcg@10", "s")):
        xs = [r.latency_ms["median"] for r in reports]
        ys = [r.metrics[metric] for r in reports]
        axes.scatter(xs, ys, marker=marker, label=metric)
        for r, x, y in zip(reports, xs, ys, strict=True):
            axes.annotate(f"{r.dataset} {r.mode}", (x, y), textcoords="offset points",
                          xytext=(4, 4), fontsize=7)
    axes.set_xlabel("median latency per query (ms, query embedding included)")
    axes.set_ylabel("score")
    axes.set_title("retrieval quality against latency")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
