"""Which of the first 3 hybrid hits holds a gold answer when the answer step would read the one
a trained RAG system's query encoder scores highest, against the fused ranking's first and the
untrained embedder's pick, on every test question of a QA set.

    LORE_MODEL=e5-small python benchmarks/rag_first_pick.py --set cmrc2018 --model trained:rag-1

It asks whether the learned p(z | x) should choose the source a question is answered from.
The candidates keep the vectors the index holds (``embed_documents`` of each chunk's view,
which is what was stored); each encoder scores them by cosine. Results are merged into
``results/rag_first_pick.json`` by set and model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from common import machine
from rag_training import DATA, RESULTS, SETS
from rich.progress import track

from lore.config import LoreConfig
from lore.eval.answer_scores import answer_in_context
from lore.eval.beir import load_beir
from lore.eval.qa import qa_examples, set_language
from lore.eval.retrieval import open_indexed
from lore.models.files import default_cache_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=SETS, default="cmrc2018")
    parser.add_argument("--model", required=True, help="a trained:<name> RAG system")
    args = parser.parse_args()
    folder = DATA / SETS[args.set]
    config = LoreConfig.from_env(os.environ)
    _, split = qa_examples(folder)
    test = list(split.test)
    language = set_language([example.question for example in test])
    held = {"fused first": 0, "untrained encoder's pick": 0, "trained encoder's pick": 0,
            "any of the 3": 0}
    with open_indexed(load_beir(folder, "test", 1), default_cache_dir(os.environ) / "eval",
                      config) as kb:
        encoder = kb.rag_system(args.model).encoder
        for example in track(test, description="questions"):
            hits = kb.search(example.question, k=3, mode="hybrid", rerank="")
            if not hits:
                continue
            holds = [answer_in_context(hit.chunk.text, list(example.answers), language)
                     for hit in hits]
            stored = kb.embedder.embed_documents([hit.chunk.view for hit in hits])
            untrained = stored @ kb.embedder.embed_query(example.question)
            trained = stored @ encoder.embed_query(example.question)
            held["fused first"] += holds[0]
            held["untrained encoder's pick"] += holds[int(np.argmax(untrained))]
            held["trained encoder's pick"] += holds[int(np.argmax(trained))]
            held["any of the 3"] += any(holds)
    shares = {name: count / len(test) for name, count in held.items()}
    record(f"{args.set}:{args.model}", {"questions": len(test), "held_answer": shares,
                                        "machine": machine()})
    for name, share in shares.items():
        print(f"{name:28s} {share:.3f}")
    return 0


def record(key: str, run: dict[str, object]) -> None:
    path = RESULTS / "rag_first_pick.json"
    recorded = json.loads(path.read_text()) if path.exists() else {}
    recorded[key] = run
    path.write_text(json.dumps(recorded, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
