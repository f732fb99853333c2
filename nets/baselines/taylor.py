"""First-order Taylor importance (Molchanov et al. 2019, "Importance estimation for neural
network pruning", CVPR).

The importance of a parameter is the squared first-order estimate of the loss change when it
is zeroed, ``(g_m w_m)^2``; that of a group S (a neuron or filter) is
``(sum_{s in S} g_s w_s)^2``, with g = dL/dw the gradient of a minibatch's loss. The
importance is computed per minibatch and averaged over the minibatches; here over the scoring
batches (`nets.baselines.base.scoring_batches`), L being each batch's mean cross-entropy.

Structured, the group sum is computed through a gate after the unit, as Molchanov et al. do:
``(s_i dL/ds_i)^2`` with the participation gate s (s = 1 in the harness). When no BatchNorm
follows the layer this equals ``(sum of g * theta over GatedNetwork.unit_parameters)^2``
(incoming weights and bias: the unit's output is linear in them), which the tests check. When a
BatchNorm follows, the gate sits after it and the sum runs over the BatchNorm's scale and shift
instead (in eval mode the output is linear in them), the paper's variant for networks with
BatchNorm.

Scores are taken on a copy in eval mode (deterministic: no dropout; BatchNorm uses its running
statistics). Unstructured, weights an earlier round masked score -inf (removed first).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from nets.baselines.base import ScorePruner, prunable_layers
from nets.baselines.scoring import Batches, batch_loss, plain_copy, removed_lowest, zero_if_none
from nets.gates import GatedNetwork


class TaylorPruner(ScorePruner):
    """First-order Taylor importance squared, averaged over the scoring batches:
    ``(s_i dL/ds_i)^2`` per unit (structured) or ``(g w)^2`` per weight (unstructured)."""

    name = "taylor"
    citation = "Molchanov et al. 2019, Importance estimation for neural network pruning (CVPR)"

    def unit_scores(self, gated: GatedNetwork, batches: Batches) -> torch.Tensor:
        if not batches:
            raise ValueError("scoring needs at least one batch")
        work = copy.deepcopy(gated).eval()
        dtype = next(work.parameters()).dtype
        for gate in work.gates():  # dL/ds in the network's precision (float32 buffers)
            gate.participation = gate.participation.to(dtype)
        gates = [gate.participation.requires_grad_(True) for gate in work.gates()]
        total = torch.zeros(work.n_players, dtype=torch.float64,
                            device=next(work.parameters()).device)
        for batch in batches:
            with torch.enable_grad():
                grads = torch.autograd.grad(batch_loss(work, batch), gates, allow_unused=True)
            total += torch.cat([(s.detach() * zero_if_none(g, s)).to(torch.float64) ** 2
                                for s, g in zip(gates, grads, strict=True)])
        return total / len(batches)

    def weight_scores(self, model: nn.Sequential, batches: Batches) -> list[torch.Tensor]:
        if not batches:
            raise ValueError("scoring needs at least one batch")
        work, masks = plain_copy(model)
        work.eval()
        weights = [layer.weight for layer in prunable_layers(work)]
        totals = [torch.zeros_like(w, dtype=torch.float64) for w in weights]
        for batch in batches:
            with torch.enable_grad():
                grads = torch.autograd.grad(batch_loss(work, batch), weights, allow_unused=True)
            for total, w, g in zip(totals, weights, grads, strict=True):
                total += (w.detach() * zero_if_none(g, w)).to(torch.float64) ** 2
        return removed_lowest([total / len(batches) for total in totals], masks)
