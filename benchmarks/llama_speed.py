"""llama.cpp prompt and decode speed by build, thread count, OpenMP wait policy and load.

    python benchmarks/llama_speed.py                       # the installed build only
    python benchmarks/llama_speed.py --build native=DIR --threads 1 2 auto --policies default
    python benchmarks/llama_speed.py --threads 2 --loads quiet --policies default \
        --prompt 64 150 600 --decode 8     # does a longer batch evaluate faster?

Each measurement is a child process (``lore.models.llama_check.smoke_test``): load the model,
evaluate a 512-token prompt in one batch (prefill), decode 64 tokens greedily one at a time;
``--prompt`` takes several lengths, to see what a longer batch is worth.
``--build NAME=DIR`` adds a llama-cpp-python unpacked into DIR (``python -m zipfile -e
WHEEL DIR``), put first on the child's ``PYTHONPATH``, so builds are compared side by side in
one run. ``search`` load is a second process running hybrid searches over the sample project
without pause (the MiniLM query embedding takes the cores), as ``lore serve`` does while it
answers. ``auto`` threads is lore's own policy (``lore.models.load.llama_threads``): the cores
that other processes left idle over the second before the run. Medians of ``--repeats`` runs,
interleaved across configurations so that a drift in the machine touches each alike;
writes ``results/llama_speed.json`` (``--out`` to change).
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
from lore.models.load import OtherLoad, llama_threads

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


def auto_threads() -> int:
    """What ``LlamaRunner`` would choose now: the cores others left idle over one second."""
    load = OtherLoad()
    time.sleep(1.0)
    return llama_threads(len(os.sched_getaffinity(0)), load.cores())


def run_once(model: Path, build: str | None, threads: str, policy: str, prompt: int,
             args: argparse.Namespace) -> tuple[int, float, float, str]:
    """One child: the thread count used, prefill and decode tokens/s, llama.cpp's features."""
    env = {**os.environ, **WAIT_POLICIES[policy]}
    if build:
        env["PYTHONPATH"] = build + os.pathsep + env.get("PYTHONPATH", "")
    count = auto_threads() if threads == "auto" else int(threads)
    result = smoke_test(model, prompt_tokens=prompt, decode_tokens=args.decode,
                        threads=count, env=env)
    if not result.ok:
        raise SystemExit(f"{build or 'installed'}: {result.detail}")
    return count, result.prefill_tokens_per_s, result.decode_tokens_per_s, result.system_info


def measure_load(model: Path, builds: dict[str, str | None], load: str,
                 args: argparse.Namespace) -> list[dict[str, object]]:
    """Every build, thread count, policy and prompt length under one load, the repeats
    interleaved (round robin), so that a drift in the machine's speed touches every
    configuration alike."""
    configs = list(itertools.product(builds.items(), args.threads, args.policies, args.prompt))
    runs: dict[int, list[tuple[int, float, float, str]]] = {i: [] for i in range(len(configs))}
    for _ in range(args.repeats):
        for i, ((_, build), threads, policy, prompt) in enumerate(configs):
            runs[i].append(run_once(model, build, threads, policy, prompt, args))
    rows = []
    for i, ((name, _), threads, policy, prompt) in enumerate(configs):
        used, prefill, decode, infos = zip(*runs[i], strict=True)
        built = sorted(feature for feature, on in built_features(infos[0]).items()
                       if on and feature.startswith(("AVX", "AMX", "F16C", "FMA", "BMI2")))
        rows.append({"build": name, "threads": threads, "omp_wait": policy, "load": load,
                     "prompt": prompt,
                     "prefill_tokens_per_s": statistics.median(prefill),
                     "decode_tokens_per_s": statistics.median(decode),
                     "threads_used": list(used), "prefill_runs": list(prefill),
                     "decode_runs": list(decode), "built_for": built})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen-0.5b")
    parser.add_argument("--build", action="append", default=[], metavar="NAME=DIR",
                        help="another llama-cpp-python, unpacked into DIR (repeatable)")
    parser.add_argument("--threads", nargs="+", default=["1", "2", "auto"],
                        help="thread counts, or auto for lore's policy")
    parser.add_argument("--policies", nargs="+", default=list(WAIT_POLICIES),
                        choices=list(WAIT_POLICIES))
    parser.add_argument("--loads", nargs="+", default=["quiet", "search"],
                        choices=["quiet", "search"])
    parser.add_argument("--prompt", type=int, nargs="+", default=[512],
                        help="prompt lengths in tokens, each evaluated in one batch")
    parser.add_argument("--decode", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "llama_speed.json")
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
                rows += measure_load(model, builds, load, args)
            finally:
                if loader is not None:
                    loader.kill()
                    loader.wait()
    show(rows, args)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "model": args.model, "prompt": args.prompt,
                               "decode": args.decode, "repeats": args.repeats,
                               "when": time.strftime("%Y-%m-%d"), "rows": rows}, indent=2))
    print(f"wrote {out}", file=sys.stderr)


def tier(built: list[str]) -> str:
    """A build's instruction sets in a few words: its widest vector set, then extras."""
    extras = [name.removeprefix("AVX512_").lower() for name in built
              if name.startswith(("AVX512_", "AMX")) or name == "AVX_VNNI"]
    base = "AVX-512" if "AVX512" in built else "AVX2" if "AVX2" in built else "SSE"
    return base + (f" ({' '.join(extras)})" if extras else "")


def show(rows: list[dict[str, object]], args: argparse.Namespace) -> None:
    table = Table(title=f"{args.model}: {args.decode} decoded after the prompt "
                        f"(median of {args.repeats})")
    for column in ("build", "built for", "load", "OpenMP wait", "threads", "prompt tokens",
                   "prefill tok/s", "decode tok/s"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        used = sorted(set(row["threads_used"]))  # type: ignore[call-overload]
        threads = f"auto ({'/'.join(map(str, used))})" if row["threads"] == "auto" else \
            str(row["threads"])
        table.add_row(str(row["build"]), tier(row["built_for"]),  # type: ignore[arg-type]
                      str(row["load"]), str(row["omp_wait"]), threads, str(row["prompt"]),
                      f"{row['prefill_tokens_per_s']:.0f}", f"{row['decode_tokens_per_s']:.1f}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
