"""Derived vector indexes fed from a real (in-memory) SqliteStore: the kind follows the config,
and the compressed kinds re-score from the store's vectors."""

from pathlib import Path

import numpy as np
import pytest

from lore.config import AnnChoice, IndexConfig
from lore.store.concepts import ConceptIndex, ConceptWriter
from lore.store.derived import ConceptFeed, DerivedIndex, TermFeed, VectorFeed
from lore.store.hnsw import HnswIndex
from lore.store.ivfpq import IvfPqIndex
from lore.store.lsh import LshIndex
from lore.store.protocol import DocumentWrite, FileRecord
from lore.store.sqlite import SqliteStore
from lore.text.analyze import analyze
from lore.types import Chunk, Document

DIM = 8


def filled_store(n: int, seed: int = 0) -> tuple[SqliteStore, np.ndarray]:
    """A store of one document with ``n`` chunks, each with a random unit vector."""
    store = SqliteStore(None)
    written = document_write("/kb/a.md", [f"paragraph {i}" for i in range(n)])
    store.write([written], files=[FileRecord(written.document.path, 10, 1.0, "h")])
    rows = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    store.put_vectors([c.view_hash for c in written.chunks],
                      rows / np.linalg.norm(rows, axis=1, keepdims=True))
    return store, store.chunk_vectors(dim=DIM)[1]


def document_write(path: str, paragraphs: list[str]) -> DocumentWrite:
    """A markdown document of these paragraphs, a chunk each, with its analysed terms."""
    text = "\n\n".join(paragraphs)
    document = Document(path=path, text=text, key="", title=Path(path).name, format="markdown",
                        language="en", mtime=1_700_000_000.0)
    chunks, offset = [], 0
    for paragraph in paragraphs:
        start = text.index(paragraph, offset)
        offset = start + len(paragraph)
        chunks.append(Chunk(doc_id=document.id, text=paragraph, start=start, end=offset,
                            view=paragraph, section=(), lines=(1, 1)))
    return DocumentWrite(document, chunks, [" ".join(analyze(c.view)) for c in chunks])


@pytest.mark.parametrize("ann", ["lsh", "ivfpq"])
def test_compressed_indexes_rescore_from_the_store(ann: AnnChoice) -> None:
    store, vectors = filled_store(300)
    derived = DerivedIndex(store, None, VectorFeed(store, DIM, IndexConfig(ann=ann)))
    index = derived.current()
    assert index.kind == ann
    keys, _ = store.chunk_vectors(dim=DIM)
    for i in range(0, 300, 50):
        found, scores = index.search(vectors[i], k=5)
        assert found[0] == keys[i] and scores[0] == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(scores, store.vectors_by_rowid(found, DIM) @ vectors[i],
                                   atol=1e-6)


def test_a_trained_ivfpq_index_rescores_from_the_store(tmp_path: Path) -> None:
    store, vectors = filled_store(10_000)
    feed = VectorFeed(store, DIM, IndexConfig(ann="ivfpq"))
    derived = DerivedIndex(store, tmp_path / "vectors", feed)
    index = derived.current()
    assert isinstance(index, IvfPqIndex) and index.trained_size == 10_000
    derived.save()
    reopened = DerivedIndex(store, tmp_path / "vectors", feed).current()
    assert isinstance(reopened, IvfPqIndex) and reopened.rescore_source is not None
    keys, _ = store.chunk_vectors(dim=DIM)
    found, scores = reopened.search(vectors[7], k=3)
    assert found[0] == keys[7] and scores[0] == pytest.approx(1.0, abs=1e-6)


def test_an_ivfpq_index_built_from_the_store_is_laid_out_for_all_of_it(tmp_path: Path) -> None:
    store, vectors = filled_store(25_000)
    feed = VectorFeed(store, DIM, IndexConfig(ann="ivfpq"))
    index = DerivedIndex(store, tmp_path / "vectors", feed).current()
    assert isinstance(index, IvfPqIndex) and len(index) == 25_000
    # Trained on a sample, for every chunk: not on the first 10,000, then found outgrown
    # (and rebuilt) by every save.
    assert index.trained_size == 25_000 and feed.fits(index)
    assert index.nbytes < 25_000 * (4 * DIM + 8)  # codes, not the float32 vectors
    keys, _ = store.chunk_vectors(dim=DIM)
    for row in (3, 12_345, 24_999):
        found, _ = index.search(vectors[row], k=1)
        assert found[0] == keys[row]


