"""Channels as players on a CIFAR-style ResNet (issue 12, item 6): the equilibrium pruners
against every structured baseline on ResNet-20, Fashion-MNIST, with measured CPU latency
against the theoretical (MAC) speed-up and Torch-Pruning's own removal as the speed reference.

    python -m papers.beyond.resnet                          # 3 seeds x 3 targets (~70 min)
    python -m papers.beyond.resnet --quick --out /tmp/r     # toy size (CI, ~20 s)
    pruning-game reproduce resnet                           # the same as the first line

Rerunning the same command resumes an interrupted sweep (``<out>/results.jsonl``) and times
only the architectures ``latency.csv`` does not hold yet (``--remeasure-latency`` times all of
them again: about 4 minutes).

Data and network. Fashion-MNIST (``--root``, default /usr/share/datasets/fashion-mnist: the
Debian package ``dataset-fashion-mnist``), the first `LIMIT` = 5,000 training and test images
(`nets.data.load`'s ``limit``), 28x28. The network is `nets.models.resnet_cifar` with depth 20
and width 16 (ResNet-20 of He et al. 2016, 0.27 M parameters, option-B shortcuts, BatchNorm),
run through `analysis.RunConfig` (``model="resnet_cifar"``, ``model_options``). Its players
(``level="filter"``, `nets.structure.trace_players`) are the 448 channel groups Torch-Pruning
finds: the 9 first convolutions of the blocks (16, 16, 16, 32, 32, 32, 64, 64, 64 channels) and
one group per stage for the channels that the residual adds tie together (the stem or the
shortcut, every block's second convolution and their BatchNorms: 16 + 16 + 32 + 32 + 64 + 64
split as traced). The size was chosen so the 138 runs fit in about an hour on 2 cores: on this
machine one epoch of the 5,000 images takes about 11 s of one core.

Shared budget, for every method: `EPOCHS` = 4 epochs of batch 128, Adam at lr 1e-3, seeds 0, 1,
2, the baselines' one-shot schedule (train half, prune, fine-tune half) or, for the iterative
arm, the same epochs over `ROUNDS` = 3 rounds (``split_epochs(4, 3)``: 2 epochs, then 1, 1 and 0
after the rounds, so its last cut is not fine-tuned: papers/beyond/README.md (h)); Algorithm 1
trains the whole budget and removes at the end.

Methods (`configs`), at target sparsities (share of the 448 players removed) 0.3, 0.5, 0.7:

- every structured baseline of `nets.baselines.REGISTRY` (`winning.STRUCTURED_BASELINES`) at
  its default scope (global: one ranking over every group), one-shot; ``lottery`` one-shot with
  its default rewinding;
- ``equilibrium_solve`` (the certified equilibrium as the pruning decision, issue 11) with the
  first-order Taylor game, one-shot, and with the second-order game (Gauss-Newton curvature of
  the gates, statistics at the BatchNorm running statistics), one-shot and iterative (the
  digits winner of papers/beyond/README.md (f));
- Algorithm 1 ranked: ``equilibrium`` with the game of the filters study (`filters.FILTER_GAME`:
  first-order Taylor benefit, beta = 0, participation lr 0.05, with its ranked L1 price gamma =
  0.1), trained on the whole budget, then the players of lowest participation removed to the
  target without fine-tuning (the paper's algorithm);
- ``dense``, once per seed.

Only one scope per method (global), unlike the winning study's two, to keep the hour: 15 arms x
3 targets x 3 seeds + 3 dense = 138 runs. The arms and sizes were fixed before the study's
seeds ran, from a pilot on seed 100 (not a seed of the study) at target 0.5 on a shared machine
(each run had about half a core): dense 70 s (accuracy 0.779), taylor 53 s (0.716), the
second-order iterative arm 87 s (0.547), lottery 65 s (0.722). Algorithm 1 with the demo's game
(`winning.DEMO_GAME`, activation competition) took 234 s and ended at chance (0.091); with the
filters study's game 239 s and 0.190, so that game is the arm (the cheaper of two that both
collapse without fine-tuning).

Latency (`latency_rows`), after the sweep, in this process: the CPU latency of a pruned network
depends only on how many channels each group keeps, so every distinct kept-width vector of the
runs is rebuilt on a fresh dense ResNet-20 by keeping the first channels of each group, and
removed two ways: ours (`nets.apply_participation` mode ``"remove"``) and Torch-Pruning called
directly on the same groups (`nets.structure.torch_pruning_reference`). The dense network and
both pruned ones are timed together by `nets.evaluate.measure_latency` (batch
``--latency-batch`` 32, one thread, ``--latency-repeats`` rotating rounds, medians). Per run:
the measured speed-up (dense / ours), the theoretical one (MACs dense / MACs kept, from the
run's evaluation) and ours / Torch-Pruning (target 1.0: ours no slower).

Outputs in ``--out`` (each written atomically): ``results.jsonl`` (the sweep's store, with each
pruner's details and certificates), ``runs.csv`` (every run, flat, with its latency),
``pareto.csv`` (mean / std / n over seeds per method and target), ``front.csv`` (per target:
the best method and the best ``equilibrium_solve`` arm, within one std or not),
``certificates.csv`` (every ``equilibrium_solve`` run's worst relative Nash gap and uniqueness
verdict), ``latency.csv`` (per architecture: dense, ours and Torch-Pruning milliseconds),
``resnet.png`` (accuracy against sparsity; measured against theoretical speed-up). A Markdown
table is printed. Results: papers/beyond/README.md, section (h).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis import RunConfig, sweep  # noqa: E402
from analysis.arguments import (  # noqa: E402
    OneLineParser,
    add_device_argument,
    add_pool_arguments,
    comma_floats,
    comma_names,
    comma_seeds,
    non_negative_int,
    out_dir,
    positive_int,
    quick_defaults,
    require_data,
)
from analysis.plots import save_figure  # noqa: E402
from analysis.sweeps import load_results, local_executor  # noqa: E402
from analysis.tables import aggregate, format_mean_std, to_csv, to_markdown  # noqa: E402
from papers.beyond.filters import FILTER_GAME  # noqa: E402
from papers.beyond.winning import (  # noqa: E402
    STRUCTURED_BASELINES,
    certificate_rows,
    flat_rows,
    front,
    markdown,
    run_with_details,
    summarize,
)

__all__ = ["ARMS", "EPOCHS", "LIMIT", "MODEL_OPTIONS", "QUICK", "ROUNDS", "SPARSITIES",
           "configs", "latency_rows", "main", "parser", "resnet_figure", "table"]

LIMIT = 5000
EPOCHS = 4
ROUNDS = 3
SPARSITIES: tuple[float, ...] = (0.3, 0.5, 0.7)
MODEL_OPTIONS: dict[str, Any] = {"depth": 20, "width": 16}
DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
#: The game arms: (method, options, schedule).
ARMS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("equilibrium_solve", {"payoff": "taylor"}, "one_shot"),
    ("equilibrium_solve", {"payoff": "second_order"}, "one_shot"),
    ("equilibrium_solve", {"payoff": "second_order"}, "iterative"),
    ("equilibrium", {**FILTER_GAME, "gamma": 0.1}, "one_shot"),
)
#: ``--quick``: digits (8x8), a ResNet-8 of width 4, 300 examples, 2 epochs, one seed and
#: target, two baselines and the game arms.
QUICK: dict[str, Any] = dict(data="digits", limit=300, epochs=2, seeds=(0,), sparsities=(0.5,),
                             methods=("random", "taylor"), model_options={"depth": 8, "width": 4},
                             latency_repeats=3)


def configs(data: str = "fashion-mnist", root: str | None = DEFAULT_ROOT, *,
            seeds: Sequence[int] = (0, 1, 2), sparsities: Sequence[float] = SPARSITIES,
            epochs: int = EPOCHS, limit: int | None = LIMIT,
            methods: Sequence[str] = STRUCTURED_BASELINES,
            model_options: Mapping[str, Any] = MODEL_OPTIONS,
            arms: Sequence[tuple[str, dict[str, Any], str]] = ARMS) -> list[RunConfig]:
    """Dense per seed, then every baseline of `methods` (one-shot, default scope) and every
    game arm of `arms` at every target.

    Raises
    ------
    ValueError
        For an unknown method or an empty list (the message names it).
    """
    unknown = sorted(set(methods) - set(STRUCTURED_BASELINES))
    if unknown:
        raise ValueError(f"methods: unknown {unknown}; allowed: {list(STRUCTURED_BASELINES)}")
    for name, value in (("seeds", seeds), ("sparsities", sparsities)):
        if len(value) == 0:
            raise ValueError(f"{name} must not be empty")
    common = dict(dataset=data, data_root=root if data != "digits" else None, data_limit=limit,
                  model="resnet_cifar", model_options=dict(model_options), level="filter",
                  epochs=epochs, batch_size=128, lr=1e-3, optimizer="adam", rounds=ROUNDS)
    runs = []
    for seed in seeds:
        runs.append(RunConfig(method="dense", seed=seed, **common))
        for sparsity in sparsities:
            runs.extend(RunConfig(method=method, sparsity=sparsity, seed=seed, **common)
                        for method in methods)
            runs.extend(RunConfig(method=method, sparsity=sparsity, pruning=options,
                                  schedule=schedule, seed=seed, **common)
                        for method, options, schedule in arms)
    return runs


# ---------------------------------------------------------------------------- latency
def _pruned_pair(gated: Any, dense: Any, kept: Sequence[int], example: Any
                 ) -> tuple[Any, Any]:
    """``dense`` (traced once into ``gated``) with the first ``kept[g]`` channels of each group
    g kept, removed by us and by Torch-Pruning directly (same groups, same channels)."""
    import torch

    from nets import apply_participation
    from nets.structure import torch_pruning_reference

    if len(kept) != len(gated.layers):
        raise ValueError(f"kept has {len(kept)} widths; the dense network has "
                         f"{len(gated.layers)} player layers")
    keep = torch.zeros(gated.n_players, dtype=torch.bool)
    for layer, count in zip(gated.layers, kept, strict=True):
        keep[layer.offset:layer.offset + int(count)] = True
    ours = apply_participation(gated, keep.double(), mode="remove").eval()
    reference = torch_pruning_reference(dense, gated.structure, keep, example)
    return ours, reference


def _label(kept: Iterable[int]) -> str:
    """An architecture's key in ``latency.csv``: its kept widths joined by ``-``."""
    return "-".join(str(int(k)) for k in kept)


