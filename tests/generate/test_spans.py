"""Copy-constrained decoding: a tiny vocabulary for the rules, then SmolLM2-135M answering
with and without the constraint, alone and marginalised over sources."""

from __future__ import annotations

import numpy as np
import pytest

from lore.generate.local import LocalGenerator
from lore.generate.marginal import rag_sequence, rag_token
from lore.generate.protocol import Message, Sampling
from lore.generate.spans import SpanConstraint
from lore.testing.models import needs_smollm2

END = 99
"""The tiny vocabulary's end-of-turn token."""
ER = "二".encode()
VOCAB = {0: b" Den", 1: b"ver", 2: b" Paris", 3: b"\n", 4: b" Broncos", 5: b" NEW",
         6: b" york", 7: ER[:2], 8: ER[2:] + "十年".encode(), 9: b"ver\n", 10: b" ", END: b""}


def constraint(*texts: str) -> SpanConstraint:
    # ids outside VOCAB stand for tokens found in no source
    return SpanConstraint(texts, lambda token: VOCAB.get(token, b"@"),
                          lambda token: token == END)


def allowed(spans: SpanConstraint) -> set[int]:
    return {token for token in VOCAB if spans.allows(token)}


def test_an_answer_may_begin_anywhere_in_a_source_but_not_outside_it() -> None:
    spans = constraint("The Denver Broncos won.")
    # "ver" may begin a span (and "ver\n" be all of it); a newline or the end of turn may
    # not end an empty answer
    assert allowed(spans) == {0, 1, 4, 9, 10}


def test_once_begun_an_answer_continues_its_span_or_ends() -> None:
    spans = constraint("The Denver Broncos won.")
    spans.accept(0)
    assert allowed(spans) == {1, 3, 9, END}  # not " ": "den " is in no source
    spans.accept(1)
    assert allowed(spans) == {3, 4, 10, END}


def test_case_and_runs_of_whitespace_do_not_matter() -> None:
    spans = constraint("flights to New\n   York daily")
    spans.accept(5)
    assert spans.allows(6)


def test_a_character_split_across_tokens_is_followed_byte_by_byte() -> None:
    spans = constraint("她任教二十年。")
    assert spans.allows(7)
    spans.accept(7)
    assert spans.allows(8) and not spans.allows(0)


def test_restrict_keeps_only_allowed_logits_and_ends_when_none_is_left() -> None:
    spans = constraint("Paris")
    logits = np.zeros(100)
    logits[[0, 2]] = [5.0, 1.0]  # the model prefers " Den", which is not in the source
    restricted = spans.restrict(logits)
    assert restricted is not None and int(np.argmax(restricted)) == 2
    assert np.isneginf(restricted[0])
    spans.accept(2)
    nothing = np.full(100, -np.inf)  # what the model would never write is never tried
    nothing[[0, 1]] = 3.0  # neither continues " Paris"
    assert spans.restrict(nothing) is None


# ---- with a model ------------------------------------------------------------------------

SOURCE = ("The lighthouse on Korr Island was built in 1874 by the engineer Alma Veit. "
          "Its lamp could be seen from forty kilometres away.")
QUESTION = "Who built the lighthouse on Korr Island?"
OTHER = "Ships sail past the harbour of Lemvik every morning, led by captain Ivo Brandt."
"""A text that does not answer the question."""


@pytest.fixture(scope="module")
def smollm2() -> LocalGenerator:
    # One thread: see tests/rerank/test_llm.py.
    return LocalGenerator("smollm2", context_tokens=2048, threads=1)


def messages(source: str) -> list[Message]:
    return [Message("system", "Answer with a short phrase from the source."),
            Message("user", f"Source: {source}\n\nQuestion: {QUESTION}\nShort answer:")]


def folded(text: str) -> str:
    return " ".join(text.split()).lower()


@needs_smollm2
@pytest.mark.slow
def test_a_copying_answer_is_a_span_of_its_source(smollm2: LocalGenerator) -> None:
    sampling = Sampling(max_tokens=24, stop=("\n",), copy_from=(SOURCE,))
    answer = "".join(smollm2.stream(messages(SOURCE), sampling)).strip()
    assert answer and folded(answer) in folded(SOURCE)


@needs_smollm2
@pytest.mark.slow
def test_the_constraint_holds_against_a_source_the_model_was_not_shown(
        smollm2: LocalGenerator) -> None:
    # Copying from a text the prompt does not contain: free decoding would answer from the
    # prompt; the constraint still keeps every token within the given text.
    free = "".join(smollm2.stream(messages(SOURCE), Sampling(max_tokens=24, stop=("\n",))))
    copied = "".join(smollm2.stream(messages(SOURCE), Sampling(
        max_tokens=24, stop=("\n",), copy_from=(OTHER,)))).strip()
    assert folded(free.strip()) not in folded(OTHER)
    assert folded(copied) in folded(OTHER)


@needs_smollm2
@pytest.mark.slow
def test_rag_sequence_candidates_copy_their_own_source(smollm2: LocalGenerator) -> None:
    # Both prompts show SOURCE, but the second candidate may only copy from OTHER: were the
    # texts pooled, it would copy SOURCE's answer like the first.
    prompts = [smollm2.prompt_tokens(messages(SOURCE))] * 2
    sampling = Sampling(max_tokens=24, stop=("\n",), copy_from=(SOURCE, OTHER))
    _, candidates, _ = rag_sequence(smollm2, prompts, np.array([0.5, 0.5]), sampling,
                                    own_source=True)
    for candidate, text in zip(candidates, (SOURCE, OTHER), strict=True):
        assert candidate.text and folded(candidate.text) in folded(text)
    with pytest.raises(ValueError, match="one text per prompt"):
        rag_sequence(smollm2, prompts, np.array([0.5, 0.5]),
                     Sampling(copy_from=(SOURCE,)), own_source=True)


@needs_smollm2
@pytest.mark.slow
def test_rag_token_copies_from_the_union_of_sources(smollm2: LocalGenerator) -> None:
    prompts = [smollm2.prompt_tokens(messages(text)) for text in (SOURCE, OTHER)]
    sampling = Sampling(max_tokens=24, stop=("\n",), copy_from=(SOURCE, OTHER))
    answer = "".join(rag_token(smollm2, prompts, np.array([0.7, 0.3]), sampling)).strip()
    assert answer and any(folded(answer) in folded(text) for text in (SOURCE, OTHER))
