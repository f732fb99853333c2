"""Optimal Brain Damage (LeCun, Denker & Solla 1990, "Optimal brain damage", NeurIPS).

At a minimum of the loss the gradient vanishes and, keeping only the diagonal of the Hessian
H, deleting weight w_k raises the loss by its saliency ``0.5 * H_kk * w_k^2``; the weights of
lowest saliency go first. The loss is the mean cross-entropy over the examples of the scoring
batches (`nets.baselines.base.scoring_batches`, all examples pooled). LeCun et al. compute
H_kk by a second backward pass with a Gauss-Newton approximation; two estimates are offered:

- ``curvature="fisher"`` (default): the diagonal of the empirical Fisher, the mean over
  examples of the squared per-example gradient, ``mean_n (dl_n/dw_k)^2`` with l_n the
  cross-entropy of example n, the usual nonnegative stand-in for the Gauss-Newton diagonal.
  Per-example gradients come from ``torch.func`` (``functional_call`` + ``vmap`` + ``grad``),
  in chunks of ``chunk`` examples.
- ``curvature="hutchinson"``: Hutchinson's estimate of the exact Hessian diagonal,
  ``diag(H) ~ mean_z z * (H z)`` over ``samples`` Rademacher vectors z (entries +-1, from a
  ``torch.Generator`` seeded with ``seed``), H z by double backpropagation; the same z serve
  every batch, so this is Hutchinson's estimator of the pooled loss's Hessian. OBD assumes a
  minimum, where H is positive semi-definite; negative estimates (from the probes' noise or
  from negative curvature) are clipped at 0 so saliencies stay nonnegative. For a ReLU network
  and the cross-entropy the exact diagonal is the Gauss-Newton one (the output is piecewise
  linear in each single weight), hence nonnegative.

Unstructured, each weight of every Linear and Conv2d scores its saliency (weights an earlier
round masked score -inf, so they are counted first among the removed ones). Structured, a
unit's score is the sum of the saliencies of its incoming weights and bias (the group of
`GatedNetwork.unit_parameters` without the outgoing weights, as in `nets.baselines.unit_norm`):
the diagonal model's estimate of the loss increase when those parameters are all deleted, which
silences the unit when its activation maps 0 to 0 (ReLU, tanh) and no BatchNorm follows. Cross
terms between the group's parameters are ignored, as OBD ignores them between weights.

Scores are taken on a copy in eval mode (deterministic: no dropout; BatchNorm uses its running
statistics, which also makes per-example gradients well defined).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from nets.baselines.base import PruningError, ScoreOptions, ScorePruner, prunable_layers
from nets.baselines.scoring import Batches, plain_copy, removed_lowest
from nets.checks import check_int
from nets.gates import GatedNetwork, TracedGatedNetwork

CURVATURES = ("fisher", "hutchinson")


@dataclass(frozen=True)
class OBDOptions(ScoreOptions):
    """`OBDPruner`'s options (see there)."""

    curvature: str = "fisher"
    samples: int = 8
    seed: int = 0
    chunk: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.curvature not in CURVATURES:
            raise PruningError(f"curvature must be one of {CURVATURES}; got "
                               f"{self.curvature!r}")
        for name, minimum in (("samples", 1), ("seed", 0), ("chunk", 1)):
            object.__setattr__(self, name, check_int(getattr(self, name), name,
                                                     minimum=minimum))


