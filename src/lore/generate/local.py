"""A local GGUF model through llama.cpp as a ``Generator`` and a ``TokenScorer``.

The model loads once per process (``lore.models.llama.load_runner``). Prompts are evaluated
with the KV cache's longest common prefix kept, so the fixed system instruction that opens
every prompt is evaluated once and reused by every later question. Each scoring slot is a
copy of the model with its own KV cache (``runner_for``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

import numpy as np

from lore.errors import ConfigError
from lore.generate.decode import decode_steps, text_pieces
from lore.generate.protocol import Message, Sampling
from lore.models.gguf import resolve_gguf, split_adapter
from lore.models.llama import LlamaRunner, load_runner

DEFAULT_CONTEXT = 4096


class LocalGenerator:
    """A GGUF model (a name from ``lore.models.gguf.MODELS``, a path, or a hub file).

    Example::

        generator = LocalGenerator("qwen-0.5b")
        text = "".join(generator.stream([Message("user", "Say hello")]))
        with generator.reserve(2):  # two prompts decoded side by side, each in its own cache
            logits = generator.next_logits(generator.prompt_tokens(messages), slot=1)
    """

    def __init__(self, spec: str = "qwen-0.5b", context_tokens: int = DEFAULT_CONTEXT,
                 threads: int | None = None, seed: int = 0) -> None:
        """``spec``: a model, or ``<model>+lora:<adapter.gguf>`` for the model with a
        llama.cpp LoRA adapter applied (``lore train rag --train joint`` writes one)."""
        self.name = spec
        self.context_tokens = context_tokens
        base, self._adapter = split_adapter(spec)
        self._path = resolve_gguf(base)
        self._threads = threads
        self.runner = load_runner(self._path, context_tokens, threads, adapter=self._adapter)
        self._slots = {0: self.runner}
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
        return float(self.text_token_logprobs(messages, text).sum())

    def text_token_logprobs(self, messages: Sequence[Message], text: str) -> np.ndarray:
        """``text_logprob`` token by token: log p of each of ``text``'s tokens."""
        tokens, start, end = self.text_token_span(messages, text)
        with self.reserve():
            return self.runner.token_logprobs(tokens, start, end)

    def text_token_span(self, messages: Sequence[Message], text: str
                        ) -> tuple[list[int], int, int]:
        """The rendered messages' tokens and where the last occurrence of ``text`` lies among
        them, ``tokens[start:end]``: what ``text_token_logprobs`` scores, and what training
        the model on ``text`` reads."""
        rendered = self._rendered(messages)
        at = rendered.rfind(text)
        if not text or at < 0:
            raise ValueError(f"{text!r} is not in the prompt")
        tokens = self.runner.tokenize(rendered, special=True)
        start = max(_shared(tokens, self.runner.tokenize(rendered[:at], special=True)), 1)
        end = _shared(tokens, self.runner.tokenize(rendered[:at + len(text)], special=True))
        # At least one token, should the text's last merge with what follows it.
        return tokens, start, max(end, start + 1)

    def stream(self, messages: Sequence[Message], sampling: Sampling = Sampling()
               ) -> Iterator[str]:
        tokens = self.prompt_tokens(messages)
        self._check_fits(tokens, sampling)
        with self.reserve():
            steps = decode_steps(self, tokens, sampling, rng=self._rng)
            yield from text_pieces((step.token for step in steps), self.piece, sampling.stop)

    def next_logits(self, tokens: Sequence[int], slot: int = 0) -> np.ndarray:
        """Next-token logits after ``tokens`` in slot ``slot``'s KV cache (only what the
        cache lacks is evaluated: ``LlamaRunner.logits_for``)."""
        return self.runner_for(slot).logits_for(tokens)

    @contextmanager
    def reserve(self, slots: int = 1) -> Iterator[None]:
        """Hold the locks of slots ``0 .. slots - 1``, in that order, until the block ends."""
        with ExitStack() as stack:
            for slot in range(slots):
                stack.enter_context(self.runner_for(slot).lock)
            yield

    def piece(self, token: int) -> bytes:
        return self.runner.piece(token)

    def ends_turn(self, token: int) -> bool:
        return self.runner.ends_turn(token)

    def runner_for(self, slot: int) -> LlamaRunner:
        """A second, third ... copy of the model with its own KV cache (the weights are
        memory-mapped, so copies share them): the marginalising modes keep one prompt per
        source in its own cache."""
        runner = self._slots.get(slot)
        if runner is None:
            runner = self._slots[slot] = load_runner(self._path, self.context_tokens,
                                                     self._threads, slot=slot,
                                                     adapter=self._adapter)
        return runner

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