def test_asking_for_another_kind_rebuilds_the_saved_index(tmp_path: Path) -> None:
    store, _ = filled_store(50)
    DerivedIndex(store, tmp_path, VectorFeed(store, DIM, IndexConfig(ann="exact"))).save()
    derived = DerivedIndex(store, tmp_path, VectorFeed(store, DIM, IndexConfig(ann="lsh")))
    assert derived.kind == "none" and derived.current().kind == "exact"  # loaded as saved
    derived.save()
    assert derived.current().kind == "lsh" and isinstance(derived.current(), LshIndex)
    assert [p.name.rsplit("-", 1)[0] for p in tmp_path.iterdir() if p.is_dir()] == \
        [f"{derived.seq}-lsh"]


def test_a_copy_saved_from_another_store_is_rebuilt(tmp_path: Path) -> None:
    store, vectors = filled_store(40, seed=1)
    DerivedIndex(store, tmp_path, VectorFeed(store, DIM, IndexConfig())).save()
    other, other_vectors = filled_store(40, seed=2)  # same rowids, other vectors
    index = DerivedIndex(other, tmp_path, VectorFeed(other, DIM, IndexConfig())).current()
    keys, _ = other.chunk_vectors(dim=DIM)
    found, scores = index.search(other_vectors[5], k=1)
    assert found[0] == keys[5] and scores[0] == pytest.approx(1.0, abs=1e-6)


def test_an_unchanged_index_is_not_written_again(tmp_path: Path) -> None:
    store, _ = filled_store(40)
    derived = DerivedIndex(store, tmp_path, VectorFeed(store, DIM, IndexConfig()))
    derived.save()
    first = (tmp_path / "CURRENT").read_text()
    DerivedIndex(store, tmp_path, VectorFeed(store, DIM, IndexConfig())).save()
    assert (tmp_path / "CURRENT").read_text() == first


def lexical(store: SqliteStore, directory: Path | None, query: str) -> list[int]:
    index = DerivedIndex(store, directory, TermFeed(store)).current()
    return [int(key) for key in index.search(analyze(query), k=50)[0]]


def test_a_written_bm25_copy_is_what_a_rebuild_holds_and_follows_changes(
        tmp_path: Path) -> None:
    store = SqliteStore(None)
    store.write([document_write("/kb/a.md", [f"lighthouse keeper {i}" for i in range(30)]),
                 document_write("/kb/c.md", [f"tower lamp {i}" for i in range(10)])])
    DerivedIndex(store, tmp_path, TermFeed(store)).write()
    assert (tmp_path / "CURRENT").read_text().startswith(f"{store.last_change()}-bm25-")
    queries = ["lighthouse keeper 7", "tower lamp", "keeper lamp 3"]
    for query in queries:
        assert lexical(store, tmp_path, query) == lexical(store, None, query)
    store.write([document_write("/kb/b.md", ["lamp keeper 3", "a lighthouse tower"])],
                removed_documents=[document_write("/kb/c.md", ["x"]).document.id])
    DerivedIndex(store, tmp_path, TermFeed(store)).write()  # carries a.md over from disk
    assert (tmp_path / "CURRENT").read_text().startswith(f"{store.last_change()}-bm25-")
    for query in queries:
        assert lexical(store, tmp_path, query) == lexical(store, None, query)
    assert len(DerivedIndex(store, tmp_path, TermFeed(store)).current()) == 32


def test_a_damaged_copy_is_written_again_from_the_store(tmp_path: Path) -> None:
    store = SqliteStore(None)
    store.write([document_write("/kb/a.md", [f"lighthouse keeper {i}" for i in range(5)])])
    DerivedIndex(store, tmp_path, TermFeed(store)).write()
    live = tmp_path / (tmp_path / "CURRENT").read_text()
    (live / "terms.npy").write_bytes(b"damaged")
    store.write([document_write("/kb/b.md", ["lamp keeper"])])
    DerivedIndex(store, tmp_path, TermFeed(store)).write()
    assert lexical(store, tmp_path, "keeper") == lexical(store, None, "keeper")


