"""Filters as players on the LeNet-5-style CNN.

Equilibrium pruning (Shah & Khan 2025, Algorithm 1) with ``level="filter"``: the players are
the output channels of the two convolutions of `nets.models.lenet5` (6 + 16 = 22 filters). The
fully connected neurons (120 and 84) are **not** players: they are trained like every other
weight and never pruned (the first fully connected layer only loses the input columns of the
conv2 filters that are removed). Against it, the structured baselines of
`nets.baselines.REGISTRY` that remove filters, with the same players, data and training budget
(`analysis.RunConfig` fields shared by every method): by default ``random``, ``unit_norm`` (L1
filter norm, Li et al. 2017), ``activation`` (mean activation, Hu et al. 2016), ``taylor``
(Molchanov et al. 2017) and ``slimming`` (Liu et al. 2017). Every structured baseline of the
registry supports filters (``l0``, ``snip``, ``grasp``, ``synflow``, ``obd`` and ``lottery``
too: pass them to ``--methods``); ``magnitude`` is unstructured only.

Operating points, per seed:

- ``dense``: the same budget without pruning;
- ``equilibrium (emergent)``: the game at each gamma of ``--gammas``, the players with
  s < epsilon removed (the paper's step 3), so the sparsity is whatever the game reaches;
- ``equilibrium (ranked)``: the game at gamma = ``--ranked-gamma``, then the players of lowest
  final participation removed down to each target sparsity;
- each baseline at each target sparsity (``--sparsities``) and at the sparsity the emergent
  equilibrium reached with gamma = ``--matched-gamma`` for the same seed (point ``matched``).

Game settings. The paper-literal benefit (Eq. 9 at the raw theta) collapses every filter to
s = 0 on digits (chance accuracy), and the loss-descent benefit mostly shrinks every
participation uniformly while the weights grow to compensate (beta alone pruned no filter in 30
epochs; gamma = 0.1 pruned 14-23% with the mean participation still falling), in pilot runs on
seed 100 (not a seed of the study). The first-order Taylor benefit (alpha = 1,
beta = 0, lr_s = 0.05) with an L1 cost gamma prunes filters: gamma = 0.1 almost nothing,
gamma = 0.2 about two thirds. Those pilots chose the payoff and the gamma range, nothing else.

Measured per run (`analysis.run` on the test split): accuracy, filters kept per conv layer,
parameters and MACs (nonzero, against the dense architecture), the theoretical speed-up
(MACs dense / MACs kept) and, in this process after the sweep, the CPU latency of the physically
smaller architecture against the dense one: each distinct architecture is rebuilt with its kept
widths (``lenet5(channels=kept)``: latency of dense CPU kernels does not depend on the weight
values) and timed at batch ``--latency-batch``, architectures interleaved in a shuffled order
each round, median of ``--latency-repeats`` rounds after warm-up, one torch thread.

Commands (numbers in papers/beyond/README.md, section (e)):

    python -m papers.beyond.filters                        # full: digits, seeds 0,1,2, ~9 min
    python -m papers.beyond.filters --data fashion-mnist --limit 10000 --out ...
    python -m papers.beyond.filters --quick --out /tmp/filters   # toy size (CI, ~20 s)
    pruning-game reproduce filters                         # the same as the first line

Rerunning the same command resumes an interrupted sweep (``results.jsonl`` in ``--out``).
Written to ``--out`` (default ``results/beyond/filters``), each file atomically:
``filters.csv`` (one row per run), ``filters_summary.csv`` (means over seeds per method and
point) and ``filters.png`` (accuracy against filter sparsity per method with the dense line, and
measured against theoretical speed-up). A Markdown summary is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.arguments import (  # noqa: E402
    OneLineParser,
    add_device_argument,
    add_pool_arguments,
    comma_floats,
    comma_names,
    comma_seeds,
    out_dir,
    positive_int,
    quick_defaults,
    require_data,
)
from analysis.plots import save_figure  # noqa: E402
from analysis.runner import RunConfig  # noqa: E402
from analysis.sweeps import local_executor, sweep  # noqa: E402
from analysis.tables import mean_std, to_csv, to_markdown  # noqa: E402
from nets.baselines import REGISTRY  # noqa: E402

__all__ = ["BUDGET", "DEFAULT_GAMMAS", "DEFAULT_METHODS", "DEFAULT_SPARSITIES", "FILTER_GAME",
           "QUICK", "FilterRow", "baseline_configs", "equilibrium_configs", "filter_rows",
           "filters_figure", "latency_table", "main", "summarize"]

#: Structured filter baselines run by default.
DEFAULT_METHODS: tuple[str, ...] = ("random", "unit_norm", "activation", "taylor", "slimming")
#: Target filter sparsities (share of the 22 filters removed).
DEFAULT_SPARSITIES: tuple[float, ...] = (0.25, 0.5, 0.75)
#: L1 costs of the emergent equilibrium runs.
DEFAULT_GAMMAS: tuple[float, ...] = (0.1, 0.2, 0.3)
#: The game of every equilibrium run (gamma set per run), see the module docstring.
FILTER_GAME: dict[str, Any] = {"payoff": "taylor", "alpha": 1.0, "beta": 0.0,
                               "participation_lr": 0.05}
#: The training budget shared by every method: 30 epochs of batch 128, Adam, lr 3e-3 (dense
#: LeNet-5 on digits: 96% test accuracy).
BUDGET: dict[str, Any] = {"epochs": 30, "batch_size": 128, "lr": 3e-3, "optimizer": "adam"}
#: Toy size of ``--quick``.
QUICK: dict[str, Any] = {"seeds": (0,), "epochs": 1, "limit": 200,
                         "methods": ("random", "taylor"), "sparsities": (0.5,),
                         "gammas": (0.2,), "latency_repeats": 5}
#: Prefix of the sweep tags, so a tag names the method and the operating point.
DENSE, EMERGENT, RANKED = "dense", "equilibrium (emergent)", "equilibrium (ranked)"


# ---------------------------------------------------------------------------- configurations
def _common(data: str, root: str | None, limit: int | None, epochs: int,
            seed: int) -> dict[str, Any]:
    return dict(dataset=data, data_root=root, data_limit=limit, model="lenet5", level="filter",
                seed=seed, **{**BUDGET, "epochs": epochs})


def equilibrium_configs(data: str = "digits", root: str | None = None, *,
                        limit: int | None = None, seeds: Sequence[int] = (0, 1, 2),
                        epochs: int = BUDGET["epochs"], gammas: Sequence[float] = DEFAULT_GAMMAS,
                        ranked_gamma: float = 0.1,
                        sparsities: Sequence[float] = DEFAULT_SPARSITIES) -> list[RunConfig]:
    """Phase 1 of the sweep: dense, emergent equilibrium per gamma, ranked equilibrium per
    target sparsity, for every seed (tags ``"<label>|<point>"``)."""
    runs = []
    for seed in seeds:
        common = _common(data, root, limit, epochs, seed)
        runs.append(RunConfig(method="dense", tag=f"{DENSE}|dense", **common))
        for gamma in gammas:
            runs.append(RunConfig(method="equilibrium",
                                  pruning={**FILTER_GAME, "gamma": gamma},
                                  tag=f"{EMERGENT}|gamma={gamma:g}", **common))
        for sparsity in sparsities:
            runs.append(RunConfig(method="equilibrium", sparsity=sparsity,
                                  pruning={**FILTER_GAME, "gamma": ranked_gamma},
                                  tag=f"{RANKED}|{sparsity:g}", **common))
    return runs


def baseline_configs(matched: Mapping[int, float], data: str = "digits",
                     root: str | None = None, *, limit: int | None = None,
                     epochs: int = BUDGET["epochs"], methods: Sequence[str] = DEFAULT_METHODS,
                     sparsities: Sequence[float] = DEFAULT_SPARSITIES) -> list[RunConfig]:
    """Phase 2: every baseline at each target sparsity and at the sparsity the equilibrium
    reached for the same seed (`matched`: seed -> achieved filter sparsity).

    Raises
    ------
    ValueError
        For a method that is not a structured `nets.baselines.REGISTRY` pruner.
    """
    for method in methods:
        if method not in REGISTRY or "structured" not in REGISTRY[method].granularities \
                or method == "equilibrium":
            structured = sorted(m for m, c in REGISTRY.items()
                                if "structured" in c.granularities and m != "equilibrium")
            raise ValueError(f"methods must be structured baselines {structured}; got "
                             f"{method!r}")
    runs = []
    for seed, achieved in matched.items():
        common = _common(data, root, limit, epochs, seed)
        for method in methods:
            schedules = REGISTRY[method].schedules
            schedule = "one_shot" if "one_shot" in schedules else schedules[0]
            points = [("matched", achieved)] + [(f"{s:g}", s) for s in sparsities]
            for point, sparsity in points:
                runs.append(RunConfig(method=method, sparsity=sparsity, schedule=schedule,
                                      tag=f"{method}|{point}", **common))
    return runs


# ---------------------------------------------------------------------------- latency
def _architecture(kept: Sequence[int], input_shape: Sequence[int], n_classes: int,
                  hidden: Sequence[int]) -> Any:
    from nets.models import lenet5

    return lenet5(input_shape[0], n_classes, input_size=input_shape[1], channels=tuple(kept),
                  hidden=tuple(hidden), seed=0)


def latency_table(architectures: Sequence[tuple[int, ...]], input_shape: Sequence[int],
                  n_classes: int, *, hidden: Sequence[int] = (120, 84), batch: int = 256,
                  repeats: int = 50, warmup: int = 5, threads: int = 1,
                  seed: int = 0) -> dict[tuple[int, ...], float]:
    """Median CPU latency (ms per forward pass of `batch` examples) of LeNet-5 architectures.

    Every architecture (kept filters per conv layer) is rebuilt with `nets.models.lenet5` and
    timed by `nets.evaluate.measure_latency` (``torch.utils.benchmark`` Timers under
    ``torch.inference_mode``, `threads` torch threads): `warmup` untimed passes each, then
    `repeats` rounds that run every architecture once in an order shuffled by
    ``numpy.random.default_rng(seed)``, so slow phases of a shared machine hit all of them
    alike.

    Returns
    -------
    dict of kept widths -> median milliseconds
    """
    import torch

    from nets.evaluate import measure_latency

    if batch < 1 or repeats < 1 or warmup < 0:
        raise ValueError(f"batch and repeats must be >= 1 and warmup >= 0; got batch={batch}, "
                         f"repeats={repeats}, warmup={warmup}")
    architectures = list(dict.fromkeys(tuple(int(w) for w in a) for a in architectures))
    models = [_architecture(a, input_shape, n_classes, hidden).eval() for a in architectures]
    inputs = torch.rand((batch, *input_shape), generator=torch.Generator().manual_seed(seed))
    seconds = measure_latency(models, inputs, repeats=repeats, warmup=warmup,
                              order=np.random.default_rng(seed), threads=threads)
    return {a: 1e3 * float(t) for a, t in zip(architectures, seconds, strict=True)}


# ---------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class FilterRow:
    """One run (a row of ``filters.csv``).

    Attributes
    ----------
    seed : int
    label : str
        ``dense``, ``equilibrium (emergent)``, ``equilibrium (ranked)`` or a baseline name.
    point : str
        ``dense``, ``gamma=<g>`` (emergent), ``matched`` or the target sparsity.
    target_sparsity : float or None
        The requested filter sparsity (None: emergent or dense).
    filter_sparsity : float
        Share of the filters physically removed.
    kept_conv1, kept_conv2, filters_kept : int
        Filters kept per conv layer and in total (of 6, 16, 22 for the default LeNet-5).
    accuracy : float
        Test accuracy of the pruned (smaller) network.
    params_total, params, macs_dense, macs : int
        Parameters and MACs per example of the dense architecture and of the pruned network
        (nonzero weights only).
    param_ratio : float
        ``params / params_total``.
    theoretical_speedup : float
        ``macs_dense / macs``.
    latency_ms, latency_dense_ms : float or None
        Median CPU latency of the pruned and the dense architecture (`latency_table`).
    measured_speedup : float or None
        ``latency_dense_ms / latency_ms``.
    mean_participation : float or None
        Mean final participation (equilibrium only).
    seconds : float
        Wall time of the run.
    key : str
        `RunConfig.key` of the run (its row in ``results.jsonl``).
    """

    seed: int
    label: str
    point: str
    target_sparsity: float | None
    filter_sparsity: float
    kept_conv1: int
    kept_conv2: int
    filters_kept: int
    accuracy: float
    params_total: int
    params: int
    macs_dense: int
    macs: int
    param_ratio: float
    theoretical_speedup: float
    latency_ms: float | None
    latency_dense_ms: float | None
    measured_speedup: float | None
    mean_participation: float | None
    seconds: float
    key: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types."""
        from equilibria.plain import to_plain

        return to_plain(dataclasses.asdict(self))


