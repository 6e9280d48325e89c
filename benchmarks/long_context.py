"""Long context against retrieval as the context grows: does RAG survive a model that can
read everything? Both answer the same questions from the same knowledge base; long context
(``--strategy long-context``) reads whole documents in a window sized to them, RAG
(``single``) reads its k sources.

    python benchmarks/long_context.py                     # needles, then SQuAD articles
    python benchmarks/long_context.py --sizes 1024,4096 --articles 5
    python benchmarks/long_context.py --sizes '' --articles 8 --add   # articles, kept beside
                                                                        # the needles on record

1. Needle in a haystack: SQuAD paragraphs concatenated to 1k ... 32k tokens with one planted
   fact ("The access code for the north archive is 4817.") at several depths; right when
   the answer holds the code.
2. Whole SQuAD articles (every paragraph of one title in one file): questions about them,
   scored by SQuAD F1.

Per run: right or F1, the seconds to the first token (retrieval and prefill), the prompt's
tokens, the KV cache the window needs (layers x 2 x KV heads x head size x 2 bytes per
token, from the model's metadata) and the peak memory of the process that answered (each
run is its own process). Writes ``results/long_context.json``, a table and
``results/long_context.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import machine
from rich.console import Console
from rich.table import Table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad-v1.1-dev"
RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (1024, 2048, 4096, 8192, 16384, 32768)
DEPTHS = (0.1, 0.5, 0.9)
BIG = 16384
"""From this size on, only the middle depth runs: a 32k prefill takes minutes on 2 cores."""
CODE = "4817"
NEEDLE = f"The access code for the north archive is {CODE}."
QUESTION = "What is the access code for the north archive?"
MARGIN = 512
"""Window tokens beyond the haystack: the instruction, the question and the answer."""
MODEL = "qwen-0.5b"
Row = dict[str, Any]


def paragraphs() -> list[dict[str, str]]:
    with (DATA / "corpus.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def haystack(size: int, depth: float, count_tokens: object) -> str:
    """SQuAD paragraphs in file order up to ``size`` tokens, the needle at ``depth``."""
    texts, total = [], 0
    for record in paragraphs():
        tokens = count_tokens(record["text"])  # type: ignore[operator]
        if total + tokens > size - 32:
            break
        texts.append(record["text"])
        total += tokens
    texts.insert(round(depth * len(texts)), NEEDLE)
    return "\n\n".join(texts)


def one_run(kind: str, size: int, depth: float, strategy: str, question_id: str) -> Row:
    """Runs in its own process, so its peak memory is its own."""
    import lore
    from lore.config import GenerateConfig, QueryConfig
    from lore.eval.answer_scores import f1
    from lore.eval.answers import prediction_of
    from lore.eval.qa import load_qa
    from lore.generate.registry import create_generator

    settings = GenerateConfig(model=MODEL, template="short", k=3, answer_tokens=32)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "docs").mkdir()
        if kind == "needle":
            generator = create_generator(settings)
            text = haystack(size, depth, generator.count_tokens)
            (root / "docs" / "haystack.txt").write_text(text, encoding="utf-8")
            question, golds = QUESTION, [CODE]
        else:
            qa = load_qa(DATA)
            item = next(i for i in qa.items if i.id == question_id)
            title, text = article_of(question_id)
            (root / "docs" / "article.txt").write_text(f"{title}\n\n{text}", encoding="utf-8")
            question, golds = item.question, qa.gold[item.id]
        with lore.open(root / "kb") as kb:
            kb.index([root / "docs"])
            window = (size or 32768) + MARGIN
            answer = kb.ask(question, settings=settings, strategy=strategy,
                            planning=QueryConfig(long_context_tokens=window))
    prediction = prediction_of(answer)
    return {"kind": kind, "size": size, "depth": depth, "strategy": strategy,
            "question": question_id, "right": f1(prediction, golds, "en"),
            "prediction": prediction, "first_token_s": answer.timings.first_token,
            "prompt_tokens": answer.timings.prompt_tokens,
            "kv_cache_mib": kv_bytes_per_token() * (window if strategy == "long-context"
                                                     else settings.context_tokens) / 2**20,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def kv_bytes_per_token() -> int:
    """Layers x 2 (keys, values) x KV heads x head size x 2 bytes (f16), from the GGUF."""
    from llama_cpp import Llama

    from lore.models.gguf import resolve_gguf

    vocab = Llama(model_path=str(resolve_gguf(MODEL)), vocab_only=True, verbose=False)
    meta = vocab.metadata
    arch = meta["general.architecture"]
    layers = int(meta[f"{arch}.block_count"])
    heads = int(meta[f"{arch}.attention.head_count"])
    kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
    head_size = int(meta[f"{arch}.embedding_length"]) // heads
    return layers * 2 * kv_heads * head_size * 2


def article_of(question_id: str) -> tuple[str, str]:
    """The whole article a SQuAD question's paragraph belongs to."""
    from lore.eval.qa import load_qa

    doc = load_qa(DATA).gold_docs[question_id][0]
    records = paragraphs()
    title = next(r["title"] for r in records if r["_id"] == doc)
    return title, "\n\n".join(r["text"] for r in records if r["title"] == title)


