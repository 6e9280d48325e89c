"""In-batch negatives: multiple negatives ranking loss (InfoNCE over cosine similarity)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from lore.train.similarity import cosine_matrix


class MultipleNegativesRankingLoss(nn.Module):
    """Each query against its positive, every other query's positive and every hard negative
    in the batch: cross-entropy over scaled cosine similarities, the positive the right class.

    A batch of B pairs gives each query B - 1 negatives for free, so it learns from many
    negatives at the cost of one forward pass per text; hard negatives add their own. Suited
    to pairs alone (no labels of what is irrelevant), which is what users have.

    >>> loss = MultipleNegativesRankingLoss(scale=20.0)
    >>> value = loss(queries, positives, negatives)   # (B, d), (B, d), (B, k, d) or None
    """

    citation = ("Henderson et al., 'Efficient Natural Language Response Suggestion for Smart "
                "Reply', 2017; van den Oord et al., 'Representation Learning with Contrastive "
                "Predictive Coding' (InfoNCE), 2018")

    def __init__(self, scale: float = 20.0) -> None:
        super().__init__()
        self.scale = scale
        """Inverse temperature: cosines lie in [-1, 1], too flat for a softmax unscaled."""

    def forward(self, queries: torch.Tensor, positives: torch.Tensor,
                negatives: torch.Tensor | None = None) -> torch.Tensor:
        passages = positives
        if negatives is not None and negatives.numel():
            passages = torch.cat([positives, negatives.reshape(-1, negatives.shape[-1])])
        scores = cosine_matrix(queries, passages) * self.scale
        labels = torch.arange(len(queries), device=queries.device)
        return functional.cross_entropy(scores, labels)

    def get_config_dict(self) -> dict[str, object]:
        return {"scale": self.scale}
