"""Questions about a whole collection, answerable without a judge: LazyGraphRAG (``global``,
``local``) against vector RAG on knowledge bases made of known groups.

    python benchmarks/global_questions.py                       # SQuAD articles 1-10
    python benchmarks/global_questions.py --first 10            # articles 11-20: confirm
    python benchmarks/global_questions.py --methods vector,global --budget 200

Each knowledge base holds the paragraphs of ``--articles`` SQuAD dev articles (one document
per paragraph, with its article's title, as the BEIR file gives it). Two kinds of question:

- **themes**: three wordings of "what are the main themes of these documents?", scored by
  the share of the articles the answer names (an article is named when the answer holds its
  title, or every content word of it) and the share its cited sources come from;
- **about**: "what does the collection say about <article>?" for ``--about`` of the articles,
  scored by how many of that article's paragraphs the answer cites, and the share of its
  citations that are of that article.

Methods: ``vector`` is one search and one answer (``single``) over ``--k`` sources with the
``overview`` template and its answer length, so that it may name as many topics as its
sources hold, and without lore's relevance gate (which refuses "what are the main themes?":
no passage is similar enough to it); ``global`` and
``local`` are LazyGraphRAG at ``--budget`` relevance tests, judged by embedding similarity;
``global-nomap`` is ``global`` without the claims step, ``global-map2`` with two claims calls;
``global-llm`` and ``local-llm`` judge relevance by the local model's yes/no odds instead,
``global-cross`` by a trained cross-encoder (``--cross-encoder FOLDER``;
``relevance_reranker.py`` trains one on articles these questions never ask about).
Only questions and documents are read; no answer key exists beyond the article each
paragraph belongs to. Prints a table; writes
``results/global_questions.json`` (one entry per range of articles and budget, each method's
latest run kept) with every answer.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

from common import machine
from rich.console import Console
from rich.table import Table

import lore
from lore.config import LoreConfig, QueryConfig, StrategyName
from lore.models.files import default_cache_dir
from lore.text.analyze import analyze
from lore.types import Answer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad-v1.1-dev"
RESULTS = Path(__file__).resolve().parent / "results"
THEMES = ("What are the main themes of these documents?",
          "What topics does this collection cover?",
          "Give an overview of the subjects these documents discuss.")
ABOUT = "What does the collection say about {title}?"
METHODS: dict[str, tuple[StrategyName, dict[str, object]]] = {
    "vector": ("single", {}),
    "global": ("global", {}),
    "global-nomap": ("global", {"claim_calls": 0}),
    "global-map2": ("global", {"claim_calls": 2}),
    "local": ("local", {}),
    "global-llm": ("global", {"relevance_test": "llm"}),
    "local-llm": ("local", {"relevance_test": "llm"}),
    "global-cross": ("global", {"relevance_test": "cross-encoder"}),
}
"""``global-cross`` judges relevance by the cross-encoder ``--cross-encoder`` names."""


def articles(first: int, count: int) -> dict[str, list[dict[str, str]]]:
    """Paragraph records by article title, for articles ``first`` .. ``first + count - 1``."""
    grouped: dict[str, list[dict[str, str]]] = {}
    with open(DATA / "corpus.jsonl") as handle:
        for line in handle:
            record = json.loads(line)
            grouped.setdefault(record["title"], []).append(record)
    titles = list(grouped)[first:first + count]
    return {title: grouped[title] for title in titles}


def knowledge_base(groups: dict[str, list[dict[str, str]]], first: int) -> Path:
    """A knowledge base of these articles' paragraphs, built once under the cache."""
    folder = default_cache_dir(os.environ) / "bench" / f"global-squad-{first}-{len(groups)}"
    corpus = folder / "corpus.jsonl"
    if not corpus.exists():
        folder.mkdir(parents=True, exist_ok=True)
        corpus.write_text("".join(json.dumps(record) + "\n" for records in groups.values()
                                  for record in records))
    with lore.open(folder / "kb") as kb:
        kb.index([corpus])
    return folder / "kb"


def named(answer: str, title: str) -> bool:
    """The answer names the article: its title, or every content word of it."""
    if title.lower() in answer.lower():
        return True
    words = set(analyze(title))
    return bool(words) and words <= set(analyze(answer))


CROSS_ENCODER: list[str] = []
"""The folder ``--cross-encoder`` names, once parsed."""


def ask(kb: lore.KnowledgeBase, question: str, method: str, budget: int, k: int
        ) -> tuple[Answer, float]:
    strategy, changes = METHODS[method]
    if changes.get("relevance_test") == "cross-encoder":
        changes = {"relevance_test": f"cross-encoder:{CROSS_ENCODER[0]}"}
    planning = dataclasses.replace(QueryConfig(), relevance_budget=budget,
                                   **changes)  # type: ignore[arg-type]
    settings = kb.config.generate
    if method == "vector":  # it answers, as vector RAG does, where lore's gate would refuse
        settings = dataclasses.replace(settings, template="overview", min_relevance=-1.0,
                                       answer_tokens=384)
    started = time.perf_counter()
    answer = kb.ask(question, strategy=strategy, planning=planning, k=k, settings=settings)
    return answer, time.perf_counter() - started


