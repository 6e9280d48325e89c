"""Shared pieces of the benchmarks: BEIR loading, hit aggregation, machine description."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from lore.eval.retrieval import QueryTrace
from lore.types import Hit


def load_beir(data: Path, split: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Queries that have judgments in ``split``, and those judgments. Metadata is never read."""
    qrels: dict[str, dict[str, int]] = {}
    lines = (data / "qrels" / f"{split}.tsv").read_text().splitlines()
    for line in lines[1:]:
        parts = line.strip().split("\t")
        if len(parts) == 3 and int(parts[2]) > 0:
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = {}
    with open(data / "queries.jsonl") as handle:
        for line in handle:
            record = json.loads(line)
            if record["_id"] in qrels:
                queries[record["_id"]] = record["text"]
    return queries, qrels


def doc_ranking(hits: list[Hit]) -> list[str]:
    """Documents in the order of their best chunk (max-passage aggregation)."""
    return list(dict.fromkeys(hit.doc_key or hit.path for hit in hits))


def all_relevant_share(traces: list[QueryTrace], qrels: dict[str, dict[str, int]]
                       ) -> float | None:
    """Of the queries with several relevant documents (HotpotQA's two gold paragraphs), the
    share with all of them in the top 10; None when no query has several."""
    several = [t for t in traces if len(qrels[t.id]) > 1]
    return sum(t.metrics["recall@10"] == 1.0 for t in several) / len(several) if several \
        else None


def machine() -> dict[str, object]:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in flags.splitlines()
                  if line.startswith("model name")), platform.processor())
    versions = {}
    for package in ("torch", "transformers", "numpy", "usearch", "tree-sitter-language-pack"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"cpu": model, "cpus": os.cpu_count(), "python": platform.python_version(),
            "bf16": "avx512_bf16" in flags or "amx_bf16" in flags, "versions": versions,
            "commit": commit}
