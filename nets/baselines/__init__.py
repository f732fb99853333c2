"""Baseline pruners from the literature on the same harness as equilibrium pruning.

`REGISTRY` maps a method name to its class; `get(name, **options)` builds one. Every method
follows `nets.baselines.base.Pruner`: given a model, data, a target sparsity (or, for emergent
methods, a regularization strength) and a `Budget`, it returns a `PruneOutcome` with the
pruned model, the sparsity achieved and the training steps spent.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from nets.baselines.activation import ActivationPruner
from nets.baselines.base import Budget, PruneOutcome, Pruner, PruningError
from nets.baselines.equilibrium import EquilibriumPruner
from nets.baselines.game import SolveApplyPruner
from nets.baselines.grasp import GraSPPruner
from nets.baselines.l0 import L0Pruner
from nets.baselines.lottery import LotteryPruner
from nets.baselines.magnitude import MagnitudePruner
from nets.baselines.obd import OBDPruner
from nets.baselines.random import RandomPruner
from nets.baselines.slimming import SlimmingPruner
from nets.baselines.snip import SNIPPruner
from nets.baselines.synflow import SynFlowPruner
from nets.baselines.taylor import TaylorPruner
from nets.baselines.unit_norm import UnitNormPruner

REGISTRY: dict[str, type[Pruner]] = {
    cls.name: cls for cls in (EquilibriumPruner, RandomPruner, MagnitudePruner, UnitNormPruner,
                             SlimmingPruner, L0Pruner, LotteryPruner, SNIPPruner,
                             GraSPPruner, SynFlowPruner, ActivationPruner, TaylorPruner,
                             OBDPruner, SolveApplyPruner)
}

__all__ = ["REGISTRY", "Budget", "PruneOutcome", "Pruner", "PruningError", "get"]


def get(name: str, **options: Any) -> Pruner:
    """The pruner registered as `name`, built with `options`.

    Raises
    ------
    PruningError
        For an unknown name (the message lists the registered ones), an option the method
        does not take (the message lists those it takes) or an invalid option value.
    """
    if not isinstance(name, str) or name not in REGISTRY:
        raise PruningError(f"unknown pruning method {name!r}; registered: {sorted(REGISTRY)}")
    cls = REGISTRY[name]
    accepted = [f.name for f in dataclasses.fields(cls.Options)]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise PruningError(f"options {unknown} are not options of method {name!r}; it takes "
                           f"{accepted}")
    return cls(**options)
