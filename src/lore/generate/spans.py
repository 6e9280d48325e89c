"""Copy-constrained decoding: an answer that can only be a span of its sources.

Extractive questions (SQuAD, CMRC 2018) are answered by a phrase of a passage, and a reader
that may only copy never states what no source says. ``SpanConstraint`` keeps, of the model's
best next-token candidates, those that keep the answer a span of some source, or end it once
it has begun. The model still chooses where the span starts and where it ends. The ``extract``
prompt template uses it (``lore.generate.prompt.TEMPLATES`` has what it measured).

Matching is on bytes (a token may hold part of a UTF-8 character, as Chinese tokens often
do), ASCII case-folded, with runs of whitespace taken as one space.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

CANDIDATES = 64
"""The best next-token candidates tried at each step; the answer ends when none is allowed."""

_SPACES = re.compile(rb"\s+")


def _fold(data: bytes) -> bytes:
    return _SPACES.sub(b" ", data).lower()


class SpanConstraint:
    """Picks tokens so that the text written so far stays a span of one of ``texts``.

    Example::

        spans = SpanConstraint(["Denver Broncos won"], runner.piece, runner.ends_turn)
        allowed = spans.restrict(logits)  # None: the answer ends here
        token = int(np.argmax(allowed))
        spans.accept(token)
    """

    def __init__(self, texts: Sequence[str], piece: Callable[[int], bytes],
                 ends: Callable[[int], bool]) -> None:
        # padded so that a span may end in a space where its source ends
        self._texts = [b" " + _fold(text.encode("utf-8")) + b" " for text in texts]
        self._piece = piece
        self._ends = ends
        self._written = b""

    def restrict(self, logits: np.ndarray) -> np.ndarray | None:
        """``logits`` with every token that would leave the sources at -inf (only the
        ``CANDIDATES`` best are tried); None when none is left and the answer must end."""
        count = min(CANDIDATES, logits.size)
        best = np.argpartition(-logits, count - 1)[:count]
        allowed = [int(token) for token in best
                   if np.isfinite(logits[token]) and self.allows(int(token))]
        if not allowed:
            return None
        kept = np.full_like(logits, -np.inf)
        kept[allowed] = logits[allowed]
        return kept

    def allows(self, token: int) -> bool:
        begun = bool(self._written.strip())
        if self._ends(token):
            return begun
        piece = self._piece(token)
        line, newline, _ = piece.partition(b"\n")
        candidate = _fold(self._written + line).lstrip()
        if newline:  # the line ends here: allowed if it ends a non-empty span
            return bool(candidate.strip()) and self._within(candidate)
        return self._within(candidate)

    def accept(self, token: int) -> None:
        """Record a token the answer took."""
        if not self._ends(token):
            self._written += self._piece(token)

    def _within(self, candidate: bytes) -> bool:
        return any(candidate in text for text in self._texts)
