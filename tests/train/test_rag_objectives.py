"""The losses that train retrieval from the answering model, against values worked by hand."""

from __future__ import annotations

import math

import pytest
import torch

from lore.train.rag_objectives import rag_sequence, rag_token, replug

# One question, two passages, a two-token answer. Passage 0 explains the first token well
# and the second badly; passage 1 the reverse.
PRIOR = torch.log(torch.tensor([[0.5, 0.5]]))
LM = torch.log(torch.tensor([[[0.9, 0.1], [0.1, 0.9]]]))
TOKENS = torch.ones(1, 2)


def test_rag_sequence_is_the_marginal_of_whole_answers() -> None:
    expected = -math.log(0.5 * 0.9 * 0.1 + 0.5 * 0.1 * 0.9)
    assert rag_sequence(PRIOR, LM, TOKENS).item() == pytest.approx(expected, rel=1e-5)


def test_rag_token_mixes_passages_per_token() -> None:
    expected = -2 * math.log(0.5 * 0.9 + 0.5 * 0.1)
    assert rag_token(PRIOR, LM, TOKENS).item() == pytest.approx(expected, rel=1e-5)
    assert rag_token(PRIOR, LM, TOKENS) < rag_sequence(PRIOR, LM, TOKENS)


def test_tokens_past_the_answer_and_padded_passages_do_not_count() -> None:
    prior = torch.log(torch.tensor([[0.5, 0.5, 0.0]]))  # a padded third passage
    lm = torch.zeros(1, 3, 3)
    lm[0, :2, :2] = LM[0]
    tokens = torch.tensor([[1.0, 1.0, 0.0]])
    assert rag_sequence(prior, lm, tokens).item() == pytest.approx(
        rag_sequence(PRIOR, LM, TOKENS).item(), rel=1e-5)
    assert rag_token(prior, lm, tokens).item() == pytest.approx(
        rag_token(PRIOR, LM, TOKENS).item(), rel=1e-5)
    assert replug(prior, lm, tokens).item() == pytest.approx(
        replug(PRIOR, LM, TOKENS).item(), abs=1e-6)


def test_replug_is_zero_when_the_retriever_agrees_with_the_model() -> None:
    lm = torch.log(torch.tensor([[[0.8], [0.2]]]))
    agreeing = torch.log(torch.tensor([[0.8, 0.2]]))
    assert replug(agreeing, lm, torch.ones(1, 1)).item() == pytest.approx(0.0, abs=1e-6)
    assert replug(PRIOR, lm, torch.ones(1, 1)).item() > 0.01


@pytest.mark.parametrize("loss", [rag_sequence, rag_token, replug])
def test_each_loss_moves_the_retriever_toward_the_passage_that_explains_the_answer(
        loss: object) -> None:
    scores = torch.zeros(1, 2, requires_grad=True)
    lm = torch.log(torch.tensor([[[0.9], [0.05]]]))
    value = loss(torch.log_softmax(scores, dim=1), lm, torch.ones(1, 1))  # type: ignore[operator]
    value.backward()
    assert scores.grad is not None
    assert scores.grad[0, 0] < 0 < scores.grad[0, 1]  # descent raises passage 0
