"""Random pruning: the control every criterion must beat (Blalock et al. 2020, Sec. 4)."""

from __future__ import annotations

import torch
from torch import nn

from nets.baselines.base import ScorePruner
from nets.checks import check_int
from nets.gates import GatedNetwork


class RandomPruner(ScorePruner):
    """Scores drawn uniformly at random from a generator seeded by the pruner's `seed`."""

    name = "random"
    citation = "Blalock et al. 2020, What is the state of neural network pruning? (MLSys)"

    def __init__(self, scope: str = "global", seed: int = 0) -> None:
        super().__init__(scope)
        self.seed = check_int(seed, "seed", minimum=0)

    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)

    def unit_scores(self, gated: GatedNetwork, batches) -> torch.Tensor:
        return torch.rand(gated.n_players, generator=self._generator(), dtype=torch.float64)

    def weight_scores(self, model: nn.Sequential, batches) -> list[torch.Tensor]:
        from nets.baselines.base import prunable_layers

        generator = self._generator()
        return [torch.rand(layer.weight.shape, generator=generator)
                for layer in prunable_layers(model)]
