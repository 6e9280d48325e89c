"""kill -9 a real indexing process at several points: nothing reported indexed is lost, and
the next run repairs the rest into exactly the state a clean run produces."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lore

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


def start_index(corpus: Path, kb: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(lore_command("index", str(corpus), "--kb", str(kb), "--jsonl"),
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
    with sqlite3.connect(kb / "lore.db") as db:
        chunks = db.execute("SELECT c.id, d.path FROM chunks c JOIN documents d "
                            "ON d.id = c.doc_id ORDER BY c.id").fetchall()
        unembedded = db.execute("SELECT COUNT(*) FROM chunks c WHERE NOT EXISTS "
                                "(SELECT 1 FROM vectors v WHERE v.hash = c.view_hash)").fetchone()
        unsearchable = db.execute(
            "SELECT COUNT(*) FROM chunks c WHERE NOT EXISTS "
            "(SELECT 1 FROM chunk_terms t WHERE t.rowid = c.rowid)").fetchone()
        per_doc = dict(db.execute("SELECT d.path, COUNT(c.rowid) FROM documents d "
                                  "LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.id").fetchall())
    return {"chunks": chunks, "unembedded": unembedded[0], "unsearchable": unsearchable[0],
            "per_doc": per_doc}


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


@pytest.mark.parametrize("kill", ["events:0", "events:1", "events:30", "events:90",
                                  "seconds:2.0", "seconds:4.0", "seconds:6.0"])
def test_kill_then_resume_loses_nothing(kill: str, corpus: Path, tmp_path: Path,
                                        reference: dict[str, object]) -> None:
    kb = tmp_path / "kb"
    how, amount = kill.split(":")
    process = start_index(corpus, kb)
    if how == "events":
        reported = kill_after_events(process, int(amount))
    else:
        reported = kill_after_seconds(process, float(amount))
    if how == "events":
        assert len(reported) == int(amount)  # killed mid-run, right after that many reports
    if (kb / "lore.db").exists():
        assert_reported_documents_kept(kb, reported)
    resumed = subprocess.run(lore_command("index", str(corpus), "--kb", str(kb), "--json"),
                             check=True, capture_output=True, text=True)
    report = json.loads(resumed.stdout)
    # More may have been committed between the last event read and the kill, never fewer.
    assert report["documents_added"] <= 120 - len(reported)
    assert stored_state(kb) == reference
    with lore.open(kb) as base:
        hits = base.search("note 7 explains backups detail number 50", k=3, mode="lexical")
        assert hits and hits[0].path.endswith("note_007.md")
        assert len(base.search("backups", k=5, mode="dense")) == 5
        assert base.status().vectors == base.status().chunks
