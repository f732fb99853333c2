"""Measure what pruning bought: accuracy, loss, parameters, MACs, compression, speed-up, latency.

Works for any ``nn.Module`` and for `GatedNetwork` s. For a gated network the counts
use its effective parameters s_i * theta_i (Shah & Khan 2025, Eq. 3-4): the profile is folded into
the weights, so a unit with participation 0 has zero incoming weights. For a flat-Sequential
gated network its outgoing weights are counted as removed too when the unit's dead output is 0
(e.g. after ReLU), exactly as ``apply_participation(mode="remove")`` would delete them; for a
traced one (`nets.gates.TracedGatedNetwork`) they are counted until the players are removed.
MACs are those of the ``nn.Linear`` and ``nn.Conv2d`` modules (wherever they sit in the
module tree), each weight once per output position; the products inside attention (q k^T,
attention times v) are not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from nets.apply import dead_values, fold, plain_index
from nets.checks import PruningError
from nets.data import DataBundle
from nets.device import resolve_device
from nets.gates import (
    GatedNetwork,
    ParticipationGate,
    PlayerLayer,
    TracedGatedNetwork,
    columns_per_unit,
)
from nets.structure import eval_mode

__all__ = ["EVAL_BATCH_SIZE", "Evaluation", "EvaluationError", "Measured", "accuracy_and_loss",
           "evaluate", "measure_latency"]

#: Untimed forward passes before latency is measured.
WARMUP_PASSES = 3
#: Batch size of the DataLoader wrapped around a Dataset given to `evaluate`.
EVAL_BATCH_SIZE = 512

#: Types a `loader` may be, as the error messages say it.
_LOADER_TYPES = "a torch Dataset, a DataLoader or an iterable of (inputs, labels) batches"


class EvaluationError(ValueError):
    """`evaluate` or `accuracy_and_loss` got data or options it cannot measure with."""


@dataclass(frozen=True)
class Evaluation:
    """Result of `evaluate`.

    Attributes
    ----------
    accuracy : float
        Share of examples whose arg-max output equals the label.
    loss : float
        Mean loss per example (cross entropy by default).
    params_total : int
        Number of parameters of the model (gates excluded).
    params_nonzero : int
        Parameters that are not zero (for a gated network: of the effective parameters).
    macs_dense : int
        Multiply-accumulates per example of the architecture as given (Linear and Conv2d).
    macs_remaining : int
        MACs per example counting only nonzero weights (nonzero weights times output positions).
    compression_ratio : float
        params_total of the reference (or of the model) divided by params_nonzero.
    theoretical_speedup : float
        macs_dense of the reference (or of the model) divided by macs_remaining.
    latency_ms : float or None
        Median wall time of one forward pass at batch ``latency_batch``; None when not timed.
    n_examples : int
        Number of examples evaluated.
    """

    accuracy: float
    loss: float
    params_total: int
    params_nonzero: int
    macs_dense: int
    macs_remaining: int
    compression_ratio: float
    theoretical_speedup: float
    latency_ms: float | None
    n_examples: int

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict of plain Python types (JSON friendly)."""
        from equilibria.plain import to_plain

        return to_plain(asdict(self))


class Measured:
    """Mixin of results that embed an `Evaluation` as ``evaluation`` (`analysis.RunResult`,
    `nets.compare.ComparisonRow`): its measurements read as the result's own attributes."""

    evaluation: Evaluation

    @property
    def accuracy(self) -> float:
        """Test accuracy of the measured model (``evaluation.accuracy``)."""
        return self.evaluation.accuracy

    @property
    def loss(self) -> float:
        """Mean test loss of the measured model (``evaluation.loss``)."""
        return self.evaluation.loss

    @property
    def params_nonzero(self) -> int:
        """Nonzero parameters of the measured model (``evaluation.params_nonzero``)."""
        return self.evaluation.params_nonzero

    @property
    def macs_remaining(self) -> int:
        """MACs per example of the measured model, nonzero weights only."""
        return self.evaluation.macs_remaining

    @property
    def compression_ratio(self) -> float:
        """Reference parameters / nonzero parameters (``evaluation.compression_ratio``)."""
        return self.evaluation.compression_ratio

    @property
    def theoretical_speedup(self) -> float:
        """Reference MACs / remaining MACs (``evaluation.theoretical_speedup``)."""
        return self.evaluation.theoretical_speedup


