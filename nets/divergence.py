"""Divergence detection of the training loop (`nets.loop.train`: dense, baselines, Algorithm 1).

One `DivergenceMonitor` watches a loop's batch losses and its epochs' training accuracy and
raises `TrainingDivergedError`, a one-line message naming the learning rate and what to do,
when training has diverged:

- **the loss is not finite** (NaN or inf);
- **the loss grew by orders of magnitude**: a batch's loss exceeds ``growth`` (1e3) times
  the loss at the start, ``max(first batch loss, 1)`` (the floor keeps a nearly perfect
  fine-tuning start, loss 0.001, from making ordinary batches look like blow-ups);
- **accuracy fell back to chance after having been clearly above it**: an epoch's training
  accuracy is within 10 % of chance (``1/C + 0.1 (1 - 1/C)`` for C classes) after an
  earlier epoch reached half-way to perfect (``1/C + 0.5 (1 - 1/C)``). A loop that prunes
  while it trains (``may_collapse=True``: equilibrium pruning, L0 and slimming's penalized
  phase) may lose all its units on purpose, which also leaves chance accuracy, but then
  predicts the class prior (a loss of about ln C); so there the fall counts as divergence
  only with a loss above ``2 ln C``, confidently wrong.

Accuracy is measured on the training batches the loop already computes (no extra pass), so
the check costs one ``argmax`` per batch. Thresholds are class attributes, documented there.
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["DivergenceMonitor", "TrainingDivergedError"]


class TrainingDivergedError(RuntimeError, ValueError):
    """Training diverged (the loss blew up or stopped being finite, or accuracy fell back to
    chance); the message names the learning rate to lower.

    A `ValueError` as well as a `RuntimeError`: the usual cause is a learning rate too high for
    the model, an input the user can fix, so callers that report bad input (the CLI) report it.

    Attributes
    ----------
    history : tuple
        The epochs finished before the divergence (`nets.EpochRecord` s for equilibrium
        pruning; empty where a loop keeps no records).
    lr : float or None
        The learning rate of the run.
    epoch, step : int or None
        Where it was detected (0-based epoch and batch within that epoch; step None when
        detected at the end of an epoch).

    Notes
    -----
    Every argument but the message has a default, so the error pickles (a process pool sends
    it from its worker to the parent): ``pickle.loads(pickle.dumps(e))`` has the same type,
    message and attributes.
    """

    def __init__(self, message: str = "training diverged", history: tuple[Any, ...] = (), *,
                 lr: float | None = None, epoch: int | None = None,
                 step: int | None = None) -> None:
        super().__init__(message)
        self.history = tuple(history)
        self.lr = lr
        self.epoch = epoch
        self.step = step


class DivergenceMonitor:
    """Raise `TrainingDivergedError` when the training loop it watches diverges.

    Call `batch` after each batch's forward pass and `end_epoch` after each epoch.

    Parameters
    ----------
    lr : float
        The loop's learning rate (named in the message).
    may_collapse : bool, default False
        True for loops that prune while they train, whose accuracy may fall to chance on
        purpose (see the module docstring).
    first_epoch : int, default 0
        Epoch number of the first epoch watched (for the message).
    hint : str, optional
        More advice appended to the message, e.g. ``"or participation_lr (now 0.001)"``.

    Examples
    --------
    >>> monitor = DivergenceMonitor(lr=1e6)
    >>> monitor.batch(2.3)
    >>> try:
    ...     monitor.batch(5e13)
    ... except TrainingDivergedError as error:
    ...     print(error.lr, error.epoch, error.step)
    1000000.0 0 1
    """

    #: A batch loss above ``GROWTH * max(start, LOSS_FLOOR)`` is a blow-up.
    GROWTH = 1e3
    LOSS_FLOOR = 1.0
    #: Share of the way from chance to perfect accuracy that counts as clearly above chance,
    #: and as still at chance.
    ABOVE = 0.5
    AT_CHANCE = 0.1
    #: With ``may_collapse``, an accuracy fall counts only with a loss above this multiple of
    #: ln C (a uniform guess).
    WRONG_LOSS = 2.0

    def __init__(self, lr: float, *, may_collapse: bool = False, first_epoch: int = 0,
                 hint: str = "") -> None:
        self.lr = float(lr)
        self.may_collapse = may_collapse
        self.hint = hint
        self.epoch = int(first_epoch)
        self.step = 0
        self.start: float | None = None
        self.best_accuracy = 0.0
        self.n_classes: int | None = None
        self._loss_sum = 0.0
        self._correct = 0
        self._count = 0

    def batch(self, loss: float, logits: torch.Tensor | None = None,
              labels: torch.Tensor | None = None) -> None:
        """Check one batch's loss; `logits` and `labels` (optional) feed the accuracy check.

        Raises
        ------
        TrainingDivergedError
            When the loss is not finite or exceeds ``GROWTH`` times its start.
        """
        loss = float(loss)
        if not math.isfinite(loss):
            self._fail(f"the loss became {loss}")
        if self.start is None:
            self.start = loss
        reference = max(self.start, self.LOSS_FLOOR)
        if loss > self.GROWTH * reference:
            self._fail(f"the loss is {loss:.3g}, more than {self.GROWTH:g}x its start "
                       f"({self.start:.3g})")
        if logits is not None and labels is not None and logits.ndim == 2:
            self.n_classes = int(logits.shape[1])
            n = int(labels.shape[0])
            self._correct += int((logits.detach().argmax(dim=1) == labels).sum())
            self._count += n
            self._loss_sum += loss * n
        self.step += 1

    def end_epoch(self) -> None:
        """Check the epoch's training accuracy against chance, then start the next epoch.

        Raises
        ------
        TrainingDivergedError
            When the accuracy fell back to chance after having been clearly above it.
        """
        if self._count and self.n_classes and self.n_classes > 1:
            accuracy = self._correct / self._count
            mean_loss = self._loss_sum / self._count
            chance = 1.0 / self.n_classes
            above = chance + self.ABOVE * (1.0 - chance)
            at_chance = chance + self.AT_CHANCE * (1.0 - chance)
            wrong = not self.may_collapse or \
                mean_loss > self.WRONG_LOSS * math.log(self.n_classes)
            if self.best_accuracy >= above and accuracy <= at_chance and wrong:
                self.step = None  # type: ignore[assignment]
                self._fail(f"the training accuracy fell to {accuracy:.3f}, chance level "
                           f"(1/{self.n_classes}), after reaching {self.best_accuracy:.3f} "
                           f"(mean loss {mean_loss:.3g})")
            self.best_accuracy = max(self.best_accuracy, accuracy)
        self.epoch += 1
        self.step = 0
        self._loss_sum, self._correct, self._count = 0.0, 0, 0

    def _fail(self, what: str) -> None:
        where = f"epoch {self.epoch}" + ("" if self.step is None else f", step {self.step}")
        hint = f", {self.hint}" if self.hint else ""
        raise TrainingDivergedError(
            f"training diverged at {where}: {what}; lower the learning rate (lr={self.lr:g}), "
            f"e.g. to lr={self.lr / 10:.3g}{hint}", lr=self.lr, epoch=self.epoch, step=self.step)
