"""An LLM as a pointwise relevance judge: ``LlmReranker``.

For each passage the model reads one prompt (its own chat template, from the GGUF metadata)
asking whether the passage is relevant to the query, and the score is the log-odds of its next
token being "yes" rather than "no"::

    score = logsumexp(logits[yes tokens]) - logsumexp(logits[no tokens])

with the single-token spellings ``yes``/``Yes``/`` yes``/`` Yes`` (and the same for no), so the
score does not depend on which one the template makes likely. This is the pointwise
yes/no-likelihood scheme of Nogueira et al., "Document Ranking with a Pretrained
Sequence-to-Sequence Model" (2020), and of Liang et al., "Holistic Evaluation of Language Models"
(2022), run on a local GGUF model through llama-cpp-python; no text is generated.

The prompt puts the query first and the passage after it, so every passage of one query shares
the prompt's head: it is evaluated once into llama.cpp's KV cache, and each passage then costs
only its own tokens and the closing question (``LlamaRunner``). Passages are cut to
``passage_tokens`` tokens, queries to ``query_tokens``. Query and passage are tokenized as
plain text, so control tokens inside them (``<|im_end|>``) stay text.

The model is loaded once per process and path (``lore.models.llama.load_runner``) and shared
by every ``LlmReranker`` that names it; its KV cache is not thread-safe, so scoring holds its
lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lore.errors import ConfigError, ModelError
from lore.models.gguf import DEFAULT_GGUF, resolve_gguf
from lore.models.llama import LlamaRunner, load_runner

USER = "Query:{query}\nPassage:{passage}\nDoes the passage answer the query? Answer 'Yes' or 'No'."
"""The judge's request, the one user turn of its chat (the template's default system turn, if
any, comes before it). Query and passage are inserted with a leading space, so they tokenize as
they would inside the sentence. This wording separates the relevant passage more clearly than
the first one (a judge system turn, then ``Query:`` and ``Passage:`` on lines of their own,
then "Is the passage relevant ... ?"), which also ranked SciFact worse.
``python benchmarks/rerank.py`` measures the judge (docs/reranking.md)."""
YES = ("yes", "Yes", " yes", " Yes", "YES")
NO = ("no", "No", " no", " No", "NO")

_QUERY_MARK = "\x1eLORE-QUERY\x1e"
_PASSAGE_MARK = "\x1eLORE-PASSAGE\x1e"
_PROMPT_SLACK = 192
"""Context tokens kept for the instructions around query and passage (about 90 in practice)."""

Render = Callable[[list[dict[str, str]]], str]
"""Chat messages -> prompt text, ending where the assistant's answer starts."""


@dataclass(frozen=True, slots=True)
class JudgePrompt:
    """The judge prompt around its two holes: ``head + query + middle + passage + tail``."""

    head: str
    middle: str
    tail: str
    """Ends where the model's answer starts (after the template's assistant header)."""


