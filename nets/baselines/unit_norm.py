"""Unit-norm pruning: remove neurons or filters with the smallest weight norm (Li et al. 2017,
"Pruning filters for efficient ConvNets", ICLR; they use the L1 norm of each filter).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nets.baselines.base import ScoreOptions, ScorePruner
from nets.checks import check_number
from nets.gates import GatedNetwork


@dataclass(frozen=True)
class UnitNormOptions(ScoreOptions):
    """`UnitNormPruner`'s options: ``scope`` and the norm's ``p`` (> 0)."""

    p: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "p", check_number(self.p, "p", low=0.0, low_open=True))


class UnitNormPruner(ScorePruner):
    """Score of a unit: the Lp norm (p = 1 by default, as Li et al.) of its incoming weights
    and bias (`GatedNetwork.unit_parameters`)."""

    name = "unit_norm"
    citation = "Li et al. 2017, Pruning filters for efficient ConvNets (ICLR)"
    granularities = ("structured",)

    Options = UnitNormOptions
    p: float

    def unit_scores(self, gated: GatedNetwork, batches) -> torch.Tensor:
        return torch.cat([torch.linalg.vector_norm(gated.unit_parameters(k).detach(),
                                                   ord=self.p, dim=1)
                          for k in range(len(gated.layers))]).double()
