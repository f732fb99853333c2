"""Plain (dense) training: the baseline every pruning result is compared with.

The same data order, optimizer and epochs as `nets.EquilibriumPruning`, without gates or
participation, so that "dense" in a table means the same budget without pruning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from nets.divergence import DivergenceMonitor
from nets.evaluate import accuracy_and_loss
from nets.progress import progress_bar
from nets.training import PruningConfig, _datasets, _optimizer_for, flush_denormals

__all__ = ["PlainResult", "train_plain"]


@dataclass(frozen=True, eq=False)
class PlainResult:
    """A densely trained model and its per-epoch test accuracy."""

    model: nn.Sequential
    test_accuracy: tuple[float, ...]
    train_loss: tuple[float, ...]


def train_plain(model: nn.Sequential, data: Any, config: PruningConfig, *,
                progress: bool = False) -> PlainResult:
    """Train a copy of `model` with `config`'s optimizer, learning rate, epochs, batch size and
    seed (batch order identical to `EquilibriumPruning` with the same config).

    Parameters
    ----------
    model : nn.Sequential
        Not modified.
    data : DataBundle or (train_dataset, test_dataset)
    config : PruningConfig
        Only the training fields are used; the game's fields are ignored.
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
    with flush_denormals():
        return _train(model, data, config, progress)


def _train(model: nn.Sequential, data: Any, config: PruningConfig,
           progress: bool = False) -> PlainResult:
    import copy

    train_set, test_set = _datasets(data)
    model = copy.deepcopy(model)
    optimizer = _optimizer_for(config, model.parameters())
    test_loader = DataLoader(test_set, batch_size=512)
    accuracies, losses = [], []
    monitor = DivergenceMonitor(config.lr)
    with progress_bar(config.epochs, "dense", unit="epoch", enabled=progress) as bar, \
            torch.random.fork_rng():
        for epoch in range(config.epochs):
            torch.manual_seed(config.seed * 1_000_003 + epoch)
            order = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
            loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True,
                                generator=order)
            model.train()
            total, count = 0.0, 0
            for inputs, labels in loader:
                optimizer.zero_grad(set_to_none=True)
                logits = model(inputs)
                loss = F.cross_entropy(logits, labels)
                monitor.batch(float(loss.detach()), logits, labels)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * labels.shape[0]
                count += labels.shape[0]
            monitor.end_epoch()
            losses.append(total / max(count, 1))
            accuracies.append(accuracy_and_loss(model, test_loader)[0])
            bar.set_postfix(acc=f"{accuracies[-1]:.3f}")
            bar.update(1)
    return PlainResult(model, tuple(accuracies), tuple(losses))