def latency_rows(architectures: Iterable[Sequence[int]], input_shape: Sequence[int],
                 n_classes: int, *, model_options: Mapping[str, Any] = MODEL_OPTIONS,
                 batch: int = 32, repeats: int = 10, seed: int = 0) -> list[dict[str, Any]]:
    """Median CPU latency of each kept-width vector: dense, ours and Torch-Pruning's removal.

    Each architecture is timed with the dense network in one `nets.evaluate.measure_latency`
    call (one thread, rotating order, ``repeats`` rounds), so its ratios are taken in the same
    rounds. The outputs of ours and of the reference are checked equal first.

    Returns
    -------
    list of dict
        ``kept`` (the widths joined by ``-``), ``params_ours``, ``params_reference``,
        ``dense_ms``, ``ours_ms``, ``reference_ms``, ``measured_speedup`` (dense / ours),
        ``ours_over_reference``, and the ``batch`` and ``repeats`` they were measured with.
    """
    import torch

    from nets import attach_gates
    from nets.evaluate import measure_latency
    from nets.models import resnet_cifar

    dense = resnet_cifar(in_channels=input_shape[0], num_classes=n_classes,
                         input_size=input_shape[1], seed=seed, **dict(model_options)).eval()
    inputs = torch.rand((batch, *input_shape), generator=torch.Generator().manual_seed(seed))
    gated = attach_gates(dense, "filter", example_inputs=inputs[:1]).eval()  # traced once
    rows = []
    for kept in dict.fromkeys(tuple(int(k) for k in a) for a in architectures):
        ours, reference = _pruned_pair(gated, dense, kept, inputs[:1])
        with torch.inference_mode():
            difference = float((ours(inputs) - reference(inputs)).abs().max())
        if difference > 1e-4:
            raise RuntimeError(f"ours and Torch-Pruning's removal differ by {difference:.2e} on "
                               f"kept widths {kept}")
        dense_s, ours_s, reference_s = measure_latency([dense, ours, reference], inputs,
                                                       repeats=repeats, threads=1)
        rows.append({"kept": _label(kept),
                     "params_ours": sum(p.numel() for p in ours.parameters()),
                     "params_reference": sum(p.numel() for p in reference.parameters()),
                     "dense_ms": 1e3 * dense_s, "ours_ms": 1e3 * ours_s,
                     "reference_ms": 1e3 * reference_s, "measured_speedup": dense_s / ours_s,
                     "ours_over_reference": ours_s / reference_s, "batch": batch,
                     "repeats": repeats})
    return rows


