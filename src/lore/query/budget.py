"""Model calls within a budget: every planning call goes through ``Budget.write``, which
counts calls and tokens and says no once either would run out, keeping one call for the
answer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from lore.generate.protocol import Generator, Message, Sampling


@dataclass(frozen=True, slots=True)
class Written:
    """One planning call's text and cost."""

    text: str
    tokens: int
    """Prompt and output, in the model's tokens."""
    seconds: float


class Budget:
    """Counts a question's planning calls against ``max_calls`` (the answer's own call kept
    aside) and ``max_tokens``.

    >>> budget = Budget(generator, max_calls=4, max_tokens=4000)
    >>> written = budget.write([Message("user", "Rewrite: ...")], max_tokens=64)
    >>> written.text if written else "budget spent"
    """

    def __init__(self, generator: Generator, max_calls: int, max_tokens: int) -> None:
        self.generator = generator
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.calls = 0
        self.tokens = 0
        self.refused = False
        """A call was refused: the strategy answered with less than it wanted."""

    def allows(self, prompt_tokens: int, max_tokens: int) -> bool:
        """Whether a call of this size fits, one call being kept for the answer."""
        return (self.calls + 2 <= self.max_calls
                and self.tokens + prompt_tokens + max_tokens <= self.max_tokens)

    def charge(self, calls: int, tokens: int) -> None:
        """Count calls made elsewhere (a sub-question answered by the answer step)."""
        self.calls += calls
        self.tokens += tokens

    def write(self, messages: Sequence[Message], max_tokens: int,
              stop: tuple[str, ...] = ("\n\n",)) -> Written | None:
        """The model's greedy reply, or None when the budget does not allow the call."""
        prompt = sum(self.generator.count_tokens(m.content) + 8 for m in messages)
        if not self.allows(prompt, max_tokens):
            self.refused = True
            return None
        started = time.perf_counter()
        text = "".join(self.generator.stream(messages, Sampling(max_tokens=max_tokens,
                                                                stop=stop)))
        spent = prompt + self.generator.count_tokens(text)
        self.calls += 1
        self.tokens += spent
        return Written(text.strip(), spent, time.perf_counter() - started)
