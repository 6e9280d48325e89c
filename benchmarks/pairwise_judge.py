"""A larger model judges ``global``'s answers against vector RAG's, pair by pair, as the
LazyGraphRAG and GraphRAG papers do: which answer is more comprehensive, which more diverse.

    python benchmarks/pairwise_judge.py --judge qwen-1.5b --runs squad:0:10:200,squad:10:10:200

It reads the answers ``global_questions.py`` saved (``results/global_questions.json``: the
``--runs`` named, default every run with budget 200 that has both methods) and asks the
judge, for each question and criterion, "A or B?" twice, the answers in both orders; the
verdict is the judge's probability of naming each answer, read from its next-token scores
(no text is generated), averaged over the two orders so the position of an answer cannot
decide it. Two checks of the judge itself: the A/A check puts
the same answer in both places (an unbiased judge says 0.5), and the order check counts the
pairs whose verdict flips when the answers swap places.

Prints a table and writes ``results/pairwise_judge.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from common import machine
from rich.console import Console
from rich.table import Table

from lore.config import GenerateConfig
from lore.generate.local import LocalGenerator
from lore.generate.protocol import Message
from lore.generate.registry import create_generator

RESULTS = Path(__file__).resolve().parent / "results"
CRITERIA = {
    "comprehensiveness": "Comprehensiveness: how much detail does the answer give to cover "
                         "all the aspects of the question?",
    "diversity": "Diversity: how varied and rich is the answer in offering different "
                 "perspectives and insights on the question?",
}
PROMPT = ("Question: {question}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\n{criterion}\n"
          "Which answer is better by this criterion? Reply with the letter A or B only.")
ANSWER_CHARS = 1500
"""Each answer is cut here, so the two fit the judge's window together."""


class Judge:
    def __init__(self, spec: str) -> None:
        generator = create_generator(GenerateConfig(context_tokens=4096), spec)
        if not isinstance(generator, LocalGenerator):
            raise SystemExit(f"{spec} is not a local model: the judge reads next-token scores")
        self._model = generator
        self._letters = {letter: _spellings(generator, letter) for letter in "AB"}

    def p_first(self, question: str, first: str, second: str, criterion: str) -> float:
        """The judge's probability that ``first`` (shown as A) is the better answer."""
        prompt = PROMPT.format(question=question, a=first[:ANSWER_CHARS],
                               b=second[:ANSWER_CHARS], criterion=CRITERIA[criterion])
        tokens = self._model.prompt_tokens([Message("user", prompt)])
        with self._model.reserve(1):
            logits = self._model.next_logits(tokens).astype(np.float64)
        a, b = (np.logaddexp.reduce(logits[self._letters[letter]]) for letter in "AB")
        return float(1.0 / (1.0 + np.exp(b - a)))


def _spellings(model: LocalGenerator, letter: str) -> list[int]:
    """The single-token spellings of the letter, alone or after a space."""
    runner = model.runner_for(0)
    found = {tuple(runner.tokenize(text)) for text in (letter, f" {letter}")}
    return sorted(ids[0] for ids in found if len(ids) == 1)


def pairs(saved: dict[str, object], runs: list[str] | None
          ) -> list[tuple[str, str, str, str]]:
    """(run:kind, question, global's answer, vector RAG's answer) for the runs named, or for
    every budget-200 run."""
    found = []
    for name, run in saved["runs"].items():  # type: ignore[attr-defined]
        wanted = name in runs if runs else run["budget"] == 200
        if not wanted or {"global", "vector"} - set(run["methods"]):
            continue
        for kind in ("themes", "about"):
            ours, theirs = run["methods"]["global"][kind], run["methods"]["vector"][kind]
            for mine, other in zip(ours, theirs, strict=True):
                assert mine["question"] == other["question"]
                found.append((f"{name}:{kind}", mine["question"], mine["answer"],
                              other["answer"]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judge", default="qwen-1.5b")
    parser.add_argument("--runs", help="runs of results/global_questions.json, comma-separated "
                                       "(default: every one with budget 200)")
    args = parser.parse_args()
    saved = json.loads((RESULTS / "global_questions.json").read_text())
    judge = Judge(args.judge)
    rows = []
    for group, question, ours, theirs in pairs(saved, args.runs.split(",") if args.runs else None):
        for criterion in CRITERIA:
            first = judge.p_first(question, ours, theirs, criterion)
            second = 1.0 - judge.p_first(question, theirs, ours, criterion)
            same = judge.p_first(question, ours, ours, criterion)
            rows.append({"group": group, "question": question, "criterion": criterion,
                         "global_first": first, "global_second": second,
                         "global_wins": (first + second) / 2, "same_answer_a": same,
                         "flips": (first > 0.5) != (second > 0.5)})
            print(f"{criterion[:6]} {first:.2f} {second:.2f} A/A {same:.2f}  {question}",
                  flush=True)
    table = Table("criterion", "questions", "global wins (mean p)", "global preferred",
                  "A/A: p(A)", "verdicts that flip with order",
                  title=f"global against vector RAG, judged by {args.judge}")
    summary = {}
    for criterion in CRITERIA:
        mine = [row for row in rows if row["criterion"] == criterion]
        wins = float(np.mean([row["global_wins"] for row in mine]))
        preferred = float(np.mean([row["global_wins"] > 0.5 for row in mine]))
        same = float(np.mean([row["same_answer_a"] for row in mine]))
        flips = float(np.mean([row["flips"] for row in mine]))
        summary[criterion] = {"questions": len(mine), "global_wins": wins,
                              "global_preferred": preferred, "same_answer_a": same,
                              "flips": flips}
        table.add_row(criterion, str(len(mine)), f"{wins:.2f}", f"{preferred:.2f}",
                      f"{same:.2f}", f"{flips:.2f}")
    Console(width=160).print(table)
    (RESULTS / "pairwise_judge.json").write_text(json.dumps(
        {"machine": machine(), "judge": args.judge, "summary": summary, "rows": rows},
        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