def filter_rows(results: Sequence[Mapping[str, Any]],
                latency: Mapping[tuple[int, ...], float] | None = None,
                dense_widths: tuple[int, ...] = (6, 16)) -> list[FilterRow]:
    """Sweep rows (`analysis.RunResult.to_dict`) as `FilterRow` s, with latencies if given."""
    rows = []
    for result in results:
        config = result["config"]
        label, point = config["tag"].split("|", 1)
        kept = tuple(int(w) for w in result["kept_per_layer"])
        if len(kept) != 2:
            raise ValueError(f"run {result['key']} has kept_per_layer {kept}; LeNet-5 has two "
                             "conv layers of filters")
        pruned_ms = latency.get(kept) if latency else None
        dense_ms = latency.get(dense_widths) if latency else None
        rows.append(FilterRow(
            seed=int(config["seed"]), label=label, point=point,
            target_sparsity=config["sparsity"],
            filter_sparsity=float(result["achieved_sparsity"]), kept_conv1=kept[0],
            kept_conv2=kept[1], filters_kept=sum(kept), accuracy=float(result["accuracy"]),
            params_total=int(result["params_total"]), params=int(result["params_nonzero"]),
            macs_dense=int(result["macs_dense"]), macs=int(result["macs_remaining"]),
            param_ratio=result["params_nonzero"] / result["params_total"],
            theoretical_speedup=float(result["theoretical_speedup"]),
            latency_ms=pruned_ms, latency_dense_ms=dense_ms,
            measured_speedup=(dense_ms / pruned_ms if pruned_ms and dense_ms else None),
            mean_participation=result.get("mean_participation"),
            seconds=float(result["seconds"]), key=result["key"]))
    return rows


