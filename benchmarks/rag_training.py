"""Retrieval trained from the answering model (``lore train rag``), before and after, on test
questions whose articles training never read.

    python benchmarks/rag_training.py --set squad --train 1000 --k 4
    python benchmarks/rag_training.py --set cmrc2018 --train 1000 --k 4 --test 200
    python benchmarks/rag_training.py --set squad --use trained:rag-1   # measure a model again
    python benchmarks/rag_training.py --set squad --train 300 --k 3 --part joint --lora-layers 8
    python benchmarks/rag_training.py --set squad --test 100 \
        --compare trained:rag-5,trained:rag-6          # several systems, side by side
    python benchmarks/rag_training.py --set squad --test 100 \
        --compare trained:rag-3,qwen-0.5b+lora:KB/models/rag-3/generator.gguf   # merged or not
    python benchmarks/rag_training.py --difference "RUN::SYSTEM" "RUN::SYSTEM"  # recorded

1. The set's questions are split by ``lore.train.qa_split`` (by article title); ``--train``
   questions are drawn (seed 0) from the training side, and training never reads a document
   of the test side.
2. ``KnowledgeBase.train_rag`` trains the query encoder with qwen-0.5b frozen (its scores of
   each candidate passage cached under the knowledge base's models folder), or with
   ``--part joint`` the query encoder and a LoRA on qwen-0.5b together, or with
   ``--part generator`` the LoRA alone on gold passages; the wall time, questions per second
   and peak resident memory are recorded.
3. Retrieval on every test question: the share whose first (and first three) hybrid hits hold
   a gold answer, untrained and trained.
4. Answers on a seeded sample of ``--test`` test questions (``short`` template, k=3, the
   default answer settings), untrained and trained: F1, exact match, the share whose first
   source holds a gold answer, and the median first-token and total seconds.

With ``--compare``, nothing trains: the untrained system and each named one are measured on
the same test questions, one after the other, in one run. Each system's F1 and exact-match
gain over the untrained one comes with a paired bootstrap 95% interval
(``lore.eval.significance``). A name that is no ``trained:`` one is an answering model spec,
measured over the untrained retrieval (a trained generator's adapter applied at run time,
say, beside the same model merged).

Results are merged into ``results/rag_training.json`` by run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast, get_args

from common import machine
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from lore.api import KnowledgeBase
from lore.cli_output import StageProgress
from lore.config import AnswerModeName, GenerateConfig, LoreConfig
from lore.eval.answer_scores import Language, answer_in_context
from lore.eval.answers import QATrace, run_qa
from lore.eval.beir import load_beir
from lore.eval.qa import QASet, load_qa, qa_examples, set_language
from lore.eval.retrieval import open_indexed
from lore.eval.significance import paired_difference
from lore.models.files import default_cache_dir
from lore.models.gguf import ADAPTER_MARK, split_adapter
from lore.rag_training import RagTraining
from lore.train.catalog import TrainedModel
from lore.train.qa_split import QAExample
from lore.train.settings import OBJECTIVES, PARTS, LoraSettings, RagSettings, TrainSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"squad": "squad-v1.1-dev", "cmrc2018": "cmrc2018-dev",
        "hotpotqa": "hotpotqa-dev-distractor-500"}
RESULTS = Path(__file__).resolve().parent / "results"
Row = dict[str, Any]


def train(kb: KnowledgeBase, examples: list[QAExample], excluded: frozenset[str],
          args: argparse.Namespace) -> tuple[TrainedModel, float]:
    lora = LoraSettings(rank=args.lora_rank, alpha=2 * args.lora_rank, layers=args.lora_layers,
                        learning_rate=args.lora_lr)
    batch = 16 if args.part == "query-encoder" else 4
    plan = RagTraining(TrainSettings(epochs=args.epochs, batch_size=batch,
                                     learning_rate=args.lr),
                       RagSettings(args.objective), args.k, generator="qwen-0.5b",
                       train=args.part, lora=lora)
    started = time.perf_counter()
    with StageProgress() as progress:
        model = kb.train_rag(examples, f"{args.set} training side, {len(examples)} questions",
                             excluded, plan, progress)
    return model, time.perf_counter() - started


def retrieval(kb: KnowledgeBase, test: list[QAExample], language: Language,
              encoder: str | None) -> Row:
    first = top3 = 0
    with Progress(transient=True) as progress:
        task = progress.add_task(f"search {encoder or 'untrained'}", total=len(test))
        for example in test:
            hits = kb.search(example.question, k=3, mode="hybrid", rerank="",
                             query_encoder=encoder)
            golds = list(example.answers)
            first += bool(hits) and answer_in_context(hits[0].chunk.text, golds, language)
            top3 += any(answer_in_context(h.chunk.text, golds, language) for h in hits)
            progress.advance(task)
    return {"first_hit_holds_answer": first / len(test), "top3_holds_answer": top3 / len(test)}


def answers(kb: KnowledgeBase, qa: QASet, model: str, mode: AnswerModeName = "stuff") -> Row:
    settings = GenerateConfig(model=model, template="short", k=3, answer_tokens=64, mode=mode)
    with Progress(transient=True) as progress:
        task = progress.add_task(f"answers {model} {mode}", total=len(qa.items))
        traces = list(run_qa(kb, qa, settings, lambda: progress.advance(task)))
    return {"f1": 100 * statistics.mean(t.record.f1 for t in traces),
            "exact_match": 100 * statistics.mean(t.record.exact_match for t in traces),
            "f1_by_question": {t.id: round(100 * t.record.f1, 2) for t in traces},
            "em_by_question": {t.id: 100 * t.record.exact_match for t in traces},
            "first_source_holds_answer": statistics.mean(
                first_holds(t, qa) for t in traces),
            "first_token_s": statistics.median(t.answer.timings.first_token for t in traces),
            "total_s": statistics.median(t.answer.timings.total for t in traces)}


def first_holds(trace: QATrace, qa: QASet) -> bool:
    sources = trace.answer.sources
    return bool(sources) and answer_in_context(sources[0].passage.text, qa.gold[trace.id],
                                               qa.language)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=SETS, default="squad")
    parser.add_argument("--train", type=int, default=1000, help="training questions")
    parser.add_argument("--k", type=int, default=4, help="candidate passages a question")
    parser.add_argument("--objective", choices=OBJECTIVES, default="rag-sequence")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--test", type=int, default=200,
                        help="test questions answered (0: retrieval only)")
    parser.add_argument("--use", help="measure this trained:<name> instead of training")
    parser.add_argument("--compare", help="trained:<name> or answering model specs, comma "
                        "separated, measured beside the untrained system; none trained")
    parser.add_argument("--part", choices=PARTS, default="query-encoder")
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--lora-layers", type=int, help="adapt the last N layers (all)")
    parser.add_argument("--lora-lr", type=float, default=1e-4)
    parser.add_argument("--modes", default="stuff",
                        help="answer modes each --compare system is measured in, comma "
                        "separated: stuff, rag-sequence, rag-token")
    parser.add_argument("--difference", nargs=2, metavar=("A", "B"),
                        help="B against A, each 'RUN KEY::SYSTEM' of results/rag_training.json "
                        "measured with per-question scores; nothing runs")
    args = parser.parse_args()
    if args.difference:
        return difference(args)
    if args.compare:
        return compare(args)
    folder = DATA / SETS[args.set]
    config = LoreConfig.from_env(os.environ)
    _, split = qa_examples(folder)
    chosen = random.Random(0).sample(list(split.train), min(args.train, len(split.train)))
    qa = load_qa(folder, args.test, 0, "test")
    language = set_language([example.question for example in split.test])  # qa may be empty
    run: Row = {"set": args.set, "split": split.describe(), "machine": machine()}
    with open_indexed(load_beir(folder, "test", 1), default_cache_dir(os.environ) / "eval",
                      config) as kb:
        if args.use:
            model = kb.rag_system(args.use).model
        else:
            model, seconds = train(kb, chosen, split.test_documents, args)
            run |= {"train_seconds": seconds, "questions_per_second": len(chosen) / seconds,
                    "peak_rss_gib": peak_rss_gib()}
        run |= {"model": model.spec, "manifest": model.to_json()}
        for label, encoder, answering in (("untrained", None, config.generate.model),
                                          ("trained", model.spec, model.spec)):
            run[label] = retrieval(kb, list(split.test), language, encoder)
            if qa.items:
                run[label] |= answers(kb, qa, answering)
    against_untrained(run, ("untrained", "trained"))
    key = run_key(args.set, model)
    record(key, run)
    show(key, run, len(split.test), len(qa.items), ("untrained", "trained"))
    return 0


def compare(args: argparse.Namespace) -> int:
    """The untrained system and each ``--compare`` model on the same test questions."""
    folder = DATA / SETS[args.set]
    config = LoreConfig.from_env(os.environ)
    _, split = qa_examples(folder)
    qa = load_qa(folder, args.test, 0, "test")
    language = set_language([example.question for example in split.test])
    run: Row = {"set": args.set, "split": split.describe(), "machine": machine(),
                "systems": {}}
    specs = [spec.strip() for spec in args.compare.split(",") if spec.strip()]
    with open_indexed(load_beir(folder, "test", 1), default_cache_dir(os.environ) / "eval",
                      config) as kb:
        systems: list[tuple[str, str | None, str]] = [
            ("untrained", None, config.generate.model)]
        for spec in specs:
            if not spec.startswith("trained:"):  # an answering model, retrieval untrained
                systems.append((short_spec(spec), None, spec))
                continue
            model = kb.rag_system(spec).model
            systems.append((f"{spec} {model.settings.get('train', 'query-encoder')} "
                            f"{model.settings['objective']}", spec, spec))
            run["systems"][spec] = {"key": run_key(args.set, model),
                                    "manifest": model.to_json()}
        modes = [cast(AnswerModeName, mode.strip()) for mode in args.modes.split(",")
                 if mode.strip() in get_args(AnswerModeName)]
        labels = []
        for label, encoder, answering in systems:
            searched = retrieval(kb, list(split.test), language, encoder)
            for mode in modes:
                shown = label if modes == ["stuff"] else f"{label} [{mode}]"
                run[shown] = dict(searched)
                if qa.items:
                    run[shown] |= answers(kb, qa, answering, mode)
                labels.append(shown)
    against_untrained(run, labels)
    key = f"{args.set}:compare:{','.join(map(short_spec, specs))}:test{len(qa.items)}"
    if modes != ["stuff"]:
        key += f":{','.join(modes)}"
    record(key, run)
    show(key, run, len(split.test), len(qa.items), labels)
    return 0


def against_untrained(run: Row, labels: Sequence[str]) -> None:
    """Each system's F1 and EM gain over the untrained one on the same questions, with a
    paired bootstrap 95% interval (``lore.eval.significance``)."""
    base = run[labels[0]]
    for label in labels[1:]:
        row = run[label]
        for metric in ("f1", "em"):
            column = f"{metric}_by_question"
            if column in row and column in base:
                row[f"{metric}_gain"] = paired_difference(base[column], row[column]).to_json()


def short_spec(spec: str) -> str:
    """A model spec with its files named by their model's folder, not their path:
    ``qwen-0.5b+lora:rag-3``, ``rag-6/generator-merged.gguf``."""
    base, adapter = split_adapter(spec)
    if adapter:
        return f"{base}{ADAPTER_MARK}{adapter.parent.name}"
    path = Path(spec).expanduser()
    return f"{path.parent.name}/{path.name}" if path.is_file() else spec


def run_key(name: str, model: TrainedModel) -> str:
    trained = model.settings["settings"]
    part = model.settings.get("train", "query-encoder")
    key = f"{name}:{model.data.pairs + model.data.held_out}:k{model.settings['k']}:" \
          f"{model.settings['objective']}:lr{trained['learning_rate']:g}:e{trained['epochs']}"
    if part == "query-encoder":
        return key
    lora = model.settings["lora"]
    return f"{key}:{part}:r{lora['rank']}:layers{lora['layers']}:lora-lr{lora['learning_rate']:g}"


def record(key: str, run: Row) -> None:
    path = RESULTS / "rag_training.json"
    recorded = json.loads(path.read_text()) if path.exists() else {}
    recorded[key] = run
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(recorded, indent=2, ensure_ascii=False) + "\n")


def peak_rss_gib() -> float:
    """This process's peak resident memory so far (Linux reports it in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def show(key: str, run: Row, searched: int, answered: int, labels: Sequence[str]) -> None:
    table = Table(title=f"{key}: {run['split']}")
    table.add_column("system")
    for column in (f"first hit holds answer ({searched})", "top 3 hold answer",
                   f"F1 ({answered})", "F1 gain [95%]", "EM", "EM gain [95%]",
                   "first source holds answer", "first token s", "total s"):
        table.add_column(column, justify="right")
    for label in labels:
        row = run[label]
        cells = [cell(row.get(key), form) for key, form in (
            ("f1", ".1f"), ("f1_gain", ""), ("exact_match", ".1f"), ("em_gain", ""),
            ("first_source_holds_answer", ".3f"), ("first_token_s", ".2f"),
            ("total_s", ".2f"))]
        table.add_row(label, f"{row['first_hit_holds_answer']:.3f}",
                      f"{row['top3_holds_answer']:.3f}", *cells)
    Console().print(table)
    if "train_seconds" in run:
        Console().print(f"trained in {run['train_seconds']:.0f} s "
                        f"({run['questions_per_second']:.2f} questions/s, peak memory "
                        f"{run['peak_rss_gib']:.1f} GiB)")