def held(index: HnswIndex) -> dict[int, bytes]:
    keys = np.concatenate([np.asarray(s.graph.keys[:], np.int64) for s in index.segments])
    return dict(zip(keys.tolist(), (row.tobytes() for row in index.vectors_of(keys)),
                    strict=True))


def test_a_written_hnsw_copy_is_what_a_rebuild_holds_and_follows_changes(
        tmp_path: Path) -> None:
    store, _ = filled_store(230)
    config = IndexConfig(ann="hnsw", hnsw_segment=100)
    DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config)).write()
    live = tmp_path / (tmp_path / "CURRENT").read_text()
    assert live.name.startswith(f"{store.last_change()}-hnsw-")
    assert sorted(p.name for p in live.glob("segment-*")) == [
        "segment-0.usearch", "segment-1.usearch", "segment-2.usearch"]

    def matches_a_rebuild() -> None:
        written = DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config)).current()
        rebuilt = DerivedIndex(store, None, VectorFeed(store, DIM, config)).current()
        assert isinstance(written, HnswIndex) and isinstance(rebuilt, HnswIndex)
        assert held(written) == held(rebuilt)

    matches_a_rebuild()
    added = document_write("/kb/b.md", [f"another paragraph {i}" for i in range(30)])
    store.write([added], files=[FileRecord(added.document.path, 10, 1.0, "h")])
    rows = np.random.default_rng(9).standard_normal((30, DIM)).astype(np.float32)
    store.put_vectors([c.view_hash for c in added.chunks], rows)
    DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config)).write()  # carries a.md over
    matches_a_rebuild()
    store.write([], removed_documents=[added.document.id])
    DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config)).write()
    matches_a_rebuild()
    assert len(DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config)).current()) == 230


def test_a_written_copy_of_another_kind_is_written_anew(tmp_path: Path) -> None:
    store, _ = filled_store(120)
    DerivedIndex(store, tmp_path, VectorFeed(store, DIM, IndexConfig(ann="exact"))).write()
    config = IndexConfig(ann="hnsw", hnsw_segment=50)
    DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config)).write()
    index = DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config)).current()
    assert isinstance(index, HnswIndex) and len(index) == 120 and len(index.segments) == 3


def add_document(store: SqliteStore, path: str, count: int, seed: int) -> str:
    added = document_write(path, [f"{path} paragraph {i}" for i in range(count)])
    store.write([added], files=[FileRecord(added.document.path, 10, 1.0, "h")])
    rows = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    store.put_vectors([c.view_hash for c in added.chunks], rows)
    return added.document.id


def segment_inodes(directory: Path) -> dict[str, int]:
    live = directory / (directory / "CURRENT").read_text()
    return {path.name: path.stat().st_ino for path in live.glob("segment-*")}


def test_a_loaded_hnsw_index_is_mapped_and_its_saves_link_untouched_segments(
        tmp_path: Path) -> None:
    store, _ = filled_store(230)
    config = IndexConfig(ann="hnsw", hnsw_segment=100)
    DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config)).write()
    derived = DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config))
    index = derived.current()
    assert isinstance(index, HnswIndex)
    assert all(segment.source is not None for segment in index.segments)
    earlier = segment_inodes(tmp_path)
    for seed, path in enumerate(["/kb/b.md", "/kb/c.md"]):  # each lands in the last segment
        add_document(store, path, 10, seed)
        derived.save()
        saved = segment_inodes(tmp_path)
        assert saved["segment-0.usearch"] == earlier["segment-0.usearch"]
        assert saved["segment-1.usearch"] == earlier["segment-1.usearch"]
        assert saved["segment-2.usearch"] != earlier["segment-2.usearch"]  # both existed
        earlier = saved
        index = derived.current()
        assert isinstance(index, HnswIndex)
        assert all(segment.source is not None for segment in index.segments)  # mapped again
    rebuilt = DerivedIndex(store, None, VectorFeed(store, DIM, config)).current()
    assert isinstance(rebuilt, HnswIndex) and held(index) == held(rebuilt)


