"""SNIP: single-shot network pruning by connection sensitivity (Lee et al. 2019, "SNIP:
single-shot network pruning based on connection sensitivity", ICLR).

The sensitivity of weight j is |dL/dc_j| at c = 1 for a multiplicative mask c_j on it, which
is |g_j w_j| with g = dL/dw (the paper divides by the sum over all weights, which does not change
the ranking). L is the cross-entropy averaged over the scoring batches (`scoring_batches`; the
paper uses one batch). Structured, the mask of a unit is its participation gate and the score is
|s_i dL/ds_i| at s = 1 (`nets.ParticipationGate`): the same sensitivity, one level up. When no
BatchNorm follows the layer this equals |sum of g * theta over the unit's incoming weights and
bias| (`GatedNetwork.unit_parameters`; the unit's output is linear in them), which the tests
check; when a BatchNorm follows, the gate sits after it, where the gate form stays meaningful
(the group sum would vanish: BatchNorm in train mode is invariant to scaling the group).

Scores are taken on a copy in eval mode (deterministic: no dropout; BatchNorm uses its running
statistics), as in the pruning-at-initialization harness of Tanaka et al. (2020), whose
``train_mode`` defaults to False. Weights an earlier round masked score -inf, so they are
counted first among the removed ones (`removed_lowest`).

This module also holds the helpers the other pruning-at-initialization scores share
(`nets.baselines.grasp`, `nets.baselines.synflow`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from nets.baselines.base import (
    ScorePruner,
    prunable_layers,
)
from nets.baselines.scoring import Batches, mean_loss, plain_copy, removed_lowest, zero_if_none
from nets.gates import GatedNetwork


class SNIPPruner(ScorePruner):
    """Connection sensitivity |g * w| (unstructured) or gate sensitivity |s dL/ds| at s = 1
    (structured) on the scoring batches of the untrained (``at_init``) or trained model."""

    name = "snip"
    citation = "Lee et al. 2019, SNIP: single-shot network pruning based on connection " \
               "sensitivity (ICLR)"
    schedules = ("at_init", "one_shot", "iterative")

    def unit_scores(self, gated: GatedNetwork, batches: Batches) -> torch.Tensor:
        work = copy.deepcopy(gated).eval()
        with torch.enable_grad():
            gates = [gate.participation.requires_grad_(True) for gate in work.gates()]
            grads = torch.autograd.grad(mean_loss(work, batches), gates, allow_unused=True)
        return torch.cat([(s * zero_if_none(g, s)).abs().detach()
                          for s, g in zip(gates, grads, strict=True)]).double()

    def weight_scores(self, model: nn.Sequential, batches: Batches) -> list[torch.Tensor]:
        work, masks = plain_copy(model)
        work.eval()
        weights = [layer.weight for layer in prunable_layers(work)]
        with torch.enable_grad():
            grads = torch.autograd.grad(mean_loss(work, batches), weights, allow_unused=True)
        return removed_lowest([(w * zero_if_none(g, w)).abs().detach()
                               for w, g in zip(weights, grads, strict=True)], masks)
