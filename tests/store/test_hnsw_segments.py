"""HNSW indexes held in several segments, and written a segment at a time (``HnswWriter``)."""

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from lore.store.flat import ExactIndex, write_params
from lore.store.hnsw import EXACT_BELOW, HnswIndex, save_graph
from lore.store.hnsw_writer import HnswWriter
from lore.testing.index_contract import HoldsVectorsContract, MakeIndex

DIM = 16
SEGMENT = 2_500
N = 6_000


class TestSegmentsOfThree(HoldsVectorsContract):
    """The whole contract, with every few keys in a segment of their own."""

    @pytest.fixture
    def index(self) -> MakeIndex:
        return partial(HnswIndex, segment_size=3)


def unit_rows(n: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    normed: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return normed


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, np.ndarray]:
    return np.arange(N, dtype=np.int64) * 3 + 10, unit_rows(N, seed=0)


@pytest.fixture(scope="module")
def built(corpus: tuple[np.ndarray, np.ndarray]) -> tuple[HnswIndex, ExactIndex]:
    keys, vectors = corpus
    graphs, exact = HnswIndex(DIM, segment_size=SEGMENT), ExactIndex(DIM)
    graphs.add(keys[:4_000], vectors[:4_000])
    graphs.add(keys[4_000:], vectors[4_000:])
    exact.add(keys, vectors)
    return graphs, exact


def stored(index: HnswIndex) -> dict[int, bytes]:
    """Each key the index holds, with its vector's bytes."""
    keys = np.concatenate([np.asarray(s.graph.keys[:], np.int64) for s in index.segments])
    return dict(zip(keys.tolist(), (row.tobytes() for row in index.vectors_of(keys)),
                    strict=True))


def test_segments_fill_up_to_their_size_in_order(built: tuple[HnswIndex, ExactIndex]) -> None:
    graphs, _ = built
    assert [len(s.graph) for s in graphs.segments] == [2_500, 2_500, 1_000]
    assert len(graphs) == N
    assert SEGMENT > EXACT_BELOW  # the two full segments are searched as graphs


def test_searching_every_segment_keeps_the_best_hits_of_all(
        built: tuple[HnswIndex, ExactIndex]) -> None:
    graphs, exact = built
    hits = []
    for query in unit_rows(100, seed=1):
        found, scores = graphs.search(query, k=10)
        truth, _ = exact.search(query, k=10)
        assert np.all(np.diff(scores) <= 1e-6) and len(set(found.tolist())) == 10
        hits.append(len(np.intersect1d(found, truth)) / 10)
    assert np.mean(hits) >= 0.95


def test_filtered_search_spans_the_segments(built: tuple[HnswIndex, ExactIndex],
                                            corpus: tuple[np.ndarray, np.ndarray]) -> None:
    graphs, exact = built
    keys, _ = corpus
    for size in (100, 3_000):  # scored exactly; the graphs searched and filtered
        allowed = np.random.default_rng(size).choice(keys, size=size, replace=False)
        hits = []
        for query in unit_rows(30, seed=2):
            found, _ = graphs.search(query, k=10, allowed=allowed)
            assert set(found.tolist()) <= set(allowed.tolist()) and len(found) == 10
            hits.append(len(np.intersect1d(found, exact.search(query, 10, allowed)[0])) / 10)
        assert np.mean(hits) >= 0.9


def test_a_key_of_an_earlier_segment_is_replaced_where_it_was_and_added_to_the_last(
        corpus: tuple[np.ndarray, np.ndarray]) -> None:
    keys, vectors = corpus
    graphs = HnswIndex(DIM, segment_size=1_000)
    graphs.add(keys[:1_500], vectors[:1_500])
    moved = unit_rows(5, seed=3)
    graphs.add(keys[:5], moved)
    assert len(graphs) == 1_500 and graphs.segments[0].deleted == 5
    assert [len(s.graph) for s in graphs.segments] == [995, 505]
    np.testing.assert_array_equal(graphs.vectors_of(keys[:5]), moved)
    assert graphs.search(moved[2], k=1)[0][0] == keys[2]


def test_a_segment_emptied_by_removal_is_dropped(corpus: tuple[np.ndarray, np.ndarray]) -> None:
    keys, vectors = corpus
    graphs = HnswIndex(DIM, segment_size=100)
    graphs.add(keys[:250], vectors[:250])
    graphs.remove(keys[100:200])
    assert [len(s.graph) for s in graphs.segments] == [100, 50]
    assert graphs.search(vectors[220], k=1)[0][0] == keys[220]


