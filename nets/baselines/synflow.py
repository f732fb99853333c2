"""SynFlow: iterative synaptic flow pruning (Tanaka et al. 2020, "Pruning neural networks
without any data by iteratively conserving synaptic flow", NeurIPS).

Data-free. On a float64 copy in eval mode, every parameter and BatchNorm buffer is replaced by
its absolute value (the authors' ``linearize``: with BatchNorm in eval mode it is then a positive
affine map, so the network is positive throughout and the ReLUs pass everything); the input is
all ones of the model's input shape (taken from the first scoring batch, whose values are never
read) and R = the sum of the outputs. The score of a parameter is |theta * dR/dtheta|, its
synaptic flow: for a bias-free linear chain, the sum over all input-output paths through the
weight of the product of the absolute weights on the path. Structured, a unit's score is the
sum over its group (`GatedNetwork.unit_parameters`: incoming weights and bias), the flow
through the unit.

The paper's point is the iteration: one-shot synaptic flow scores are conserved per layer, so
a large layer's weights score low and a single global pruning step can remove a layer entirely
(layer collapse); re-scoring after each small step avoids it. So for the ``at_init`` schedule
this method overrides `ScorePruner.prune`: it prunes to the target in `iterations` (default 100,
the paper's) data-free rounds with exponentially increasing sparsity
``1 - (1 - target)^(k / iterations)`` (`schedule_targets(..., "iterative")`), re-scoring the
masked (unstructured) or shrunk (structured) network each round, and then trains the whole
budget. These rounds are not `Budget.rounds`, which counts the pruning rounds of the
``iterative`` and ``progressive`` schedules (train, prune, fine-tune); those schedules, and
``one_shot``, use the base harness with one SynFlow scoring per round.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nets.baselines.base import (
    Budget,
    PruneOutcome,
    ScoreOptions,
    ScorePruner,
    example_of,
    prunable_layers,
    schedule_targets,
    scoring_batches,
)
from nets.baselines.scoring import Batches, plain_copy, removed_lowest, unit_sums, zero_if_none
from nets.checks import check_int
from nets.gates import GatedNetwork, attach_gates


@dataclass(frozen=True)
class SynFlowOptions(ScoreOptions):
    """`SynFlowPruner`'s options: ``scope`` and the at-init ``iterations`` (>= 1)."""

    iterations: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "iterations", check_int(self.iterations, "iterations",
                                                         minimum=1))


class SynFlowPruner(ScorePruner):
    """Synaptic flow |theta * dR/dtheta| of the absolute-valued network on an all-ones input,
    iterated `iterations` times at initialization."""

    name = "synflow"
    citation = "Tanaka et al. 2020, Pruning neural networks without any data by iteratively " \
               "conserving synaptic flow (NeurIPS)"
    schedules = ("at_init", "one_shot", "iterative")

    Options = SynFlowOptions
    iterations: int

    def products(self, model: nn.Module, batches: Batches) -> list[torch.Tensor]:
        """|theta * dR/dtheta| for every parameter of `model` (in ``parameters()`` order)."""
        if not batches:
            raise ValueError("SynFlow needs one batch to read the input shape from")
        work = copy.deepcopy(model).double().eval()
        with torch.no_grad():
            for tensor in work.state_dict().values():
                if tensor.is_floating_point():
                    tensor.abs_()
        ones = torch.ones((1, *batches[0][0].shape[1:]), dtype=torch.float64,
                          device=next(work.parameters()).device)
        parameters = list(work.parameters())
        with torch.enable_grad():
            grads = torch.autograd.grad(work(ones).sum(), parameters, allow_unused=True)
        return [(p * zero_if_none(g, p)).abs().detach()
                for p, g in zip(parameters, grads, strict=True)]

    def unit_scores(self, gated: GatedNetwork, batches: Batches) -> torch.Tensor:
        return unit_sums(gated, self.products(gated, batches))

    def weight_scores(self, model: nn.Sequential, batches: Batches) -> list[torch.Tensor]:
        work, masks = plain_copy(model)
        scores = dict(zip((id(p) for p in work.parameters()), self.products(work, batches),
                          strict=True))
        return removed_lowest([scores[id(layer.weight)]
                               for layer in prunable_layers(work)], masks)

    def prune(self, model: nn.Sequential, data: Any, sparsity: float | None, budget: Budget,
              *, granularity: str = "structured", schedule: str = "one_shot"
              ) -> PruneOutcome:
        """As `ScorePruner.prune`; ``at_init`` prunes in `iterations` data-free rounds."""
        if schedule != "at_init":
            return super().prune(model, data, sparsity, budget, granularity=granularity,
                                 schedule=schedule)
        self.check(sparsity, granularity, schedule, model)
        with self.run(data, budget) as run:
            work = copy.deepcopy(model)
            batches = scoring_batches(run.train_set, budget, n_batches=1)
            steps = schedule_targets(float(sparsity), self.iterations, "iterative")
            details: dict[str, Any] = {"rounds": 1, "targets": [float(sparsity)],
                                       "scope": self.scope, "iterations": self.iterations}
            example = example_of(batches)
            players = attach_gates(model, budget.level, example_inputs=example).n_players \
                if granularity == "structured" else None
            for target in steps:
                work = self.prune_round(work, target, players, batches, granularity, budget)
            run.train(work, budget.epochs)
        return self.outcome(work, granularity, schedule, float(sparsity), players, budget,
                            run.steps, run.seconds, details, example_inputs=example)
