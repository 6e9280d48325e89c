"""What the model-built knowledge graph (``lore index --graph llm``) costs beside the concept
graph, over the same chunks, and what each finds.

    python benchmarks/knowledge_graph_cost.py --set hotpotqa --docs 60 --model qwen-0.5b
    python benchmarks/knowledge_graph_cost.py --set hotpotqa --docs 30 --model qwen-1.5b
    python benchmarks/knowledge_graph_cost.py --set cmrc2018 --docs 20 --model qwen-0.5b

A fresh knowledge base is built from the first ``--docs`` documents of a shared corpus; the
concept work (each chunk's concepts, then the graph and its communities) is timed over its
store, then the model reads every chunk (and summarises the largest communities). The cost
ratio is model seconds over concept seconds for the same chunks; the whole set's model time
is that sample's seconds per chunk times the set's chunks, an extrapolation.

What each finds is checked without a judge: a Wikipedia paragraph is about its title, so the
share of chunks whose title (without a parenthesised remark) is among the chunk's entities,
or among its concepts, says how often each names the chunk's subject.

Prints a table and merges a row per set and model into ``results/knowledge_graph_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from common import machine
from rich.console import Console
from rich.table import Table

import lore
from lore.config import LoreConfig
from lore.graph.build import build_graph
from lore.graph.knowledge import normalised, parse_extraction
from lore.knowledge.ledger import Ledger
from lore.store.concepts import ConceptIndex
from lore.store.derived import ConceptFeed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"hotpotqa": "hotpotqa-dev-distractor-500", "scifact": "scifact",
        "cmrc2018": "cmrc2018-dev"}
WHOLE_SET_CHUNKS = {"hotpotqa": 5223, "scifact": 10164}
"""Chunks of the whole corpus, from ``graph_index_cost.py``'s runs."""
RESULTS = Path(__file__).resolve().parent / "results"
_REMARK = re.compile(r"\s*\(.*\)\s*$")


def sample(name: str, docs: int, folder: Path) -> Path:
    lines = (DATA / SETS[name] / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    path = folder / "corpus.jsonl"
    path.write_text("\n".join(lines[:docs]) + "\n", encoding="utf-8")
    return path


def run(name: str, docs: int, model: str) -> dict[str, object]:
    config = LoreConfig.from_env(os.environ)
    with tempfile.TemporaryDirectory() as folder, lore.open(Path(folder) / "kb",
                                                            config=config) as kb:
        started = time.perf_counter()
        kb.index([sample(name, docs, Path(folder))])
        index_seconds = time.perf_counter() - started
        index = ConceptIndex()
        started = time.perf_counter()
        ConceptFeed(kb._store).fill(index, None)
        keys, incidence = index.matrix()
        graph = build_graph(keys, incidence, index.names)
        concept_seconds = time.perf_counter() - started
        plan = kb.knowledge_plan(model)
        started = time.perf_counter()
        done = kb.build_knowledge(plan)
        model_seconds = time.perf_counter() - started
        knowledge, summaries = kb.knowledge_graph()
        named = _subjects_named(kb, plan.extractor, index)
    chunks = plan.chunks
    per_chunk = done.extracted.seconds / max(1, done.extracted.calls)
    return {
        "set": name, "model": model, "docs": docs, "chunks": chunks,
        "index_seconds": index_seconds, "concept_seconds": concept_seconds,
        "model_seconds": model_seconds, "extract_seconds": done.extracted.seconds,
        "summary_seconds": done.summarised.seconds, "ratio": model_seconds / concept_seconds,
        "index_ratio": model_seconds / index_seconds, "seconds_per_chunk": per_chunk,
        "whole_set_hours": per_chunk * WHOLE_SET_CHUNKS[name] / 3600
        if name in WHOLE_SET_CHUNKS else None,
        "prompt_tokens": done.extracted.prompt_tokens,
        "written_tokens": done.extracted.written_tokens, "failed": done.failed,
        "summaries": len(summaries), **named,
        "entities_per_chunk": knowledge.facts()["entities"] / max(1, chunks),
        "relations_per_chunk": knowledge.facts()["relations"] / max(1, chunks),
        "lines_dropped": knowledge.dropped, "concept_graph": graph.facts(),
        "knowledge_graph": knowledge.facts()}


def _subjects_named(kb: lore.KnowledgeBase, extractor: str, index: ConceptIndex
                    ) -> dict[str, float]:
    """Share of chunks whose title is among their entities, and among their concepts."""
    chunks = kb._prose_chunks()
    with closing(Ledger(kb.directory / "knowledge.db")) as ledger:
        written = ledger.extracted(extractor, [chunk.id for chunk in chunks])
    by_entities = by_concepts = 0
    for chunk in chunks:
        subject = normalised(_REMARK.sub("", chunk.title))
        entities = parse_extraction(written.get(chunk.id, ""), chunk.text).entities
        by_entities += subject in {normalised(entity.name) for entity in entities}
        concepts = {normalised(index.names[c]) for c in index.concepts_of(chunk.rowid)}
        by_concepts += subject in concepts
    return {"subject_in_entities": by_entities / max(1, len(chunks)),
            "subject_in_concepts": by_concepts / max(1, len(chunks))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="hotpotqa", choices=sorted(SETS))
    parser.add_argument("--docs", type=int, default=60)
    parser.add_argument("--model", default="qwen-0.5b")
    args = parser.parse_args()
    row = run(args.set, args.docs, args.model)
    table = Table("set", "model", "chunks", "index s", "concepts s", "model s", "ratio",
                  "to index", "s/chunk",
                  "whole set h", "entities/chunk", "relations/chunk", "subject: entities",
                  "subject: concepts", title="The knowledge graph against the concept graph")
    whole = row["whole_set_hours"]
    table.add_row(args.set, args.model, f"{row['chunks']:,}", f"{row['index_seconds']:.1f}",
                  f"{row['concept_seconds']:.2f}", f"{row['model_seconds']:.0f}",
                  f"{row['ratio']:,.0f}x", f"{row['index_ratio']:,.0f}x",
                  f"{row['seconds_per_chunk']:.2f}", f"{whole:.1f}" if whole else "-",
                  f"{row['entities_per_chunk']:.1f}", f"{row['relations_per_chunk']:.1f}",
                  f"{row['subject_in_entities']:.2f}", f"{row['subject_in_concepts']:.2f}")
    Console(width=200).print(table)
    path = RESULTS / "knowledge_graph_cost.json"
    kept = json.loads(path.read_text())["runs"] if path.exists() else {}
    kept[f"{args.set}:{args.model}"] = row
    path.write_text(json.dumps({"machine": machine(), "runs": kept}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