def _mean(values: Sequence[float | None]) -> float:
    mean, _ = mean_std(values)
    return math.nan if mean is None else mean


def _sd(values: Sequence[float | None]) -> float:
    _, std = mean_std(values)
    return 0.0 if std is None else std


def summarize(rows: Sequence[FilterRow]) -> list[dict[str, Any]]:
    """Per (label, point), in first-seen order: means over seeds (sample sd of accuracy)."""
    groups: dict[tuple[str, str], list[FilterRow]] = {}
    for row in rows:
        groups.setdefault((row.label, row.point), []).append(row)
    table = []
    for (label, point), group in groups.items():
        table.append({
            "method": label, "point": point, "seeds": len(group),
            "filter_sparsity": _mean([r.filter_sparsity for r in group]),
            "kept_conv1": _mean([r.kept_conv1 for r in group]),
            "kept_conv2": _mean([r.kept_conv2 for r in group]),
            "accuracy": _mean([r.accuracy for r in group]),
            "accuracy_sd": _sd([r.accuracy for r in group]),
            "params": _mean([r.params for r in group]),
            "macs": _mean([r.macs for r in group]),
            "theoretical_speedup": _mean([r.theoretical_speedup for r in group]),
            "latency_ms": _mean([r.latency_ms for r in group]),
            "measured_speedup": _mean([r.measured_speedup for r in group])})
    return table


