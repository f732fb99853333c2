"""`compare`: equilibrium pruning and the baselines on one dataset, budget and metric harness.

Every method gets a fresh copy of the same initial model (per seed), the same data order, the
same `Budget` (epochs of the same batches; steps actually spent are reported) and is measured
by the same `nets.evaluate` against the same densely trained reference, following the
reporting advice of Blalock et al. (2020): several sparsity levels, seeds, and the dense
accuracy beside them. Each row embeds its `nets.evaluate.Evaluation`; ``to_dict`` and
`to_csv` give the flat `COLUMNS` (``analysis.to_frame(rows)`` makes a pandas DataFrame).

One harness with `analysis.run` / `analysis.sweep`: both build every pruned run the same way,
``nets.baselines.get(name, **options)`` (the registry; ``"equilibrium"`` is its
`EquilibriumPruner`, whose default game is ``PruningConfig()``'s, the paper-literal one, in
both places) and measure it with `nets.evaluate.evaluate`. They stay two entry points
because they serve two needs: `compare` runs in this process on any `DataBundle` and any
``model_fn``, with a densely trained reference per seed, while `analysis.run` runs one
hashable `analysis.RunConfig` (named dataset and model) that a resumable store can key, in
any executor. `compare` cannot be written on `analysis` (the layers are one-way: analysis
imports nets, never the reverse), and a `RunConfig` cannot name an arbitrary bundle or model.
The dense rows differ on purpose and are kept as they are (same numbers as before): here
plain training on the baselines' `Budget` loop, there `nets.plain.train_plain`.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from equilibria.atomic import atomic_write
from nets import data as datasets
from nets import models
from nets.baselines import REGISTRY, Budget, get
from nets.baselines.base import GRANULARITIES, SCHEDULES, StepCounter, train
from nets.checks import PruningError, check_choice, check_int, check_number, check_sequence
from nets.data import DataBundle
from nets.evaluate import Evaluation, Measured, evaluate
from nets.presets import COMPARE_SPARSITIES, DEMO_WIDTHS
from nets.progress import progress_bar

__all__ = ["COLUMNS", "DEFAULT_SPARSITIES", "ComparisonRow", "compare", "to_csv", "to_markdown"]

DEFAULT_SPARSITIES = COMPARE_SPARSITIES

logger = logging.getLogger(__name__)


#: The columns of a row (`ComparisonRow.to_dict`, the CSV of `to_csv`), in order.
COLUMNS = ("method", "seed", "granularity", "schedule", "target_sparsity", "achieved_sparsity",
           "accuracy", "dense_accuracy", "params_nonzero", "macs_remaining",
           "compression_ratio", "theoretical_speedup", "steps", "seconds")


@dataclass(frozen=True)
class ComparisonRow(Measured):
    """One method at one sparsity and seed (a row of the tidy table).

    Attributes
    ----------
    method, seed, granularity, schedule
        The run; schedule "-" for the dense rows.
    target_sparsity : float or None
    achieved_sparsity : float
    evaluation : nets.evaluate.Evaluation
        The pruned model on the test split, its ratios against the densely trained model of
        the same seed (``latency_ms`` when `compare` timed it).
    dense_accuracy : float
        Test accuracy of that dense model.
    steps : int
        Optimizer steps the method spent.
    seconds : float
        Its wall time to the pruned model.

    ``accuracy``, ``loss``, ``params_nonzero``, ``macs_remaining``, ``compression_ratio`` and
    ``theoretical_speedup`` read the evaluation's (`nets.evaluate.Measured`).
    """

    method: str
    seed: int
    granularity: str
    schedule: str
    target_sparsity: float | None
    achieved_sparsity: float
    evaluation: Evaluation
    dense_accuracy: float
    steps: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary of plain Python types (one CSV row: the flat `COLUMNS`)."""
        from equilibria.plain import to_plain

        return to_plain({name: getattr(self, name) for name in COLUMNS})


def _default_model(bundle: DataBundle, seed: int) -> nn.Sequential:
    features = 1
    for size in bundle.input_shape:
        features *= size
    return models.mlp(features, DEMO_WIDTHS, bundle.n_classes, seed=seed)