def test_a_mapped_index_saves_whole_after_another_writer_removed_its_copy(
        tmp_path: Path) -> None:
    store, _ = filled_store(230)
    config = IndexConfig(ann="hnsw", hnsw_segment=100)
    DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config)).write()
    server = DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config))
    mapped_from = tmp_path / (tmp_path / "CURRENT").read_text()
    server.current()
    add_document(store, "/kb/b.md", 10, 1)
    DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config)).write()  # another process
    assert not mapped_from.exists()
    add_document(store, "/kb/c.md", 10, 2)
    server.save()
    loaded = DerivedIndex(store, tmp_path, VectorFeed(store, DIM, config)).current()
    rebuilt = DerivedIndex(store, None, VectorFeed(store, DIM, config)).current()
    assert isinstance(loaded, HnswIndex) and isinstance(rebuilt, HnswIndex)
    assert len(loaded) == 250 and held(loaded) == held(rebuilt)


def concepts_held(store: SqliteStore, directory: Path | None) -> tuple[dict[int, list[str]],
                                                                       list[str], list[int]]:
    """Each chunk's concept names, and the graph's concepts and links, by name."""
    index = DerivedIndex(store, directory, ConceptFeed(store)).current()
    keys, _ = index.matrix()
    by_chunk = {int(key): sorted(index.names[i] for i in index.concepts_of(int(key)))
                for key in keys}
    graph = index.graph()
    return (by_chunk, [index.names[int(c)] for c in graph.concepts],
            graph.adjacency.toarray().ravel().tolist())


PEOPLE = ["Ada Park", "Bo Lindqvist", "Cyrus Reed", "Dana Moss", "Elif Kaya", "Femi Ade"]
PLACES = ["Oslo", "Bergen", "Tromso", "Geneva"]


def test_a_written_concept_copy_is_what_a_rebuild_holds_and_follows_changes(
        tmp_path: Path) -> None:
    def paragraphs(offset: int, count: int) -> list[str]:
        return [f"{PEOPLE[(offset + n) % 6]} met {PEOPLE[(offset + n + 1) % 6]} in "
                f"{PLACES[(offset + n) % 4]} at the University of {PLACES[n % 3]}."
                for n in range(count)]

    store = SqliteStore(None)
    store.write([document_write("/kb/a.md", paragraphs(0, 30)),
                 document_write("/kb/c.md", paragraphs(3, 12))])
    DerivedIndex(store, tmp_path, ConceptFeed(store)).write()
    live = tmp_path / (tmp_path / "CURRENT").read_text()
    assert live.name.startswith(f"{store.last_change()}-concepts-")
    assert {"keys.npy", "sizes.npy", "ids.npy", "concepts.json"} <= {p.name for p in
                                                                     live.iterdir()}
    written = concepts_held(store, tmp_path)
    assert written == concepts_held(store, None) and written[1], "the texts name concepts"
    store.write([document_write("/kb/b.md", paragraphs(5, 9))],
                removed_documents=[document_write("/kb/c.md", ["x"]).document.id])
    DerivedIndex(store, tmp_path, ConceptFeed(store)).write()  # carries a.md over from disk
    assert concepts_held(store, tmp_path) == concepts_held(store, None)
    assert len(DerivedIndex(store, tmp_path, ConceptFeed(store)).current()) == 39


def test_concepts_written_out_of_key_order_are_sorted(tmp_path: Path) -> None:
    writer = ConceptWriter(tmp_path)
    writer.add([9, 3], [["oslo", "ada park"], ["oslo"]])
    writer.add([5], [["bergen", "ada park"]])
    writer.finish()
    index = ConceptIndex.load(tmp_path)
    assert index.matrix()[0].tolist() == [3, 5, 9]
    assert [index.names[i] for i in index.concepts_of(5)] == ["bergen", "ada park"]
    assert index.graph().chunk_keys.tolist() == [3, 5, 9]