# ---------------------------------------------------------------------------- figure
def _accuracy_panel(axis: Any, table: Sequence[Mapping[str, Any]], labels: Sequence[str],
                    dense: Sequence[float]) -> None:
    """Accuracy against filter sparsity: one line per method through its mean points (bars =
    sample sd over seeds; the emergent equilibrium as stars), the dense mean as a dashed line."""
    if dense:
        mean = float(np.mean(dense))
        axis.axhline(mean, color="k", ls="--", lw=1, label=f"dense ({mean:.3f})")
    for number, label in enumerate(labels):
        points = sorted((r for r in table if r["method"] == label),
                        key=lambda r: r["filter_sparsity"])
        star = label == EMERGENT
        axis.errorbar([p["filter_sparsity"] for p in points], [p["accuracy"] for p in points],
                      yerr=[p["accuracy_sd"] for p in points], color=f"C{number}",
                      marker="*" if star else "o", ms=11 if star else 5, capsize=3,
                      label=label, ls=":" if star else "-")
    axis.set_xlabel("filter sparsity (share of the conv filters removed)")
    axis.set_ylabel("test accuracy")


def filters_figure(rows: Sequence[FilterRow], title: str, path: str | Path) -> Path:
    """Left: test accuracy against filter sparsity per method (`_accuracy_panel`); middle: the
    same zoomed to within 0.12 of the dense accuracy; right: measured CPU speed-up against the
    theoretical (MACs) speed-up, one point per run."""
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(19, 5.5))
    table = summarize(rows)
    dense = [r.accuracy for r in rows if r.label == DENSE]
    labels = [label for label in dict.fromkeys(r["method"] for r in table) if label != DENSE]
    for axis in (left, middle):
        _accuracy_panel(axis, table, labels, dense)
    left.legend(fontsize=8)
    left.set_title("accuracy against filter sparsity (mean over seeds, bars = sd)", fontsize=9)
    top = max(r.accuracy for r in rows)
    floor = (float(np.mean(dense)) if dense else top) - 0.12
    middle.set_ylim(floor, min(1.0, top + 0.02))
    middle.set_title(f"zoom (points below {floor:.2f} are off the panel)", fontsize=9)
    for number, label in enumerate(labels):
        mine = [r for r in rows if r.label == label and r.measured_speedup is not None]
        star = label == EMERGENT
        right.scatter([r.theoretical_speedup for r in mine], [r.measured_speedup for r in mine],
                      color=f"C{number}", marker="*" if star else "o", s=70 if star else 18,
                      label=label)
    speedups = [r.theoretical_speedup for r in rows] + \
        [r.measured_speedup for r in rows if r.measured_speedup is not None]
    high = max(speedups) if speedups else 1.0
    right.plot([1, high], [1, high], color="k", ls=":", lw=1, label="measured = theoretical")
    right.set_xlabel("theoretical speed-up (MACs dense / MACs kept)")
    right.set_ylabel("measured CPU speed-up (median latency dense / pruned)")
    right.set_title("what the smaller network buys on one CPU thread", fontsize=9)
    right.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


