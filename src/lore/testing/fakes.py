"""Fakes shipped with lore, registered like real backends, for tests that need no model."""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from lore.errors import ConfigError, GenerationError
from lore.generate.decode import decode_steps, text_pieces
from lore.generate.protocol import Message, Sampling

_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Deterministic bag-of-words vectors: no model, no randomness, same output in every process.

    Each normalised word (NFKC, lowercased) becomes a fixed pseudo-random vector drawn from
    SHA-256 of the word; a text's vector is the sum over its words, L2-normalised. Texts that
    share words are therefore closer than texts that share none, which is enough for tests
    of ranking and fusion.

    Example::

        embedder = HashEmbedder(dim=64)
        vectors = embedder.embed_documents(["red apples", "blue cars"])
        scores = vectors @ embedder.embed_query("apples")   # the first document scores higher
    """

    def __init__(self, dim: int = 64) -> None:
        if dim <= 0 or dim % 8:
            raise ValueError(f"dim must be a positive multiple of 8, got {dim}")
        self.dim = dim
        self.name = f"hash-{dim}"
        self.max_tokens = 512

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._embed(text)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed(text)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Whitespace-separated tokens."""
        return [len(text.split()) for text in texts]

    def _embed(self, text: str) -> np.ndarray:
        words = _WORD.findall(unicodedata.normalize("NFKC", text).lower()) or [""]
        total: np.ndarray = np.sum([word_vector(word, self.dim) for word in words], axis=0)
        norm = float(np.linalg.norm(total))
        if norm < 1e-9:  # a text without words (or whose words cancel): the empty text's vector
            total = word_vector("", self.dim)
            norm = float(np.linalg.norm(total))
        return (total / norm).astype(np.float32)


