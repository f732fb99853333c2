"""Plain (dense) training: the baseline every pruning result is compared with.

The same loop (`nets.loop.train`: data order, optimizer, epochs) as `nets.EquilibriumPruning`,
without gates or participation, so that "dense" in a table means the same budget without
pruning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.utils.data import DataLoader

from nets.device import resolve_device
from nets.divergence import DivergenceMonitor
from nets.evaluate import accuracy_and_loss
from nets.loop import Hooks, TrainingConfig, datasets, make_optimizer, train

__all__ = ["PlainResult", "train_plain"]


@dataclass(frozen=True, eq=False)
class PlainResult:
    """A densely trained model and its per-epoch test accuracy."""

    model: nn.Sequential
    test_accuracy: tuple[float, ...]
    train_loss: tuple[float, ...]


def train_plain(model: nn.Sequential, data: Any, config: TrainingConfig, *,
                progress: bool = False) -> PlainResult:
    """Train a copy of `model` with `config`'s optimizer, learning rate, epochs, batch size and
    seed (batch order identical to `EquilibriumPruning` with the same config).

    Parameters
    ----------
    model : nn.Sequential
        Not modified.
    data : DataBundle or (train_dataset, test_dataset)
    config : TrainingConfig
        Or a `PruningConfig`, whose game fields are ignored.
    progress : bool, default False
        Report each epoch (`nets.progress.progress_bar`) as `EquilibriumPruning.fit` does.
        Off by default: callers run it as the short dense baseline beside a pruning run (in
        sweep workers, for one) and report progress themselves.

    Raises
    ------
    TrainingDivergedError
        When training diverges (`nets.divergence.DivergenceMonitor`: a non-finite loss, a
        loss over 1000x its start, or accuracy back at chance after clearly above it); the
        message names ``lr``.
    """
    import copy

    train_set, test_set = datasets(data)
    model = copy.deepcopy(model).to(resolve_device(config.device))
    optimizer = make_optimizer(config, model.parameters())
    hooks = _Evaluate(model, DataLoader(test_set, batch_size=512))
    losses = train(model, train_set, config, optimizer, range(config.epochs),
                   monitor=DivergenceMonitor(config.lr), hooks=hooks, seed_each_epoch=True,
                   progress="dense" if progress else None)
    return PlainResult(model, tuple(hooks.accuracies), tuple(losses))


class _Evaluate(Hooks):
    """Test accuracy after every epoch (the only hook plain training needs)."""

    def __init__(self, model: nn.Module, test_loader: DataLoader) -> None:
        self.model = model
        self.test_loader = test_loader
        self.accuracies: list[float] = []

    def end_epoch(self, epoch: int, train_loss: float) -> dict[str, str]:
        self.accuracies.append(accuracy_and_loss(self.model, self.test_loader)[0])
        return {"acc": f"{self.accuracies[-1]:.3f}"}