# ---------------------------------------------------------------------------- command line
def parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="pruning-game reproduce filters",
        description="Filters as players on the LeNet-5-style CNN: equilibrium pruning against "
                    "structured filter baselines, with accuracy, params, MACs and CPU latency.")
    parser.add_argument("--data", default="digits",
                        help="digits (bundled, default), fashion-mnist or mnist")
    parser.add_argument("--root", default=None, help="directory of the IDX files")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="keep the first N train and test examples")
    parser.add_argument("--seeds", type=comma_seeds, default=(0, 1, 2),
                        help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--epochs", type=positive_int, default=BUDGET["epochs"],
                        help="training epochs of every method (default %(default)s)")
    parser.add_argument("--methods", type=comma_names, default=DEFAULT_METHODS,
                        help="comma-separated structured baselines (default "
                             f"{','.join(DEFAULT_METHODS)})")
    parser.add_argument("--sparsities", type=comma_floats, default=DEFAULT_SPARSITIES,
                        help="comma-separated target filter sparsities (default "
                             f"{','.join(map(str, DEFAULT_SPARSITIES))})")
    parser.add_argument("--gammas", type=comma_floats, default=DEFAULT_GAMMAS,
                        help="comma-separated L1 costs of the emergent equilibrium runs "
                             f"(default {','.join(map(str, DEFAULT_GAMMAS))})")
    parser.add_argument("--matched-gamma", type=float, default=None,
                        help="the emergent run whose sparsity the baselines match (default "
                             "0.2 if in --gammas, else the largest)")
    parser.add_argument("--ranked-gamma", type=float, default=0.1,
                        help="gamma of the ranked equilibrium runs (default 0.1)")
    parser.add_argument("--latency-batch", type=positive_int, default=256)
    parser.add_argument("--latency-repeats", type=positive_int, default=200)
    add_pool_arguments(parser, workers=1)
    parser.add_argument("--quick", action="store_true",
                        help="toy size: 1 seed, 1 epoch, 200 examples, random and taylor at "
                             "0.5, gamma 0.2 (options given beside it are kept)")
    parser.add_argument("--out", type=out_dir, default="results/beyond/filters",
                        help="output folder (checked before any run; default %(default)s)")
    add_device_argument(parser)
    return parser


