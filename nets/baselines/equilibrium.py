"""Equilibrium pruning (Shah & Khan 2025, Algorithm 1) behind the baseline contract.

So that `nets.compare` runs it on the same data, model, budget and metrics as every other
method: Algorithm 1 trains for ``budget.epochs`` epochs; then, for a target sparsity, the
players with the lowest final participation are removed (a ranking by s, `select_units`); with
``sparsity=None`` the paper's rule applies (remove s < epsilon), so the sparsity is emergent.
The kept units keep their participation, folded into the weights.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nets.apply import apply_participation
from nets.baselines.base import (
    Budget,
    Options,
    PruneOutcome,
    Pruner,
    PruningError,
    check_optional_sparsity,
    select_units,
)
from nets.gates import attach_gates
from nets.loop import datasets
from nets.presets import EQUILIBRIUM
from nets.training import EquilibriumPruning, PruningConfig

#: The configuration used when none is given: `nets.presets.EQUILIBRIUM`, the demo's game
#: (loss-descent benefit with competition from activation correlation; see
#: docs/explanation/digits-dynamics.md).
DEFAULT_CONFIG = EQUILIBRIUM


@dataclass(frozen=True)
class EquilibriumOptions(Options):
    """`EquilibriumPruner`'s options: the ``config`` of Algorithm 1 (None: `DEFAULT_CONFIG`;
    its training fields are replaced by the budget's)."""

    config: PruningConfig | None = None

    def __post_init__(self) -> None:
        if self.config is not None and not isinstance(self.config, PruningConfig):
            raise PruningError(f"config must be a nets.PruningConfig or None; got "
                               f"{type(self.config).__name__}")


class EquilibriumPruner(Pruner):
    """Algorithm 1, then removal of the lowest-participation players (or of s < epsilon)."""

    name = "equilibrium"
    citation = "Shah & Khan 2025, Pruning as a Game (arXiv 2512.22106), Algorithm 1"
    granularities = ("structured",)
    schedules = ("one_shot",)
    emergent = True

    Options = EquilibriumOptions

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.config: PruningConfig = self.options.config or DEFAULT_CONFIG

    def prune(self, model: nn.Sequential, data: Any, sparsity: float | None, budget: Budget,
              *, granularity: str = "structured", schedule: str = "one_shot"
              ) -> PruneOutcome:
        self.check(sparsity, granularity, schedule)
        check_optional_sparsity(sparsity)
        started = time.perf_counter()
        config = dataclasses.replace(self.config, epochs=budget.epochs,
                                     batch_size=budget.batch_size, lr=budget.lr,
                                     optimizer=budget.optimizer, seed=budget.seed,
                                     level=budget.level)
        result = EquilibriumPruning(config).fit(model, data, progress=False)
        gated = result.gated
        s = gated.get_participation().double()
        if sparsity is None:  # the paper's rule
            keep, threshold = s >= config.epsilon, config.epsilon
        else:  # rank by participation; the kept units keep theirs, however small
            keep, threshold = select_units(gated, s, sparsity, "global"), 1e-12
        pruned = apply_participation(gated, torch.where(keep, s, torch.zeros_like(s)),
                                     mode="remove", threshold=threshold,
                                     on_empty="keep_strongest")
        train_set, _ = datasets(data)
        steps = config.epochs * math.ceil(len(train_set) / config.batch_size)
        remaining = attach_gates(pruned, budget.level).n_players
        return PruneOutcome(self.name, granularity, schedule, sparsity,
                            1.0 - remaining / gated.n_players, pruned, steps,
                            time.perf_counter() - started,
                            {"config": config.to_dict(),
                             "share_below_epsilon": result.sparsity})
