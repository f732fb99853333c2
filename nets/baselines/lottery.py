"""Lottery tickets: iterative magnitude pruning with weight rewinding (Frankle & Carbin 2019, "The
lottery ticket hypothesis: finding sparse, trainable neural networks", ICLR; rewinding to an
early step k: Frankle et al. 2020, "Linear mode connectivity and the lottery ticket
hypothesis", ICML).

Train the dense network, saving every parameter and buffer after ``rewind_steps`` optimizer
steps (0: the initialization, the original lottery ticket). Then, for each target of
``schedule_targets(sparsity, budget.rounds, "iterative")`` (one target for ``"one_shot"``):
prune the lowest-|w| weights among the survivors (globally by default; ``select_weights``), so
that the target share of all weights is pruned, rewind every surviving weight, every bias and
every buffer to its saved value (`rewind_weights`; pruned weights stay 0 under their mask, so a
pruned weight never returns) and train again. The last training run trains the ticket.

Budget: ``len(targets) + 1`` training runs share ``budget.epochs``, each at least one epoch, so
the total exceeds ``budget.epochs`` when ``budget.epochs < rounds + 1``; ``steps`` reports
every optimizer step spent, which is the honest cost of finding a ticket. Each run starts a
fresh optimizer (the optimizer state at step k is not rewound) and continues the seeded epoch
order of the harness.

Structured (optional): players (as in `nets.attach_gates`) are pruned by the L1 norm of their
incoming weights and bias (as `UnitNormPruner`), masked through their participation gates (0
for a pruned unit, which also stops its gradient) during the rounds, rewound the same way, and
physically removed at the end (`remove_units`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nets.baselines.base import (
    Budget,
    Options,
    PruneOutcome,
    Pruner,
    PruningError,
    apply_weight_masks,
    check_scope,
    current_weight_masks,
    finalize_weights,
    prunable_layers,
    remove_units,
    schedule_targets,
    select_units,
    select_weights,
    unstructured_sparsity,
)
from nets.checks import check_int
from nets.gates import GatedNetwork, attach_gates
from nets.loop import datasets
from nets.structure import example_input

_MASK_SUFFIX = "_mask"
_ORIG_SUFFIX = "_orig"


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every parameter and buffer of `model`, by name (``weight_orig`` of a layer
    under a ``torch.nn.utils.prune`` mask is stored as ``weight``; masks are not stored)."""
    saved = {}
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if name.endswith(_MASK_SUFFIX):
            continue
        saved[name.removesuffix(_ORIG_SUFFIX)] = tensor.detach().clone()
    return saved


def rewind_weights(model: nn.Module, saved: dict[str, torch.Tensor],
                   skip: tuple[str, ...] = ()) -> None:
    """Set every parameter and buffer of `model` to its `saved` value (in place).

    A weight under a ``torch.nn.utils.prune`` mask gets ``weight_orig = saved * mask``, so the
    surviving weights equal their saved values exactly and the pruned ones stay 0; the masked
    ``weight`` attribute (which torch otherwise recomputes only at the next forward pass) is
    refreshed too. Names ending in one of `skip` (e.g. the participation gates) are left alone.
    """
    masked = []
    with torch.no_grad():
        for module_name, module in model.named_modules():
            prefix = f"{module_name}." if module_name else ""
            tensors = list(module.named_parameters(recurse=False)) + \
                list(module.named_buffers(recurse=False))
            for name, tensor in tensors:
                if name.endswith(_MASK_SUFFIX) or name.endswith(skip):
                    continue
                base = name.removesuffix(_ORIG_SUFFIX)
                value = saved[prefix + base]
                if name.endswith(_ORIG_SUFFIX) and hasattr(module, base + _MASK_SUFFIX):
                    value = value * getattr(module, base + _MASK_SUFFIX)
                    masked.append((module, base))
                tensor.copy_(value)
    for module, base in masked:  # as the prune forward pre-hook computes it
        setattr(module, base, getattr(module, base + _ORIG_SUFFIX)
                * getattr(module, base + _MASK_SUFFIX))


@dataclass(frozen=True)
class LotteryOptions(Options):
    """`LotteryPruner`'s options (see there)."""

    rewind_steps: int = 20
    scope: str = "global"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rewind_steps", check_int(self.rewind_steps, "rewind_steps",
                                                           minimum=0))
        check_scope(self.scope)