def reusable_latency(path: Path, batch: int, repeats: int) -> list[dict[str, Any]]:
    """The rows of an earlier ``latency.csv`` measured with the same batch and repeats (none if
    the file is missing or was measured otherwise), so a resumed call times only new
    architectures."""
    import csv

    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or any(row.get("batch") != str(batch) or row.get("repeats") != str(repeats)
                       for row in rows):
        return []
    numbers = ("dense_ms", "ours_ms", "reference_ms", "measured_speedup",
               "ours_over_reference")
    return [{**row, **{name: float(row[name]) for name in numbers},
             "params_ours": int(row["params_ours"]),
             "params_reference": int(row["params_reference"]),
             "batch": batch, "repeats": repeats} for row in rows]


def with_latency(flat: Sequence[Mapping[str, Any]], latency: Sequence[Mapping[str, Any]]
                 ) -> list[dict[str, Any]]:
    """`flat` rows with their architecture's ``measured_speedup`` and ``ours_over_reference``
    (None for dense runs)."""
    by_kept = {row["kept"]: row for row in latency}
    out = []
    for row in flat:
        kept = _label(_kept(row))
        match = by_kept.get(kept) if row["point"] != "dense" else None
        out.append({**row, "kept": kept,
                    "measured_speedup": None if match is None else match["measured_speedup"],
                    "ours_over_reference": None if match is None
                    else match["ours_over_reference"]})
    return out