@dataclass(frozen=True)
class _Counts:
    params_total: int
    params_nonzero: int
    macs_dense: int
    macs_remaining: int


def evaluate(model: nn.Module, loader: Dataset | Iterable[Any], *,
             reference: nn.Module | None = None,
             loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
             latency_batch: int = 64, latency_repeats: int = 20,
             device: str | torch.device | None = None) -> Evaluation:
    """Evaluate a plain or gated network on a data set.

    The model runs in eval mode; every module's training flag is restored afterwards.

    Parameters
    ----------
    model : nn.Module or GatedNetwork
        A gated network is evaluated on its effective parameters s_i * theta_i (Eq. 3-4).
    loader : Dataset, DataLoader or iterable of (inputs, labels) batches
        A ``torch.utils.data.Dataset`` of (input, label) examples (e.g. ``bundle.test``) is
        read in order in batches of `EVAL_BATCH_SIZE`; a ``DataLoader`` or any other iterable
        must yield (inputs, labels) batches, labels a 1-D tensor of class indices.
    reference : nn.Module or GatedNetwork, optional
        The unpruned model; compression ratio and speed-up are measured against it. Default:
        the model itself.
    loss_fn : callable, optional
        ``loss_fn(outputs, labels)`` returning the mean loss of a batch; default cross entropy.
    latency_batch : int, default 64
        Batch size of the timed forward passes (built by repeating the first batch).
    latency_repeats : int, default 20
        Number of timed passes (after 3 warm-up passes), timed by `measure_latency`
        (``torch.utils.benchmark``) under ``torch.inference_mode`` with the current torch
        thread count; the median is reported. 0 skips timing (latency_ms = None).
    device : {"cpu", "cuda", "mps", "auto"}, torch.device or None, default None
        Where the inputs go (`nets.device.resolve_device`); the model must already be there.
        None: the device of the model's parameters (the CPU for a model without any).

    Returns
    -------
    Evaluation

    Raises
    ------
    EvaluationError
        When `loader` is not one of the above (None, a model, a DataBundle, a list of single
        examples...), yields no examples, or an option is out of range.
    TypeError
        When `model` or `reference` is not an ``nn.Module``.

    Notes
    -----
    MACs count Linear and Conv2d layers only: weight.numel() times the number of output
    positions (1 for a Linear on (B, n) inputs, H_out * W_out for a conv), recorded with forward
    hooks on one example. ``macs_remaining`` uses the number of nonzero weights instead. Bias
    adds, BatchNorm, pooling, activations and flattening are not counted. This is what
    ``torch.utils.flop_counter.FlopCounterMode`` counts, halved: it reports 2 FLOPs per MAC of
    ``mm``/``addmm``/``convolution`` and leaves out the same operations (the bias of
    ``addmm`` included), so one example's FLOPs are ``2 * macs_dense``, before and after
    ``apply_participation(mode="remove")`` (tests/nets/test_flops.py checks it on the MLP,
    LeNet-5 and the teacher-student student). The hooks are kept rather than the counter
    because ``macs_remaining`` needs each layer's nonzero weights, which the counter cannot
    see.
    """
    _check_model(model, "model")
    if reference is not None:
        _check_model(reference, "reference")
    _check_count(latency_batch, "latency_batch", minimum=1)
    _check_count(latency_repeats, "latency_repeats", minimum=0)
    device = _check_device(model, device)
    loader = _as_loader(loader)
    with eval_mode(model):
        accuracy, loss, n_examples, first = _accuracy_and_loss(model, loader, loss_fn, device)
        counts = _counts(model, first[:1])
        latency = _latency(model, first, latency_batch, latency_repeats)
    if reference is None:
        base = counts
    else:
        with eval_mode(reference):
            base = _counts(reference, first[:1].to(_device_of(reference, device)))
    return Evaluation(
        accuracy=accuracy, loss=loss,
        params_total=counts.params_total, params_nonzero=counts.params_nonzero,
        macs_dense=counts.macs_dense, macs_remaining=counts.macs_remaining,
        compression_ratio=_ratio(base.params_total, counts.params_nonzero),
        theoretical_speedup=_ratio(base.macs_dense, counts.macs_remaining),
        latency_ms=latency, n_examples=n_examples)


