"""Where answer quality is lost in a ``qa.py`` trace: F1 by how many sources the model read
and which of them held a gold answer, and which cited sources hold one.

Reads ``results/qa-traces/<run>.jsonl`` and the set's gold answers; a source holds the answer
when a gold answer appears in its text as the prompt showed it (``answer_in_context``).
Writes ``results/qa_breakdown-<run>.json``. ``--from N`` reads only the questions after the
trace's first N (those not used to tune a setting on the first N), and names the file
``qa_breakdown-<run>-from<N>.json``.

    python benchmarks/qa_breakdown.py squad-500-stuff
    python benchmarks/qa_breakdown.py squad-500-stuff-likelihood-first --from 150
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from typing import Any

from qa import DATA, RESULTS, SETS
from rich.console import Console
from rich.table import Table

from lore.eval.answer_scores import answer_in_context, f1
from lore.eval.qa import load_qa
from lore.generate.prompt import TEMPLATES


def source_texts(prompt: str) -> dict[int, str]:
    """Source number -> text, from the last user turn of a rendered prompt (earlier user
    turns are worked examples); the closing instruction after the last source left out."""
    user = prompt.rsplit("\n\nuser: ", 1)[-1]
    for template in TEMPLATES.values():
        header = (re.escape(template.source_header).replace(r"\{number\}", r"(\d+)")
                  .replace(r"\{title\}", r"[^\n]*"))
        pieces = re.split(rf"(?m)^{header}\n", user)
        if len(pieces) > 1:
            texts = [text.removesuffix("\n\n") for text in pieces[2::2]]
            texts[-1] = texts[-1].rsplit("\n\n", 1)[0]
            return {int(n): text for n, text in zip(pieces[1::2], texts, strict=True)}
    return {}


def breakdown(run: str, start: int = 0) -> dict[str, Any]:
    qa = load_qa(DATA / SETS[run.split("-")[0]])
    by_read: dict[str, list[float]] = defaultdict(list)
    cited = wrong_with_answer_shown = first_holds = 0
    traces = [json.loads(line) for line in
              (RESULTS / "qa-traces" / f"{run}.jsonl").read_text().splitlines()[start:]]
    for trace in traces:
        if not trace["found"]:
            continue
        golds = qa.gold[trace["id"]]
        texts = source_texts(trace["prompt"])
        holding = {n for n, text in texts.items() if answer_in_context(text, golds, qa.language)}
        where = ("none" if not holding else "first" if 1 in holding else "later")
        first_holds += where == "first"
        by_read[f"{len(texts)} read, answer in {where}"].append(
            f1(trace["prediction"], golds, qa.language))
        numbers = {c["number"] for c in trace["citations"]}
        cited += bool(numbers)
        wrong_with_answer_shown += bool(holding and numbers - holding)
    found = sum(trace["found"] for trace in traces)
    return {"run": run, "from": start, "questions": len(traces),
            "f1": sum(trace["scores"]["f1"] for trace in traces) / len(traces),
            "first_source_holds_answer": first_holds / found if found else None,
            "f1_by_sources_read": {k: {"questions": len(v), "f1": sum(v) / len(v)}
                                               for k, v in sorted(by_read.items())},
            "answers_cited": cited,
            "answers_citing_a_source_without_the_answer_while_one_shown_has_it":
                wrong_with_answer_shown}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a trace name under results/qa-traces, e.g. squad-500-stuff")
    parser.add_argument("--from", dest="start", type=int, default=0,
                        help="skip the trace's first N questions")
    args = parser.parse_args()
    result = breakdown(args.run, args.start)
    table = Table("sources read, answer in", "questions", "F1", title=result["run"])
    for key, row in result["f1_by_sources_read"].items():
        table.add_row(key, str(row["questions"]), f"{row['f1']:.3f}")
    Console().print(table)
    Console().print({k: v for k, v in result.items() if k != "f1_by_sources_read"})
    suffix = f"-from{args.start}" if args.start else ""
    (RESULTS / f"qa_breakdown-{args.run}{suffix}.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
