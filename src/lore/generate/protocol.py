"""The Generator seam: chat messages in, answer text out, token by token; and the
TokenScorer seam beside it: a model's next-token scores, for the answer modes that weigh
sources by the model's probabilities.

Backends: a local GGUF model through llama.cpp (``lore.generate.local``, both seams), any
OpenAI-compatible chat server (``lore.generate.openai``, a Generator only), and the shipped
fake ``lore.testing.fakes.ScriptedGenerator`` (both). ``create_generator`` in
``lore.generate.registry`` builds one from a spec string.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Sampling:
    """How to pick tokens. The defaults answer deterministically (greedy)."""

    max_tokens: int = 256
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    repeat_penalty: float = 1.1
    """Local models: divides the positive logits (multiplies the negative ones) of tokens
    among the last ``repeat_window`` generated, as llama.cpp does; greedy decoding of small
    models otherwise falls into loops. 1.0 turns it off. The OpenAI API has no such field,
    so servers apply their own defaults."""
    repeat_window: int = 64
    copy_from: tuple[str, ...] = ()
    """Local models: when given, the answer is a span of one of these texts (the sources of an
    extractive question; ``lore.generate.spans``). Servers cannot be constrained this way and
    ignore it."""


class Generator(Protocol):
    """Writes the assistant's next turn.

    Contract (checked by ``lore.testing.contracts.GeneratorContract``):

    - ``stream`` yields text pieces as the model produces them; joined, they are the whole
      answer. It stops at ``sampling.max_tokens`` tokens, at any ``sampling.stop`` string
      (which is not yielded), or when the model ends its turn. Greedy sampling
      (``temperature=0``) gives the same text for the same messages.
    - ``context_tokens`` is the model's context window; ``count_tokens`` measures text in the
      model's own tokens (a remote backend without a tokenizer estimates, erring high), so
      prompts can be packed to ``context_tokens - sampling.max_tokens``.
    - Failures raise ``lore.errors.GenerationError`` (server down, slow, or answering
      garbage) or ``lore.errors.ModelError`` (model files missing or unreadable), with a
      message that says what to fix; never a bare library exception, and never a hang
      (remote calls have timeouts).
    - ``name`` identifies the backend and model as ``create_generator`` accepts it.
    """

    name: str
    context_tokens: int

    def count_tokens(self, text: str) -> int: ...

    def stream(self, messages: Sequence[Message], sampling: Sampling = Sampling()
               ) -> Iterator[str]: ...


@runtime_checkable
class TokenScorer(Protocol):
    """A model's next-token scores: what RAG-Sequence and RAG-Token decoding
    (``lore.generate.marginal``, through ``lore.generate.decode.decode_steps``) and the
    question-likelihood weighing of sources (``lore.generate.answer.Answerer``) read. A
    server's chat API gives no such scores, so a backend without them is refused by those
    modes with a ``ConfigError`` before any question.

    Contract (checked by ``lore.testing.contracts.TokenScorerContract``):

    - Tokens are ints; ``prompt_tokens`` renders messages through the model's chat template
      with the assistant's turn opened, so decoding continues from there, as ``stream``
      would.
    - ``next_logits(tokens, slot)`` scores every vocabulary entry as the token after
      ``tokens``: unnormalised log-probabilities (a model's logits), so ``log_softmax`` of
      them is log p(next | tokens). Logits, not log-probabilities, because the repetition
      penalty (``Sampling.repeat_penalty``) is defined on logits. The scores depend only on
      ``tokens``; ``slot`` picks the cache that evaluates them, so k prompts decoded side by
      side each keep theirs, and slot 0 is the one ``stream`` uses.
    - ``next_logits`` is called inside ``with reserve(slots)``, with ``slot < slots``: the
      block holds those slots for one caller. ``stream`` and ``text_logprob`` reserve slot
      0 themselves, so they are called outside such a block.
    - ``piece(token)`` is the token's bytes (perhaps part of a UTF-8 character; empty for
      control tokens); ``ends_turn(token)`` is true for tokens that end the answer.
    - ``text_logprob(messages, text)`` is log p(text | what precedes it) at the last
      occurrence of ``text`` in the rendered prompt; ``ValueError`` when ``text`` is empty
      or not there. ``text_token_logprobs`` gives the same token by token (their sum is
      ``text_logprob``): what RAG-Token training mixes per token.

    Example::

        with scorer.reserve(1):
            logits = scorer.next_logits(scorer.prompt_tokens([Message("user", "Hi")]))
        first = scorer.piece(int(np.argmax(logits)))
    """

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]: ...

    def next_logits(self, tokens: Sequence[int], slot: int = 0) -> np.ndarray: ...

    def reserve(self, slots: int = 1) -> AbstractContextManager[None]: ...

    def piece(self, token: int) -> bytes: ...

    def ends_turn(self, token: int) -> bool: ...

    def text_logprob(self, messages: Sequence[Message], text: str) -> float: ...

    def text_token_logprobs(self, messages: Sequence[Message], text: str) -> np.ndarray: ...
