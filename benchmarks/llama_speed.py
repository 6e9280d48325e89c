"""llama.cpp prompt and decode speed by build, thread count, OpenMP wait policy and load.

    python benchmarks/llama_speed.py                       # the installed build only
    python benchmarks/llama_speed.py --build native=/tmp/native-wheel-unpacked

Each measurement is a child process (``lore.models.llama_check.smoke_test``): load the model,
evaluate a 512-token prompt in one batch (prefill), decode 64 tokens greedily one at a time.
``--build NAME=DIR`` adds a llama-cpp-python unpacked into DIR (``python -m zipfile -e
WHEEL DIR``), put first on the child's ``PYTHONPATH``, so builds are compared side by side in
one run. ``search`` load is a second process running hybrid searches over the sample project
without pause (the MiniLM query embedding takes the cores), as ``lore serve`` does while it
answers. Medians of ``--repeats`` runs; writes ``results/llama_speed.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine
from rich.console import Console
from rich.table import Table

import lore
from lore.models.gguf import resolve_gguf
from lore.models.llama_check import built_features, smoke_test

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
WAIT_POLICIES = {"default": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"}}

_SEARCH_LOAD = """
import itertools, sys
import lore
kb = lore.open(sys.argv[1])
questions = ["how are expired cache entries removed?", "retry policy on a 503",
             "where is the configuration read", "what does the index store"]
print("ready", flush=True)
for question in itertools.cycle(questions):
    kb.search(question, k=10, mode="hybrid")
"""


def build_sample_kb(folder: Path) -> Path:
    kb_dir = folder / "kb"
    with lore.open(kb_dir) as kb:
        kb.index([ROOT / "examples" / "sample"])
    return kb_dir


def start_search_load(kb_dir: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", _SEARCH_LOAD, str(kb_dir)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    process.stdout.readline()  # "ready": the embedder is loaded and searching
    return process


def measure(model: Path, build: str | None, threads: int, policy: str, args: argparse.Namespace
            ) -> dict[str, object]:
    env = {**os.environ, **WAIT_POLICIES[policy]}
    if build:
        env["PYTHONPATH"] = build + os.pathsep + env.get("PYTHONPATH", "")
    prefill, decode, info = [], [], ""
    for _ in range(args.repeats):
        result = smoke_test(model, prompt_tokens=args.prompt, decode_tokens=args.decode,
                            threads=threads, env=env)
        if not result.ok:
            raise SystemExit(f"{build or 'installed'}: {result.detail}")
        prefill.append(result.prefill_tokens_per_s)
        decode.append(result.decode_tokens_per_s)
        info = result.system_info
    built = sorted(name for name, on in built_features(info).items()
                   if on and (name.startswith(("AVX", "AMX", "F16C", "FMA", "BMI2"))))
    return {"prefill_tokens_per_s": statistics.median(prefill),
            "decode_tokens_per_s": statistics.median(decode),
            "prefill_runs": prefill, "decode_runs": decode, "built_for": built}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen-0.5b")
    parser.add_argument("--build", action="append", default=[], metavar="NAME=DIR",
                        help="another llama-cpp-python, unpacked into DIR (repeatable)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--policies", nargs="+", default=list(WAIT_POLICIES),
                        choices=list(WAIT_POLICIES))
    parser.add_argument("--loads", nargs="+", default=["quiet", "search"],
                        choices=["quiet", "search"])
    parser.add_argument("--prompt", type=int, default=512)
    parser.add_argument("--decode", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    builds: dict[str, str | None] = {"installed": None}
    builds.update(dict(item.split("=", 1) for item in args.build))
    model = resolve_gguf(args.model)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        kb_dir = build_sample_kb(Path(folder)) if "search" in args.loads else None
        for load in args.loads:
            loader = start_search_load(kb_dir) if load == "search" and kb_dir else None
            try:
                for (name, build), threads, policy in itertools.product(
                        builds.items(), args.threads, args.policies):
                    row = {"build": name, "threads": threads, "omp_wait": policy, "load": load,
                           **measure(model, build, threads, policy, args)}
                    rows.append(row)
                    print(json.dumps({k: v for k, v in row.items() if "runs" not in k}),
                          file=sys.stderr)
            finally:
                if loader is not None:
                    loader.kill()
                    loader.wait()
    show(rows, args)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "llama_speed.json"
    out.write_text(json.dumps({"machine": machine(), "model": args.model, "prompt": args.prompt,
                               "decode": args.decode, "repeats": args.repeats,
                               "when": time.strftime("%Y-%m-%d"), "rows": rows}, indent=2))
    print(f"wrote {out}", file=sys.stderr)


def show(rows: list[dict[str, object]], args: argparse.Namespace) -> None:
    table = Table(title=f"{args.model}: {args.prompt}-token prompt, {args.decode} decoded "
                        f"(median of {args.repeats})")
    for column in ("build", "built for", "load", "OpenMP wait", "threads", "prefill tok/s",
                   "decode tok/s"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["build"]), " ".join(row["built_for"]),  # type: ignore[arg-type]
                      str(row["load"]), str(row["omp_wait"]), str(row["threads"]),
                      f"{row['prefill_tokens_per_s']:.0f}", f"{row['decode_tokens_per_s']:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
