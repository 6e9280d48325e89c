import json
import random
from pathlib import Path

import numpy as np
import pytest

from lore.errors import ConfigError
from lore.store.bm25 import BM25Index, BM25Writer

bm25s = pytest.importorskip("bm25s")

WORDS = [f"w{i}" for i in range(80)]


def random_corpus(seed: int, size: int = 200) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice(WORDS[: rng.randint(10, 80)]) for _ in range(rng.randint(3, 60))]
            for _ in range(size)]


def build(documents: list[list[str]]) -> BM25Index:
    index = BM25Index(k1=1.2, b=0.75)
    index.add(np.arange(len(documents), dtype=np.int64) + 100, documents)
    return index


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_bm25s_lucene(seed: int) -> None:
    documents = random_corpus(seed)
    reference = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    reference.index(documents, show_progress=False)
    index = build(documents)
    for query in (["w1", "w5"], ["w3"], ["w70", "w2", "w2", "w9"]):
        expected = reference.get_scores(query)  # a repeated term counts each time
        keys, scores = index.search(query, k=len(documents))
        got = np.zeros(len(documents))
        got[keys - 100] = scores
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_a_term_the_query_repeats_weighs_as_often() -> None:
    index = build([["tide", "moon"], ["tide", "sun"], ["moon", "sun"]])
    once, _ = index.search(["moon", "sun"], k=3)
    keys, scores = index.search(["moon", "sun", "sun"], k=3)
    single = dict(zip(*index.search(["sun"], k=3), strict=True))
    assert keys[0] == 102 and once[0] == 102
    assert dict(zip(keys, scores, strict=True))[101] == pytest.approx(2 * single[101])


def test_removal_updates_statistics_as_if_never_added() -> None:
    documents = random_corpus(5, 50)
    index = build(documents)
    index.remove(np.array([100, 101, 102]))
    fresh = BM25Index()
    fresh.add(np.arange(3, 50, dtype=np.int64) + 100, documents[3:])
    for query in (["w1"], ["w4", "w7"]):
        a_keys, a_scores = index.search(query, 10)
        b_keys, b_scores = fresh.search(query, 10)
        assert a_keys.tolist() == b_keys.tolist()
        assert a_scores == pytest.approx(b_scores)


def test_replacing_a_key_does_not_duplicate_it() -> None:
    index = build([["cach", "expir"], ["retri"]])
    index.add(np.array([100]), [["retri", "backoff"]])
    assert len(index) == 2
    keys, _ = index.search(["retri"], 10)
    assert sorted(keys.tolist()) == [100, 101]
    assert index.search(["cach"], 10)[0].size == 0


def test_filtered_search_returns_only_allowed_keys() -> None:
    index = build([["a", "b"], ["a"], ["a", "a"]])
    keys, _ = index.search(["a"], 10, allowed=np.array([101, 999]))
    assert keys.tolist() == [101]


def test_unknown_terms_and_empty_index_give_nothing() -> None:
    assert BM25Index().search(["a"], 5)[0].size == 0
    assert build([["a"]]).search(["zzz"], 5)[0].size == 0


def test_save_load_roundtrip_after_removals(tmp_path: Path) -> None:
    documents = random_corpus(9, 80)
    index = build(documents)
    index.remove(np.array([105, 150]))
    expected = index.search(["w3", "w8"], 20)
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    got = loaded.search(["w3", "w8"], 20)
    assert got[0].tolist() == expected[0].tolist()
    assert got[1] == pytest.approx(expected[1])
    assert len(loaded) == 78


def test_new_parameters_rescore_the_same_postings() -> None:
    index = BM25Index()
    index.add(np.array([1, 2], dtype=np.int64),
              [["cache"] * 3 + ["x"] * 20, ["cache"] + ["y"] * 2])
    _, before = index.search(["cache"], 2)
    index.set_parameters(k1=1.2, b=0.0)  # no length normalisation: tf decides
    keys, after = index.search(["cache"], 2)
    assert keys.tolist() == [1, 2] and not np.allclose(before, after)
    with pytest.raises(ConfigError, match="k1=-1"):
        index.set_parameters(k1=-1, b=0.5)


def saved_arrays(directory: Path) -> dict[str, np.ndarray]:
    return {name: np.load(directory / f"{name}.npy")
            for name in ("keys", "terms", "tfs", "lengths", "sizes")}


def test_a_written_index_is_the_one_built_in_memory(tmp_path: Path) -> None:
    documents = random_corpus(3)
    build(documents).save(tmp_path / "held")
    writer = BM25Writer(tmp_path / "written")
    for start in range(0, len(documents), 64):  # batches, as a fill reads the store
        writer.add(np.arange(start, min(start + 64, len(documents)), dtype=np.int64) + 100,
                   documents[start:start + 64])
    writer.finish()
    held, written = saved_arrays(tmp_path / "held"), saved_arrays(tmp_path / "written")
    for name, array in held.items():
        assert written[name].dtype == array.dtype and np.array_equal(written[name], array)
    assert BM25Index.load(tmp_path / "written").search(["w3", "w7"], k=5)[0].tolist() == \
        build(documents).search(["w3", "w7"], k=5)[0].tolist()
    assert not list((tmp_path / "written").glob("*.raw"))


def test_carrying_a_copy_over_drops_changed_rows_as_replacing_them_in_memory(
        tmp_path: Path) -> None:
    documents = random_corpus(4)
    index = build(documents)
    index.save(tmp_path / "earlier")
    changed = np.array([100, 157, 158, 299], dtype=np.int64)  # 299 is removed, not replaced
    replacements = random_corpus(5, size=3)
    index.remove(changed)
    index.add(changed[:3], replacements)
    index.save(tmp_path / "held")
    writer = BM25Writer(tmp_path / "written")
    writer.ROWS = 50  # several blocks
    writer.carry(tmp_path / "earlier", changed)
    writer.add(changed[:3], replacements)
    writer.finish()
    held, written = saved_arrays(tmp_path / "held"), saved_arrays(tmp_path / "written")
    for name, array in held.items():
        assert np.array_equal(written[name], array), name
    assert json.loads((tmp_path / "written" / "params.json").read_text())["documents"] == 199
