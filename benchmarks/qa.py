"""Answer quality and latency: ``lore eval qa`` runs on the shared QA sets, in one table.

Each run asks a set's questions (a seeded sample) against a knowledge base of its corpus and
scores the answers (``lore.eval.answers``); ``gold`` runs hand the model the gold paragraphs
instead, the reference for what retrieval costs.

    python benchmarks/qa.py --runs squad:500:stuff,squad:500:gold
    python benchmarks/qa.py --runs hotpotqa:100:stuff,hotpotqa:100:rag-token

A run is ``set:questions:mode`` with mode ``stuff``, ``rag-sequence``, ``rag-token``,
``gold`` (stuff over the gold paragraphs) or ``answer5`` (the latency setting: the ``answer``
template people get from ``lore ask``, with 5 sources and up to 256 answer tokens). Runs use
the default answer settings, in which a local model weighs the first three sources by the
question's likelihood after each and reads the likeliest alone unless it holds less than half
of p(source | question). A fourth field changes that, to measure what it is worth:
``no-likelihood`` weighs sources by retrieval alone (cut at ``generate.source_mass``),
``all-sources`` also reads all k, ``likelihood`` cuts at 0.9 instead of 0.5,
``likelihood-first`` sets the weight and the cut explicitly to the defaults, ``score-all``
scores every source, not three, ``no-examples`` drops the prompt's worked examples and
``copy`` answers with the ``extract`` template (a span copied from the sources).

    python benchmarks/qa.py --runs squad:150:stuff,squad:150:stuff:all-sources

A fourth field that names a query strategy (``lore.query``: ``iterative``, ``decompose``,
``auto`` ...) plans each question with it instead:

    python benchmarks/qa.py --runs hotpotqa:100:stuff:iterative,hotpotqa:100:stuff:auto

``LORE_GENERATOR=qwen-1.5b`` answers with another model; its runs are kept apart
(``spec@model``). A range of the sample asks only those questions (those not used to choose
a setting):

    python benchmarks/qa.py --runs hotpotqa:101-200:stuff:iterative

and a fifth field changes planning settings (``query.*``):

    python benchmarks/qa.py --runs hotpotqa:20:stuff:iterative:hop_k=1+hops=2

Results are merged into ``results/qa.json`` (by run)
and ``results/qa.md``; traces go to ``results/qa-traces/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from common import machine
from rich.console import Console
from rich.progress import Progress

from lore.config import GenerateConfig, LoreConfig, QueryConfig, StrategyName
from lore.eval.answers import run_qa, write_qa_traces
from lore.eval.beir import load_beir
from lore.eval.qa import aggregate, load_qa
from lore.eval.retrieval import open_indexed
from lore.generate import prompt
from lore.models.files import default_cache_dir
from lore.query.registry import STRATEGIES

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"squad": "squad-v1.1-dev", "cmrc2018": "cmrc2018-dev",
        "hotpotqa": "hotpotqa-dev-distractor-500"}
RESULTS = Path(__file__).resolve().parent / "results"
SEED = 0
SOURCES = 3
"""Sources per question: 3 suited the 0.5B default best on a 30-question SQuAD sample (F1 47
against 37 with 5)."""

QUESTION_LIKELIHOOD = 0.1
"""The weight of log p(question | source), picked by a sweep on the seeded sample's first 150
SQuAD questions (0.1 and 0.2 tied, 0.5 and 1 did worse), which the 500-question runs include.
Over the 500, it puts a source that holds the answer first for 80.2% of the answered
questions against 75.7% by retrieval alone; over the 350 after the first 150, stuff F1 goes
from 46.7 to 56.5 with ``likelihood-first`` (the gold paragraph: 61.6). ``qa_breakdown.py
squad-500-stuff[-likelihood-first] --from 150`` reads both from the traces."""


def run(name: str, questions: str, mode: str, config: LoreConfig, variant: str = "",
        planned: str = "") -> dict[str, object]:
    folder = DATA / SETS[name]
    first, last = question_range(questions)
    qa = load_qa(folder, last, SEED)
    qa = dataclasses.replace(qa, items=qa.items[first:])
    dataset = load_beir(folder, "test", 1)
    gold = mode == "gold"
    settings = dataclasses.replace(config.generate, template="short", k=SOURCES,
                                   answer_tokens=64,
                                   mode="stuff" if mode in ("gold", "answer5") else mode)
    if mode == "answer5":
        settings = dataclasses.replace(settings, template="answer", k=5, answer_tokens=256)
    if variant in SETTING_VARIANTS:
        settings = dataclasses.replace(settings, **SETTING_VARIANTS[variant])
    elif variant not in ("", *SHORT_VARIANTS, *STRATEGIES):
        raise SystemExit(f"unknown variant {variant!r}: "
                         f"{', '.join([*SETTING_VARIANTS, *SHORT_VARIANTS])} or a strategy "
                         f"({', '.join(STRATEGIES)})")
    started = time.perf_counter()
    index = default_cache_dir(os.environ) / "eval"
    with short_template(variant), open_indexed(dataset, index, config) as kb, \
            Progress(transient=True) as progress:
        task = progress.add_task(f"{name} {mode}", total=len(qa.items))
        traces = list(run_qa(kb, qa, settings, lambda: progress.advance(task), gold,
                             dataset.corpus, strategy_of(variant),
                             planning_of(config.query, planned)))
    label = "-".join(filter(None, [name, str(questions), mode, variant,
                                   planned.replace("=", "").replace("+", "-"),
                                   other_model(settings.model)]))
    write_qa_traces(traces, RESULTS / "qa-traces" / f"{label}.jsonl")
    cited = [c for t in traces for c in t.answer.citations]
    return {"set": name, "questions": len(traces),
            "mode": mode + (f" ({variant}{' ' + planned if planned else ''})" if variant
                            else ""),
            "model": settings.model,
            "k": "gold" if gold else settings.k, "template": settings.template,
            "seconds": time.perf_counter() - started,
            "inferred_citation_share": (sum(c.inferred for c in cited) / len(cited)
                                        if cited else None),
            **aggregate([t.record for t in traces]).as_dict()}


def other_model(model: str) -> str:
    """The answering model when it is not the default (``LORE_GENERATOR``), else empty: it
    names the run's traces and its entry in ``qa.json``."""
    return "" if model == GenerateConfig().model else model


