"""The shared body of the methods that learn one gate per unit under a sparsity penalty.

L0 regularization (`nets.baselines.l0`) and network slimming (`nets.baselines.slimming`) differ
only in their gate (a hard-concrete sample or a learnable scale), its penalty, the value units
are ranked by, their emergent rule and how the trained gates are folded into the weights. The
rest is one procedure, `GatePenaltyPruner.prune`:

1. put the method's gates on a copy of the model (`attach`) and train it with the penalty for
   the first phase of the budget (`phases`), the gates at their own learning rate if given;
2. read the gates (`read`); keep, with ``sparsity=None``, the units the method's rule keeps
   (`emergent_keep`), never emptying a layer (each keeps its highest-ranked unit), or else the
   highest-ranked units at the target (`nets.baselines.base.select_units`);
3. fold the gates into the weights (`fold`), remove the dropped units and fine-tune the smaller
   model without gates for the rest of the budget.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from typing import Any

import torch
from torch import nn

from nets.baselines.base import (
    Budget,
    PruneOutcome,
    Pruner,
    PruningError,
    check_optional_sparsity,
    gate_optimizer,
    non_negative,
    remove_units,
    select_units,
)
from nets.gates import GatedNetwork, attach_gates
from nets.structure import example_input


def check_gate_lr(gate_lr: Any) -> float | None:
    """`gate_lr` as a float > 0, or None; else a `PruningError` naming it."""
    if gate_lr is None:
        return None
    gate_lr = non_negative(gate_lr, "gate_lr")
    if gate_lr == 0:
        raise PruningError("gate_lr must be > 0 or None")
    return gate_lr


def keep_one_per_layer(gated: GatedNetwork, keep: torch.Tensor,
                       ranking: torch.Tensor) -> torch.Tensor:
    """`keep` with, in every layer it would empty, the unit of highest `ranking` kept (in
    place; returns `keep`)."""
    for info in gated.layers:
        if not bool(keep[info.players].any()):
            keep[info.offset + int(torch.argmax(ranking[info.players]))] = True
    return keep


class GatePenaltyPruner(Pruner):
    """A unit gate per player trained under a penalty, then removal (structured; emergent).

    Subclasses name their gate module (`gate_type`) and implement `attach`, `penalty`,
    `phases`, `read`, `ranking`, `emergent_keep`, `fold` and `details`; their constructor sets
    ``scope`` and ``gate_lr``.
    """

    granularities = ("structured",)
    schedules = ("one_shot",)
    emergent = True
    gate_type: type[nn.Module]
    scope: str
    gate_lr: float | None

    @abstractmethod
    def attach(self, model: nn.Sequential, budget: Budget,
               example_inputs: torch.Tensor | None = None) -> GatedNetwork:
        """`model` (a copy, free to change) with this method's gates (`example_inputs`
        traces a model other than a flat Sequential)."""

    @abstractmethod
    def penalty(self) -> Any:
        """The regularizer added to the loss while the gates train."""

    @abstractmethod
    def phases(self, budget: Budget, sparsity: float | None) -> tuple[int, int]:
        """Epochs with the penalty, then epochs of fine-tuning after the removal."""

    @abstractmethod
    def read(self, gated: GatedNetwork) -> torch.Tensor:
        """The trained gates' parameters, players concatenated."""

    @abstractmethod
    def ranking(self, values: torch.Tensor) -> torch.Tensor:
        """One importance per player from `read`'s values (higher is kept first)."""

    @abstractmethod
    def emergent_keep(self, values: torch.Tensor) -> torch.Tensor:
        """The keep-mask of ``sparsity=None`` before any layer is protected."""

    @abstractmethod
    def fold(self, gated: GatedNetwork, values: torch.Tensor, budget: Budget) -> GatedNetwork:
        """The trained network with plain gates, computing what the trained gates did."""

    @abstractmethod
    def details(self, values: torch.Tensor, keep: torch.Tensor, kept: list[int],
                sparsity: float | None, epochs: dict[str, int]) -> dict[str, Any]:
        """The `PruneOutcome.details` of a finished run."""

    def prune(self, model: nn.Sequential, data: Any, sparsity: float | None, budget: Budget,
              *, granularity: str = "structured", schedule: str = "one_shot"
              ) -> PruneOutcome:
        self.check(sparsity, granularity, schedule)
        check_optional_sparsity(sparsity)
        penalized, finetune = self.phases(budget, sparsity)
        with self.run(data, budget) as run:
            example = example_input(run.train_set)
            gated = self.attach(copy.deepcopy(model), budget, example)
            run.train(gated, penalized, regularizer=self.penalty(),
                      optimizer=gate_optimizer(gated, self.gate_type, budget, self.gate_lr))
            values = self.read(gated).cpu()  # on the host, beside the keep-masks
            ranking = self.ranking(values)
            if sparsity is None:
                keep = keep_one_per_layer(gated, self.emergent_keep(values), ranking)
            else:
                keep = select_units(gated, ranking.double(), sparsity, self.scope)
            n_players = gated.n_players
            pruned = remove_units(self.fold(gated, values, budget), keep)
            run.train(pruned, finetune)
        kept = [info.n_units for info in
                attach_gates(pruned, budget.level, example_inputs=example).layers]
        return PruneOutcome(
            self.name, granularity, schedule, None if sparsity is None else float(sparsity),
            1.0 - sum(kept) / n_players, pruned, run.steps, run.seconds,
            self.details(values, keep, kept, sparsity,
                         {"penalized": penalized, "finetune": finetune}))
