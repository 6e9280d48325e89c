"""Batches of texts of similar length."""

from __future__ import annotations

from lore.models.batches import plan_batches


def test_plan_batches_groups_similar_lengths() -> None:
    assert plan_batches([3, 9, 1, 7, 5], 2) == [[1, 3], [4, 0], [2]]
    assert plan_batches([], 4) == []


def test_plan_batches_caps_padded_tokens() -> None:
    # longest first: 9 and 7 pad to 2 x 9 = 18 tokens; a third row would make 27 > 20
    assert plan_batches([3, 9, 1, 7, 5], 4, batch_tokens=20) == [[1, 3], [4, 0, 2]]
    assert plan_batches([50, 3], 8, batch_tokens=10) == [[0], [1]]  # too long alone: still runs


def test_equal_lengths_keep_their_order() -> None:
    assert plan_batches([4, 4, 4], 2) == [[0, 1], [2]]