def cited(answer: Answer) -> list[str]:
    """The documents the answer cites, each once."""
    return list(dict.fromkeys(source.passage.hit.doc_key for source in answer.cited_sources))


def record(answer: Answer, seconds: float) -> dict[str, object]:
    return {"answer": answer.text, "seconds": seconds, "calls": answer.model_calls,
            "tokens": answer.model_tokens, "cited": cited(answer),
            "steps": [f"{step.kind}: {step.text[:300]}" for step in answer.steps]}


def run(first: int, count: int, about: int, methods: list[str], budget: int, k: int
        ) -> dict[str, object]:
    groups = articles(first, count)
    group_of = {record["_id"]: title for title, records in groups.items()
                for record in records}
    path = knowledge_base(groups, first)
    rows: dict[str, dict[str, object]] = {}
    with lore.open(path) as kb:
        for method in methods:
            themes, abouts = [], []
            for question in THEMES:
                answer, seconds = ask(kb, question, method, budget, k)
                groups_cited = {group_of.get(doc) for doc in cited(answer)} - {None}
                themes.append({"question": question, **record(answer, seconds),
                               "named": sum(named(answer.text, t) for t in groups) / count,
                               "cited_groups": len(groups_cited) / count})
                print(f"{method} themes {seconds:.0f}s named {themes[-1]['named']:.2f}",
                      file=sys.stderr)
            for title in list(groups)[:about]:
                answer, seconds = ask(kb, ABOUT.format(title=title), method, budget, k)
                docs = cited(answer)
                relevant = [doc for doc in docs if group_of.get(doc) == title]
                abouts.append({"question": ABOUT.format(title=title), **record(answer, seconds),
                               "relevant_cited": len(relevant),
                               "precision": len(relevant) / len(docs) if docs else 0.0})
                print(f"{method} about {seconds:.0f}s relevant {len(relevant)}",
                      file=sys.stderr)
            rows[method] = {"themes": themes, "about": abouts, **summary(themes, abouts)}
    return {"articles": list(groups), "paragraphs": len(group_of), "budget": budget, "k": k,
            "methods": rows}


def summary(themes: list[dict[str, object]], abouts: list[dict[str, object]]
            ) -> dict[str, float]:
    def mean(rows: list[dict[str, object]], key: str) -> float:
        return statistics.fmean(float(row[key]) for row in rows) if rows else 0.0  # type: ignore[arg-type]

    def median(rows: list[dict[str, object]], key: str) -> float:
        return statistics.median(float(row[key]) for row in rows) if rows else 0.0  # type: ignore[arg-type]

    return {"themes_named": mean(themes, "named"), "themes_cited": mean(themes, "cited_groups"),
            "themes_seconds": median(themes, "seconds"),
            "about_relevant_cited": mean(abouts, "relevant_cited"),
            "about_precision": mean(abouts, "precision"),
            "about_seconds": median(abouts, "seconds")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first", type=int, default=0, help="skip this many articles")
    parser.add_argument("--articles", type=int, default=10)
    parser.add_argument("--about", type=int, default=4)
    parser.add_argument("--methods", default="vector,global,global-nomap,local")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("-k", type=int, default=10, help="sources vector RAG reads")
    parser.add_argument("--cross-encoder", help="the trained cross-encoder global-cross tests "
                                                 "relevance with: its folder")
    args = parser.parse_args()
    if args.cross_encoder:
        CROSS_ENCODER.append(str(Path(args.cross_encoder).resolve()))
    elif "global-cross" in args.methods.split(","):
        parser.error("global-cross needs --cross-encoder FOLDER")
    LoreConfig.from_env(os.environ)  # fail early on a bad setting
    result = run(args.first, args.articles, args.about, args.methods.split(","), args.budget,
                 args.k)
    table = Table("method", "themes: named", "cited", "median s", "about: relevant cited",
                  "precision", "median s",
                  title=f"SQuAD articles {args.first + 1}-{args.first + args.articles}, "
                        f"budget {args.budget}")
    for method, row in result["methods"].items():  # type: ignore[attr-defined]
        table.add_row(method, f"{row['themes_named']:.2f}", f"{row['themes_cited']:.2f}",
                      f"{row['themes_seconds']:.0f}", f"{row['about_relevant_cited']:.1f}",
                      f"{row['about_precision']:.2f}", f"{row['about_seconds']:.0f}")
    Console().print(table)
    path = RESULTS / "global_questions.json"
    kept = json.loads(path.read_text())["runs"] if path.exists() else {}
    key = f"squad:{args.first}:{args.articles}:{args.budget}"
    methods = {**kept.get(key, {}).get("methods", {}), **result["methods"]}  # type: ignore[dict-item]
    kept[key] = {**result, "methods": methods}
    path.write_text(json.dumps({"machine": machine(), "runs": kept}, indent=2,
                               ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