def cell(value: float | Row | None, form: str) -> str:
    """A number in ``form``; a gain (``Difference.to_json``) as ``+4.6 [+1.5, +7.8]``."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return f"{value['mean']:+.1f} [{value['low']:+.1f}, {value['high']:+.1f}]"
    return f"{value:{form}}"


def difference(args: argparse.Namespace) -> int:
    """``--difference A B``: B's F1 and EM against A's on the questions both answered, from
    recorded runs (each ``RUN KEY::SYSTEM``), so systems measured in different runs compare."""
    recorded = json.loads((RESULTS / "rag_training.json").read_text())
    rows = []
    for system in args.difference:
        key, _, label = system.partition("::")
        if key not in recorded or label not in recorded[key]:
            raise SystemExit(f"--difference {system!r}: no such run and system in "
                             "results/rag_training.json; name them as 'RUN KEY::SYSTEM'")
        if "f1_by_question" not in recorded[key][label]:
            raise SystemExit(f"--difference {system!r}: that run kept no per-question scores; "
                             "measure the system again with --compare")
        rows.append(recorded[key][label])
    for metric in ("f1", "em"):
        column = f"{metric}_by_question"
        found = paired_difference(rows[0][column], rows[1][column])
        print(f"{metric}: {cell(found.to_json(), '')} on {found.questions} questions, "
              f"better on {found.better}, worse on {found.worse}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