class LlmReranker:
    """Reranks with a local GGUF chat model asked "is this passage relevant?" (see module).

    Example::

        reranker = LlmReranker("qwen-0.5b")
        scores = reranker.score("what do cats eat?",
                                ["Cats are carnivores and eat meat.", "Stocks fell on Monday."])
        # scores[0] > scores[1]: log-odds of "yes" over "no"

    Args:
        model: a model spec for ``lore.models.gguf.resolve_gguf``: ``qwen-0.5b`` (default),
            ``qwen-1.5b``, ``smollm2``, a ``.gguf`` path or ``owner/repo/file.gguf``.
        passage_tokens: passages are cut to this many tokens (the judge's cost per passage).
        query_tokens: queries are cut to this many tokens.
        threads: llama.cpp threads; ``None`` chooses before each prompt as many as other
            work leaves cores idle (``lore.models.load``): its OpenMP threads spin while
            they wait, so a thread whose core is taken stalls the rest.
        cache_dir: where split wheel models are reassembled; default ``~/.cache/lore/models``.
    """

    def __init__(self, model: str = DEFAULT_GGUF, *, passage_tokens: int = 160,
                 query_tokens: int = 96, threads: int | None = None,
                 cache_dir: Path | None = None) -> None:
        if passage_tokens < 8 or query_tokens < 8:
            raise ConfigError(f"passage_tokens and query_tokens must be at least 8, got "
                              f"{passage_tokens} and {query_tokens}")
        if threads is not None and threads <= 0:
            raise ConfigError(f"threads must be positive, got {threads}")
        self.name = f"llm:{model}"
        self.path = resolve_gguf(model, cache_dir=cache_dir)
        self.passage_tokens = passage_tokens
        self.query_tokens = query_tokens
        self.threads = threads
        self.n_ctx = _round_up(passage_tokens + query_tokens + _PROMPT_SLACK, 256)
        self._judge: _Judge | None = None
        self._lock = threading.Lock()

    @property
    def tokens_evaluated(self) -> int:
        """Prompt tokens the model has evaluated so far in this process (for cost reports)."""
        return self._judge.runner.evaluated if self._judge is not None else 0

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.empty(0, dtype=np.float32)
        judge = self._load()
        runner = judge.runner
        prefix = judge.head + runner.tokenize(" " + query)[:self.query_tokens] + judge.middle
        out = np.empty(len(passages), dtype=np.float32)
        with runner.lock:
            runner.prime(prefix)
            for i, passage in enumerate(passages):
                rest = runner.tokenize(" " + passage)[:self.passage_tokens] + judge.tail
                out[i] = yes_no_log_odds(runner.logits_after(len(prefix), rest), judge.yes,
                                         judge.no)
        return out

    def _load(self) -> _Judge:
        with self._lock:
            if self._judge is None:
                runner = load_runner(self.path, self.n_ctx, self.threads)
                prompt = build_judge_prompt(runner.render if runner.chat_template
                                            else render_plain)
                self._judge = _Judge(
                    runner, runner.tokenize(prompt.head, special=True),
                    runner.tokenize(prompt.middle, special=True),
                    runner.tokenize(prompt.tail, special=True),
                    answer_tokens(runner.tokenize, YES), answer_tokens(runner.tokenize, NO))
            return self._judge


@dataclass(frozen=True, slots=True)
class _Judge:
    """A loaded model with the judge prompt's fixed parts and answer words as token ids."""

    runner: LlamaRunner
    head: list[int]
    middle: list[int]
    tail: list[int]
    yes: list[int]
    no: list[int]


def build_judge_prompt(render: Render, user: str = USER) -> JudgePrompt:
    """Render the judge's chat once with markers in the holes, and cut it at the markers."""
    content = user.format(query=_QUERY_MARK, passage=_PASSAGE_MARK)
    text = render([{"role": "user", "content": content}])
    head, found_query, rest = text.partition(_QUERY_MARK)
    middle, found_passage, tail = rest.partition(_PASSAGE_MARK)
    if not (found_query and found_passage):
        raise ModelError("the model's chat template dropped the query or the passage")
    return JudgePrompt(head, middle, tail)


def render_plain(messages: list[dict[str, str]]) -> str:
    """A prompt for models without a chat template: the messages as paragraphs, then
    ``Answer:`` (the answer then starts with a space, which ``YES``/``NO`` allow for)."""
    return "\n\n".join(message["content"] for message in messages) + "\nAnswer:"


def answer_tokens(tokenize: Callable[[str], list[int]], words: Sequence[str]) -> list[int]:
    """Token ids of the spellings in ``words`` that are one token each, without repeats."""
    ids = [tokenize(word) for word in words]
    found = list(dict.fromkeys(row[0] for row in ids if len(row) == 1))
    if not found:
        raise ModelError(f"the model's vocabulary has no single token for any of {list(words)}")
    return found


def yes_no_log_odds(logits: np.ndarray, yes: Sequence[int], no: Sequence[int]) -> float:
    """``log P(yes) - log P(no)`` from next-token logits, summing over each word's spellings."""
    return _logsumexp(logits[list(yes)]) - _logsumexp(logits[list(no)])


def _logsumexp(values: np.ndarray) -> float:
    top = float(values.max())
    return top + float(np.log(np.exp(values - top).sum()))


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step
