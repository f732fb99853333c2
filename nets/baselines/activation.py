"""Activation-based unit pruning: remove the neurons or filters that are least active on the
data.

Hu et al. (2016, "Network trimming: a data-driven neuron pruning approach towards efficient
deep architectures", arXiv 1607.03250) remove the units with the highest Average Percentage of
Zeros (APoZ) of their ReLU outputs; Molchanov et al. (2017, "Pruning convolutional neural
networks for resource efficient inference", ICLR, Sec. 2.2) compare the mean activation, APoZ
and other criteria with their Taylor criterion. A unit's activation is the output of the
elementwise activation (ReLU, Tanh, ...) that directly follows its participation gate, or the
gate's own output when none does (the rule of `nets.stats.collect`); for a filter it is read at
every spatial position.

Default score (``statistic="mean"``): the mean absolute activation over the examples of the
scoring batches (all examples pooled) and the spatial positions. With ``statistic="apoz"`` it
is ``1 - APoZ``, the share of nonzero outputs (higher = more important, so the units with the
highest APoZ go first, as in Hu et al.).

Scores are taken on a copy in eval mode (deterministic: no dropout; BatchNorm uses its running
statistics, which stay untouched).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nets.baselines.base import PruningError, ScoreOptions, ScorePruner
from nets.gates import ELEMENTWISE, GatedNetwork, PlayerLayer, TracedGatedNetwork

Batches = list[tuple[torch.Tensor, torch.Tensor]]

STATISTICS = ("mean", "apoz")

#: Elementwise modules that are not activations (as in `nets.stats`).
_NOT_ACTIVATIONS = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d)


@dataclass(frozen=True)
class ActivationOptions(ScoreOptions):
    """`ActivationPruner`'s options (see there)."""

    statistic: str = "mean"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.statistic not in STATISTICS:
            raise PruningError(f"statistic must be one of {STATISTICS}; got "
                               f"{self.statistic!r}")


class ActivationPruner(ScorePruner):
    """Mean absolute activation of each unit (or its share of nonzero outputs) on the scoring
    batches (structured only).

    Parameters
    ----------
    scope : {"global", "layer"}, default "global"
        Rank all players together or remove the same share from every layer.
    statistic : {"mean", "apoz"}, default "mean"
        ``"mean"``: mean |a_i| over examples and spatial positions (Molchanov et al. 2017);
        ``"apoz"``: ``1 - APoZ``, the share of nonzero a_i (Hu et al. 2016).
    """

    name = "activation"
    citation = "Hu et al. 2016, Network trimming: a data-driven neuron pruning approach " \
               "(arXiv 1607.03250); Molchanov et al. 2017 (ICLR), Sec. 2.2"
    granularities = ("structured",)
    Options = ActivationOptions
    statistic: str

    def unit_scores(self, gated: GatedNetwork, batches: Batches) -> torch.Tensor:
        if not batches:
            raise ValueError("scoring needs at least one batch")
        work = copy.deepcopy(gated).eval()
        device = next(work.parameters()).device
        totals = [torch.zeros(info.n_units, dtype=torch.float64, device=device)
                  for info in work.layers]
        counts = [0] * len(work.layers)
        if isinstance(work, TracedGatedNetwork):
            if self.statistic == "apoz":
                raise NotImplementedError(
                    "statistic='apoz' needs the activation after each unit's nonlinearity, "
                    "which a traced network does not expose (its gates sit before it); use "
                    "statistic='mean' (mean |output| at the gates)")
            sizes = [torch.zeros(info.n_units, dtype=torch.float64) for info in work.layers]
            handles = [work.gate_module(k).register_forward_hook(
                           self._site_hook(k, totals, sizes))
                       for k in range(len(work.layers))]
        else:
            handles = [activation_module(work, info).register_forward_hook(
                           self._hook(k, totals, counts))
                       for k, info in enumerate(work.layers)]
        dtype = next(work.parameters()).dtype
        try:
            with torch.no_grad():
                for inputs, _ in batches:
                    work(inputs.to(device=device, dtype=dtype))
        finally:
            for handle in handles:
                handle.remove()
        if isinstance(work, TracedGatedNetwork):
            return torch.cat([total / size for total, size in zip(totals, sizes, strict=True)])
        return torch.cat([total / count for total, count in zip(totals, counts, strict=True)])

    @staticmethod
    def _site_hook(k: int, totals: list[torch.Tensor], sizes: list[torch.Tensor]
                   ) -> Callable[..., None]:
        """Forward hook of a traced gate: per player, the mean |a| over examples, positions,
        its channels and the sites of its group (each call's mean over examples and
        positions, averaged over the player's channels and calls)."""
        def hook(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> None:
            dim, index = args[1], args[2].cpu()
            a = output.detach().movedim(dim, 1)
            per_channel = a.reshape(a.shape[0], a.shape[1], -1).abs().mean(dim=(0, 2))
            totals[k].index_add_(0, index, per_channel.to(torch.float64).cpu())
            sizes[k].index_add_(0, index, torch.ones(index.shape[0], dtype=torch.float64))
        return hook

    def _hook(self, k: int, totals: list[torch.Tensor], counts: list[int]
              ) -> Callable[..., None]:
        """Forward hook accumulating |a| (or a != 0) of layer k's units, per unit."""
        def hook(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> None:
            per_unit = output.detach().transpose(0, 1).reshape(output.shape[1], -1)
            values = per_unit.abs() if self.statistic == "mean" else (per_unit != 0)
            totals[k] += values.to(torch.float64).sum(dim=1).cpu()
            counts[k] += per_unit.shape[1]
        return hook


def activation_module(gated: GatedNetwork, info: PlayerLayer) -> nn.Module:
    """The module whose output is the activation of `info`'s units: the elementwise activation
    directly after the gate, else the gate."""
    position = info.gate_index + 1
    if position < len(gated.model):
        module = gated.model[position]
        if isinstance(module, ELEMENTWISE) and not isinstance(module, _NOT_ACTIVATIONS):
            return module
    return gated.model[info.gate_index]
