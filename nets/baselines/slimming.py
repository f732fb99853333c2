"""Network slimming (Liu et al. 2017, "Learning efficient convolutional networks through network
slimming", ICCV): learn a scaling factor gamma_i per unit under an L1 penalty
``strength * sum_i |gamma_i|``, remove the units with the smallest |gamma|, fine-tune.

Liu et al. use the scale of the BatchNorm after each convolution. Here every player (hidden
neuron or conv filter, as in `nets.attach_gates`) gets a learnable scale in a `ScaleGate`, which
takes the place of its `ParticipationGate` while training (so it multiplies the unit's output
after the layer, or after its BatchNorm, before the activation). Scales are real numbers, not
participations: they may turn negative or exceed 1, so they are not written into the [0, 1]
gates of `nets.gates`; instead `fold_scales` multiplies each unit's incoming weights and bias
(or, after a BatchNorm, its affine weight and bias) by gamma_i, which leaves the network's
function unchanged for any real gamma_i, and puts plain all-ones gates back. The units are then
removed with `nets.baselines.base.remove_units`.

When a BatchNorm follows the layer, its affine weight is moved into the scale and frozen at 1
while training: otherwise the BatchNorm weight could grow while gamma shrinks and the L1
penalty would be evaded (with the BatchNorm weight frozen, gamma is Liu et al.'s factor up to
also scaling the BatchNorm's shift). Without a BatchNorm no such normalization exists: the
incoming weights can still grow to compensate a shrinking gamma, the usual caveat of slimming
networks without BatchNorm.

Schedule: ``split_epochs(budget.epochs, 1)``: the first half trains with the penalty, then
pruning, then the rest fine-tunes the smaller model without the penalty. With a target sparsity
the lowest |gamma| are removed by `select_units` (global or per layer, the constructor's
``scope``); with ``sparsity=None`` every unit with |gamma| < ``threshold`` is removed (emergent
sparsity; each layer keeps at least its largest |gamma|).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nets.apply import fold_factors
from nets.baselines.base import (
    Budget,
    Options,
    check_scope,
    non_negative,
    split_epochs,
)
from nets.baselines.penalized import GatePenaltyPruner, check_gate_lr
from nets.gates import GatedNetwork, ParticipationGate, TracedGatedNetwork, attach_gates


class ScaleGate(nn.Module):
    """A learnable scaling factor per unit: ``x * scale`` along dim 1 (any real value).

    Parameters
    ----------
    initial : torch.Tensor of shape (n_units,)
        Starting scales (ones, or the weight of the BatchNorm the gate follows).
    """

    def __init__(self, initial: torch.Tensor) -> None:
        super().__init__()
        self.n_units = int(initial.shape[0])
        self.scale = nn.Parameter(initial.detach().clone().to(torch.float32))

    def forward(self, x: torch.Tensor, dim: int = 1,
                index: torch.Tensor | None = None) -> torch.Tensor:
        """``x * scale`` along ``dim``; with ``index`` (a traced site) channel c gets
        ``scale[index[c]]``."""
        if index is None:
            shape = (1, self.n_units) + (1,) * (x.dim() - 2)
            return x * self.scale.to(x.dtype).view(shape)
        shape = [1] * x.dim()
        shape[dim] = index.shape[0]
        return x * self.scale.to(x.dtype)[index.to(x.device)].view(shape)

    def extra_repr(self) -> str:
        return f"n_units={self.n_units}"


def with_scale_gates(model: nn.Sequential, level: str,
                     example_inputs: torch.Tensor | None = None) -> GatedNetwork:
    """A gated copy of `model` whose gates are `ScaleGate`s (BatchNorm weights moved into
    them and frozen at 1, see the module docstring). A traced model (`example_inputs`, see
    `nets.attach_gates`) gets scales starting at 1 and keeps its BatchNorm weights: a player
    group there may span several BatchNorms (a residual stage), one scale for all."""
    gated = attach_gates(model, level, example_inputs=example_inputs)
    if isinstance(gated, TracedGatedNetwork):
        for k, info in enumerate(gated.layers):
            gated.replace_gate(k, ScaleGate(torch.ones(info.n_units)))
        return gated
    for info in gated.layers:
        initial = torch.ones(info.n_units)
        if info.batchnorm_index is not None:
            bn = gated.model[info.batchnorm_index]
            if bn.affine:
                with torch.no_grad():
                    initial = bn.weight.detach().clone()
                    bn.weight.fill_(1.0)
                bn.weight.requires_grad_(False)
        gated.model[info.gate_index] = ScaleGate(initial)
    return gated


def scales(gated: GatedNetwork) -> torch.Tensor:
    """The scaling factors gamma of a network from `with_scale_gates`, players concatenated."""
    return torch.cat([gated.gate_module(k).scale.detach().clone()
                      for k in range(len(gated.layers))])


def fold_scales(gated: GatedNetwork) -> GatedNetwork:
    """Fold every `ScaleGate` into its layer (or BatchNorm) and put all-ones
    `ParticipationGate`s back; the outputs are unchanged (in place, returns `gated`; a traced
    network is folded at its gate sites and gated anew, `nets.apply.fold_factors`)."""
    if isinstance(gated, TracedGatedNetwork):
        factors = scales(gated)
        for k, info in enumerate(gated.layers):
            gated.replace_gate(k, ParticipationGate(info.n_units))
        return attach_gates(fold_factors(gated, factors), gated.level,
                            example_inputs=gated.example_inputs)
    with torch.no_grad():
        for info in gated.layers:
            gate = gated.model[info.gate_index]
            assert isinstance(gate, ScaleGate)
            if info.batchnorm_index is not None:
                bn = gated.model[info.batchnorm_index]
                if not bn.affine:
                    options = {"dtype": bn.running_mean.dtype if bn.running_mean is not None
                               else torch.float32}
                    bn.affine = True
                    bn.weight = nn.Parameter(torch.ones(bn.num_features, **options))
                    bn.bias = nn.Parameter(torch.zeros(bn.num_features, **options))
                targets = [bn.weight, bn.bias]
                bn.weight.requires_grad_(True)
            else:
                layer = gated.model[info.layer_index]
                targets = [layer.weight] + ([layer.bias] if layer.bias is not None else [])
            for tensor in targets:
                shape = (-1,) + (1,) * (tensor.dim() - 1)
                tensor.mul_(gate.scale.detach().to(tensor).view(shape))
            gated.model[info.gate_index] = ParticipationGate(info.n_units).to(
                gated.model[info.layer_index].weight.dtype)
    return gated


def l1_penalty(strength: float):
    """The regularizer ``strength * sum_i |gamma_i|`` over a network's `ScaleGate`s."""
    def penalty(model: nn.Module) -> torch.Tensor:
        return strength * sum(m.scale.abs().sum() for m in model.modules()
                              if isinstance(m, ScaleGate))
    return penalty


