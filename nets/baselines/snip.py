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
import torch.nn.functional as F
from torch import nn

from nets.baselines.base import (
    ScorePruner,
    current_weight_masks,
    finalize_weights,
    prunable_layers,
)
from nets.gates import GatedNetwork

Batches = list[tuple[torch.Tensor, torch.Tensor]]


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


# ---------------------------------------------------------------------------- shared helpers
def plain_copy(model: nn.Module) -> tuple[nn.Module, list[torch.Tensor]]:
    """A deep copy with its weight masks made permanent (zeros in plain ``weight``
    parameters), and those masks (all ones for an unmasked layer).

    A masked layer's ``weight`` is ``weight_orig * weight_mask`` recomputed by torch's prune
    hook (not a graph leaf, so ``copy.deepcopy`` refuses it after a forward pass); it is
    detached for the copy and restored on `model` afterwards.
    """
    masked = [layer for layer in prunable_layers(model) if hasattr(layer, "weight_orig")]
    computed = [layer.weight for layer in masked]
    try:
        for layer, weight in zip(masked, computed, strict=True):
            layer.weight = weight.detach()
        work = copy.deepcopy(model)
    finally:
        for layer, weight in zip(masked, computed, strict=True):
            layer.weight = weight
    masks = current_weight_masks(work)
    return finalize_weights(work), masks


def batch_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor],
               temperature: float = 1.0) -> torch.Tensor:
    """Mean cross-entropy of one batch, the logits divided by `temperature`; the inputs are
    cast to the model's dtype."""
    inputs, labels = batch
    dtype = next(model.parameters()).dtype
    return F.cross_entropy(model(inputs.to(dtype)) / temperature, labels)


def mean_loss(model: nn.Module, batches: Batches, temperature: float = 1.0) -> torch.Tensor:
    """The batch losses averaged over `batches`."""
    if not batches:
        raise ValueError("scoring needs at least one batch")
    return sum(batch_loss(model, batch, temperature) for batch in batches) / len(batches)


def zero_if_none(grad: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """`grad`, or zeros shaped like `like` for a tensor the output does not depend on."""
    return torch.zeros_like(like) if grad is None else grad


def removed_lowest(scores: list[torch.Tensor], masks: list[torch.Tensor]) -> list[torch.Tensor]:
    """`scores` with the weights already masked set to -inf (removed first, so the cumulative
    target of a later round counts them)."""
    return [torch.where(mask > 0, score, torch.full_like(score, -torch.inf))
            for score, mask in zip(scores, masks, strict=True)]


def unit_sums(gated: GatedNetwork, per_parameter: list[torch.Tensor]) -> torch.Tensor:
    """Sum of a per-parameter quantity over each player's group theta_i.

    `per_parameter` follows ``gated.parameters()``; the groups are exactly
    `GatedNetwork.unit_parameters` (incoming weights and bias, plus the outgoing weights when
    the gates were attached with ``include_outgoing=True``), read from a float64 copy whose
    parameters hold the quantity. Returns float64, players concatenated.
    """
    shadow = copy.deepcopy(gated).double()
    with torch.no_grad():
        for parameter, value in zip(shadow.parameters(), per_parameter, strict=True):
            parameter.copy_(value)
    return torch.cat([shadow.unit_parameters(k).detach().sum(dim=1)
                      for k in range(len(shadow.layers))])
