"""Indexing runs over bad inputs: what cannot be read is reported, the rest is indexed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

import lore
from lore import pipeline
from lore.directory import open_store
from lore.ingest import parse
from lore.pipeline import SilentListener
from lore.testing.permissions import as_ordinary_user
from lore.types import Document


def test_an_unreadable_file_and_folder_are_reported_and_the_rest_is_indexed(
        tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "locked").mkdir(parents=True)
    (corpus / "good.txt").write_text("The good file is about lighthouses.\n")
    (corpus / "secret.txt").write_text("Nobody may read this.\n")
    (corpus / "locked" / "inside.txt").write_text("Behind a locked door.\n")
    (corpus / "secret.txt").chmod(0)
    (corpus / "locked").chmod(0)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "lore.cli", "index", str(corpus), "--kb", str(tmp_path / "kb"),
             "--model", "hash", "--json"],
            capture_output=True, text=True, timeout=300, preexec_fn=as_ordinary_user,
            env={**os.environ, "HOME": str(tmp_path)})
    finally:
        (corpus / "locked").chmod(0o755)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["documents_added"] == 1
    reasons = {Path(item["path"]).name: item["reason"] for item in report["skipped"]}
    assert reasons == {"secret.txt": "cannot read: permission denied (EACCES)",
                       "locked": "folder cannot be listed: permission denied (EACCES)"}
    with lore.open(tmp_path / "kb") as kb:
        assert [Path(hit.path).name for hit in kb.search("lighthouses", k=3)] == ["good.txt"]


def test_an_empty_file_is_reported_and_an_emptied_one_loses_its_old_text(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "empty.txt").write_text("")
    (notes / "later.txt").write_text("Lighthouses guide ships at night.\n")
    with lore.open(tmp_path / "kb", model="hash") as kb:
        report = kb.index([notes])
        assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
            ("empty.txt", "empty file: nothing in it to search")]
        (notes / "later.txt").write_text("  \n")
        kb.index([notes])
        assert kb.search("lighthouses", k=3, mode="lexical") == []


def stored(kb_dir: Path, path: Path) -> tuple[dict[str, str], list[str]]:
    """The documents the store holds for ``path`` (id -> content hash) and every chunk's terms."""
    with closing(open_store(kb_dir, None)) as store:
        return store.document_hashes(str(path)), sorted(store.chunk_terms()[1])


def records(count: int, removed: int = -1) -> str:
    return "".join(json.dumps({"_id": f"r{n}", "title": f"Lighthouse {n}",
                               "text": f"Keeper {n} climbs the tower.\n\nThe lamp turns."}) + "\n"
                   for n in range(count) if n != removed)


def test_a_large_jsonl_file_is_indexed_in_batches_as_if_read_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(records(25))
    with lore.open(tmp_path / "whole", model="hash") as kb:
        kb.index([corpus])
    monkeypatch.setattr(parse, "STREAM_BYTES", 1)
    monkeypatch.setattr(pipeline, "STREAM_BATCH", 4)
    monkeypatch.setattr(pipeline, "PENDING_LIMIT", 10)  # drained within the file too
    with lore.open(tmp_path / "streamed", model="hash") as kb:
        first = kb.index([corpus])
        assert (first.documents_added, first.chunks_added) == (25, 25)
        assert stored(tmp_path / "streamed", corpus) == stored(tmp_path / "whole", corpus)
        assert kb.index([corpus]).files_unchanged == 1
        corpus.write_text(records(25, removed=7))
        again = kb.index([corpus])
        assert (again.documents_added, again.documents_removed) == (0, 1)
        assert len(stored(tmp_path / "streamed", corpus)[0]) == 24


def test_a_file_that_changes_while_streamed_keeps_what_was_written_and_is_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(records(300))  # past what one read of the file buffers
    monkeypatch.setattr(parse, "STREAM_BYTES", 1)
    monkeypatch.setattr(pipeline, "STREAM_BATCH", 4)
    monkeypatch.setattr(pipeline, "PENDING_LIMIT", 1)

    class Truncating(SilentListener):
        def on_indexed(self, document: Document, chunks: int) -> None:
            if document.key == "r3":  # the first batch is written: cut the file short
                corpus.write_text(records(6))

    with lore.open(tmp_path / "kb", model="hash") as kb:
        report = kb.index([corpus], Truncating())
        assert [s.reason.split(" (")[0] for s in report.skipped] == [
            "changed while being indexed"]
        assert report.documents_added >= 4
        assert len(stored(tmp_path / "kb", corpus)[0]) == report.documents_added
        again = kb.index([corpus])  # not skipped as unchanged: its record was never written
        assert again.files_unchanged == 0
        assert len(stored(tmp_path / "kb", corpus)[0]) == 6
