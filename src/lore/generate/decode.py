"""Turning a model's tokens into text as they come: UTF-8 pieces and stop strings.

A token may end in the middle of a UTF-8 character (Chinese text often does), and a stop
string may arrive split across tokens, so text is released only once it is whole and cannot
be the start of a stop string.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

import numpy as np


class TextStream:
    """Feed token bytes in, get the text that is safe to show out.

    Example::

        stream = TextStream(stop=("\\n\\nQuestion:",))
        for token in tokens:
            shown = stream.feed(piece(token))
            if stream.stopped:
                break
        shown += stream.finish()
    """

    def __init__(self, stop: Sequence[str] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = tuple(s for s in stop if s)
        self._held = ""
        self.stopped = False
        self.text = ""
        """Everything released so far."""

    def feed(self, data: bytes) -> str:
        """Text that became safe to show after ``data``; ``""`` while it is held back."""
        if self.stopped:
            return ""
        self._held += self._decoder.decode(data)
        found = [at for at in (self._held.find(stop) for stop in self._stop) if at >= 0]
        if found:
            self.stopped = True
            return self._release(min(found))
        return self._release(len(self._held) - self._partial_stop())

    def finish(self) -> str:
        """The rest, once the model has ended."""
        if self.stopped:
            return ""
        self._held += self._decoder.decode(b"", final=True)
        return self._release(len(self._held))

    def _partial_stop(self) -> int:
        """Length of the longest tail of the held text that begins some stop string."""
        longest = 0
        for stop in self._stop:
            for size in range(min(len(stop) - 1, len(self._held)), longest, -1):
                if self._held.endswith(stop[:size]):
                    longest = size
                    break
        return longest

    def _release(self, upto: int) -> str:
        out, self._held = self._held[:upto], self._held[upto:]
        if self.stopped:
            self._held = ""
        self.text += out
        return out


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - float(logits.max())
    return shifted - float(np.log(np.exp(shifted).sum()))