class LotteryPruner(Pruner):
    """Iterative magnitude pruning with rewinding to step ``rewind_steps``.

    Parameters
    ----------
    rewind_steps : int, default 20
        The optimizer step whose weights the survivors are rewound to (0: the initialization);
        it must fall within the first training run.
    scope : {"global", "layer"}, default "global"
        Weights (or units) ranked together or per layer.
    """

    name = "lottery"
    citation = ("Frankle & Carbin 2019, The lottery ticket hypothesis (ICLR); rewinding: "
                "Frankle et al. 2020, Linear mode connectivity and the lottery ticket "
                "hypothesis (ICML)")
    schedules = ("iterative", "one_shot")

    Options = LotteryOptions
    rewind_steps: int
    scope: str

    def check_request(self, model: nn.Module, data: Any, sparsity: float | None,
                      budget: Budget, granularity: str = "structured",
                      schedule: str = "one_shot") -> None:
        """`Pruner.check_request`, and `rewind_steps` within the first training run."""
        self.check(sparsity, granularity, schedule, model)
        train_set, _ = datasets(data)
        targets = schedule_targets(float(sparsity), budget.rounds, schedule)
        first = run_epochs(budget.epochs, len(targets) + 1)[0]
        steps = first * math.ceil(len(train_set) / budget.batch_size)
        if self.rewind_steps > steps:
            raise PruningError(
                f"rewind_steps={self.rewind_steps} exceeds the {steps} steps of the first "
                f"training run ({first} epochs of this budget); lower rewind_steps or give more "
                "epochs")

    def prune(self, model: nn.Sequential, data: Any, sparsity: float | None, budget: Budget,
              *, granularity: str = "structured", schedule: str = "one_shot"
              ) -> PruneOutcome:
        self.check_request(model, data, sparsity, budget, granularity, schedule)
        targets = schedule_targets(float(sparsity), budget.rounds, schedule)
        epochs = run_epochs(budget.epochs, len(targets) + 1)
        structured = granularity == "structured"
        masks: list[Any] = []
        with self.run(data, budget) as run:
            example = example_input(run.train_set)
            work: nn.Module = attach_gates(model, budget.level, example_inputs=example) \
                if structured else copy.deepcopy(model)
            saved = snapshot(work) if self.rewind_steps == 0 else None

            def save_at_k(net: nn.Module) -> None:
                nonlocal saved
                if run.steps + 1 == self.rewind_steps:  # called before the count moves
                    saved = snapshot(net)

            run.train(work, epochs[0], after_step=save_at_k)
            if saved is None:
                raise PruningError(
                    f"rewind_steps={self.rewind_steps} exceeds the {run.steps} steps of the "
                    f"first training run ({epochs[0]} epochs of this budget); lower rewind_steps")
            for target, epochs_of_run in zip(targets, epochs[1:], strict=True):
                if structured:
                    keep = self._prune_units(work, target)
                    masks.append(keep.clone())
                    rewind_weights(work, saved, skip=("participation",))
                else:
                    self._prune_weights(work, target)
                    masks.append([m.bool() for m in current_weight_masks(work)])
                    rewind_weights(work, saved)
                run.train(work, epochs_of_run)
        if structured:
            gated = work
            work = remove_units(gated, masks[-1])
            kept = [info.n_units for info in
                    attach_gates(work, budget.level, example_inputs=example).layers]
            achieved = 1.0 - sum(kept) / gated.n_players
        else:
            work = finalize_weights(work)
            kept = [int((layer.weight != 0).sum()) for layer in prunable_layers(work)]
            achieved = unstructured_sparsity(work)
        return PruneOutcome(self.name, granularity, schedule, float(sparsity), achieved, work,
                            run.steps, run.seconds,
                            {"rounds": len(targets), "targets": targets,
                             "rewind_steps": self.rewind_steps, "epochs_per_run": epochs,
                             "scope": self.scope, "masks": masks,
                             "kept_per_layer": kept})

    def _prune_weights(self, work: nn.Module, target: float) -> None:
        """Mask the lowest-|w| survivors so that `target` of all weights is pruned."""
        current = current_weight_masks(work)
        scores = [torch.where(mask.bool(), layer.weight.detach().abs(), -1.0)
                  for layer, mask in zip(prunable_layers(work), current, strict=True)]
        masks = select_weights(scores, target, self.scope)
        apply_weight_masks(work, [torch.minimum(m.to(c), c) for m, c in
                                  zip(masks, current, strict=True)])

    def _prune_units(self, gated: GatedNetwork, target: float) -> torch.Tensor:
        """Zero the gates of the lowest-L1 surviving units (`target` of all units pruned)."""
        current = gated.get_participation() > 0.5
        norms = torch.cat([gated.unit_parameters(k).detach().abs().sum(dim=1)
                           for k in range(len(gated.layers))]).double().cpu()
        scores = torch.where(current, norms, -1.0)
        keep = select_units(gated, scores, target, self.scope) & current
        gated.set_participation(keep.double())
        return keep


def run_epochs(total: int, runs: int) -> list[int]:
    """Epochs of each of `runs` training runs: `total` shared, earlier runs first, at least one
    each (so the sum is ``max(total, runs)``)."""
    return [max(1, total // runs + (1 if r < total % runs else 0)) for r in range(runs)]
