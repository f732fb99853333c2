"""Random pruning: the control every criterion must beat (Blalock et al. 2020, Sec. 4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nets.baselines.base import ScoreOptions, ScorePruner
from nets.checks import check_int
from nets.gates import GatedNetwork


@dataclass(frozen=True)
class RandomOptions(ScoreOptions):
    """`RandomPruner`'s options: ``scope`` and the scores' own ``seed`` (>= 0)."""

    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "seed", check_int(self.seed, "seed", minimum=0))


class RandomPruner(ScorePruner):
    """Scores drawn uniformly at random from a generator seeded by the pruner's `seed`."""

    name = "random"
    citation = "Blalock et al. 2020, What is the state of neural network pruning? (MLSys)"

    Options = RandomOptions
    seed: int

    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)

    def unit_scores(self, gated: GatedNetwork, batches) -> torch.Tensor:
        return torch.rand(gated.n_players, generator=self._generator(), dtype=torch.float64)

    def weight_scores(self, model: nn.Sequential, batches) -> list[torch.Tensor]:
        from nets.baselines.base import prunable_layers

        generator = self._generator()
        return [torch.rand(layer.weight.shape, generator=generator)
                for layer in prunable_layers(model)]