def _matched_gamma(gammas: Sequence[float], requested: float | None) -> float:
    if requested is None:
        return 0.2 if 0.2 in gammas else max(gammas)
    if requested not in gammas:
        raise ValueError(f"--matched-gamma {requested} must be one of --gammas {list(gammas)}")
    return requested


def main(argv: list[str] | None = None) -> int:
    """Run the sweep (resumable), measure latencies, write ``filters.csv``,
    ``filters_summary.csv`` and ``filters.png`` to ``--out`` and print the Markdown tables."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.quick:
        quick_defaults(cli, args, QUICK, ("seeds", "epochs", "limit", "methods", "sparsities",
                                          "gammas", "latency_repeats"))
    try:
        matched_gamma = _matched_gamma(args.gammas, args.matched_gamma)
    except ValueError as error:
        cli.error(str(error))
    require_data(cli, args.data, args.root)
    out = Path(args.out)
    started = time.perf_counter()
    phase1 = equilibrium_configs(args.data, args.root, limit=args.limit, seeds=args.seeds,
                                 epochs=args.epochs, gammas=args.gammas,
                                 ranked_gamma=args.ranked_gamma, sparsities=args.sparsities)
    phase1 = [run.replace(device=args.device) for run in phase1]
    with local_executor(args.workers, args.threads) as pool:
        first = [r.to_dict() for r in sweep(phase1, out, executor=pool)]
        matched = {int(r["config"]["seed"]): float(r["achieved_sparsity"]) for r in first
                   if r["config"]["tag"] == f"{EMERGENT}|gamma={matched_gamma:g}"}
        phase2 = baseline_configs(matched, args.data, args.root, limit=args.limit,
                                  epochs=args.epochs, methods=args.methods,
                                  sparsities=args.sparsities)
        phase2 = [run.replace(device=args.device) for run in phase2]
        second = [r.to_dict() for r in sweep(phase2, out, executor=pool)]
    swept = time.perf_counter() - started
    from nets.data import load

    bundle = load(args.data, args.root, limit=1)
    results = first + second
    architectures = [(6, 16)] + [tuple(r["kept_per_layer"]) for r in results]
    latency = latency_table(architectures, bundle.input_shape, bundle.n_classes,
                            batch=args.latency_batch, repeats=args.latency_repeats,
                            threads=args.threads)
    rows = filter_rows(results, latency)
    to_csv(rows, out / "filters.csv")
    table = summarize(rows)
    to_csv(table, out / "filters_summary.csv")
    title = (f"LeNet-5 filters as players on {args.data}: {len(args.seeds)} seed(s), "
             f"{args.epochs} epochs; latency at batch {args.latency_batch}, "
             f"{args.threads} thread(s)")
    filters_figure(rows, title, out / "filters.png")
    print(f"## Filters as players on LeNet-5 ({args.data})\n\n{len(rows)} runs, seeds "
          f"{list(args.seeds)}, {args.epochs} epochs; sweep {swept:.0f} s, total "
          f"{time.perf_counter() - started:.0f} s. Players: the conv filters only "
          f"(level='filter'); the fully connected neurons are not players. Baselines matched "
          f"to the emergent equilibrium at gamma={matched_gamma:g}: "
          + ", ".join(f"seed {s}: {v:.3f}" for s, v in matched.items()) + ".\n",
          file=sys.stdout)
    print(to_markdown(table, floatfmt=".3g"))
    print(f"\nWrote {out / 'filters.csv'}, {out / 'filters_summary.csv'}, "
          f"{out / 'filters.png'}")
    return 0


if __name__ == "__main__":
    from analysis.guard import run_guarded

    raise SystemExit(run_guarded("pruning-game reproduce filters", main))
