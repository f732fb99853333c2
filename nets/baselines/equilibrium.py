"""Equilibrium pruning (Shah & Khan 2025, Algorithm 1) behind the baseline contract.

The one path of the method name ``"equilibrium"``: `nets.compare` (through ``get("equilibrium")
.prune``) and `analysis.run` (through `EquilibriumPruner.fit_and_prune`, for a
``RunConfig(method="equilibrium")``) both run it here, on the same data, model, budget and
metrics as every other method. Algorithm 1 trains for ``epochs`` epochs; then, for a target
sparsity, the players with the lowest final participation are removed (a ranking by s,
`select_units`; the kept units keep their participation, folded into the weights); with
``sparsity=None`` the paper's rule applies (remove s < epsilon,
`nets.training.PruningResult.pruned`), so the sparsity is emergent.

The game fields default to those of ``PruningConfig()``: the paper's Algorithm 1 read
literally (alpha = 1, lr_s = 0.001, no penalty and no competition unless asked for). It is the
default `analysis.RunConfig` normalizes its ``pruning`` options against, so it is the only
default that keeps every stored run key meaning what it meant. Named settings are explicit:
``EquilibriumPruner(nets.presets.DEMO)`` (or ``compare(..., options={"equilibrium":
{"config": DEMO}})``) for the demo's loss-descent/activation game, `nets.PAPER_CONFIGS` for the
paper's Table 1.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
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
from nets.structure import example_input
from nets.training import EquilibriumPruning, PruningConfig

#: The demo's game (`nets.presets.EQUILIBRIUM`: loss-descent benefit with competition from
#: activation correlation; see docs/explanation/digits-dynamics.md), by name; no longer the
#: default (module docstring).
DEFAULT_CONFIG = EQUILIBRIUM


@dataclass(frozen=True)
class EquilibriumOptions(Options):
    """`EquilibriumPruner`'s options: the ``config`` of Algorithm 1 (None: the paper-literal
    ``PruningConfig(name="equilibrium")``; `prune` replaces its training fields by the
    budget's)."""

    config: PruningConfig | None = None

    def __post_init__(self) -> None:
        if self.config is not None and not isinstance(self.config, PruningConfig):
            raise PruningError(f"config must be a nets.PruningConfig or None; got "
                               f"{type(self.config).__name__}")


class EquilibriumPruner(Pruner):
    """Algorithm 1, then removal of the lowest-participation players (or of s < epsilon).

    Parameters
    ----------
    config : PruningConfig, optional
        The game (payoff, alpha, beta, gamma, eta, overlap, lr_s, epsilon, ...); default
        ``PruningConfig(name="equilibrium")``, the paper-literal defaults (module docstring).
        `prune` takes its training fields from the budget, `fit_and_prune` from `config`.
    """

    name = "equilibrium"
    citation = "Shah & Khan 2025, Pruning as a Game (arXiv 2512.22106), Algorithm 1"
    granularities = ("structured",)
    schedules = ("one_shot",)
    emergent = True

    Options = EquilibriumOptions

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.config: PruningConfig = self.options.config or PruningConfig(name="equilibrium")

    def prune(self, model: nn.Sequential, data: Any, sparsity: float | None, budget: Budget,
              *, granularity: str = "structured", schedule: str = "one_shot"
              ) -> PruneOutcome:
        self.check(sparsity, granularity, schedule)
        config = dataclasses.replace(self.config, epochs=budget.epochs,
                                     batch_size=budget.batch_size, lr=budget.lr,
                                     optimizer=budget.optimizer, seed=budget.seed,
                                     level=budget.level, device=budget.device)
        return self.fit_and_prune(model, data, sparsity, config)

    def fit_and_prune(self, model: nn.Sequential, data: Any, sparsity: float | None,
                      config: PruningConfig | None = None) -> PruneOutcome:
        """Algorithm 1 with `config` (training fields included), then the removal.

        Parameters
        ----------
        model : nn.Sequential
            The initial model (not modified).
        data : DataBundle or (train, test) datasets
        sparsity : float in [0, 1) or None
            Share of players to remove by lowest participation; None removes s < epsilon.
        config : PruningConfig, optional
            Default ``self.config`` as it is (its own epochs, lr, optimizer, seed, ...).

        Returns
        -------
        PruneOutcome
            ``details`` holds ``config`` (its dict), ``below_epsilon``, ``history``
            (`nets.EpochRecord` dicts), ``participation`` (final s, one float per player) and
            ``mean_participation``.
        """
        config = self.config if config is None else config
        if not isinstance(config, PruningConfig):
            raise PruningError(f"config must be a nets.PruningConfig or None; got "
                               f"{type(config).__name__}")
        check_optional_sparsity(sparsity)
        started = time.perf_counter()
        result = EquilibriumPruning(config).fit(model, data, progress=False)
        gated = result.gated
        if sparsity is None:  # the paper's rule: remove s < epsilon (a layer keeps its best)
            pruned = result.pruned("remove", on_empty="keep_strongest")
        else:  # rank by participation; the kept units keep theirs, however small
            s = gated.get_participation().double()
            keep = select_units(gated, s, sparsity, "global")
            pruned = apply_participation(gated, torch.where(keep, s, torch.zeros_like(s)),
                                         mode="remove", threshold=1e-12,
                                         on_empty="keep_strongest")
        train_set, _ = datasets(data)
        steps = config.epochs * math.ceil(len(train_set) / config.batch_size)
        remaining = attach_gates(pruned, config.level,
                                 example_inputs=example_input(train_set)).n_players
        return PruneOutcome(self.name, "structured", "one_shot", sparsity,
                            1.0 - remaining / gated.n_players, pruned, steps,
                            time.perf_counter() - started,
                            {"config": config.to_dict(),
                             "below_epsilon": result.below_epsilon,
                             "history": [record.to_dict() for record in result.history],
                             "participation": [float(v) for v in result.participation],
                             "mean_participation": float(np.mean(result.participation))})
