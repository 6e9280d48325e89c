"""What each optional extra adds to an install, measured in this virtual environment.

    python benchmarks/install_size.py

Reads the base requirements and the extras from pyproject.toml, follows each one's
requirements through the installed distributions, and sums the installed files
(``importlib.metadata``). An extra's own size counts only the distributions nothing else in
the install needs. Prints a table and writes ``results/install_size.json``. Run it in an
environment with every extra installed (``bash scripts/install`` makes one).
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from common import machine
from packaging.requirements import Requirement
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "install_size.json"
SERVER = ["fastapi", "uvicorn", "httptools", "uvloop", "python-multipart", "mcp"]
"""The server's packages, part of the base install, measured as if they were an extra."""


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def installed() -> dict[str, metadata.Distribution]:
    return {canonical(d.metadata["Name"]): d for d in metadata.distributions()}


def requirements(dist: metadata.Distribution) -> list[str]:
    names = []
    for line in dist.requires or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(canonical(requirement.name))
    return names


def closure(names: list[str], dists: dict[str, metadata.Distribution]) -> set[str]:
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen or name not in dists:
            continue
        seen.add(name)
        stack.extend(requirements(dists[name]))
    return seen


def size(dist: metadata.Distribution) -> int:
    total = 0
    for file in dist.files or []:
        try:
            total += os.path.getsize(str(dist.locate_file(file)))
        except OSError:
            continue
    return total


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = lambda lines: [canonical(Requirement(line).name) for line in lines]  # noqa: E731
    base = [n for n in names(project["dependencies"]) if n not in SERVER]
    groups = {extra: names(lines) for extra, lines in project["optional-dependencies"].items()
              if extra in ("local", "ann", "plots")}
    groups["server (in the base install)"] = SERVER
    dists = installed()
    everything = base + [n for group in groups.values() for n in group]
    total = sum(size(dists[n]) for n in closure(everything, dists))
    rows = {}
    for group, members in groups.items():
        rest = closure([n for n in everything if n not in members], dists)
        own = closure(members, dists) - rest
        rows[group] = {"bytes": sum(size(dists[n]) for n in own), "distributions": sorted(own)}
    table = Table(title=f"install size: {total / 1e6:,.0f} MB with every extra")
    for column in ("extra", "MB", "share", "distributions only it brings"):
        table.add_column(column, justify="right" if column in ("MB", "share") else "left")
    for group, row in rows.items():
        table.add_row(group, f"{row['bytes'] / 1e6:,.0f}", f"{row['bytes'] / total:.1%}",
                      ", ".join(row["distributions"]))
    Console().print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "total_bytes": total, "extras": rows},
                                  indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
