"""`compare`: equilibrium pruning and the baselines on one dataset, budget and metric harness.

Every method gets a fresh copy of the same initial model (per seed), the same data order, the
same `Budget` (epochs of the same batches; steps actually spent are reported) and is measured
by the same `nets.evaluate` against the same densely trained reference, following the
reporting advice of Blalock et al. (2020): several sparsity levels, seeds, and the dense
accuracy beside them.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from equilibria.atomic import atomic_write
from nets import data as datasets
from nets import models
from nets.baselines import REGISTRY, Budget, get
from nets.baselines.base import StepCounter, train
from nets.data import DataBundle
from nets.evaluate import evaluate

__all__ = ["DEFAULT_SPARSITIES", "ComparisonRow", "compare", "to_csv", "to_markdown"]

DEFAULT_SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class ComparisonRow:
    """One method at one sparsity and seed (a row of the tidy table)."""

    method: str
    seed: int
    granularity: str
    schedule: str
    target_sparsity: float | None
    achieved_sparsity: float
    accuracy: float
    dense_accuracy: float
    params_nonzero: int
    macs_remaining: int
    compression_ratio: float
    theoretical_speedup: float
    steps: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary of plain Python types (one CSV row)."""
        from equilibria.plain import to_plain

        return to_plain(dataclasses.asdict(self))


def _default_model(bundle: DataBundle, seed: int) -> nn.Sequential:
    features = 1
    for size in bundle.input_shape:
        features *= size
    return models.mlp(features, (128, 64), bundle.n_classes, seed=seed)


def compare(methods: Iterable[str] | None = None, *,
            sparsities: Sequence[float] = DEFAULT_SPARSITIES, seeds: Sequence[int] = (0,),
            data: DataBundle | str = "digits",
            model_fn: Callable[[DataBundle, int], nn.Sequential] | None = None,
            budget: Budget | None = None, granularity: str = "structured",
            schedule: str = "one_shot", options: dict[str, dict[str, Any]] | None = None,
            latency_repeats: int = 0, progress: bool = True) -> list[ComparisonRow]:
    """Run every method at every sparsity and seed; return the tidy table.

    Parameters
    ----------
    methods : iterable of str, optional
        Registered names (`nets.baselines.REGISTRY`, "equilibrium" included); default all.
        Methods that do not offer `granularity` are skipped; a method that does not offer
        `schedule` runs its own first schedule (the row says which).
    sparsities : sequence of float
        Target sparsities (share of units removed for structured, of weights for
        unstructured).
    seeds : sequence of int
        Each seed fixes the initial model, the data order and the method's randomness.
    data : DataBundle or str
        A bundle, or a name for `nets.data.load`.
    model_fn : callable, optional
        ``model_fn(bundle, seed) -> nn.Sequential``; default an MLP with hidden widths 128-64.
    budget : Budget, optional
        Training budget of every method (default ``Budget()``).
    granularity, schedule : str
    options : dict, optional
        Constructor options per method name.
    latency_repeats : int, default 0
        Timed forward passes per evaluation (0 skips latency).
    progress : bool, default True
        A tqdm bar over runs.

    Returns
    -------
    list of ComparisonRow
        One "dense" row per seed (plain training on the same budget), then one row per
        method, sparsity and seed.
    """
    bundle = datasets.load(data) if isinstance(data, str) else data
    budget = budget or Budget()
    options = options or {}
    names = list(methods) if methods is not None else sorted(REGISTRY)
    for name in names:
        get(name, **options.get(name, {}))  # unknown names fail before any training
    model_fn = model_fn or _default_model
    test_loader = DataLoader(bundle.test, batch_size=512)
    runnable = [n for n in names if granularity in REGISTRY[n].granularities]
    total = len(seeds) * (1 + len(runnable) * len(sparsities))
    bar = tqdm(total=total, disable=not progress, desc="compare", unit="run")
    rows: list[ComparisonRow] = []
    for seed in seeds:
        seeded = dataclasses.replace(budget, seed=seed)
        initial = model_fn(bundle, seed)
        dense, steps, seconds = _dense(initial, bundle, seeded)
        reference = evaluate(dense, test_loader, latency_repeats=latency_repeats)
        rows.append(_row("dense", seed, granularity, "-", 0.0, 0.0, reference, reference,
                         steps, seconds))
        bar.update(1)
        for name in runnable:
            pruner = get(name, **options.get(name, {}))
            chosen = schedule if schedule in pruner.schedules else pruner.schedules[0]
            for sparsity in sparsities:
                outcome = pruner.prune(initial, bundle, sparsity, seeded,
                                       granularity=granularity, schedule=chosen)
                measured = evaluate(outcome.model, test_loader, reference=dense,
                                    latency_repeats=latency_repeats)
                rows.append(_row(name, seed, granularity, chosen, sparsity,
                                 outcome.achieved_sparsity, measured, reference,
                                 outcome.steps, outcome.seconds))
                bar.update(1)
    bar.close()
    return rows


def _dense(model: nn.Sequential, bundle: DataBundle, budget: Budget
           ) -> tuple[nn.Sequential, int, float]:
    started = time.perf_counter()
    counter = StepCounter()
    with torch.random.fork_rng():
        torch.manual_seed(budget.seed)
        dense = copy.deepcopy(model)
        train(dense, bundle.train, budget, budget.epochs, counter)
    return dense, counter.steps, time.perf_counter() - started


def _row(method: str, seed: int, granularity: str, schedule: str, target: float | None,
         achieved: float, measured: Any, reference: Any, steps: int,
         seconds: float) -> ComparisonRow:
    return ComparisonRow(method, seed, granularity, schedule, target, achieved,
                         measured.accuracy, reference.accuracy, measured.params_nonzero,
                         measured.macs_remaining, measured.compression_ratio,
                         measured.theoretical_speedup, steps, seconds)


def to_csv(rows: Sequence[ComparisonRow], path: str | os.PathLike) -> Path:
    """Write the table as CSV atomically (temporary file, then rename); pandas reads it."""
    path = Path(path)
    fields = [f.name for f in dataclasses.fields(ComparisonRow)]
    with atomic_write(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow(row.to_dict())
    return path


def to_markdown(rows: Sequence[ComparisonRow]) -> str:
    """The table as Markdown (accuracy in %, sparsity in %)."""
    header = ("| method | seed | schedule | target | achieved | accuracy | dense | params | "
              "MACs | speedup | steps | seconds |")
    lines = [header, "|" + "---|" * 12]
    for r in rows:
        target = "-" if r.target_sparsity is None else f"{100 * r.target_sparsity:.0f}%"
        lines.append(f"| {r.method} | {r.seed} | {r.schedule} | {target} | "
                     f"{100 * r.achieved_sparsity:.1f}% | {100 * r.accuracy:.2f}% | "
                     f"{100 * r.dense_accuracy:.2f}% | {r.params_nonzero} | {r.macs_remaining} "
                     f"| {r.theoretical_speedup:.2f} | {r.steps} | {r.seconds:.1f} |")
    return "\n".join(lines)