def compare(methods: Iterable[str] | str | None = None, *,
            sparsities: Sequence[float] = DEFAULT_SPARSITIES, seeds: Sequence[int] = (0,),
            data: DataBundle | str = "digits",
            model_fn: Callable[[DataBundle, int], nn.Sequential] | None = None,
            budget: Budget | None = None, granularity: str = "structured",
            schedule: str = "one_shot", options: dict[str, dict[str, Any]] | None = None,
            latency_repeats: int = 0, progress: bool = True) -> list[ComparisonRow]:
    """Run every method at every sparsity and seed; return the tidy table.

    Parameters
    ----------
    methods : iterable of str, or "all", optional
        Registered names (`nets.baselines.REGISTRY`, "equilibrium" included: the paper-literal
        ``PruningConfig()`` game unless ``options={"equilibrium": {"config": ...}}`` names
        another, e.g. `nets.presets.DEMO`), each once. A
        listed method that does not offer `granularity` or `schedule` is an error. None or
        "all" (the default) runs every registered method that offers `granularity` (the
        others are skipped and named in a warning of the ``nets.compare`` logger); those
        among them that do not offer `schedule` run "one_shot" instead, which their rows say
        and the warning names.
    sparsities : sequence of float
        Target sparsities in [0, 1), each once (share of units removed for structured, of
        weights for unstructured).
    seeds : sequence of int
        Non-negative integers, each once; each seed fixes the initial model, the data order
        and the method's randomness.
    data : DataBundle or str
        A bundle, or a name for `nets.data.load`.
    model_fn : callable, optional
        ``model_fn(bundle, seed) -> nn.Sequential``; default an MLP with hidden widths 128-64.
    budget : Budget, optional
        Training budget of every method (default ``Budget()``).
    granularity : {"structured", "unstructured"}
    schedule : {"one_shot", "progressive", "iterative", "at_init"}
    options : dict, optional
        Constructor options per method name (each name one of `methods`).
    latency_repeats : int, default 0
        Timed forward passes per evaluation (0 skips latency).
    progress : bool, default True
        Report each finished run (`nets.progress.progress_bar`: a tqdm bar on a terminal,
        one line per run and a heartbeat every 30 s on a non-terminal stderr).

    Returns
    -------
    list of ComparisonRow
        One "dense" row per seed (plain training on the same budget), then one row per
        method, sparsity and seed.

    Raises
    ------
    nets.baselines.PruningError
        Before any training, for any argument that cannot be met as given (one line naming
        it): an unknown or repeated method, a listed method without `granularity` or
        `schedule`, an empty or repeated `sparsities` / `seeds`, a sparsity outside [0, 1),
        a seed that is not a non-negative integer (bools and 1.5 included), options for a
        method not run or that it does not take, and any run `Pruner.check_request` refuses
        (e.g. lottery's ``rewind_steps`` beyond the budget's first training run).
    """
    check_choice(granularity, "granularity", GRANULARITIES)
    check_choice(schedule, "schedule", SCHEDULES)
    runnable, schedules, notes = _methods(methods, granularity, schedule)
    sparsities = [check_number(x, "sparsities", low=0.0, high=1.0, high_open=True)
                  for x in check_sequence(sparsities, "sparsities")]
    seeds = [check_int(x, "seeds", minimum=0) for x in check_sequence(seeds, "seeds")]
    if budget is not None and not isinstance(budget, Budget):
        raise PruningError(f"budget must be a nets.baselines.Budget or None; got "
                           f"{type(budget).__name__}")
    latency_repeats = check_int(latency_repeats, "latency_repeats", minimum=0)
    options = _options(options, runnable)
    for name in runnable:
        get(name, **options.get(name, {}))  # bad options fail before any training
    if model_fn is not None and not callable(model_fn):
        raise PruningError(f"model_fn must be a callable model_fn(bundle, seed); got "
                           f"{type(model_fn).__name__}")
    bundle = datasets.load(data) if isinstance(data, str) else data
    budget = budget or Budget()
    model_fn = model_fn or _default_model
    probe = model_fn(bundle, seeds[0])
    for name in runnable:  # every run that would fail fails now, before any training
        pruner = get(name, **options.get(name, {}))
        for sparsity in sparsities:
            pruner.check_request(probe, bundle, sparsity, budget, granularity, schedules[name])
    for note in notes:  # only once every run is known to be possible
        logger.warning(note)
    test_loader = DataLoader(bundle.test, batch_size=512)
    total = len(seeds) * (1 + len(runnable) * len(sparsities))
    rows: list[ComparisonRow] = []
    with progress_bar(total, "compare", unit="run", enabled=progress) as bar:
        for seed in seeds:
            seeded = dataclasses.replace(budget, seed=seed)
            initial = model_fn(bundle, seed)
            dense, steps, seconds = _dense(initial, bundle, seeded)
            reference = evaluate(dense, test_loader, latency_repeats=latency_repeats)
            rows.append(_row("dense", seed, granularity, "-", 0.0, 0.0, reference, reference,
                             steps, seconds))
            bar.set_postfix_str(f"dense, seed {seed}: acc={reference.accuracy:.3f}")
            bar.update(1)
            for name in runnable:
                pruner = get(name, **options.get(name, {}))
                chosen = schedules[name]
                for sparsity in sparsities:
                    outcome = pruner.prune(initial, bundle, sparsity, seeded,
                                           granularity=granularity, schedule=chosen)
                    measured = evaluate(outcome.model, test_loader, reference=dense,
                                        latency_repeats=latency_repeats)
                    rows.append(_row(name, seed, granularity, chosen, sparsity,
                                     outcome.achieved_sparsity, measured, reference,
                                     outcome.steps, outcome.seconds))
                    bar.set_postfix_str(f"{name} at {sparsity}, seed {seed}: "
                                        f"acc={measured.accuracy:.3f}")
                    bar.update(1)
    return rows


