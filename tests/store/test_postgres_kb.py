"""A knowledge base whose documents live in PostgreSQL answers as one in its own SQLite file:
the same index run, the same hits in every search mode, through the API and the commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import lore
from lore.cli import main
from lore.config import LoreConfig
from lore.directory import STORE_LOCATION
from lore.errors import ConfigError
from lore.testing import postgres
from lore.types import SearchMode

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample"
QUESTIONS = ("how are expired cache entries removed?", "retry policy on a 503",
             "where is the configuration read", "what does the index store")


@pytest.fixture
def config(tmp_path: Path) -> LoreConfig:
    return LoreConfig(kb_dir=tmp_path / "unused")


def _hits(kb: lore.KnowledgeBase, mode: SearchMode) -> list[list[tuple[str, float]]]:
    return [[(hit.chunk.id, round(hit.score, 5)) for hit in kb.search(q, k=5, mode=mode)]
            for q in QUESTIONS]


def test_the_same_documents_give_the_same_hits_in_every_mode(
        server: str, tmp_path: Path, config: LoreConfig) -> None:
    location = postgres.location(server)
    with lore.open(tmp_path / "sqlite", model="hash", config=config) as local, \
            lore.open(tmp_path / "pg", model="hash", config=config, store=location) as shared:
        local_report, shared_report = local.index([SAMPLE]), shared.index([SAMPLE])
        assert shared_report.documents_added == local_report.documents_added > 0
        assert shared.status().chunks == local.status().chunks
        assert (shared.status().store, local.status().store) == (
            location, str(tmp_path / "sqlite" / "lore.db"))
        modes: tuple[SearchMode, ...] = ("lexical", "dense", "hybrid")
        for mode in modes:
            assert _hits(shared, mode) == _hits(local, mode), mode
    assert not (tmp_path / "pg" / "lore.db").exists()
    assert (tmp_path / "pg" / STORE_LOCATION).stat().st_mode & 0o077 == 0


def test_the_folder_remembers_its_database(server: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LORE_HOME", raising=False)
    monkeypatch.delenv("LORE_STORE", raising=False)
    monkeypatch.setenv("LORE_MODEL", "hash")
    runner, kb, location = CliRunner(), str(tmp_path / "kb"), postgres.location(server)
    indexed = runner.invoke(main, ["index", str(SAMPLE), "--kb", kb, "--store", location,
                                   "--json"])
    assert indexed.exit_code == 0, indexed.output
    found = runner.invoke(main, ["search", "expired cache entries", "--kb", kb, "--json"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["hits"]
    other = runner.invoke(main, ["status", "--kb", kb, "--store", postgres.location(server)])
    assert other.exit_code == 2 and "keeps its documents in" in other.stderr


def test_a_store_that_is_no_database_url_is_refused(tmp_path: Path, config: LoreConfig) -> None:
    with pytest.raises(ConfigError, match="is not a postgresql:// URL"):
        lore.open(tmp_path / "kb", model="hash", config=config, store="/tmp/other.db")


@pytest.mark.slow
def test_two_index_runs_at_once_store_every_document_once(server: str, tmp_path: Path) -> None:
    """Two folders (two machines, say) index overlapping trees into one collection at the
    same time: each document is there once, with the chunks a lone run gives it."""
    corpus = tmp_path / "corpus"
    for part in ("shared", "own"):
        (corpus / part).mkdir(parents=True)
    for i in range(60):
        part = "shared" if i % 2 else "own"
        (corpus / part / f"note_{i:02d}.md").write_text(
            f"# Note {i}\n\n" + "\n\n".join(f"Paragraph {j} of note {i}: " + "word " * 60
                                            for j in range(3)))
    location = postgres.location(server)
    env = {**os.environ, "LORE_MODEL": "hash"}
    env.pop("LORE_HOME", None)
    runs = [subprocess.Popen([sys.executable, "-m", "lore.cli", "index", str(tree), "--kb",
                              str(tmp_path / f"kb{n}"), "--store", location, "--json"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for n, tree in enumerate((corpus, corpus / "shared"))]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    config = LoreConfig(kb_dir=tmp_path / "unused")
    with lore.open(tmp_path / "alone", model="hash", config=config) as alone:
        alone.index([corpus])
        expected = alone.status()
    for n in range(2):
        with lore.open(tmp_path / f"kb{n}", config=config) as shared:
            status = shared.status()
            assert (status.documents, status.chunks, status.vectors) == (
                expected.documents, expected.chunks, expected.vectors)
            assert shared.search("paragraph 2 of note 17", k=1, mode="lexical")[0].path \
                .endswith("note_17.md")
