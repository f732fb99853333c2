"""L0 regularization with hard-concrete gates (Louizos, Welling & Kingma 2018, "Learning sparse
neural networks through L0 regularization", ICLR), on units (group sparsity over neurons or
filters).

Every player (as in `nets.attach_gates`) gets a gate z_i = min(1, max(0, s_i (zeta - gamma) +
gamma)) with s_i = sigmoid((log u - log(1 - u) + log_alpha_i) / beta), u ~ U(0, 1) (Eq. 10-11;
beta = 2/3, gamma = -0.1, zeta = 1.1). While training, a `HardConcreteGate` takes the place of
the unit's `ParticipationGate` and draws fresh noise for every example of every batch from its
own generator (seeded by ``budget.seed``); the loss adds the expected L0 norm
``strength * sum_i P(z_i != 0) = strength * sum_i sigmoid(log_alpha_i - beta log(-gamma / zeta))``
(Eq. 12). One gate per unit, not weighted by the unit's number of weights (Louizos et al.
weight group penalties by the group size; here every player counts once, as the sparsity does)
and without their L2 term on the expected weights. At test time the gate is deterministic,
z_i = min(1, max(0, sigmoid(log_alpha_i) (zeta - gamma) + gamma)).

Pruning: with ``sparsity=None`` (emergent; the strength sets the sparsity) the whole budget
trains with the penalty, the units whose test-time gate is exactly 0 are removed and the other
gates (in (0, 1]) are folded into the weights (`nets.apply_participation` mode "fold"), so the
pruned model computes exactly the test-time gated network (each layer keeps at least the unit
with the largest log_alpha, even if its gate is 0). With a target sparsity the first half of the
budget (``split_epochs(budget.epochs, 1)``) trains with the penalty, the units are ranked by
log_alpha (the order of the test-time gates, with ties among gates clamped to 0 or 1 broken by
log_alpha), the lowest removed with `select_units`, the kept gates folded, and the rest of the
budget fine-tunes the smaller model without gates. A target below the emergent sparsity keeps
some units whose gate is 0 (dead units; counted in ``details["zero_gate_kept"]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nets.apply import apply_participation
from nets.baselines.base import (
    Budget,
    Options,
    PruningError,
    check_scope,
    non_negative,
    split_epochs,
)
from nets.baselines.penalized import GatePenaltyPruner, check_gate_lr
from nets.gates import GatedNetwork, ParticipationGate, attach_gates

#: Hard-concrete constants of Louizos et al. (2018): temperature and stretch interval.
BETA, GAMMA, ZETA = 2.0 / 3.0, -0.1, 1.1


def hard_concrete_sample(log_alpha: torch.Tensor, shape: tuple[int, ...],
                         generator: torch.Generator, beta: float = BETA, gamma: float = GAMMA,
                         zeta: float = ZETA) -> torch.Tensor:
    """Gates z of the given `shape` (last dimension: one per log_alpha), Eq. 10-11.

    z = min(1, max(0, sigmoid((log u - log(1 - u) + log_alpha) / beta) (zeta - gamma) + gamma))
    with u uniform from `generator`; differentiable in log_alpha. Exact zeros and ones occur.
    """
    u = torch.rand(shape, generator=generator, dtype=log_alpha.dtype).to(log_alpha.device)
    u = u.clamp(1e-6, 1.0 - 1e-6)
    s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / beta)
    return (s * (zeta - gamma) + gamma).clamp(0.0, 1.0)


def expected_l0(log_alpha: torch.Tensor, beta: float = BETA, gamma: float = GAMMA,
                zeta: float = ZETA) -> torch.Tensor:
    """P(z != 0) per gate: sigmoid(log_alpha - beta log(-gamma / zeta)) (Eq. 12)."""
    return torch.sigmoid(log_alpha - beta * math.log(-gamma / zeta))


def deterministic_gate(log_alpha: torch.Tensor, gamma: float = GAMMA,
                       zeta: float = ZETA) -> torch.Tensor:
    """The test-time gate min(1, max(0, sigmoid(log_alpha) (zeta - gamma) + gamma))."""
    return (torch.sigmoid(log_alpha) * (zeta - gamma) + gamma).clamp(0.0, 1.0)


class HardConcreteGate(nn.Module):
    """A unit gate: a hard-concrete sample per example while training, the deterministic gate
    in eval mode.

    Parameters
    ----------
    log_alpha : torch.Tensor of shape (n_units,)
        Initial locations.
    generator : torch.Generator
        Source of the training noise.
    """

    def __init__(self, log_alpha: torch.Tensor, generator: torch.Generator) -> None:
        super().__init__()
        self.n_units = int(log_alpha.shape[0])
        self.log_alpha = nn.Parameter(log_alpha.detach().clone().to(torch.float32))
        self.generator = generator
        self._pass_sample: torch.Tensor | None = None

    def new_pass(self) -> None:
        """Forget the sample of the last pass (`nets.gates.TracedGatedNetwork.forward`)."""
        self._pass_sample = None

    def forward(self, x: torch.Tensor, dim: int = 1,
                index: torch.Tensor | None = None) -> torch.Tensor:
        """``x * z`` along ``dim``; with ``index`` (a traced site) channel c gets
        ``z[index[c]]``, from one sample per pass shared by all sites of the group."""
        if self.training:
            if index is None:
                z = hard_concrete_sample(self.log_alpha, (x.shape[0], self.n_units),
                                         self.generator)
            else:
                if self._pass_sample is None or self._pass_sample.shape[0] != x.shape[0]:
                    self._pass_sample = hard_concrete_sample(
                        self.log_alpha, (x.shape[0], self.n_units), self.generator)
                z = self._pass_sample
        else:
            z = deterministic_gate(self.log_alpha).unsqueeze(0)
        if index is None:
            return x * z.to(x.dtype).view(z.shape + (1,) * (x.dim() - 2))
        per_channel = z[:, index.to(z.device)]
        shape = [1] * x.dim()
        shape[0], shape[dim] = per_channel.shape
        return x * per_channel.to(x.dtype).view(shape)

    def extra_repr(self) -> str:
        return f"n_units={self.n_units}"


def with_l0_gates(model: nn.Sequential, level: str, droprate_init: float,
                  generator: torch.Generator, example_inputs: torch.Tensor | None = None
                  ) -> GatedNetwork:
    """A gated copy of `model` with `HardConcreteGate`s, log_alpha ~ N(log((1 - p) / p), 0.01)
    for p = `droprate_init` (Louizos et al.'s initialization); `example_inputs` traces a
    model other than a flat Sequential (`nets.attach_gates`)."""
    gated = attach_gates(model, level, example_inputs=example_inputs)
    mean = math.log(1.0 - droprate_init) - math.log(droprate_init)
    for k, info in enumerate(gated.layers):
        log_alpha = mean + 1e-2 * torch.randn(info.n_units, generator=generator)
        gated.replace_gate(k, HardConcreteGate(log_alpha, generator))
    return gated


def log_alphas(gated: GatedNetwork) -> torch.Tensor:
    """log_alpha of a network from `with_l0_gates`, players concatenated."""
    return torch.cat([gated.gate_module(k).log_alpha.detach().clone()
                      for k in range(len(gated.layers))])


def l0_penalty(strength: float):
    """The regularizer ``strength * sum_i P(z_i != 0)`` over a network's `HardConcreteGate`s."""
    def penalty(model: nn.Module) -> torch.Tensor:
        return strength * sum(expected_l0(m.log_alpha).sum() for m in model.modules()
                              if isinstance(m, HardConcreteGate))
    return penalty


@dataclass(frozen=True)
class L0Options(Options):
    """`L0Pruner`'s options (see there)."""

    strength: float = 1e-2
    droprate_init: float = 0.2
    scope: str = "global"
    gate_lr: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", non_negative(self.strength, "strength"))
        droprate = self.droprate_init
        if isinstance(droprate, bool) or not isinstance(droprate, int | float) \
                or not 0.0 < droprate < 1.0:
            raise PruningError(f"droprate_init must lie in (0, 1); got {droprate!r}")
        object.__setattr__(self, "droprate_init", float(droprate))
        check_scope(self.scope)
        check_gate_lr(self.gate_lr)


class L0Pruner(GatePenaltyPruner):
    """Hard-concrete unit gates under an expected-L0 penalty (structured only; emergent).

    Parameters
    ----------
    strength : float, default 1e-2
        lambda of the penalty ``lambda * sum_i P(z_i != 0)`` (added to the mean batch
        cross-entropy).
    droprate_init : float, default 0.2
        Initial drop probability of every gate, in (0, 1).
    scope : {"global", "layer"}, default "global"
        Ranking for a target sparsity.
    gate_lr : float or None, default None
        Learning rate of log_alpha; None uses the budget's.
    """

    name = "l0"
    citation = ("Louizos, Welling & Kingma 2018, Learning sparse neural networks through L0 "
                "regularization (ICLR)")
    gate_type = HardConcreteGate
    Options = L0Options
    strength: float
    droprate_init: float

    def attach(self, model: nn.Sequential, budget: Budget,
               example_inputs: torch.Tensor | None = None) -> GatedNetwork:
        noise = torch.Generator().manual_seed(budget.seed)
        return with_l0_gates(model, budget.level, self.droprate_init, noise, example_inputs)

    def penalty(self) -> Any:
        return l0_penalty(self.strength)

    def phases(self, budget: Budget, sparsity: float | None) -> tuple[int, int]:
        if sparsity is None:
            return budget.epochs, 0
        penalized, (finetune,) = split_epochs(budget.epochs, 1)
        return penalized, finetune

    def read(self, gated: GatedNetwork) -> torch.Tensor:
        return log_alphas(gated)

    def ranking(self, values: torch.Tensor) -> torch.Tensor:
        return values

    def emergent_keep(self, values: torch.Tensor) -> torch.Tensor:
        return deterministic_gate(values) > 0

    def fold(self, gated: GatedNetwork, values: torch.Tensor, budget: Budget) -> GatedNetwork:
        for k, info in enumerate(gated.layers):
            gated.replace_gate(k, ParticipationGate(info.n_units))
        gated.set_participation(deterministic_gate(values).double())
        return attach_gates(apply_participation(gated, mode="fold"), budget.level,
                            example_inputs=getattr(gated, "example_inputs", None))

    def details(self, values: torch.Tensor, keep: torch.Tensor, kept: list[int],
                sparsity: float | None, epochs: dict[str, int]) -> dict[str, Any]:
        z = deterministic_gate(values)
        return {"log_alpha": values, "gates": z, "kept_per_layer": kept,
                "zero_gate_kept": int((keep & (z == 0)).sum()), "strength": self.strength,
                "scope": self.scope, "epochs": epochs}
