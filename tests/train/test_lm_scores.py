"""The answering model's scores of passages, kept on disk across runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lore.errors import ConfigError
from lore.train.lm_scores import ScoreCache, score_key


def test_scores_come_back_in_a_new_cache_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl"
    key = score_key("qwen-0.5b", "short", "who?", "Tom", "Tom sat on the mat.")
    ScoreCache(path).put({key: [-0.25, -1.5]})
    again = ScoreCache(path)
    assert len(again) == 1
    found = again.get(key)
    assert found is not None
    np.testing.assert_allclose(found, [-0.25, -1.5])
    assert again.get(score_key("qwen-0.5b", "short", "who?", "Tom", "another passage")) is None


def test_a_line_cut_by_a_kill_is_dropped_and_the_file_stays_appendable(tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl"
    ScoreCache(path).put({"a": [-1.0]})
    with path.open("a") as out:
        out.write('{"key": "b", "logpr')  # the process died mid-write
    cache = ScoreCache(path)
    assert cache.get("b") is None
    cache.put({"c": [-2.0]})
    assert sorted(k for k in ("a", "b", "c") if ScoreCache(path).get(k) is not None) == \
        ["a", "c"]


def test_a_damaged_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl"
    path.write_text('{"key": "a", "logprobs": [-1.0]}\nnot json\n')
    with pytest.raises(ConfigError, match=r"scores.jsonl:2 .*delete"):
        ScoreCache(path)
