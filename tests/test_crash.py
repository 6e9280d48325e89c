"""kill -9 a real indexing process at several points: nothing reported indexed is lost, and
the next run repairs the rest into exactly the state a clean run produces, whether the
documents live in the folder's SQLite file or in PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lore
from lore.directory import STORE_LOCATION, open_store
from lore.testing import postgres
from lore.types import Filter

pytestmark = pytest.mark.slow

TOPICS = ["caching", "retries", "backups", "metrics", "tracing", "storage", "queues", "auth"]


def write_corpus(root: Path, files: int) -> None:
    for i in range(files):
        topic = TOPICS[i % len(TOPICS)]
        paragraphs = [f"# Note {i} on {topic}"] + [
            f"Paragraph {j} of note {i} explains {topic} detail number {i * 7 + j}: "
            + " ".join(f"term{(i * 13 + j * 5 + w) % 97}" for w in range(40))
            for j in range(3)
        ]
        (root / f"note_{i:03d}.md").write_text("\n\n".join(paragraphs) + "\n")


def lore_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lore.cli", *args]


def start_index(corpus: Path, kb: Path, store: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(lore_command("index", str(corpus), "--kb", str(kb), "--jsonl",
                                         *store),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def kill_after_events(process: subprocess.Popen[str], events: int) -> list[dict[str, object]]:
    """Read indexed events; SIGKILL the process once ``events`` have arrived."""
    seen: list[dict[str, object]] = []
    assert process.stdout is not None
    while len(seen) < events:
        line = process.stdout.readline()
        if not line:
            break
        event = json.loads(line)
        if event["event"] == "indexed":
            seen.append(event)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return seen


def kill_after_seconds(process: subprocess.Popen[str], seconds: float) -> list[dict[str, object]]:
    time.sleep(seconds)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.stdout is not None
    return [e for e in map(json.loads, process.stdout.read().splitlines())
            if e["event"] == "indexed"]


def stored_state(kb: Path) -> dict[str, object]:
    """What the knowledge base at ``kb`` stores, read through the ``Store`` protocol so that
    every store is compared alike."""
    store = open_store(kb, None)
    try:
        stored = store.chunks(store.filtered_rowids(Filter()).tolist())
        term_keys, _ = store.chunk_terms()
        per_doc = {path: 0 for path in store.file_paths()}
        for item in stored.values():
            per_doc[item.path] = per_doc.get(item.path, 0) + 1
        return {"chunks": sorted((item.chunk.id, item.path) for item in stored.values()),
                "unembedded": len(store.views_without_vectors()),
                "unsearchable": len(set(stored) - set(term_keys.tolist())),
                "per_doc": per_doc}
    finally:
        store.close()


def assert_reported_documents_kept(kb: Path, reported: list[dict[str, object]]) -> None:
    state = stored_state(kb)
    assert state["unembedded"] == 0 and state["unsearchable"] == 0
    per_doc = state["per_doc"]
    assert isinstance(per_doc, dict)
    for event in reported:
        assert per_doc.get(event["path"]) == event["chunks"], event


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root, 120)
    return root


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    kb = tmp_path_factory.mktemp("reference")
    subprocess.run(lore_command("index", str(corpus), "--kb", str(kb), "--json"), check=True,
                   capture_output=True)
    return stored_state(kb)


KILLS = ["events:0", "events:1", "events:30", "events:90", "seconds:2.0", "seconds:4.0",
         "seconds:6.0"]


@pytest.mark.parametrize(("kill", "where"), [
    *((kill, "sqlite") for kill in KILLS),
    *((kill, "postgres") for kill in ("events:0", "events:30", "seconds:2.0", "seconds:6.0"))])
def test_kill_then_resume_loses_nothing(kill: str, where: str, corpus: Path, tmp_path: Path,
                                        reference: dict[str, object]) -> None:
    kb = tmp_path / "kb"
    store = ["--store", postgres.location()] if where == "postgres" else []
    how, amount = kill.split(":")
    process = start_index(corpus, kb, store)
    if how == "events":
        reported = kill_after_events(process, int(amount))
    else:
        reported = kill_after_seconds(process, float(amount))
    if how == "events":
        assert len(reported) == int(amount)  # killed mid-run, right after that many reports
    if (kb / "lore.db").exists() or (kb / STORE_LOCATION).exists():
        assert_reported_documents_kept(kb, reported)
    resumed = subprocess.run(lore_command("index", str(corpus), "--kb", str(kb), "--json",
                                          *store),
                             check=True, capture_output=True, text=True)
    report = json.loads(resumed.stdout)
    # More may have been committed between the last event read and the kill, never fewer.
    assert report["documents_added"] <= 120 - len(reported)
    assert stored_state(kb) == reference  # the same as a clean run into SQLite
    with lore.open(kb) as base:
        hits = base.search("note 7 explains backups detail number 50", k=3, mode="lexical")
        assert hits and hits[0].path.endswith("note_007.md")
        assert len(base.search("backups", k=5, mode="dense")) == 5
        assert base.status().vectors == base.status().chunks
