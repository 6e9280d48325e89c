"""How often cutting a source to ``generate.source_tokens`` keeps the answer in it.

For a seeded sample of SQuAD questions, the gold paragraph is cut to the token budget (in the
default model's tokens) the way prompts cut sources (``lore.generate.prompt.excerpt_span``)
and, for reference, to its first tokens; the table counts the cuts that still hold a gold
answer, over the paragraphs longer than the budget. Only the question text reaches the cut.
Writes results/source_cut.json.

    python benchmarks/source_cut.py
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from common import machine
from rich.console import Console
from rich.progress import track
from rich.table import Table

from lore.config import GenerateConfig
from lore.eval.answer_scores import answer_in_context
from lore.eval.qa import load_qa
from lore.generate.local import LocalGenerator
from lore.generate.prompt import excerpt_span, prefix_length

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad-v1.1-dev"
RESULTS = Path(__file__).resolve().parent / "results" / "source_cut.json"
SEED = 5
"""Not the QA benchmark's seed, so the cut is not tuned on the questions it asks."""


def paragraphs() -> dict[str, str]:
    with (DATA / "corpus.jsonl").open(encoding="utf-8") as lines:
        return {r["_id"]: r["text"] for r in map(json.loads, lines) if r}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=GenerateConfig().source_tokens)
    args = parser.parse_args()
    qa = load_qa(DATA, args.questions, SEED)
    texts = paragraphs()
    generator = LocalGenerator(GenerateConfig().model, context_tokens=512)
    cuts: dict[str, Callable[[str, str], tuple[int, int]]] = {
        "first tokens": lambda text, question: (
            0, prefix_length(text, args.tokens, generator)),
        "excerpt_span": lambda text, question: excerpt_span(
            text, question, args.tokens, generator),
    }
    kept = dict.fromkeys(cuts, 0)
    longer = 0
    for item in track(qa.items, description="cutting"):
        keys = qa.gold_docs.get(item.id, [])
        if not keys or generator.count_tokens(texts[keys[0]]) <= args.tokens:
            continue
        text, longer = texts[keys[0]], longer + 1
        for name, cut in cuts.items():
            start, end = cut(text, item.question)
            kept[name] += answer_in_context(text[start:end], qa.gold[item.id], "en")
    table = Table(title=f"answer kept in {longer} gold paragraphs longer than "
                        f"{args.tokens} tokens ({len(qa.items)} SQuAD questions)")
    for column in ("cut", "answer kept", "share"):
        table.add_column(column)
    for name, count in kept.items():
        table.add_row(name, str(count), f"{count / max(longer, 1):.1%}")
    Console().print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "seed": SEED,
                                   "questions": len(qa.items), "tokens": args.tokens,
                                   "longer": longer, "kept": kept}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
