"""The losses that train retrieval from the answering model, over each question's top-k
passages z (Lewis et al. 2020; Sachan et al. 2021, EMDR²; Shi et al. 2023, REPLUG).

Inputs for a batch of B questions with up to k passages each, answers up to T tokens:

- ``retrieval``: (B, k) log p_η(z | x), the retriever's softmax over its own passages;
- ``lm``: (B, k, T) log p_θ(y_t | x, z, y_<t), the answering model's per-token scores;
- ``tokens``: (B, T), 1 where the answer has a token, 0 past its end.

Padded passages carry log p_η = -inf (they are masked before the softmax).
"""

from __future__ import annotations

import torch

from lore.train.settings import DEFAULT_LM_TEMPERATURE, Objective


def rag_sequence(retrieval: torch.Tensor, lm: torch.Tensor, tokens: torch.Tensor
                 ) -> torch.Tensor:
    """-log Σ_z p_η(z|x) Π_t p_θ(y_t|x,z,y_<t), averaged over the batch (with the
    generator frozen this is EMDR²'s marginal likelihood)."""
    answer = (lm * tokens[:, None, :]).sum(-1)
    return -torch.logsumexp(retrieval + answer, dim=1).mean()


def rag_token(retrieval: torch.Tensor, lm: torch.Tensor, tokens: torch.Tensor
              ) -> torch.Tensor:
    """-Σ_t log Σ_z p_η(z|x) p_θ(y_t|x,z,y_<t): each token may come from another passage."""
    mixed = torch.logsumexp(retrieval[:, :, None] + lm, dim=1)
    return -(mixed * tokens).sum(-1).mean()


def replug(retrieval: torch.Tensor, lm: torch.Tensor, tokens: torch.Tensor,
           temperature: float = DEFAULT_LM_TEMPERATURE) -> torch.Tensor:
    """KL(P_R || Q_LM) with Q_LM = softmax(log p(y|x,z) / β): the retriever learns the
    language model's preference among its passages; only P_R carries a gradient."""
    answer = (lm * tokens[:, None, :]).sum(-1).detach()
    padded = torch.isinf(retrieval)
    target = torch.log_softmax((answer / temperature).masked_fill(padded, -torch.inf), dim=1)
    own = retrieval.exp()
    gap = (retrieval - target).masked_fill(padded, 0.0)
    return (own * gap).sum(-1).mean()


def objective_loss(name: Objective, retrieval: torch.Tensor, lm: torch.Tensor,
                   tokens: torch.Tensor, lm_temperature: float = DEFAULT_LM_TEMPERATURE
                   ) -> torch.Tensor:
    if name == "rag-sequence":
        return rag_sequence(retrieval, lm, tokens)
    if name == "rag-token":
        return rag_token(retrieval, lm, tokens)
    return replug(retrieval, lm, tokens, lm_temperature)