def question_range(questions: str) -> tuple[int, int]:
    """``N`` (the sample's first N questions) or ``A-B`` (its questions A to B, from 1): the
    seeded sample draws in order, so the first N of a larger sample are the same N."""
    first, _, last = questions.rpartition("-")
    return (int(first) - 1 if first else 0), int(last)


def strategy_of(variant: str) -> StrategyName | None:
    """The query strategy a run's variant names, if it names one."""
    return cast("StrategyName", variant) if variant in STRATEGIES else None


def planning_of(planning: QueryConfig, planned: str) -> QueryConfig:
    """``planning`` with the run's ``key=value+key=value`` changes (integers or numbers)."""
    changes = dict(part.split("=", 1) for part in planned.split("+") if part)
    return dataclasses.replace(planning, **{key: type(getattr(planning, key))(value)
                                            for key, value in changes.items()})


SETTING_VARIANTS: dict[str, dict[str, object]] = {
    "no-likelihood": {"question_likelihood": 0.0},
    "all-sources": {"question_likelihood": 0.0, "source_mass": None},
    "likelihood": {"question_likelihood": QUESTION_LIKELIHOOD, "weighed_source_mass": 0.9},
    "likelihood-first": {"question_likelihood": QUESTION_LIKELIHOOD, "weighed_source_mass": 0.5},
    "score-all": {"likelihood_sources": 50},
    "copy": {"template": "extract"},
}
"""Variants that change answer settings (``generate.*``): the fields they set."""

SHORT_VARIANTS = {"no-examples": {"examples": {}}}
"""Variants that change the ``short`` template: the fields they set."""


@contextmanager
def short_template(variant: str) -> Iterator[None]:
    """The ``short`` template as ``variant`` changes it, for as long as the block runs."""
    short = prompt.TEMPLATES["short"]
    if variant in SHORT_VARIANTS:
        prompt.TEMPLATES["short"] = dataclasses.replace(short, **SHORT_VARIANTS[variant])
    try:
        yield
    finally:
        prompt.TEMPLATES["short"] = short


def markdown(rows: dict[str, dict[str, object]]) -> str:
    columns = ["set", "questions", "mode", "exact_match", "f1", "answer_in_context",
               "citation_precision", "shown_citation_precision", "inferred_citation_share",
               "not_found_rate", "median_first_token_s", "median_total_s", "mean_model_calls",
               "all_gold_read", "all_gold_retrieved"]
    lines = ["# Answer quality", "", "| " + " | ".join(columns) + " |",
             "|" + "---|" * len(columns)]
    for row in rows.values():
        cells = [row.get(c) for c in columns]
        lines.append("| " + " | ".join("-" if v is None else f"{v:.3f}" if isinstance(v, float)
                                       else str(v) for v in cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", required=True, help="set:questions:mode, comma-separated")
    args = parser.parse_args()
    config = LoreConfig.from_env(os.environ)
    path = RESULTS / "qa.json"
    for spec in args.runs.split(","):
        name, questions, mode, *variant = spec.split(":")
        row = run(name, questions, mode, config, *variant)
        # Read again just before writing: runs in other processes may have added theirs.
        kept = json.loads(path.read_text())["runs"] if path.exists() else {}
        other = other_model(str(row["model"]))
        kept[f"{spec}@{other}" if other else spec] = row
        Console().print(row)
        RESULTS.mkdir(exist_ok=True)
        path.write_text(json.dumps({"machine": machine(), "seed": SEED, "runs": kept},
                                   indent=2) + "\n")
        (RESULTS / "qa.md").write_text(markdown(kept))
    return 0


if __name__ == "__main__":
    sys.exit(main())
