"""The one training loop of `nets`: dense training, Algorithm 1 and every baseline run on it.

A loop of cross-entropy training over seeded epochs, written once:

- **configuration**: `TrainingConfig` (epochs, batch size, optimizer, learning rate, weight
  decay, momentum, seed) is the base class of `nets.PruningConfig` and of the baselines'
  `nets.baselines.Budget`, so the training fields are declared and checked here only;
  `analysis.runner.RunConfig` builds one with its ``training`` property;
- **seeds**: epoch ``e`` of seed ``s`` shuffles with ``epoch_seed(s, e) = s * 1_000_003 + e``
  (`epoch_batches`), the same order for every method;
- **optimizer**: `make_optimizer` (Adam, AdamW or SGD with momentum);
- **denormals**: `flush_denormals`, on while any loop runs;
- **device**: the model and every batch (once) go to ``config.device``;
- **data**: `datasets` reads a `nets.data.DataBundle` or a (train, test) pair;
- **divergence**: a `nets.divergence.DivergenceMonitor` sees every batch's loss;
- **progress**: a `nets.progress.progress_bar` over the epochs when asked for.

A method changes the loop only through its `Hooks`, called at the points pruning methods need
(before a batch, on the loss, after backward, after the optimizer step, at the end of an
epoch), and a caller may watch every step with an ``on_step`` callback (`Step`).

Why inheritance for the configuration: ``PruningConfig(epochs=3, lr=0.01)``,
``Budget(epochs=10)``, ``dataclasses.replace(config, epochs=2)`` and their flat ``to_dict``
keep working unchanged, which a nested ``training`` field would break. `RunConfig` does not
inherit: its stable key hashes its own fields, which do not include ``weight_decay`` and
``momentum`` (they are method options there), so it keeps its flat fields and converts.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from nets.checks import check_choice, check_int, check_number
from nets.device import check_device_name, resolve_device
from nets.divergence import DivergenceMonitor
from nets.progress import progress_bar

__all__ = ["OPTIMIZERS", "Hooks", "Step", "TrainingConfig", "datasets", "epoch_batches",
           "epoch_seed", "flush_denormals", "make_optimizer", "train", "train_step"]

#: Weight optimizers `make_optimizer` builds.
OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass(frozen=True)
class TrainingConfig:
    """How the weights are trained: the fields every method shares.

    Attributes
    ----------
    epochs, batch_size : int
        Epochs of ``batch_size`` batches (>= 1); the paper's 20 and 128.
    optimizer : {"adam", "adamw", "sgd"}
        Weight optimizer (the paper does not say; Adam is the default here).
    lr : float
        Weight learning rate, >= 0 (0 freezes the weights).
    weight_decay : float
        Weight decay of the optimizer (decoupled for "adamw"), >= 0.
    momentum : float
        SGD momentum, in [0, 1).
    seed : int
        Seeds the batch order and any randomness inside training (>= 0).
    device : {"cpu", "cuda", "mps", "auto"}
        Where the model and each batch go (`nets.device.resolve_device`; checked for
        spelling here, for availability when training starts).

    Raises
    ------
    nets.checks.PruningError
        On construction, for any invalid field (one line naming it).
    """

    epochs: int = 20
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    seed: int = 0
    device: str = "cpu"

    #: The optimizers a subclass accepts (the baselines' `Budget` offers Adam and SGD only).
    optimizers: ClassVar[tuple[str, ...]] = OPTIMIZERS
    #: Whether ``lr`` must be > 0 (`Budget`) rather than >= 0.
    lr_positive: ClassVar[bool] = False

    def __post_init__(self) -> None:
        check_choice(self.optimizer, "optimizer", self.optimizers)
        numbers: dict[str, dict[str, Any]] = {
            "lr": {"low": 0.0, "low_open": self.lr_positive}, "weight_decay": {"low": 0.0},
            "momentum": {"low": 0.0, "high": 1.0, "high_open": True}}
        for name, limits in numbers.items():
            object.__setattr__(self, name, check_number(getattr(self, name), name, **limits))
        for name in ("epochs", "batch_size"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=1))
        object.__setattr__(self, "seed", check_int(self.seed, "seed", minimum=0))
        check_device_name(self.device)

    @property
    def training(self) -> TrainingConfig:
        """The training fields alone, as a plain `TrainingConfig`."""
        return TrainingConfig(**{f.name: getattr(self, f.name)
                                 for f in dataclasses.fields(TrainingConfig)})


def training_fields() -> tuple[str, ...]:
    """The names of `TrainingConfig`'s fields, in order."""
    return tuple(f.name for f in dataclasses.fields(TrainingConfig))


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch `epoch` of a run seeded `seed`: ``seed * 1_000_003 + epoch``."""
    return seed * 1_000_003 + epoch


def epoch_batches(train_set: Dataset, batch_size: int, seed: int, epoch: int) -> DataLoader:
    """The training batches of one epoch, shuffled in the order `epoch_seed` fixes (the same
    for every method with the same seed)."""
    order = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=order)


def make_optimizer(config: TrainingConfig, parameters: Any) -> torch.optim.Optimizer:
    """The weight optimizer `config` names over `parameters` (tensors or parameter groups)."""
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay)


def datasets(data: Any) -> tuple[Dataset, Dataset]:
    """(train, test) of a `nets.data.DataBundle` or of a pair of datasets.

    Raises
    ------
    TypeError
        For anything else.
    """
    from nets.data import DataBundle

    if isinstance(data, DataBundle):
        return data.train, data.test
    if isinstance(data, tuple) and len(data) == 2:
        return data
    raise TypeError("data must be a nets.data.DataBundle (nets.data.load(...)) or a pair "
                    f"(train_dataset, test_dataset); got {type(data).__name__}")


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush denormal floats to zero inside the block, then restore torch's default (off).

    Participations near zero otherwise slow CPU training by 10x or more. Torch cannot report
    the current setting, so the block always ends with the default; the flag is process-wide
    CPU state that other libraries (hypothesis, numpy) also see.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@dataclass(frozen=True, eq=False)
class Step:
    """One finished training step, as the ``on_step`` callback of `train` sees it.

    Attributes
    ----------
    epoch, batch : int
        0-based epoch and batch within it.
    loss : float
        The batch's loss (with any regularizer of `Hooks.loss`).
    model : nn.Module
        The network being trained, right after the step and its hooks.
    """

    epoch: int
    batch: int
    loss: float
    model: nn.Module


class Hooks:
    """The points where a method acts inside the loop; every one is a no-op here.

    Per batch, `train_step` calls `before_batch`, zeroes the gradients, computes the loss
    (cross-entropy, then `loss`), lets the monitor check it, back-propagates, calls
    `after_backward`, steps the optimizer and calls `after_step`. Per epoch, `train` calls
    `start_epoch` before the first batch, `end_epoch` after the monitor's epoch check and
    `after_epoch` once the epoch is reported.
    """

    def start_epoch(self, epoch: int) -> None:
        """Before the first batch of `epoch`."""

    def before_batch(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        """Before the gradients are zeroed and the forward pass."""

    def loss(self, model: nn.Module, loss: torch.Tensor) -> torch.Tensor:
        """The loss to minimize, given the batch's cross-entropy (add a regularizer here)."""
        return loss

    def after_backward(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        """After ``loss.backward()``, before the optimizer step (the gradients are filled)."""

    def after_step(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        """After the optimizer step."""

    def end_epoch(self, epoch: int, train_loss: float) -> Mapping[str, str] | None:
        """After the epoch's batches (`train_loss`: their example-weighted mean loss); returns
        the values the progress line shows, if any."""
        return None

    def after_epoch(self, epoch: int) -> None:
        """After the epoch is reported (may raise to stop training)."""


_NO_HOOKS = Hooks()


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, inputs: torch.Tensor,
               labels: torch.Tensor, hooks: Hooks = _NO_HOOKS,
               monitor: DivergenceMonitor | None = None) -> torch.Tensor:
    """One optimizer step on one batch, with `hooks` at their points; returns the loss.

    The `monitor`, if any, checks the loss before any gradient is computed.
    """
    hooks.before_batch(inputs, labels)
    optimizer.zero_grad(set_to_none=True)
    logits = model(inputs)
    loss = hooks.loss(model, F.cross_entropy(logits, labels))
    if monitor is not None:
        monitor.batch(float(loss.detach()), logits, labels)
    loss.backward()
    hooks.after_backward(inputs, labels)
    optimizer.step()
    hooks.after_step(inputs, labels)
    return loss


def train(model: nn.Module, train_set: Dataset, config: TrainingConfig,
          optimizer: torch.optim.Optimizer, epochs: Iterable[int], *,
          monitor: DivergenceMonitor, hooks: Hooks = _NO_HOOKS, seed_each_epoch: bool = False,
          on_step: Callable[[Step], None] | None = None, progress: str | None = None,
          total_epochs: int | None = None) -> list[float]:
    """Train `model` over `epochs` (epoch numbers) and return each epoch's mean batch loss.

    Parameters
    ----------
    model : nn.Module
        Trained in place (put in training mode at the start of every epoch), moved first to
        ``config.device`` (`nets.device.resolve_device`), where every batch goes too.
    train_set : Dataset
        Batched by `epoch_batches` with ``config.batch_size`` and ``config.seed``.
    config : TrainingConfig
    optimizer : torch.optim.Optimizer
    epochs : iterable of int
        The epoch numbers to run (they fix the batch order), e.g. ``range(3, 10)`` on resume.
    monitor : DivergenceMonitor
        Checks every batch and every epoch.
    hooks : Hooks, optional
        The method's actions inside the loop.
    seed_each_epoch : bool, default False
        Seed torch's global generator with `epoch_seed` before every epoch, inside a forked
        generator state (dense training and Algorithm 1). The baselines instead seed once per
        ``prune`` call, so their global draws continue across phases.
    on_step : callable, optional
        Called with a `Step` after every step.
    progress : str, optional
        Report each epoch under this name (`nets.progress.progress_bar`); None is silent.
    total_epochs : int, optional
        The bar's total (default: the number of `epochs`); the bar starts at the first epoch.

    Raises
    ------
    TrainingDivergedError
        From the monitor (or a hook) when training diverges.

    Notes
    -----
    Denormal floats are flushed to zero while it runs (`flush_denormals`).
    """
    epochs = list(epochs)
    device = resolve_device(config.device)
    model.to(device)  # in place (a no-op when already there): the optimizer's tensors stay
    total = total_epochs if total_epochs is not None else len(epochs)
    first = epochs[0] if epochs else total
    losses = []
    forked = torch.random.fork_rng() if seed_each_epoch else contextlib.nullcontext()
    with flush_denormals(), progress_bar(total, progress or "", unit="epoch", initial=first,
                                         enabled=progress is not None) as bar, forked:
        for epoch in epochs:
            if seed_each_epoch:
                torch.manual_seed(epoch_seed(config.seed, epoch))
            hooks.start_epoch(epoch)
            loader = epoch_batches(train_set, config.batch_size, config.seed, epoch)
            model.train()
            total_loss, count = 0.0, 0
            for batch, (inputs, labels) in enumerate(loader):
                inputs, labels = inputs.to(device), labels.to(device)
                loss = float(train_step(model, optimizer, inputs, labels, hooks,
                                        monitor).detach())
                total_loss += loss * labels.shape[0]
                count += labels.shape[0]
                if on_step is not None:
                    on_step(Step(epoch, batch, loss, model))
            monitor.end_epoch()
            losses.append(total_loss / max(count, 1))
            postfix = hooks.end_epoch(epoch, losses[-1])
            if postfix:
                bar.set_postfix(**postfix)
            bar.update(1)
            hooks.after_epoch(epoch)
    return losses