def _kept(flat_row: Mapping[str, Any]) -> list[int]:
    value = flat_row["kept_per_layer"]
    if isinstance(value, str):  # a list flattened to JSON text by analysis.tables.flatten
        value = json.loads(value)
    return [int(v) for v in value]


def table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean / std over seeds per method and target of accuracy, achieved sparsity, theoretical
    and measured speed-up and ours / Torch-Pruning."""
    return aggregate(rows, ["method", "point"],
                     ["accuracy", "sparsity", "theoretical_speedup", "measured_speedup",
                      "ours_over_reference"])


def _markdown(summary: Sequence[Mapping[str, Any]]) -> str:
    def cell(row: Mapping[str, Any], name: str) -> str:
        return format_mean_std(row[f"{name}_mean"], row[f"{name}_std"], row["n"])

    ordered = sorted(summary, key=lambda r: (r["point"], -float(r["accuracy_mean"] or 0.0)))
    return to_markdown([{"target": r["point"], "method": r["method"],
                         "accuracy": cell(r, "accuracy"),
                         "MAC speed-up": cell(r, "theoretical_speedup"),
                         "measured speed-up": cell(r, "measured_speedup"),
                         "ours / Torch-Pruning": cell(r, "ours_over_reference")}
                        for r in ordered])


def resnet_figure(rows: Sequence[Mapping[str, Any]], summary: Sequence[Mapping[str, Any]],
                  title: str, path: str | Path) -> Path:
    """Left: accuracy against achieved sparsity per method (means over seeds, bars = std), the
    dense mean dashed; right: measured CPU speed-up against the theoretical one, per run."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(15, 5.5))
    dense = [r["accuracy_mean"] for r in summary if r["point"] == "dense"]
    if dense:
        left.axhline(dense[0], color="k", ls="--", lw=1, label=f"dense ({dense[0]:.3f})")
    methods = [m for m in dict.fromkeys(r["method"] for r in summary) if m != "dense"]
    colours = plt.get_cmap("tab20")  # 15 methods: one colour each
    for number, method in enumerate(methods):
        points = sorted((r for r in summary if r["method"] == method),
                        key=lambda r: r["sparsity_mean"])
        style = "-" if method.startswith("equilibrium") else ":"
        left.errorbar([p["sparsity_mean"] for p in points], [p["accuracy_mean"] for p in points],
                      yerr=[p["accuracy_std"] or 0.0 for p in points], marker="o", ms=4,
                      capsize=3, ls=style, color=colours(number), label=method)
        mine = [r for r in rows if r["method"] == method and r["measured_speedup"] is not None]
        right.scatter([r["theoretical_speedup"] for r in mine],
                      [r["measured_speedup"] for r in mine], s=14, color=colours(number))
    left.set_xlabel("achieved sparsity (share of the channel groups' players removed)")
    left.set_ylabel("test accuracy")
    left.legend(fontsize=7)
    speedups = [float(r["theoretical_speedup"]) for r in rows] or [1.0]
    high = max(speedups)
    right.plot([1, high], [1, high], color="k", ls=":", lw=1, label="measured = theoretical")
    right.set_xlabel("theoretical speed-up (MACs dense / MACs kept)")
    right.set_ylabel("measured CPU speed-up (latency dense / ours, one thread)")
    right.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