def spawn(*args: object) -> Row:
    command = [sys.executable, __file__, "--one", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    result: Row = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def article_questions(count: int) -> list[str]:
    from lore.eval.qa import load_qa

    qa = load_qa(DATA)
    titles = {r["_id"]: r["title"] for r in paragraphs()}
    by_title: dict[str, list[str]] = {}
    for item in qa.items:
        doc = qa.gold_docs[item.id][0]
        by_title.setdefault(titles[doc], []).append(item.id)
    chosen = random.Random(0).sample(sorted(by_title), count)
    return [random.Random(title).choice(by_title[title]) for title in chosen]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--articles", type=int, default=20)
    parser.add_argument("--add", action="store_true",
                        help="keep the recorded runs of every row this run does not measure")
    args = parser.parse_args()
    if args.one:
        kind, size, depth, strategy, question = args.one
        print(json.dumps(one_run(kind, int(size), float(depth), strategy, question)))
        return 0
    runs = []
    for size in (int(size) for size in args.sizes.split(",") if size):
        for depth in (DEPTHS if size < BIG else (0.5,)):
            for strategy in ("single", "long-context"):
                runs.append(spawn("needle", size, depth, strategy, "-"))
                Console().print(runs[-1])
    for question in article_questions(args.articles):
        for strategy in ("single", "long-context"):
            runs.append(spawn("article", 0, 0, strategy, question))
            Console().print(runs[-1])
    RESULTS.mkdir(exist_ok=True)
    record: Row = {"machine": machine(), "model": MODEL}
    if args.add:
        runs, record["note"] = recorded_beside(runs)
    summary = summarize(runs)
    (RESULTS / "long_context.json").write_text(json.dumps(
        {**record, "summary": summary, "runs": runs}, indent=2, ensure_ascii=False) + "\n")
    print_table(summary)
    draw(summary, RESULTS / "long_context.png")
    return 0


def recorded_beside(runs: list[Row]) -> tuple[list[Row], str]:
    """The recorded runs of rows this run did not measure, then this run's; and a note that
    says which rows come from an earlier run."""
    path = RESULTS / "long_context.json"
    if not path.exists():
        return runs, ""
    record = json.loads(path.read_text())
    measured = {row_key(run) for run in runs}
    kept = [run for run in record["runs"] if row_key(run) not in measured]
    earlier = sorted({f"{kind} {size or 'article'} {strategy}"
                      for kind, size, strategy in map(row_key, kept)})
    note = f"rows from an earlier run (commit {record['machine'].get('commit')}): " + \
        ", ".join(earlier)
    if record.get("note"):
        note += f"; its note: {record['note']}"
    return kept + runs, note


def row_key(run: Row) -> tuple[str, int, str]:
    return run["kind"], run["size"], run["strategy"]


def summarize(runs: list[Row]) -> list[Row]:
    groups: dict[tuple[str, int, str], list[Row]] = {}
    for run in runs:
        groups.setdefault(row_key(run), []).append(run)
    return [{"kind": kind, "size": size, "strategy": strategy, "runs": len(rows),
             "right": statistics.mean(r["right"] for r in rows),
             "first_token_s": statistics.median(r["first_token_s"] for r in rows),
             "prompt_tokens": statistics.median(r["prompt_tokens"] for r in rows),
             "kv_cache_mib": max(r["kv_cache_mib"] for r in rows),
             "peak_rss_mib": max(r["peak_rss_mib"] for r in rows)}
            for (kind, size, strategy), rows in groups.items()]


def print_table(summary: list[Row]) -> None:
    table = Table("set", "context", "strategy", "runs", "right / F1", "first token s",
                  "prompt tokens", "KV cache MiB", "peak MiB")
    for row in summary:
        table.add_row(row["kind"], str(row["size"] or "article"), row["strategy"],
                      str(row["runs"]), f"{row['right']:.2f}", f"{row['first_token_s']:.1f}",
                      f"{row['prompt_tokens']:.0f}", f"{row['kv_cache_mib']:.0f}",
                      f"{row['peak_rss_mib']:.0f}")
    Console().print(table)


def draw(summary: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    needles = [r for r in summary if r["kind"] == "needle"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for strategy, style in (("single", "o-"), ("long-context", "s--")):
        rows = sorted((r for r in needles if r["strategy"] == strategy),
                      key=lambda r: r["size"])
        sizes = [r["size"] for r in rows]
        left.plot(sizes, [r["first_token_s"] for r in rows], style, label=strategy)
        right.plot(sizes, [r["right"] for r in rows], style, label=strategy)
    for axis, label in ((left, "seconds to first token"), (right, "needle found (share)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("haystack tokens")
        axis.set_ylabel(label)
        axis.legend()
    figure.suptitle(f"Long context against RAG ({MODEL}, 2 cores)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
