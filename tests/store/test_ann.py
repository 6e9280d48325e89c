import json
import sys
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from lore.config import AnnChoice, IndexConfig
from lore.errors import ConfigError, StoreError
from lore.store.ann import (
    ANN_BACKENDS,
    HYSTERESIS,
    choose_kind,
    create_index,
    load_index,
    missing_ann_warning,
)
from lore.store.flat import ExactIndex
from lore.store.hnsw import HnswIndex
from lore.store.ivfpq import IvfPqIndex
from lore.store.lsh import LshIndex
from lore.store.pgvector import PgvectorIndex

IN_MEMORY = sorted(set(ANN_BACKENDS) - {"pgvector"})
"""The kinds that hold their data themselves (pgvector's is the store's: tests/store/
test_pgvector.py)."""


def test_registry_names_every_backend() -> None:
    assert {"exact": ExactIndex, "hnsw": HnswIndex, "ivfpq": IvfPqIndex,
            "lsh": LshIndex, "pgvector": PgvectorIndex} == ANN_BACKENDS


def test_every_ann_choice_but_auto_is_a_backend() -> None:
    assert set(get_args(AnnChoice)) == {"auto", *ANN_BACKENDS}


@pytest.mark.parametrize("kind", IN_MEMORY)
def test_create_index_makes_an_empty_index_of_that_kind(kind: str) -> None:
    index = create_index(kind, dim=12)
    assert (index.kind, index.dim, len(index)) == (kind, 12, 0)


def test_unknown_kind_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="'ivf'.*exact, hnsw"):
        create_index("ivf", dim=12)


@pytest.mark.parametrize("kind", IN_MEMORY)
@pytest.mark.parametrize("mmap", [False, True])
def test_load_index_reads_the_kind_from_params(kind: str, mmap: bool, tmp_path: Path) -> None:
    vectors = np.eye(4, dtype=np.float32)
    index = create_index(kind, dim=4)
    index.add(np.array([3, 1, 4, 15]), vectors)
    index.save(tmp_path)
    loaded = load_index(tmp_path, mmap=mmap)
    assert type(loaded) is type(index) and len(loaded) == 4
    assert loaded.search(vectors[2], k=1)[0].tolist() == [4]


def test_a_missing_index_says_rebuild(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="params.json is missing.*rebuild"):
        load_index(tmp_path / "nowhere")


@pytest.mark.parametrize("params", ['{"kind": "ivf", "format_version": 1}',
                                    '{"kind": "exact", "format_version": 1, "dim": 0}',
                                    '{"kind": "hnsw", "format_version": 1, "dim": "4"}',
                                    '{"kind": "exact", "format_version": 99}',
                                    '{"format_version": 1}', "[]", "\x00\x01"])
def test_unusable_params_say_rebuild(params: str, tmp_path: Path) -> None:
    (tmp_path / "params.json").write_text(params)
    with pytest.raises(StoreError, match="rebuild"):
        load_index(tmp_path)


def test_a_half_written_index_is_a_store_error(tmp_path: Path) -> None:
    index = create_index("exact", dim=4)
    index.add(np.array([1]), np.ones((1, 4), dtype=np.float32) / 2)
    index.save(tmp_path)
    (tmp_path / "keys.npy").unlink()
    with pytest.raises(StoreError, match="keys.npy"):
        load_index(tmp_path)


def test_auto_switches_at_the_threshold() -> None:
    config = IndexConfig(ann="auto", hnsw_threshold=1_000)
    assert choose_kind(0, config) == "exact"
    assert choose_kind(999, config) == "exact"
    assert choose_kind(1_000, config) == "hnsw"
    assert choose_kind(config.ivfpq_threshold - 1, config) == "hnsw"


def test_a_forced_kind_wins_over_size() -> None:
    assert choose_kind(10**7, IndexConfig(ann="exact")) == "exact"
    assert choose_kind(1, IndexConfig(ann="hnsw")) == "hnsw"
    assert choose_kind(1, IndexConfig(ann="ivfpq"), current="exact") == "ivfpq"
    assert choose_kind(10**8, IndexConfig(ann="lsh"), current="ivfpq") == "lsh"


def test_auto_picks_ivfpq_from_its_threshold_and_keeps_it_a_little_below() -> None:
    config = IndexConfig(hnsw_threshold=1_000, ivfpq_threshold=10_000)
    assert choose_kind(9_999, config) == "hnsw"
    assert choose_kind(10_000, config) == "ivfpq"
    assert choose_kind(int(HYSTERESIS * 10_000), config, current="ivfpq") == "ivfpq"
    assert choose_kind(int(HYSTERESIS * 10_000) - 1, config, current="ivfpq") == "hnsw"
    assert choose_kind(500, config, current="ivfpq") == "exact"
    assert all(choose_kind(n, config) != "lsh" for n in (0, 10**3, 10**5, 10**9))


def test_an_existing_graph_is_kept_a_little_below_the_threshold() -> None:
    config = IndexConfig(hnsw_threshold=1_000)
    below = int(HYSTERESIS * 1_000)
    assert choose_kind(below, config, current="hnsw") == "hnsw"
    assert choose_kind(below - 1, config, current="hnsw") == "exact"
    assert choose_kind(below, config, current="exact") == "exact"


def test_default_threshold_is_where_exact_search_stops_being_cheap() -> None:
    assert choose_kind(5_000, IndexConfig()) == "exact"
    assert choose_kind(IndexConfig().hnsw_threshold, IndexConfig()) == "hnsw"


def test_an_invalid_ann_setting_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="auto, exact, hnsw, ivfpq, lsh"):
        choose_kind(10, IndexConfig(ann="ivf"))  # type: ignore[arg-type]


def test_saved_params_are_plain_json(tmp_path: Path) -> None:
    index = create_index("hnsw", dim=4)
    index.save(tmp_path)
    params = json.loads((tmp_path / "params.json").read_text())
    assert params["kind"] == "hnsw" and params["dim"] == 4 and params["count"] == 0


def test_auto_falls_back_to_exact_search_without_usearch_and_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = IndexConfig(hnsw_threshold=1_000)
    assert choose_kind(5_000, config) == "hnsw"
    assert missing_ann_warning(5_000, config) is None
    monkeypatch.setitem(sys.modules, "usearch", None)  # as if not installed
    assert choose_kind(5_000, config) == "exact"
    warning = missing_ann_warning(5_000, config)
    assert warning is not None and "pip install 'lore[ann]'" in warning
    assert missing_ann_warning(10, config) is None  # exact was the choice anyway