# ---------------------------------------------------------------------------- command line
def parser() -> argparse.ArgumentParser:
    """The command line of `main`."""
    cli = OneLineParser(prog="pruning-game reproduce resnet",
                        description=__doc__.splitlines()[0])
    cli.add_argument("--data", default="fashion-mnist",
                     help="fashion-mnist (default), mnist (needs --root) or digits")
    cli.add_argument("--root", default=None,
                     help=f"folder of the IDX files (default {DEFAULT_ROOT} for fashion-mnist)")
    cli.add_argument("--limit", type=positive_int, default=LIMIT,
                     help="keep the first N train and test examples (default %(default)s)")
    cli.add_argument("--epochs", type=positive_int, default=EPOCHS,
                     help="shared epochs of every method (default %(default)s)")
    cli.add_argument("--seeds", type=comma_seeds, default=(0, 1, 2),
                     help="comma-separated seeds (default 0,1,2)")
    cli.add_argument("--sparsities", type=comma_floats, default=SPARSITIES,
                     help="comma-separated target sparsities (default 0.3,0.5,0.7)")
    cli.add_argument("--methods", type=comma_names, default=STRUCTURED_BASELINES,
                     help="comma-separated baselines (default: every structured baseline); "
                          "the game arms always run")
    cli.add_argument("--latency-batch", type=positive_int, default=32,
                     help="batch of the latency measurement (default %(default)s)")
    cli.add_argument("--latency-repeats", type=non_negative_int, default=10,
                     help="rotating rounds per architecture (default %(default)s; 0 skips "
                          "the latency table)")
    cli.add_argument("--remeasure-latency", action="store_true",
                     help="time every architecture again (default: reuse latency.csv rows "
                          "measured with the same batch and repeats)")
    cli.add_argument("--out", type=out_dir, default="results/beyond/resnet",
                     help="output folder (default %(default)s)")
    add_pool_arguments(cli, shown="2")
    cli.add_argument("--quick", action="store_true",
                     help="toy size: 300 digits, ResNet-8 of width 4, 2 epochs, 1 seed, target "
                          "0.5, random and taylor with the game arms")
    add_device_argument(cli)
    return cli


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the sweep, measure the latencies, write the outputs (module docstring)
    and print the table."""
    cli = parser()
    args = cli.parse_args(argv)
    model_options = MODEL_OPTIONS
    if args.quick:
        quick_defaults(cli, args, QUICK, ("data", "limit", "epochs", "seeds", "sparsities",
                                          "methods", "latency_repeats"))
        model_options = QUICK["model_options"]
    root = args.root or (DEFAULT_ROOT if args.data == "fashion-mnist" else None)
    try:
        planned = configs(args.data, root, seeds=args.seeds, sparsities=args.sparsities,
                          epochs=args.epochs, limit=args.limit, methods=args.methods,
                          model_options=model_options)
    except ValueError as error:
        cli.error(str(error))
    require_data(cli, args.data, root)
    runs = [run.replace(device=args.device) for run in planned]
    workers = args.workers if args.workers is not None else (0 if args.quick else 2)
    started = time.perf_counter()
    with local_executor(workers, args.threads) as pool:
        sweep(runs, args.out, executor=pool, progress=True, run_fn=run_with_details)
    wanted = {c.key for c in runs}
    rows = [r for r in load_results(args.out) if r["key"] in wanted]
    flat = flat_rows(rows)
    latency: list[dict[str, Any]] = []
    if args.latency_repeats > 0:
        from nets.data import load

        bundle = load(args.data, root, limit=args.limit)
        latency = [] if args.remeasure_latency else reusable_latency(
            args.out / "latency.csv", args.latency_batch, args.latency_repeats)
        measured_already = {row["kept"] for row in latency}
        architectures = [kept for kept in dict.fromkeys(tuple(_kept(r)) for r in flat
                                                        if r["point"] != "dense")
                         if _label(kept) not in measured_already]
        print(f"timing {len(architectures)} architectures ({args.latency_repeats} rounds "
              f"each; {len(measured_already)} reused from latency.csv) ...", flush=True)
        latency += latency_rows(architectures, bundle.input_shape, bundle.n_classes,
                                model_options=model_options, batch=args.latency_batch,
                                repeats=args.latency_repeats)
    measured = with_latency(flat, latency)
    summary = table(measured)
    pareto = summarize(flat)
    to_csv(measured, args.out / "runs.csv")
    to_csv(pareto, args.out / "pareto.csv")
    to_csv(front(pareto), args.out / "front.csv")
    to_csv(certificate_rows(rows), args.out / "certificates.csv")
    to_csv(latency, args.out / "latency.csv")
    to_csv(summary, args.out / "summary.csv")
    resnet_figure(measured, summary, f"ResNet-{model_options['depth']} on {args.data} "
                  f"({len(args.seeds)} seeds, {args.epochs} epochs)", args.out / "resnet.png")
    print(_markdown(summary))
    print()
    print(markdown(front(pareto)))
    if latency:
        ratios = np.array([r["ours_over_reference"] for r in latency])
        print(f"\nours / Torch-Pruning latency over {len(latency)} architectures: median "
              f"{np.median(ratios):.3f} (range {ratios.min():.3f}-{ratios.max():.3f})")
    print(f"\n{len(rows)} runs in {args.out} (this call: {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    from analysis.guard import run_guarded

    raise SystemExit(run_guarded("pruning-game reproduce resnet", main))