class OBDPruner(ScorePruner):
    """OBD saliency ``0.5 * H_kk * w_k^2`` with H_kk the empirical Fisher (default) or a
    Hutchinson estimate of the Hessian diagonal.

    Parameters
    ----------
    scope : {"global", "layer"}, default "global"
        Rank all weights (players) together or prune the same share of every layer.
    curvature : {"fisher", "hutchinson"}, default "fisher"
        The estimate of the Hessian diagonal (see the module docstring).
    samples : int, default 8
        Rademacher probes of the Hutchinson estimate.
    seed : int, default 0
        Seed of the probes' generator (the scores are deterministic).
    chunk : int, default 64
        Examples per ``vmap`` call of the Fisher (bounds the memory of per-example gradients).
    """

    name = "obd"
    citation = "LeCun, Denker & Solla 1990, Optimal brain damage (NeurIPS)"

    Options = OBDOptions
    curvature: str
    samples: int
    seed: int
    chunk: int

    def unit_scores(self, gated: GatedNetwork, batches: Batches) -> torch.Tensor:
        work = copy.deepcopy(gated).eval()
        if isinstance(work, TracedGatedNetwork):
            return self._traced_scores(work, batches)
        groups = []
        for info in work.layers:
            prefix = f"{info.layer_index}."
            names = [prefix + "weight"]
            if work.model[info.layer_index].bias is not None:
                names.append(prefix + "bias")
            groups.append((info.n_units, names))
        diagonal = self.curvature_diagonal(work.model, [n for _, names in groups
                                                        for n in names], batches)
        parameters = dict(work.model.named_parameters())
        scores = []
        for n_units, names in groups:
            saliency = [self._saliency(diagonal[name], parameters[name]).reshape(n_units, -1)
                        for name in names]
            scores.append(torch.cat(saliency, dim=1).sum(dim=1))
        return torch.cat(scores)

    def _traced_scores(self, work: TracedGatedNetwork, batches: Batches) -> torch.Tensor:
        """Per player, the saliencies summed over its group's rows (`unit_parameters`)."""
        rows = {id(p) for k in range(len(work.layers))
                for p in _row_parameters(work, k)}
        names = [name for name, p in work.model.named_parameters() if id(p) in rows]
        diagonal = self.curvature_diagonal(work.model, names, batches)
        parameters = dict(work.model.named_parameters())
        saliency = {id(parameters[name]): self._saliency(diagonal[name], parameters[name])
                    for name in names}
        return torch.cat([work.unit_rows(k, False, lambda p: saliency[id(p)]).sum(dim=1)
                          for k in range(len(work.layers))]).double()

    def weight_scores(self, model: nn.Sequential, batches: Batches) -> list[torch.Tensor]:
        work, masks = plain_copy(model)
        work.eval()
        module_names = {id(module): name for name, module in work.named_modules()}
        names = [f"{module_names[id(layer)]}.weight" for layer in prunable_layers(work)]
        diagonal = self.curvature_diagonal(work, names, batches)
        parameters = dict(work.named_parameters())
        return removed_lowest([self._saliency(diagonal[name], parameters[name])
                               for name in names], masks)

    @staticmethod
    def _saliency(diagonal: torch.Tensor, parameter: torch.Tensor) -> torch.Tensor:
        """``0.5 * max(H_kk, 0) * w_k^2`` in float64."""
        w = parameter.detach().to(torch.float64)
        return 0.5 * diagonal.to(torch.float64).clamp(min=0.0) * w * w

    def curvature_diagonal(self, model: nn.Module, names: list[str], batches: Batches
                           ) -> dict[str, torch.Tensor]:
        """The estimate of the loss Hessian's diagonal for the parameters `names` of `model`.

        Parameters
        ----------
        model : nn.Module
            Run as it is (callers pass an eval-mode copy); never modified.
        names : list of str
            Keys of ``model.named_parameters()``.
        batches : list of (inputs, labels)
            The loss is the mean cross-entropy over all their examples.

        Returns
        -------
        dict of str to torch.Tensor
            Per name, the diagonal (shaped like the parameter, its dtype), before clipping:
            the empirical Fisher, or Hutchinson's estimate (which may be negative).
        """
        if not batches:
            raise ValueError("scoring needs at least one batch")
        every = dict(model.named_parameters())
        parameters = {name: every[name].detach() for name in names}
        like = next(iter(parameters.values()))  # the parameters' dtype and device
        batches = [(inputs.to(like), labels.to(like.device)) for inputs, labels in batches]
        if self.curvature == "fisher":
            return _fisher_diagonal(model, parameters, batches, self.chunk)
        return _hutchinson_diagonal(model, parameters, batches, self.samples, self.seed)


def _fisher_diagonal(model: nn.Module, parameters: dict[str, torch.Tensor], batches: Batches,
                     chunk: int) -> dict[str, torch.Tensor]:
    """Mean over all examples of the squared per-example gradients (torch.func)."""
    def example_loss(params: dict[str, torch.Tensor], inputs: torch.Tensor,
                     label: torch.Tensor) -> torch.Tensor:
        outputs = functional_call(model, params, (inputs.unsqueeze(0),))
        return F.cross_entropy(outputs, label.unsqueeze(0))

    per_example = vmap(grad(example_loss), in_dims=(None, 0, 0))
    totals = {name: torch.zeros_like(p) for name, p in parameters.items()}
    count = 0
    for inputs, labels in batches:
        for start in range(0, inputs.shape[0], chunk):
            grads = per_example(parameters, inputs[start:start + chunk],
                                labels[start:start + chunk])
            for name, g in grads.items():
                totals[name] += (g * g).sum(dim=0)
        count += inputs.shape[0]
    return {name: total / count for name, total in totals.items()}


def _hutchinson_diagonal(model: nn.Module, parameters: dict[str, torch.Tensor],
                         batches: Batches, samples: int, seed: int) -> dict[str, torch.Tensor]:
    """``mean_z z * (H z)`` over Rademacher probes z, H the Hessian of the pooled mean loss."""
    generator = torch.Generator().manual_seed(seed)
    probes = [[(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p)
               for p in parameters.values()] for _ in range(samples)]
    leaves = {name: p.clone().requires_grad_(True) for name, p in parameters.items()}
    tensors = list(leaves.values())
    totals = [torch.zeros_like(p) for p in tensors]
    count = sum(inputs.shape[0] for inputs, _ in batches)
    for inputs, labels in batches:
        with torch.enable_grad():
            loss = F.cross_entropy(functional_call(model, leaves, (inputs,)), labels,
                                   reduction="sum") / count
            grads = torch.autograd.grad(loss, tensors, create_graph=True, allow_unused=True)
            # a gradient without a graph is constant: its rows of H are zero
            live = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
            if not live:
                continue
            for z in probes:
                products = torch.autograd.grad([grads[i] for i in live],
                                               [tensors[i] for i in live],
                                               grad_outputs=[z[i] for i in live],
                                               retain_graph=True, allow_unused=True)
                for i, hz in zip(live, products, strict=True):
                    if hz is not None:
                        totals[i] += z[i] * hz.detach()
    return {name: total / samples for name, total in zip(leaves, totals, strict=True)}


def _row_parameters(gated: TracedGatedNetwork, k: int) -> list[torch.Tensor]:
    """The parameters `TracedGatedNetwork.unit_parameters` reads for layer k (incoming)."""
    found = []
    for member in gated.layers[k].members:
        module = gated.model.get_submodule(member.module)
        if member.role == "out" and isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
            found += [p for p in (module.weight, module.bias) if p is not None]
    return found
