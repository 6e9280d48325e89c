"""The knowledge base end to end through the Python API, with real files and SQLite.

Most tests use the shipped HashEmbedder (deterministic, instant); the ones marked ``slow`` use
the real MiniLM model from its wheel.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import lore
from lore.api import MODES
from lore.errors import ConfigError, EmbedderMismatch, QueryError
from lore.testing.cli_probes import RARE, identifier_notes
from lore.types import IndexReport

CACHE_DOC = """# Caching

## Invalidation

Entries older than the time to live are expired and removed on read.
Writes invalidate the cached entry at once.

## Eviction

When the cache is full the least recently used entry is evicted.
"""

RETRY_CODE = '''
def retry_request(send, attempts=5):
    """Send a request again after a 503 with exponential backoff."""
    for attempt in range(attempts):
        response = send()
        if response.status != 503:
            return response
    raise RuntimeError("gave up")
'''

CHINESE_DOC = "# 部署\n\n数据每天凌晨三点自动备份到对象存储，备份保留三十天。\n"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "src").mkdir(parents=True)
    (root / "caching.md").write_text(CACHE_DOC)
    (root / "src" / "retry.py").write_text(RETRY_CODE)
    (root / "部署.md").write_text(CHINESE_DOC)
    return root


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[lore.KnowledgeBase]:
    with lore.open(tmp_path / "kb", model="hash") as base:
        yield base


def test_index_then_search_in_every_mode(kb: lore.KnowledgeBase, corpus: Path) -> None:
    report = kb.index([corpus])
    assert report.documents_added == 3 and not report.skipped
    for mode in ("lexical", "dense", "hybrid"):
        hits = kb.search("when are cache entries expired", k=3, mode=mode)
        assert hits, mode
        assert hits[0].path.endswith("caching.md"), mode
        assert hits[0].chunk.section[-1] == "Invalidation", mode
    hybrid = kb.search("expired entries", k=1)[0]
    assert set(hybrid.scores) == {"lexical", "dense"} and hybrid.ranks["lexical"] >= 1


def test_chinese_query_finds_chinese_text(kb: lore.KnowledgeBase, corpus: Path) -> None:
    kb.index([corpus])
    hits = kb.search("备份保留多久", k=1, mode="lexical")
    assert hits[0].path.endswith("部署.md")


def test_code_is_found_by_its_description(kb: lore.KnowledgeBase, corpus: Path) -> None:
    kb.index([corpus])
    hit = kb.search("retry request backoff", k=1, mode="lexical")[0]
    assert hit.chunk.kind == "code" and hit.chunk.symbol == "retry_request"
    assert hit.chunk.lines is not None and hit.chunk.lines[0] == 2


def test_reindex_of_unchanged_files_embeds_nothing(kb: lore.KnowledgeBase, corpus: Path) -> None:
    first = kb.index([corpus])
    second = kb.index([corpus])
    assert first.chunks_embedded > 0
    assert second == IndexReport(files_seen=3, files_unchanged=3, seconds=second.seconds)


def test_a_changed_file_reembeds_only_its_changed_chunks(kb: lore.KnowledgeBase,
                                                         corpus: Path) -> None:
    kb.index([corpus])
    path = corpus / "caching.md"
    path.write_text(CACHE_DOC.replace("least recently used", "oldest"))
    os.utime(path, (time.time() + 5, time.time() + 5))
    report = kb.index([corpus])
    assert report.documents_updated == 1 and report.files_unchanged == 2
    assert report.chunks_embedded == 1 and report.chunks_added == 1
    assert kb.search("oldest entry evicted", k=1, mode="lexical")[0].path == str(path)


def test_touched_but_unchanged_file_is_not_reparsed(kb: lore.KnowledgeBase, corpus: Path) -> None:
    kb.index([corpus])
    os.utime(corpus / "caching.md", (time.time() + 9, time.time() + 9))
    report = kb.index([corpus])
    assert report.files_unchanged == 3 and report.chunks_embedded == 0


def test_removed_files_leave_every_index(kb: lore.KnowledgeBase, corpus: Path) -> None:
    kb.index([corpus])
    (corpus / "caching.md").unlink()
    report = kb.index([corpus])
    assert report.documents_removed == 1
    for mode in ("lexical", "dense", "hybrid"):
        assert all(not h.path.endswith("caching.md") for h in kb.search("cache", k=10, mode=mode))
    assert kb.status().documents == 2 and kb.status().vectors == kb.status().chunks


def test_rm_removes_documents_under_a_path(kb: lore.KnowledgeBase, corpus: Path) -> None:
    kb.index([corpus])
    assert kb.remove([corpus / "src"]) == 1
    assert kb.remove([corpus / "src"]) == 0
    assert kb.status().documents == 2


def test_filters_apply_to_every_mode(kb: lore.KnowledgeBase, corpus: Path) -> None:
    kb.index([corpus])
    for mode in ("lexical", "dense", "hybrid"):
        hits = kb.search("retry backoff cache", k=10, mode=mode, where=["path=src/*"])
        assert hits and all(h.path.endswith("retry.py") for h in hits), mode
        assert kb.search("cache", k=5, mode=mode, where=["type=pdf"]) == []
    assert {h.chunk.kind for h in kb.search("cache retry", k=10, where=["kind=code"])} == {"code"}


def test_bad_files_are_skipped_and_the_batch_goes_on(kb: lore.KnowledgeBase, corpus: Path) -> None:
    (corpus / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    (corpus / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    report = kb.index([corpus])
    assert report.documents_added == 3
    assert {Path(s.path).name for s in report.skipped} == {"blob.bin", "latin1.txt", "broken.pdf"}
    assert all(s.reason for s in report.skipped)


@pytest.mark.parametrize("query, k, message", [
    ("", 5, "empty"), ("   ", 5, "empty"), ("x" * 9000, 5, "limit"),
    ("cache", 0, "out of range"), ("cache", 5000, "out of range"),
])
def test_bad_queries_are_clear_errors(kb: lore.KnowledgeBase, query: str, k: int,
                                      message: str) -> None:
    with pytest.raises(QueryError, match=message):
        kb.search(query, k=k)


def test_an_empty_knowledge_base_returns_no_hits(kb: lore.KnowledgeBase) -> None:
    assert kb.search("anything", mode="hybrid") == []


def test_a_file_given_as_knowledge_base_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        lore.open(path, model="hash")


def test_opening_with_another_model_says_how_to_reembed(tmp_path: Path, corpus: Path) -> None:
    with lore.open(tmp_path / "kb", model="hash") as base:
        base.index([corpus])
    with pytest.raises(EmbedderMismatch, match="lore reembed"):
        lore.open(tmp_path / "kb", model="minilm")
    with lore.open(tmp_path / "kb") as base:  # no model named: the recorded one is used
        assert base.status().embedder == "hash"


def test_the_vector_index_is_rebuilt_when_missing_or_damaged(tmp_path: Path,
                                                             corpus: Path) -> None:
    with lore.open(tmp_path / "kb", model="hash") as base:
        base.index([corpus])
        expected = [h.chunk.id for h in base.search("cache entries", k=3, mode="dense")]
    index_dir = tmp_path / "kb" / "index" / "vectors"
    live = index_dir / (index_dir / "CURRENT").read_text().strip()
    for item in live.iterdir():
        item.write_bytes(b"garbage")
    with lore.open(tmp_path / "kb") as base:
        assert [h.chunk.id for h in base.search("cache entries", k=3, mode="dense")] == expected
    (index_dir / "CURRENT").unlink()
    with lore.open(tmp_path / "kb") as base:
        assert [h.chunk.id for h in base.search("cache entries", k=3, mode="dense")] == expected


def test_a_reader_catches_up_with_a_writer(tmp_path: Path, corpus: Path) -> None:
    with lore.open(tmp_path / "kb", model="hash") as writer, \
            lore.open(tmp_path / "kb", model="hash") as reader:
        assert reader.search("expired", k=3, mode="dense") == []
        writer.index([corpus])
        assert reader.search("expired entries", k=1, mode="dense")[0].path.endswith("caching.md")


def test_an_hnsw_knowledge_base_finds_what_exact_search_finds(tmp_path: Path,
                                                              corpus: Path) -> None:
    from dataclasses import replace

    from lore.config import IndexConfig, LoreConfig

    results = {}
    for ann in ("exact", "hnsw"):
        config = replace(LoreConfig(), index=IndexConfig(ann=ann))
        with lore.open(tmp_path / ann, model="hash", config=config) as base:
            base.index([corpus])
            assert base.status().ann == ann
            results[ann] = [h.chunk.id for h in base.search("cache entries", k=3, mode="dense")]
    assert results["hnsw"] == results["exact"]


@pytest.mark.parametrize("ann", ["ivfpq", "lsh"])
def test_a_compressed_index_knowledge_base_scores_like_exact_search(tmp_path: Path,
                                                                    corpus: Path,
                                                                    ann: str) -> None:
    from dataclasses import replace

    from lore.config import IndexConfig, LoreConfig

    results = {}
    for kind in ("exact", ann):
        config = replace(LoreConfig(), index=IndexConfig(ann=kind))  # type: ignore[arg-type]
        with lore.open(tmp_path / kind, model="hash", config=config) as base:
            base.index([corpus])
            assert base.status().ann == kind
        with lore.open(tmp_path / kind, model="hash", config=config) as base:  # loads it
            hits = base.search("cache entries", k=3, mode="dense")
            results[kind] = [(h.chunk.id, round(h.score, 5)) for h in hits]
    assert results[ann] == results["exact"]


@pytest.mark.slow
def test_reembed_switches_the_model_and_every_vector(tmp_path: Path, corpus: Path) -> None:
    with lore.open(tmp_path / "kb", model="hash") as base:
        base.index([corpus])
    with lore.open(tmp_path / "kb", model="minilm", switch_model=True) as base:
        assert base.reembed() == base.status().chunks
    with lore.open(tmp_path / "kb") as base:
        state = base.status()
        assert (state.embedder, state.dimension, state.vectors) == ("minilm", 384, state.chunks)
        assert base.search("when do cache entries expire", k=1, mode="dense")[0].path.endswith(
            "caching.md")


@pytest.mark.slow
def test_reembed_run_again_keeps_what_the_new_model_already_embedded(tmp_path: Path,
                                                                     corpus: Path) -> None:
    """A re-embed killed halfway and run again used to discard the part already done."""
    with lore.open(tmp_path / "kb", model="hash") as base:
        base.index([corpus])
    with lore.open(tmp_path / "kb", model="minilm", switch_model=True) as base:
        assert base.reembed() == base.status().chunks
        assert base.reembed() == 0
        assert base.status().vectors == base.status().chunks


def test_an_interrupted_reembed_is_finished_by_the_next_index(tmp_path: Path,
                                                              corpus: Path) -> None:
    from lore.store.sqlite import SqliteStore

    with lore.open(tmp_path / "kb", model="hash") as base:
        base.index([corpus])
        chunks = base.status().chunks
    store = SqliteStore(tmp_path / "kb" / "lore.db")
    store.switch_embedder({"embedder": "hash", "dimension": "64"})  # as if killed right after
    store.close()
    with lore.open(tmp_path / "kb") as base:
        report = base.index([corpus])
        assert report.chunks_embedded == chunks and report.files_unchanged == 3
        assert base.status().vectors == chunks


def test_new_chunk_settings_rechunk_unchanged_files_and_keep_same_views(
        tmp_path: Path, corpus: Path) -> None:
    from dataclasses import replace

    from lore.config import LoreConfig

    config = LoreConfig()
    with lore.open(tmp_path / "kb", model="hash", config=config) as kb:
        kb.index([corpus])
    code_only = replace(config, ingest=replace(config.ingest, code_view="code"))
    with lore.open(tmp_path / "kb", model="hash", config=code_only) as kb:
        report = kb.index([corpus])
        assert report.files_unchanged == 0
        # Only the code chunk's view changed; prose views kept their vectors.
        assert 0 < report.chunks_embedded < kb.status().chunks
        [code] = [h for h in kb.search("retry request", k=20, mode="lexical")
                  if h.chunk.kind == "code"]
        assert code.chunk.view == code.chunk.text  # the stored view is the new one
        again = kb.index([corpus])
        assert again.files_unchanged == again.files_seen and again.chunks_embedded == 0


def test_search_reranks_its_top_hits(kb: lore.KnowledgeBase, corpus: Path) -> None:
    kb.index([corpus])
    hits = kb.search("entry evicted when the cache is full", k=3, rerank="overlap")
    assert [h.source for h in hits] == ["rerank"] * len(hits)
    assert [h.ranks["rerank"] for h in hits] == list(range(1, len(hits) + 1))
    assert "lexical" in hits[0].scores or "dense" in hits[0].scores
    with pytest.raises(ConfigError, match="unknown reranker"):
        kb.search("cache", rerank="nonsense:model")


ANIMALS = {"dingo": "The dingo is a wild dog of Australia that hunts kangaroos at dusk.",
           "okapi": "The okapi is a forest giraffe of the Congo with striped legs.",
           "axolotl": "The axolotl is a salamander of Mexican lakes that regrows limbs.",
           "quokka": "The quokka is a small wallaby of Rottnest Island that seems to smile.",
           "kakapo": "The kakapo is a flightless night parrot of New Zealand forests."}
MICROARRAYS = {f"array{i}": f"Microarray study {i} measured gene expression in tumour "
               f"samples {i} with probe set {i} and normalisation method {i}." for i in range(8)}


def write_notes(folder: Path, notes: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in notes.items():
        (folder / f"{name}.md").write_text(text)
    return folder


def dense_first_paths(base: lore.KnowledgeBase, notes: dict[str, str]) -> dict[str, str]:
    return {name: Path(base.search(text, k=1, mode="dense")[0].path).stem
            for name, text in notes.items()}


@pytest.mark.parametrize("restore", ["backup", "delete"])
def test_an_index_built_from_another_state_of_the_store_is_never_trusted(
        tmp_path: Path, restore: str) -> None:
    """Restoring lore.db from a backup, or deleting it, while index/ stays: the old index
    held vectors for rowids that now name other chunks (a microarray abstract answered a
    question about the dingo)."""
    kb_dir = tmp_path / "kb"
    with lore.open(kb_dir, model="hash") as base:
        base.index([write_notes(tmp_path / "first", {"dingo": ANIMALS["dingo"]})])
    backup = tmp_path / "backup.db"
    backup.write_bytes((kb_dir / "lore.db").read_bytes())
    with lore.open(kb_dir, model="hash") as base:
        base.index([write_notes(tmp_path / "arrays", MICROARRAYS)])
    for name in ("lore.db", "lore.db-wal", "lore.db-shm"):
        (kb_dir / name).unlink(missing_ok=True)
    if restore == "backup":
        (kb_dir / "lore.db").write_bytes(backup.read_bytes())
    with lore.open(kb_dir, model="hash") as base:
        base.index([write_notes(tmp_path / "animals", ANIMALS)])
        assert dense_first_paths(base, ANIMALS) == {name: name for name in ANIMALS}
    with lore.open(kb_dir, model="hash") as base:  # and once saved, from the saved copy
        assert dense_first_paths(base, ANIMALS) == {name: name for name in ANIMALS}


@pytest.mark.slow
def test_an_identifier_only_one_chunk_holds_is_found_by_hybrid_search(tmp_path: Path) -> None:
    """Pasted identifiers and error codes: a lone lexical hit scored 0 when standardised
    alone, and the dense side, which reads such tokens as noise, decided."""
    with lore.open(tmp_path / "kb", model="minilm") as base:
        base.index([write_notes(tmp_path / "notes", identifier_notes())])
        for i, term in enumerate(RARE):
            assert [Path(h.path).stem for h in base.search(term, k=1, mode="lexical")] == \
                [f"rare{i}"]
            hits = base.search(term, k=3, mode="hybrid")
            assert Path(hits[0].path).stem == f"rare{i}", (term, [h.path for h in hits])


def damage_in_place(path: Path) -> None:
    """Overwrite bytes in the middle of a file, keeping its size (as a disk or an editor may)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes([0xFF]) * len(data[middle:middle + 64])
    path.write_bytes(bytes(data))


def test_derived_files_damaged_in_place_are_rebuilt_and_saved_again(tmp_path: Path,
                                                                    corpus: Path) -> None:
    """Same-size damage to terms.npy made lexical search raise; to vectors.npy, nan scores."""
    with lore.open(tmp_path / "kb", model="hash") as base:
        base.index([corpus])
        expected = {mode: [h.chunk.id for h in base.search("cache entries", k=3, mode=mode)]
                    for mode in MODES}
    damaged = {}
    for name in ("bm25", "vectors"):
        index_dir = tmp_path / "kb" / "index" / name
        damaged[name] = (index_dir / "CURRENT").read_text().strip()
        for item in (index_dir / damaged[name]).glob("*.npy"):
            damage_in_place(item)
    with lore.open(tmp_path / "kb") as base:
        for mode, ids in expected.items():
            hits = base.search("cache entries", k=3, mode=mode)
            assert [h.chunk.id for h in hits] == ids
            assert all(np.isfinite(h.score) for h in hits)
        base.index([corpus])  # nothing changed: the repaired copies are written all the same
    for name in ("bm25", "vectors"):
        assert (tmp_path / "kb" / "index" / name / "CURRENT").read_text().strip() != \
            damaged[name]
