"""Where ``auto`` sends the questions of the shared QA sets, by half: the rules were chosen
on the first half of each set and are confirmed on the second.

    python benchmarks/routes.py

No model runs: the router reads only the question. Prints a table; writes
``results/routes.json``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from common import machine
from rich.console import Console
from rich.table import Table

from lore.query.router import route

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = ("hotpotqa-dev-distractor-500", "squad-v1.1-dev", "cmrc2018-dev")
RESULTS = Path(__file__).resolve().parent / "results"


def shares(questions: list[str]) -> dict[str, float]:
    counts = Counter(route(q).strategy for q in questions)
    return {name: counts[name] / len(questions) for name in ("single", "iterative", "sql")}


def main() -> int:
    rows = []
    for name in SETS:
        with (DATA / name / "qa.jsonl").open(encoding="utf-8") as lines:
            questions = [json.loads(line)["question"] for line in lines if line.strip()]
        middle = len(questions) // 2
        for half, part in (("first", questions[:middle]), ("second", questions[middle:])):
            rows.append({"set": name, "half": half, "questions": len(part), **shares(part)})
    table = Table("set", "half", "questions", "single", "iterative", "sql")
    for row in rows:
        table.add_row(row["set"], row["half"], str(row["questions"]),
                      *(f"{row[k]:.3f}" for k in ("single", "iterative", "sql")))
    Console().print(table)
    (RESULTS / "routes.json").write_text(json.dumps({"machine": machine(), "rows": rows},
                                                   indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
