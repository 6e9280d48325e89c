"""Indexing runs over bad inputs: what cannot be read is reported, the rest is indexed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lore
from lore.testing.permissions import as_ordinary_user


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