def _check_model(model: Any, name: str) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module (a GatedNetwork included); got "
                        f"{type(model).__name__}")


def _check_count(value: Any, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise EvaluationError(f"{name} must be an int >= {minimum}; got {value!r}")


def _as_loader(loader: Any) -> Iterable[Any]:
    """`loader` as an iterable of batches: a Dataset is wrapped in a DataLoader."""
    if isinstance(loader, DataLoader):
        return loader
    if isinstance(loader, Dataset):
        return DataLoader(loader, batch_size=EVAL_BATCH_SIZE, shuffle=False)
    if isinstance(loader, DataBundle):
        raise EvaluationError("loader must be " + _LOADER_TYPES + "; got a DataBundle: pass "
                              "one of its splits, e.g. bundle.test")
    if isinstance(loader, nn.Module):
        raise EvaluationError("loader must be " + _LOADER_TYPES + f"; got the model "
                              f"{type(loader).__name__}: call evaluate(model, data)")
    if loader is None or isinstance(loader, str | bytes | Mapping | torch.Tensor) or \
            not isinstance(loader, Iterable):
        raise EvaluationError("loader must be " + _LOADER_TYPES + f"; got "
                              f"{type(loader).__name__}")
    return loader


def _device_of(model: nn.Module, default: torch.device) -> torch.device:
    parameter = next(iter(model.parameters()), None)
    return default if parameter is None else parameter.device


def _check_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is None:
        return _device_of(model, torch.device("cpu"))
    try:
        target = resolve_device(device)
    except PruningError as error:
        raise EvaluationError(str(error)) from None
    actual = _device_of(model, target)
    if actual.type != target.type or (target.index is not None and actual != target):
        raise EvaluationError(f"device={str(target)!r} but the model's parameters are on "
                         f"{str(actual)!r}; move it first with model.to({str(target)!r})")
    return target


def _split_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, tuple | list) or len(batch) < 2:
        raise EvaluationError("loader must yield (inputs, labels) pairs; got a "
                              f"{type(batch).__name__} (pass " + _LOADER_TYPES + ")")
    inputs, labels = batch[0], batch[1]
    if not isinstance(inputs, torch.Tensor) or not isinstance(labels, torch.Tensor) or \
            labels.dim() != 1 or inputs.dim() < 1 or inputs.shape[0] != labels.shape[0]:
        raise EvaluationError(
            "loader must yield batches of (inputs, labels) tensors, labels 1-D and one per "
            f"input; got ({_describe(inputs)}, {_describe(labels)}): for single examples pass "
            "a Dataset or a DataLoader")
    return inputs, labels


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}"
    return type(value).__name__


def _accuracy_and_loss(model: nn.Module, loader: Iterable[Any],
                       loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
                       device: torch.device) -> tuple[float, float, int, torch.Tensor]:
    total_loss, correct, count = 0.0, 0, 0
    first: torch.Tensor | None = None
    with torch.inference_mode():
        for batch in loader:
            inputs, labels = _split_batch(batch)
            inputs, labels = inputs.to(device), labels.to(device)
            outputs = model(inputs)
            size = int(labels.shape[0])
            if loss_fn is None:
                total_loss += F.cross_entropy(outputs, labels, reduction="sum").item()
            else:
                total_loss += float(loss_fn(outputs, labels)) * size
            correct += int((outputs.argmax(dim=1) == labels).sum().item())
            count += size
            if first is None and size > 0:
                first = inputs
    if first is None or count == 0:
        raise EvaluationError("loader yielded no examples; pass a non-empty Dataset or "
                              "DataLoader")
    return correct / count, total_loss / count, count, first


def _counting_model(model: nn.Module) -> tuple[nn.Sequential, list[nn.Module]]:
    """Plain model whose nonzero weights are the effective ones, and the original modules.

    For a gated network the participation is folded in (Eq. 3-4) and the outgoing weights of
    units with s_i = 0 and a zero dead output are zeroed, as removal would delete them.
    """
    if not isinstance(model, GatedNetwork):
        return model, list(model)
    s = model.get_participation()
    plain = fold(model, s)
    with torch.no_grad():
        for info in model.layers:
            silent = (s[info.players] == 0) & _zero_dead_output(model, info)
            if not bool(silent.any()):
                continue
            following = plain[plain_index(model, info.next_index)]
            weight = following.weight
            if isinstance(following, nn.Conv2d):
                weight[:, silent] = 0
            else:
                block = columns_per_unit(model.model, info)
                weight.view(weight.shape[0], info.n_units, block)[:, silent, :] = 0
    originals = [m for m in model.model if not isinstance(m, ParticipationGate)]
    return plain, originals