def _methods(methods: Iterable[str] | str | None, granularity: str, schedule: str
             ) -> tuple[list[str], dict[str, str], list[str]]:
    """The methods to run, the schedule of each and what "all" left out or changed (see
    `compare`), or a `PruningError`."""
    if methods is None or (isinstance(methods, str) and methods == "all"):
        offering = [n for n in sorted(REGISTRY) if granularity in REGISTRY[n].granularities]
        skipped = sorted(set(REGISTRY) - set(offering))
        schedules = {n: schedule if schedule in REGISTRY[n].schedules else "one_shot"
                     for n in offering}
        fallback = [n for n in offering if schedules[n] != schedule]
        notes = []
        if skipped:
            notes.append(f"compare: skipping the methods without granularity {granularity!r}: "
                         + ", ".join(skipped))
        if fallback:
            notes.append(f"compare: the methods without schedule {schedule!r} run one_shot: "
                         + ", ".join(fallback))
        return offering, schedules, notes
    names = check_sequence(methods, "methods")
    for name in names:
        if not isinstance(name, str) or name not in REGISTRY:
            raise PruningError(f"methods names an unknown pruning method {name!r}; registered: "
                               f"{sorted(REGISTRY)} (or 'all')")
        offered = REGISTRY[name]
        if granularity not in offered.granularities:
            raise PruningError(f"methods lists {name!r}, which offers granularity "
                               f"{offered.granularities} only; got granularity={granularity!r}: "
                               "choose another granularity or drop the method")
        if schedule not in offered.schedules:
            raise PruningError(f"methods lists {name!r}, which offers schedule "
                               f"{offered.schedules} only; got schedule={schedule!r}: choose "
                               "another schedule or drop the method")
    return names, {n: schedule for n in names}, []


def _options(options: Any, runnable: list[str]) -> dict[str, dict[str, Any]]:
    """`compare`'s options, checked: a dict of option dicts, one per method run."""
    if options is None:
        return {}
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise PruningError("options must be a dict {method name: {option: value}}; got "
                           f"{options!r}")
    extra = sorted(set(options) - set(runnable), key=str)
    if extra:
        raise PruningError(f"options names methods that are not run: {extra}; run: {runnable}")
    return options


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
         achieved: float, measured: Evaluation, reference: Evaluation, steps: int,
         seconds: float) -> ComparisonRow:
    return ComparisonRow(method, seed, granularity, schedule, target, achieved, measured,
                         reference.accuracy, steps, seconds)


def to_csv(rows: Sequence[ComparisonRow], path: str | os.PathLike) -> Path:
    """Write the table as CSV atomically (temporary file, then rename); pandas reads it."""
    path = Path(path)
    with atomic_write(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
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