@dataclass(frozen=True)
class SlimmingOptions(Options):
    """`SlimmingPruner`'s options (see there)."""

    strength: float = 1e-4
    threshold: float = 1e-2
    scope: str = "global"
    gate_lr: float | None = None

    def __post_init__(self) -> None:
        for name in ("strength", "threshold"):
            object.__setattr__(self, name, non_negative(getattr(self, name), name))
        check_scope(self.scope)
        object.__setattr__(self, "gate_lr", check_gate_lr(self.gate_lr))


class SlimmingPruner(GatePenaltyPruner):
    """L1-penalized unit scales, then removal of the smallest |gamma| (structured only).

    Parameters
    ----------
    strength : float, default 1e-4
        lambda of the penalty ``lambda * sum |gamma_i|`` (Liu et al. use 1e-4 to 1e-5).
    threshold : float, default 1e-2
        With ``sparsity=None``, units with |gamma| < threshold are removed.
    scope : {"global", "layer"}, default "global"
        Ranking for a target sparsity (Liu et al. use one global threshold).
    gate_lr : float or None, default None
        Learning rate of the scales; None uses the budget's.
    """

    name = "slimming"
    citation = ("Liu et al. 2017, Learning efficient convolutional networks through network "
                "slimming (ICCV)")
    gate_type = ScaleGate
    Options = SlimmingOptions
    strength: float
    threshold: float

    def attach(self, model: nn.Sequential, budget: Budget,
               example_inputs: torch.Tensor | None = None) -> GatedNetwork:
        return with_scale_gates(model, budget.level, example_inputs)

    def penalty(self) -> Any:
        return l1_penalty(self.strength)

    def phases(self, budget: Budget, sparsity: float | None) -> tuple[int, int]:
        pre, (finetune,) = split_epochs(budget.epochs, 1)
        return pre, finetune

    def read(self, gated: GatedNetwork) -> torch.Tensor:
        return scales(gated)

    def ranking(self, values: torch.Tensor) -> torch.Tensor:
        return values.abs()

    def emergent_keep(self, values: torch.Tensor) -> torch.Tensor:
        return values.abs() >= self.threshold

    def fold(self, gated: GatedNetwork, values: torch.Tensor, budget: Budget) -> GatedNetwork:
        return fold_scales(gated)

    def details(self, values: torch.Tensor, keep: torch.Tensor, kept: list[int],
                sparsity: float | None, epochs: dict[str, int]) -> dict[str, Any]:
        return {"scales": values, "kept_per_layer": kept, "strength": self.strength,
                "threshold": self.threshold if sparsity is None else None,
                "scope": self.scope, "epochs": epochs}