def _zero_dead_output(gated: GatedNetwork, info: PlayerLayer) -> torch.Tensor:
    """Which units deliver exactly 0 to the next layer when their gate is 0."""
    try:
        return (dead_values(gated, info) == 0).cpu()  # beside the host participation
    except NotImplementedError:  # a non-zero dead output made position dependent
        return torch.zeros(info.n_units, dtype=torch.bool)


def _output_positions(model: nn.Sequential, example: torch.Tensor) -> dict[int, int]:
    """Output positions per example of each Linear/Conv2d module (keyed by index in model)."""
    positions: dict[int, int] = {}
    handles = []
    for index, module in enumerate(model):
        if isinstance(module, nn.Linear | nn.Conv2d):
            def hook(mod: nn.Module, args: Any, out: torch.Tensor, index: int = index) -> None:
                per_example = out[0] if out.dim() > 1 else out
                units = mod.out_features if isinstance(mod, nn.Linear) else mod.out_channels
                positions[index] = per_example.numel() // units
            handles.append(module.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return positions


def _counts_any(model: nn.Module, example: torch.Tensor) -> _Counts:
    """`_counts` for a module that is neither a flat Sequential nor a flat gated network: a
    traced gated network is folded (`nets.apply.fold`), and every Linear / Conv2d module of
    the tree counts its nonzero weights once per output position."""
    plain = fold(model, model.get_participation()) if isinstance(model, GatedNetwork) else model
    layers = [m for m in plain.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    positions: dict[int, int] = {}

    def hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
        per_example = out[0] if out.dim() > 1 else out
        units = mod.out_features if isinstance(mod, nn.Linear) else mod.out_channels
        positions[id(mod)] = positions.get(id(mod), 0) + per_example.numel() // units

    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        with eval_mode(plain), torch.inference_mode():
            plain(example)
    finally:
        for handle in handles:
            handle.remove()
    params_nonzero = sum(int(torch.count_nonzero(p).item()) for p in plain.parameters())
    macs_dense = sum(m.weight.numel() * positions.get(id(m), 0) for m in layers)
    macs_remaining = sum(int(torch.count_nonzero(m.weight).item()) * positions.get(id(m), 0)
                         for m in layers)
    return _Counts(sum(p.numel() for p in model.parameters()), params_nonzero, macs_dense,
                   macs_remaining)


def _is_flat(model: nn.Module) -> bool:
    if isinstance(model, TracedGatedNetwork):
        return False
    if isinstance(model, GatedNetwork):
        return True
    return type(model) is nn.Sequential and not any(
        len(list(m.children())) for m in model.children()
        if not isinstance(m, ParticipationGate))


def _counts(model: nn.Module, example: torch.Tensor) -> _Counts:
    if not _is_flat(model):
        return _counts_any(model, example)
    plain, originals = _counting_model(model)
    with eval_mode(plain):
        positions = _output_positions(plain, example)
    params_total = sum(p.numel() for p in model.parameters())
    params_nonzero = 0
    for original, counted in zip(originals, plain, strict=True):
        for name, _ in original.named_parameters(recurse=False):
            params_nonzero += int(torch.count_nonzero(getattr(counted, name)).item())
    macs_dense = macs_remaining = 0
    for index, module in enumerate(plain):
        if isinstance(module, nn.Linear | nn.Conv2d):
            outputs = positions.get(index, 0)
            macs_dense += module.weight.numel() * outputs
            macs_remaining += int(torch.count_nonzero(module.weight).item()) * outputs
    return _Counts(params_total, params_nonzero, macs_dense, macs_remaining)


def _latency(model: nn.Module, first: torch.Tensor, batch: int, repeats: int) -> float | None:
    if repeats == 0:
        return None
    inputs = first[torch.arange(batch, device=first.device) % first.shape[0]]
    (seconds,) = measure_latency([model], inputs, repeats=repeats, warmup=WARMUP_PASSES)
    return 1000.0 * seconds


def measure_latency(models: Sequence[nn.Module], inputs: torch.Tensor, *, repeats: int,
                    warmup: int = WARMUP_PASSES, order: str | np.random.Generator = "rotate",
                    threads: int | None = None) -> list[float]:
    """Median wall time of one forward pass of each model, in seconds, timed in rounds.

    The one latency timer of the project (`evaluate`, ``bench/removal.py``,
    ``papers/beyond/filters.py``), on ``torch.utils.benchmark``: each model gets a
    ``Timer("model(inputs)")`` with a fixed thread count; after `warmup` untimed passes per
    model, every round times one pass of every model (``Timer.timeit(1)``, which runs two
    untimed passes first), in an order that changes from round to round so that slow phases
    of a shared machine hit all models alike; each model's replicates are merged
    (``Measurement.merge``) and their median (``Measurement.median``) reported. Everything
    runs under ``torch.inference_mode``.

    ``Timer.blocked_autorange`` / ``adaptive_autorange`` are not used on purpose: they time one
    statement until a minimum run time is spent, so they cannot interleave several models
    round by round, and their cost is set by a run time rather than by `repeats`.

    Parameters
    ----------
    models : sequence of nn.Module
        Models in the mode they are to be timed in (usually eval), all taking `inputs`.
    inputs : torch.Tensor
        The batch fed to every model.
    repeats : int
        Rounds, i.e. timed passes per model (>= 1).
    warmup : int, default 3
        Untimed passes per model before the first round (>= 0).
    order : "rotate" or numpy.random.Generator, default "rotate"
        "rotate": round k starts with model ``k mod len(models)``; a Generator: each round in
        the order ``rng.permutation(len(models))``.
    threads : int, optional
        Torch threads while timing (default: the current ``torch.get_num_threads()``).

    Returns
    -------
    list of float
        Median seconds per forward pass, one per model.

    Raises
    ------
    EvaluationError
        For an empty `models`, `repeats` < 1, `warmup` < 0, `threads` < 1 or an unknown
        `order`.
    """
    from torch.utils.benchmark import Measurement, Timer  # 0.1 s to import: only when timing

    models = list(models)
    if not models:
        raise EvaluationError("models must hold at least one model to time")
    _check_count(repeats, "repeats", minimum=1)
    _check_count(warmup, "warmup", minimum=0)
    threads = torch.get_num_threads() if threads is None else threads
    _check_count(threads, "threads", minimum=1)
    if not (order == "rotate" or isinstance(order, np.random.Generator)):
        raise EvaluationError(f"order must be 'rotate' or a numpy Generator; got {order!r}")
    timers = [Timer("model(inputs)", globals={"model": model, "inputs": inputs},
                    num_threads=threads, description=f"model {index}")
              for index, model in enumerate(models)]
    measured: list[list[Any]] = [[] for _ in models]
    with torch.inference_mode():
        if warmup:
            for timer in timers:
                timer.timeit(warmup)
        for k in range(repeats):
            if isinstance(order, np.random.Generator):
                indices = [int(i) for i in order.permutation(len(models))]
            else:
                indices = [(k + j) % len(models) for j in range(len(models))]
            for index in indices:
                measured[index].append(timers[index].timeit(1))
    return [Measurement.merge(replicates)[0].median for replicates in measured]


def _ratio(numerator: int, denominator: int) -> float:
    return float("inf") if denominator == 0 else numerator / denominator


def accuracy_and_loss(model: nn.Module, loader: Dataset | Iterable[Any], *,
                      loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                      device: str | torch.device | None = None) -> tuple[float, float]:
    """Top-1 accuracy and mean loss of `model` over `loader`, in eval mode (no counting or
    timing: the cheap part of `evaluate`, for per-epoch histories).

    `loader` is a Dataset, a DataLoader or an iterable of (inputs, labels) batches, as for
    `evaluate`; anything else raises `EvaluationError`. `device` as for `evaluate` (None: the
    model's).
    """
    _check_model(model, "model")
    device = _check_device(model, device)
    loader = _as_loader(loader)
    with eval_mode(model):
        accuracy, loss, _, _ = _accuracy_and_loss(model, loader, loss_fn, device)
    return accuracy, loss
