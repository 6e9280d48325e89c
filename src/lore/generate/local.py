"""A local GGUF model through llama.cpp as a ``Generator``, with per-token log-probabilities.

The model loads once per process (``lore.models.llama.load_runner``). Prompts are evaluated
with the KV cache's longest common prefix kept, so the fixed system instruction that opens
every prompt is evaluated once and reused by every later question.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from lore.errors import ConfigError
from lore.generate.decode import TextStream, log_softmax
from lore.generate.protocol import Message, Sampling
from lore.generate.spans import SpanConstraint
from lore.models.gguf import resolve_gguf
from lore.models.llama import LlamaRunner, load_runner

DEFAULT_CONTEXT = 4096


@dataclass(frozen=True, slots=True)
class Step:
    """One generated token and its log-probability under the model."""

    token: int
    logprob: float


class LocalGenerator:
    """A GGUF model (a name from ``lore.models.gguf.MODELS``, a path, or a hub file).

    Example::

        generator = LocalGenerator("qwen-0.5b")
        text = "".join(generator.stream([Message("user", "Say hello")]))
    """

    def __init__(self, spec: str = "qwen-0.5b", context_tokens: int = DEFAULT_CONTEXT,
                 threads: int | None = None, seed: int = 0) -> None:
        self.name = spec
        self.context_tokens = context_tokens
        self._path = resolve_gguf(spec)
        self._threads = threads
        self.runner = load_runner(self._path, context_tokens, threads)
        self._rng = np.random.default_rng(seed)

    def count_tokens(self, text: str) -> int:
        return len(self.runner.tokenize(text))

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        """The messages through the model's chat template, with the answer turn opened."""
        return self.runner.tokenize(self._rendered(messages), special=True)

    def text_logprob(self, messages: Sequence[Message], text: str) -> float:
        """log p(text | what precedes it) for the last occurrence of ``text`` in the rendered
        prompt, its tokens scored in one pass; the prompt up to there stays in the KV cache,
        so answering the same prompt next costs only what follows ``text``."""
        rendered = self._rendered(messages)
        at = rendered.rfind(text)
        if not text or at < 0:
            raise ValueError(f"{text!r} is not in the prompt")
        tokens = self.runner.tokenize(rendered, special=True)
        start = max(_shared(tokens, self.runner.tokenize(rendered[:at], special=True)), 1)
        end = _shared(tokens, self.runner.tokenize(rendered[:at + len(text)], special=True))
        with self.runner.lock:  # at least one token, should the text's merge with the next
            return float(self.runner.token_logprobs(tokens, start, max(end, start + 1)).sum())

    def stream(self, messages: Sequence[Message], sampling: Sampling = Sampling()
               ) -> Iterator[str]:
        tokens = self.prompt_tokens(messages)
        self._check_fits(tokens, sampling)
        text = TextStream(sampling.stop)
        with self.runner.lock:
            for step in self.steps(self.runner, tokens, sampling):
                piece = text.feed(self.runner.piece(step.token))
                if piece:
                    yield piece
                if text.stopped:
                    return
        rest = text.finish()
        if rest:
            yield rest

    def runner_for(self, slot: int) -> LlamaRunner:
        """A second, third ... copy of the model with its own KV cache (the weights are
        memory-mapped, so copies share them): the marginalising modes keep one prompt per
        source in its own cache."""
        if slot == 0:
            return self.runner
        return load_runner(self._path, self.context_tokens, self._threads, slot=slot)

    def steps(self, runner: LlamaRunner, tokens: list[int], sampling: Sampling
               ) -> Iterator[Step]:
        sequence = list(tokens)
        spans = SpanConstraint(sampling.copy_from, runner.piece, runner.ends_turn) \
            if sampling.copy_from else None
        for _ in range(sampling.max_tokens):
            logits = runner.logits_for(sequence)
            recent = sequence[len(tokens):][-sampling.repeat_window:] \
                if sampling.repeat_window > 0 else []
            penalized = penalize(logits, recent, sampling.repeat_penalty)
            candidates = spans.restrict(penalized) if spans is not None else penalized
            if candidates is None:
                return
            token = self._pick(candidates, sampling.temperature)
            if runner.ends_turn(token):
                return
            if spans is not None:
                spans.accept(token)
            yield Step(token, float(log_softmax(logits)[token]))
            sequence.append(token)

    def _pick(self, logits: np.ndarray, temperature: float) -> int:
        if temperature <= 0:
            return int(np.argmax(logits))
        weights = np.exp((logits - logits.max()) / temperature)
        return int(self._rng.choice(weights.size, p=weights / weights.sum()))

    def _rendered(self, messages: Sequence[Message]) -> str:
        return self.runner.render([{"role": m.role, "content": m.content} for m in messages])

    def _check_fits(self, tokens: list[int], sampling: Sampling) -> None:
        if len(tokens) + sampling.max_tokens > self.context_tokens:
            raise ConfigError(
                f"the prompt ({len(tokens)} tokens) and the answer budget "
                f"({sampling.max_tokens}) exceed the model's context of {self.context_tokens} "
                "tokens; use fewer or shorter sources, or raise generate.context_tokens")


def _shared(tokens: Sequence[int], prefix: Sequence[int]) -> int:
    """Length of the common prefix: where a text's tokens stop agreeing with a longer
    text's (a word at the cut may merge with what follows it)."""
    count = 0
    for a, b in zip(tokens, prefix, strict=False):
        if a != b:
            break
        count += 1
    return count


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