def test_saving_a_mapped_index_links_the_segments_it_did_not_change(
        corpus: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    keys, vectors = corpus
    graphs = HnswIndex(DIM, segment_size=1_000)
    graphs.add(keys[:3_000], vectors[:3_000])
    graphs.save(tmp_path / "a")
    mapped = HnswIndex.load(tmp_path / "a", mmap=True)
    assert stored(mapped) == stored(graphs)
    mapped.remove(keys[1_010:1_020])  # only the second segment changes
    mapped.save(tmp_path / "b")

    def inode(copy: str, number: int) -> int:
        return (tmp_path / copy / f"segment-{number}.usearch").stat().st_ino

    assert inode("a", 0) == inode("b", 0) and inode("a", 2) == inode("b", 2)
    assert inode("a", 1) != inode("b", 1)
    reloaded = HnswIndex.load(tmp_path / "b")
    assert len(reloaded) == 2_990 and stored(reloaded) == stored(mapped)
    assert len(HnswIndex.load(tmp_path / "a")) == 3_000  # the first copy is untouched


def test_a_copy_saved_as_one_graph_before_segments_still_loads(
        corpus: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    keys, vectors = corpus
    graphs = HnswIndex(DIM)
    graphs.add(keys[:500], vectors[:500])
    save_graph(graphs.segments[0].graph, tmp_path / "index.usearch")
    write_params(tmp_path, {"kind": "hnsw", "dim": DIM, "count": 500, "deleted": 0,
                            "connectivity": 16, "ef_construction": 128, "ef_search": 128,
                            "library": "usearch"})
    loaded = HnswIndex.load(tmp_path, mmap=True)
    assert len(loaded.segments) == 1 and stored(loaded) == stored(graphs)
    loaded.add(keys[500:510], vectors[500:510])  # grows on, in its one segment
    assert [len(s.graph) for s in loaded.segments] == [510]


def write(directory: Path, keys: np.ndarray, vectors: np.ndarray, segment: int,
          earlier: Path | None = None, dropped: np.ndarray | None = None,
          batch: int = 700) -> HnswIndex:
    writer = HnswWriter(directory, HnswIndex(DIM, segment_size=segment))
    if earlier is not None:
        writer.carry(earlier, dropped if dropped is not None else np.zeros(0, np.int64))
    for start in range(0, len(keys), batch):
        writer.add(keys[start:start + batch], vectors[start:start + batch])
    writer.finish()
    return HnswIndex.load(directory)


def test_the_writer_writes_what_the_index_saves(corpus: tuple[np.ndarray, np.ndarray],
                                                tmp_path: Path) -> None:
    keys, vectors = corpus
    written = write(tmp_path / "w", keys[:2_300], vectors[:2_300], segment=1_000)
    graphs = HnswIndex(DIM, segment_size=1_000)
    graphs.add(keys[:2_300], vectors[:2_300])
    assert [len(s.graph) for s in written.segments] == [1_000, 1_000, 300]
    assert stored(written) == stored(graphs)
    params = json.loads((tmp_path / "w" / "params.json").read_text())
    assert params["count"] == 2_300 and params["segment_size"] == 1_000


def test_carrying_a_copy_over_equals_changing_it_in_memory(
        corpus: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    keys, vectors = corpus
    write(tmp_path / "old", keys[:2_500], vectors[:2_500], segment=1_000)
    dropped = np.concatenate([keys[1_200:1_250], keys[2_400:2_410]])  # segments 1 and 2
    back = keys[1_200:1_210]  # changed chunks come back with new vectors
    added_keys = np.concatenate([back, keys[2_500:3_200]])
    added = np.concatenate([unit_rows(10, seed=4), vectors[2_500:3_200]])
    carried = write(tmp_path / "new", added_keys, added, segment=1_000,
                    earlier=tmp_path / "old", dropped=dropped)
    expected = HnswIndex.load(tmp_path / "old")
    expected.remove(dropped)
    expected.add(added_keys, added)
    assert stored(carried) == stored(expected)
    assert len(carried) == 2_500 - 60 + 710
    # Segment 0 was not touched: linked. The partial last one took the new rows until full.
    old, new = tmp_path / "old" / "segment-0.usearch", tmp_path / "new" / "segment-0.usearch"
    assert old.stat().st_ino == new.stat().st_ino
    assert [s.nodes for s in carried.segments] == [1_000, 1_000, 1_000, 210]


def test_carrying_a_copy_with_nothing_dropped_links_every_full_segment(
        corpus: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    keys, vectors = corpus
    write(tmp_path / "old", keys[:2_000], vectors[:2_000], segment=1_000)
    carried = write(tmp_path / "new", keys[:0], vectors[:0], segment=1_000,
                    earlier=tmp_path / "old")
    for number in (0, 1):
        assert (tmp_path / "old" / f"segment-{number}.usearch").stat().st_ino == \
            (tmp_path / "new" / f"segment-{number}.usearch").stat().st_ino
    assert len(carried) == 2_000


def test_a_touched_last_segment_larger_than_a_segment_is_written_not_filled(
        corpus: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    keys, vectors = corpus
    write(tmp_path / "old", keys[:1_500], vectors[:1_500], segment=2_000)  # one graph
    carried = write(tmp_path / "new", keys[1_500:2_500], vectors[1_500:2_500], segment=500,
                    earlier=tmp_path / "old", dropped=keys[:10])
    assert [s.nodes for s in carried.segments] == [1_500, 500, 500]
    assert len(carried) == 2_490
