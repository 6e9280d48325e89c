"""The Generator seam: chat messages in, answer text out, token by token.

Two backends: a local GGUF model through llama.cpp (``lore.generate.local``) and any
OpenAI-compatible chat server (``lore.generate.openai``). ``create_generator`` in
``lore.generate.registry`` builds either from a spec string.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

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
