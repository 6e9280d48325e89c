"""The knowledge graph read by the real local model (qwen-0.5b), in real processes: killed
with SIGKILL mid-run, the next run reads only what the first did not and nothing twice;
SIGTERM stops it with a message saying how to go on; and what the model finds is in the
text."""

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


def lore_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lore.cli", *args]


def outputs(kb: Path) -> int:
    """Chunk outputs the ledger holds (0 before it exists: the file appears a moment before
    the run has made its tables)."""
    if not (kb / "knowledge.db").exists():
        return 0
    with sqlite3.connect(kb / "knowledge.db", timeout=30) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM extractions").fetchone()[0])
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return 0
            raise


def start(corpus: Path, kb: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(lore_command("index", str(corpus), "--kb", str(kb), "--model",
                                         "hash", "--graph", "llm", "--graph-model", "qwen-0.5b"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_outputs(process: subprocess.Popen[str], kb: Path, count: int) -> None:
    deadline = time.monotonic() + 300
    while outputs(kb) < count:
        assert process.poll() is None, "the run ended before it was stopped"
        assert time.monotonic() < deadline, "no chunk was read within 5 minutes"
        time.sleep(0.2)


def test_a_killed_run_is_finished_by_the_next_without_reading_anything_twice(
        tmp_path: Path, corpus: Path) -> None:
    kb = tmp_path / "kb"
    process = start(corpus, kb)
    wait_for_outputs(process, kb, 2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = outputs(kb)
    assert 2 <= before < 10
    finished = subprocess.run(lore_command("index", str(corpus), "--kb", str(kb), "--graph",
                                           "llm", "--graph-model", "qwen-0.5b", "--json"),
                              capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)["knowledge"]
    assert report["read"] == 10 - before and report["failed"] == 0
    assert outputs(kb) == 10


def test_sigterm_stops_a_run_with_how_to_go_on(tmp_path: Path, corpus: Path) -> None:
    kb = tmp_path / "kb"
    process = start(corpus, kb)
    wait_for_outputs(process, kb, 1)
    os.kill(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "interrupted: run the same command again to go on" in err
    assert "Traceback" not in err
    assert outputs(kb) >= 1


def test_what_the_model_finds_is_in_the_text_and_names_the_notes_people_and_places(
        tmp_path: Path, corpus: Path) -> None:
    with lore.open(tmp_path / "kb", model="hash") as base:
        base.index([corpus])
        run = base.build_knowledge(base.knowledge_plan("qwen-0.5b"))
        knowledge, _ = base.knowledge_graph()
    assert run.extracted.calls == 10 and run.failed == 0
    text = " ".join(note.read_text() for note in corpus.iterdir()).casefold()
    assert all(name.casefold() in text for name in knowledge.names), knowledge.names
    named = {name.casefold() for name in knowledge.names}
    expected = {"ada park", "matterhorn", "zermatt", "aletsch glacier", "university of oslo"}
    assert len(expected & named) >= 3, named
    assert knowledge.facts()["relations"] >= 3
