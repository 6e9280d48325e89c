"""Batches of texts of similar length: ``plan_batches``.

A forward pass pads every row to its batch's longest, so texts sorted by length and cut into
batches waste little on padding. Shared by the embedders and the cross-encoder reranker.
"""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(lengths: Sequence[int], batch_size: int,
                 batch_tokens: int | None = None) -> list[list[int]]:
    """Group indices of texts of similar length (longest first), so each batch is padded only
    to its own longest text.

    >>> plan_batches([3, 9, 1, 7, 5], 2)
    [[1, 3], [4, 0], [2]]

    Args:
        lengths: each text's length (tokens, or characters as an estimate).
        batch_size: at most this many texts per batch.
        batch_tokens: when given, at most this many padded tokens per batch (one text always
            fits, however long).

    Returns:
        Index lists, longest texts first; callers scatter results back by index.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if not batches or len(batches[-1]) == batch_size or (
                batch_tokens is not None and
                (len(batches[-1]) + 1) * lengths[batches[-1][0]] > batch_tokens):
            batches.append([])
        batches[-1].append(i)
    return batches
