"""Choosing a model's tokens and turning them into text as they come.

``decode_steps`` decodes over any ``TokenScorer``: greedy or sampled picks, llama.cpp's
repetition penalty, and the copy constraint (``lore.generate.spans``), each token with its
log-probability; ``LocalGenerator.stream`` and RAG-Sequence's candidates both decode with it.

A token may end in the middle of a UTF-8 character (Chinese text often does), and a stop
string may arrive split across tokens, so text is released only once it is whole and cannot
be the start of a stop string (``TextStream``).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from lore.generate.protocol import Sampling, TokenScorer
from lore.generate.spans import SpanConstraint

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Step:
    """One generated token and its log-probability under the model."""

    token: int
    logprob: float
    """log p(token | what precedes it), before any repetition penalty or constraint."""


def decode_steps(scorer: TokenScorer, tokens: Sequence[int], sampling: Sampling, slot: int = 0,
                 rng: np.random.Generator | None = None) -> Iterator[Step]:
    """The answer to prompt ``tokens``, one token at a time, as ``sampling`` asks.

    Stops after ``sampling.max_tokens`` tokens, before a token that ends the turn, or when
    the copy constraint allows no token (stop strings are the text's business:
    ``text_pieces``). Call it inside ``scorer.reserve`` with room for ``slot``.

    Args:
        rng: draws the tokens when ``sampling.temperature`` is above 0.
    """
    sequence = list(tokens)
    spans = SpanConstraint(sampling.copy_from, scorer.piece, scorer.ends_turn) \
        if sampling.copy_from else None
    for _ in range(sampling.max_tokens):
        logits = scorer.next_logits(sequence, slot)
        recent = sequence[len(tokens):][-sampling.repeat_window:] \
            if sampling.repeat_window > 0 else []
        penalized = penalize(logits, recent, sampling.repeat_penalty)
        candidates = spans.restrict(penalized) if spans is not None else penalized
        if candidates is None:
            return
        token = pick_token(candidates, sampling.temperature, rng)
        if scorer.ends_turn(token):
            return
        if spans is not None:
            spans.accept(token)
        yield Step(token, float(log_softmax(logits)[token]))
        sequence.append(token)


def pick_token(logits: np.ndarray, temperature: float, rng: np.random.Generator | None
               ) -> int:
    """The best token at temperature 0, else one drawn from softmax(logits / temperature)."""
    if temperature <= 0:
        return int(np.argmax(logits))
    if rng is None:
        raise ValueError(f"sampling at temperature {temperature} needs an rng")
    weights = np.exp((logits - logits.max()) / temperature)
    return int(rng.choice(weights.size, p=weights / weights.sum()))


def penalize(logits: np.ndarray, recent: Sequence[int], penalty: float) -> np.ndarray:
    """llama.cpp's repetition penalty: recent tokens' positive logits are divided by
    ``penalty`` and negative ones multiplied, so a repeated token is always less likely."""
    if penalty == 1.0 or not recent:
        return logits
    seen = np.unique(np.asarray(recent, dtype=np.int64))
    adjusted = logits.copy()
    values = adjusted[seen]
    adjusted[seen] = np.where(values > 0, values / penalty, values * penalty)
    return adjusted


def text_pieces(tokens: Iterable[T], piece: Callable[[T], bytes], stop: Sequence[str] = ()
                ) -> Iterator[str]:
    """The text of ``tokens`` as it becomes safe to show (never empty), up to the first stop
    string; no further token is drawn once one is found."""
    text = TextStream(stop)
    for token in tokens:
        shown = text.feed(piece(token))
        if shown:
            yield shown
        if text.stopped:
            return
    rest = text.finish()
    if rest:
        yield rest


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
