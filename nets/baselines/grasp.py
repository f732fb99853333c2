"""GraSP: gradient signal preservation (Wang et al. 2020, "Picking winning tickets before
training by preserving gradient flow", ICLR).

GraSP keeps the weights whose removal least reduces the gradient norm after pruning. With g the
gradient of the loss and H its Hessian, the paper scores S(-theta) = -theta * (H g) and removes
the weights with the HIGHEST S. The harness removes the lowest scores, so the score returned here
is the negation, ``theta * (H g)`` (as in the reimplementation of Tanaka et al. 2020, which also
prunes the lowest ``theta * H g``): a weight with a very negative theta * H g is removed first.
Note that the score is signed, so the removed weights need not be small.

H g is a Hessian-vector product by double backpropagation, exact: g = grad L over the scoring
batches (L is the mean of the batch losses), then H g = grad of <stop_grad(g), grad L>,
accumulated batch by batch. theta is every trainable parameter of the network (weights, biases,
BatchNorm affine parameters), the paper's literal formula; the official code restricts g and H
to the Linear/Conv weights. The logits are divided by a temperature T before the cross-entropy
(T = 200 in the authors' code and in Tanaka et al.'s; T = 1 is the plain loss). Structured, a
unit's score is the sum of theta * H g over its group (`GatedNetwork.unit_parameters`: incoming
weights and bias), the change of the GraSP objective when the whole group is removed.

Scores are taken on a copy in eval mode, as for `nets.baselines.snip`; weights an earlier round
masked score -inf.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from nets.baselines.base import ScoreOptions, ScorePruner, prunable_layers
from nets.baselines.scoring import (
    Batches,
    batch_loss,
    plain_copy,
    removed_lowest,
    unit_sums,
    zero_if_none,
)
from nets.checks import check_number
from nets.gates import GatedNetwork


@dataclass(frozen=True)
class GraSPOptions(ScoreOptions):
    """`GraSPPruner`'s options: ``scope`` and the logits' ``temperature`` (> 0)."""

    temperature: float = 200.0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "temperature", check_number(
            self.temperature, "temperature", low=0.0, low_open=True))


class GraSPPruner(ScorePruner):
    """theta * (H g) per weight (the negated GraSP score; the lowest are removed), summed over
    a unit's group for structured pruning. `temperature` divides the logits."""

    name = "grasp"
    citation = "Wang et al. 2020, Picking winning tickets before training by preserving " \
               "gradient flow (ICLR)"
    schedules = ("at_init", "one_shot", "iterative")
    Options = GraSPOptions
    temperature: float

    def products(self, model: nn.Module, batches: Batches) -> list[torch.Tensor]:
        """theta * (H g) for every trainable parameter of `model` (in ``parameters()``
        order), with g and H the gradient and Hessian of the mean batch loss."""
        model.eval()
        parameters = [p for p in model.parameters() if p.requires_grad]
        weight = 1.0 / len(batches)
        with torch.enable_grad():
            gradient = [torch.zeros_like(p) for p in parameters]
            for batch in batches:
                grads = torch.autograd.grad(batch_loss(model, batch, self.temperature),
                                            parameters, allow_unused=True)
                for total, g, p in zip(gradient, grads, parameters, strict=True):
                    total += weight * zero_if_none(g, p)
            hessian_gradient = [torch.zeros_like(p) for p in parameters]
            for batch in batches:
                grads = torch.autograd.grad(batch_loss(model, batch, self.temperature),
                                            parameters, create_graph=True, allow_unused=True)
                inner = sum((g * fixed).sum() for g, fixed in zip(grads, gradient, strict=True)
                            if g is not None)
                if not isinstance(inner, torch.Tensor) or not inner.requires_grad:
                    continue  # the gradient does not depend on the parameters: H g = 0
                hg = torch.autograd.grad(inner, parameters, allow_unused=True)
                for total, h, p in zip(hessian_gradient, hg, parameters, strict=True):
                    total += weight * zero_if_none(h, p)
        scores = {id(p): (p * h).detach() for p, h in zip(parameters, hessian_gradient,
                                                          strict=True)}
        return [scores.get(id(p), torch.zeros_like(p)).detach() for p in model.parameters()]

    def unit_scores(self, gated: GatedNetwork, batches: Batches) -> torch.Tensor:
        return unit_sums(gated, self.products(copy.deepcopy(gated), batches))

    def weight_scores(self, model: nn.Sequential, batches: Batches) -> list[torch.Tensor]:
        work, masks = plain_copy(model)
        scores = dict(zip((id(p) for p in work.parameters()), self.products(work, batches),
                          strict=True))
        return removed_lowest([scores[id(layer.weight)] for layer in prunable_layers(work)],
                              masks)
