"""Magnitude pruning of weights (Han et al. 2015, "Learning both weights and connections for
efficient neural networks", NeurIPS): train, remove the smallest |w|, retrain.

The score is |w| (the L1 criterion of ``torch.nn.utils.prune.l1_unstructured``, which the
tests match exactly); global or layer-wise. Structured, the unit's score is the L1 norm of its
incoming weights: see `nets.baselines.unit_norm` for the filter-norm criterion of Li et al.
"""

from __future__ import annotations

import torch
from torch import nn

from nets.baselines.base import ScorePruner, effective_weight, prunable_layers


class MagnitudePruner(ScorePruner):
    """Weight magnitude |w| (unstructured only)."""

    name = "magnitude"
    citation = "Han et al. 2015, Learning both weights and connections (NeurIPS)"
    granularities = ("unstructured",)

    def weight_scores(self, model: nn.Sequential, batches) -> list[torch.Tensor]:
        return [effective_weight(layer).abs() for layer in prunable_layers(model)]
