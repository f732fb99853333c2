"""Unit-norm pruning: remove neurons or filters with the smallest weight norm (Li et al. 2017,
"Pruning filters for efficient ConvNets", ICLR; they use the L1 norm of each filter).
"""

from __future__ import annotations

import torch

from nets.baselines.base import ScorePruner
from nets.checks import check_number
from nets.gates import GatedNetwork


class UnitNormPruner(ScorePruner):
    """Score of a unit: the Lp norm (p = 1 by default, as Li et al.) of its incoming weights
    and bias (`GatedNetwork.unit_parameters`)."""

    name = "unit_norm"
    citation = "Li et al. 2017, Pruning filters for efficient ConvNets (ICLR)"
    granularities = ("structured",)

    def __init__(self, scope: str = "global", p: float = 1.0) -> None:
        super().__init__(scope)
        self.p = check_number(p, "p", low=0.0, low_open=True)

    def unit_scores(self, gated: GatedNetwork, batches) -> torch.Tensor:
        return torch.cat([torch.linalg.vector_norm(gated.unit_parameters(k).detach(),
                                                   ord=self.p, dim=1)
                          for k in range(len(gated.layers))]).double()
