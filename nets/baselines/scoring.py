"""Helpers shared by the score computations of the baselines (SNIP, GraSP, SynFlow, Taylor,
OBD): masked-model copies, losses over scoring batches, per-unit sums of per-weight scores."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from nets.baselines.base import current_weight_masks, finalize_weights, prunable_layers
from nets.gates import GatedNetwork

Batches = list[tuple[torch.Tensor, torch.Tensor]]


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
    parameter = next(model.parameters())
    return F.cross_entropy(model(inputs.to(parameter)) / temperature,
                           labels.to(parameter.device))


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
    return [torch.where(mask.to(score.device) > 0, score, torch.full_like(score, -torch.inf))
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