@lru_cache(maxsize=65_536)
def word_vector(word: str, dim: int) -> np.ndarray:
    """``dim`` values in [-1, 1) from SHA-256 of ``word`` (one digest per 8 values)."""
    digests = b"".join(hashlib.sha256(f"{block}:{word}".encode()).digest()
                       for block in range(dim // 8))
    values = np.frombuffer(digests, dtype="<u4").astype(np.float64)
    vector = values / 2.0**31 - 1.0
    vector.setflags(write=False)
    return vector


class OverlapReranker:
    """Scores a passage by the share of the query's words it contains: no model, instant.

    Words are normalised as ``HashEmbedder`` normalises them (NFKC, lowercased), so a test of
    ``lore.rerank.rerank`` can say which passage wins without running a model.

    Example::

        reranker = OverlapReranker()
        reranker.score("red apples", ["apples are red", "blue cars"])   # [1.0, 0.0]
    """

    name = "overlap"

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        wanted = set(_words(query))
        out = np.zeros(len(passages), dtype=np.float32)
        if wanted:
            for row, passage in enumerate(passages):
                out[row] = len(wanted & set(_words(passage))) / len(wanted)
        return out


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


class MemoryVectorSource:
    """Stands in for the store as a ``lore.store.protocol.VectorSource``: vectors in a dict.

    Counts its calls and the keys asked for, so a test can see an index re-score from it.

    Example::

        source = MemoryVectorSource()
        source.put(np.array([7]), np.ones((1, 4), np.float32))
        source(np.array([7])).shape      # (1, 4)
    """

    def __init__(self) -> None:
        self.rows: dict[int, np.ndarray] = {}
        self.calls = 0
        self.keys_asked = 0

    def put(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self.rows.update(zip(np.asarray(keys).tolist(), np.asarray(vectors, np.float32),
                             strict=True))

    def __call__(self, keys: np.ndarray) -> np.ndarray:
        from lore.errors import StoreError

        self.calls += 1
        self.keys_asked += len(keys)
        try:
            return np.stack([self.rows[key] for key in np.asarray(keys).tolist()])
        except KeyError as exc:
            raise StoreError(f"no vector for key {exc.args[0]}") from None


END = 256
"""``ScriptedGenerator``'s token that ends the answer."""
OPEN = 257
"""``ScriptedGenerator``'s token that ends every prompt, opening the answer turn."""
VOCABULARY = 258
"""The 256 byte values, ``END`` and ``OPEN``."""
OFF_SCRIPT = -50.0
"""The logit of every token that continues no scripted answer: as good as impossible, yet
finite, so mixtures and log-probabilities stay exact numbers."""


class ScriptedGenerator:
    """A ``Generator`` and ``TokenScorer`` whose answers and probabilities a test scripts.

    Its tokenizer is the UTF-8 bytes of a text (token ids 0-255, so ``count_tokens`` is a
    length in bytes), plus ``END``, which ends an answer, and ``OPEN``, which closes every
    prompt. A prompt renders each message as ``<role>``, a newline, its content and a
    newline. Answers are decoded as a local model's are (``lore.generate.decode``), from
    what the test scripted:

    - ``enqueue(*answers)``: canned answers, one for each of the next ``stream`` calls; the
      prompt keeps its answer should it be asked again (the ``stuff`` mode).
    - ``script(answers, when)``: p(answer | prompt) for every prompt that contains ``when``,
      the latest matching script winning: one text (probability 1), or texts with their
      probabilities (at most 1 in all; the rest is the empty answer's). ``next_logits``
      spells them out by the chain rule, so a greedy answer's summed log-probability is
      log p(answer | prompt) and a RAG-Token mixture can be worked out by hand.
    - ``likelihood(logprob, when)``: what ``text_logprob`` gives for a text whose preceding
      prompt contains ``when``.

    A prompt nothing was scripted for is a ``GenerationError`` saying so. ``asked`` records
    the messages of every prompt it tokenized (each ``stream`` and ``prompt_tokens`` call),
    ``scored`` every ``text_logprob`` call. ``next_logits`` outside ``reserve`` raises, so a
    decoder that forgets to hold its slots fails its fast tests.

    The spec ``scripted`` (``lore.generate.registry.create_generator``) is the shared
    instance ``SCRIPTED``: a test of the command line or the server scripts it, then calls
    ``SCRIPTED.reset()``.

    Example::

        generator = ScriptedGenerator()
        generator.enqueue("Paris [1].")
        "".join(generator.stream([Message("user", "Capital of France?")]))  # 'Paris [1].'
        generator.script({"Tom": 0.9, "Rex": 0.1}, when="cat")  # for RAG-Sequence, RAG-Token
        generator.asked[-1][-1].content  # 'Capital of France?'
    """

    def __init__(self, name: str = "scripted", context_tokens: int = 8192) -> None:
        self.name = name
        self.context_tokens = context_tokens
        self.asked: list[tuple[Message, ...]] = []
        self.scored: list[tuple[tuple[Message, ...], str]] = []
        """(messages, text) of each ``text_logprob`` call."""
        self._queue: list[str] = []
        self._scripts: list[tuple[str, dict[bytes, float]]] = []
        self._likelihoods: list[tuple[str, list[float]]] = []
        self._held = threading.local()

    def enqueue(self, *answers: str) -> None:
        """Answer the next ``len(answers)`` calls of ``stream`` with these, in order."""
        self._queue.extend(answers)

    def script(self, answers: str | Mapping[str, float], when: str = "") -> None:
        """p(answer | prompt) for prompts containing ``when`` (see the class docstring).

        Raises:
            ValueError: a probability outside (0, 1], or more than 1 in all.
        """
        chances = {answers: 1.0} if isinstance(answers, str) else dict(answers)
        if any(not 0 < p <= 1 for p in chances.values()) or sum(chances.values()) > 1 + 1e-9:
            raise ValueError(f"answer probabilities must be in (0, 1] and sum to at most 1: "
                             f"{chances}")
        script = {text.encode(): p for text, p in chances.items()}
        rest = 1.0 - sum(chances.values())
        if rest > 1e-12:
            script[b""] = script.get(b"", 0.0) + rest
        self._scripts.append((when, script))

    def likelihood(self, logprob: float | Sequence[float], when: str = "") -> None:
        """``text_logprob`` gives ``logprob`` for a text after a prompt containing ``when``;
        a sequence is the text's per-token log-probabilities (``text_token_logprobs``), one
        value one token."""
        values = [logprob] if isinstance(logprob, int | float) else list(logprob)
        self._likelihoods.append((when, values))

    def reset(self) -> None:
        """Forget every script, queued answer and record."""
        self.asked.clear()
        self.scored.clear()
        self._queue.clear()
        self._scripts.clear()
        self._likelihoods.clear()

    def count_tokens(self, text: str) -> int:
        return len(text.encode("utf-8"))

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        self.asked.append(tuple(messages))
        return [*render_messages(messages).encode("utf-8"), OPEN]

    def stream(self, messages: Sequence[Message], sampling: Sampling = Sampling()
               ) -> Iterator[str]:
        tokens = self.prompt_tokens(messages)
        if len(tokens) + sampling.max_tokens > self.context_tokens:
            raise ConfigError(f"the prompt ({len(tokens)} tokens) and the answer budget "
                              f"({sampling.max_tokens}) exceed the context of "
                              f"{self.context_tokens} tokens")
        if self._queue:
            self.script(self._queue.pop(0), when=render_messages(messages))
        with self.reserve():
            steps = decode_steps(self, tokens, sampling)
            yield from text_pieces((step.token for step in steps), self.piece, sampling.stop)

    def next_logits(self, tokens: Sequence[int], slot: int = 0) -> np.ndarray:
        held = self._holding()
        if not held or slot >= held[-1]:
            raise RuntimeError(f"next_logits(slot={slot}) outside reserve(): the "
                               "TokenScorer contract asks callers to hold their slots")
        if OPEN not in tokens:
            raise ValueError("next_logits needs a prompt from prompt_tokens")
        cut = len(tokens) - 1 - list(tokens)[::-1].index(OPEN)
        prompt = bytes(tokens[:cut]).decode("utf-8")
        written = bytes(token for token in tokens[cut + 1:] if token < END)
        return continuation_logits(self._answers_for(prompt), written)

    @contextmanager
    def reserve(self, slots: int = 1) -> Iterator[None]:
        held = self._holding()
        held.append(slots)
        try:
            yield
        finally:
            held.pop()

    def piece(self, token: int) -> bytes:
        return bytes([token]) if token < END else b""

    def ends_turn(self, token: int) -> bool:
        return token == END

    def text_logprob(self, messages: Sequence[Message], text: str) -> float:
        return float(self.text_token_logprobs(messages, text).sum())

    def text_token_logprobs(self, messages: Sequence[Message], text: str) -> np.ndarray:
        rendered = render_messages(messages)
        at = rendered.rfind(text)
        if not text or at < 0:
            raise ValueError(f"{text!r} is not in the prompt")
        self.scored.append((tuple(messages), text))
        for when, logprobs in reversed(self._likelihoods):
            if when in rendered[:at]:
                return np.array(logprobs, dtype=np.float64)
        raise GenerationError(f"no likelihood scripted for {text!r} after this prompt; call "
                              f"likelihood(logprob, when=...) first: {rendered[:at][-200:]!r}")

    def _answers_for(self, prompt: str) -> dict[bytes, float]:
        for when, answers in reversed(self._scripts):
            if when in prompt:
                return answers
        raise GenerationError(f"no answer scripted for this prompt; call enqueue(...) or "
                              f"script(..., when=...) first: {prompt[-200:]!r}")

    def _holding(self) -> list[int]:
        """The slot counts this thread holds, innermost last."""
        if not hasattr(self._held, "slots"):
            self._held.slots = []
        slots: list[int] = self._held.slots
        return slots


SCRIPTED = ScriptedGenerator()
"""The instance ``create_generator`` returns for the spec ``scripted``."""


def render_messages(messages: Sequence[Message]) -> str:
    """``ScriptedGenerator``'s chat template: ``<role>``, newline, content, newline."""
    return "".join(f"<{m.role}>\n{m.content}\n" for m in messages)


def continuation_logits(answers: Mapping[bytes, float], written: bytes) -> np.ndarray:
    """Next-token logits after ``written``, given p(answer) of whole answers.

    By the chain rule, p(next | written) is the probability of the answers that go on with
    ``next`` over that of the answers that begin with ``written``; ``END`` goes on from an
    answer that is complete. Once ``written`` has left every answer, ``END`` is certain.
    Every other token gets ``OFF_SCRIPT``.
    """
    mass = np.zeros(VOCABULARY)
    for answer, chance in answers.items():
        if answer.startswith(written):
            mass[answer[len(written)] if len(answer) > len(written) else END] += chance
    if mass.sum() <= 0:
        mass[END] = 1.0
    logits = np.full(VOCABULARY, OFF_SCRIPT)
    going = mass > 0
    logits[going] = np.log(mass[going] / mass.sum())
    return logits
