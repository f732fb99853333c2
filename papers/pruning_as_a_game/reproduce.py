"""Tables 1-2 and Figures 1-2 of Shah & Khan (2025), under every reading of its open choices.

Runs the paper's four Table 1 configurations (alpha = 1, lr_s = 0.001, 20 epochs, batch 128,
eta = 0, MLP 784-512-256-10, the 768 hidden neurons as players) under each benefit reading
given with ``--readings``, plus the section 9.2 probe (L1 alone: beta = 0) and a dense model on
the same budget, as one resumable `analysis.sweep`. Then writes

- ``table1.md``: the configurations as run;
- ``table2.csv`` / ``table2.md``: our accuracy and sparsity (mean and spread over seeds) beside
  the paper's MNIST numbers, under each reading;
- ``figure1_<reading>.png``: accuracy, sparsity, mean participation and active neurons per
  epoch (`analysis.plots.training_dynamics`), one curve per configuration;
- ``figure2_<reading>.png``: final participation histograms with the epsilon line
  (`analysis.plots.participation_histogram`);
- ``section92.csv``: per run, the share of players at exactly 0 and below epsilon, for the
  claim "L2 is essential, L1 alone rarely reaches zero".

Every open choice that changes the outcome is a flag (see ``--help``): the benefit reading
(``--readings``: ``paper`` = Eq. 9 at the raw theta, literal sign; ``loss_descent`` = -dL/ds_i;
``taylor``), the weight optimizer and learning rate, weight decay, whether theta_i includes the
outgoing weights, simultaneous or sequential s-updates, epsilon, and the hidden widths. Accuracy
is reported both ways the paper leaves open: with soft gates (the network as trained) and after
the units with s < epsilon are removed.

    python -m papers.pruning_as_a_game.reproduce --data fashion-mnist --out results/paper
    python -m papers.pruning_as_a_game.reproduce --data mnist --root /path/to/mnist
    pruning-game reproduce paper --data fashion-mnist          # the same
    pruning-game reproduce paper --quick                       # toy size (CI)

Rerunning the same command resumes an interrupted sweep; finished runs are never repeated.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis import RunConfig, sweep
from analysis.arguments import (
    OneLineParser,
    add_device_argument,
    comma_ints,
    comma_names,
    comma_seeds,
    non_negative_int,
    out_dir,
    positive_int,
    quick_defaults,
    require_data,
)
from analysis.plots import participation_histogram, training_dynamics
from analysis.sweeps import local_executor
from analysis.tables import mean_std, to_csv, to_markdown
from equilibria.atomic import atomic_write_text
from nets import PAPER_CONFIGS

__all__ = ["PAPER_TABLE_2", "READINGS", "SECTION_92_GAMMAS", "configs", "main", "section92_rows",
           "table2_rows"]

#: Table 2 of the paper (MNIST): test accuracy %, sparsity % (share of the 768 neurons with
#: s < 0.01). Printed beside our numbers, never used to tune anything.
PAPER_TABLE_2: dict[str, tuple[float, float]] = {
    "very_high_beta": (96.64, 0.00), "extreme_beta": (91.15, 95.18),
    "l1_sparsity_strong": (89.57, 98.31), "l1_l2_combined": (91.54, 98.05)}
#: Benefit readings of Eq. 9 (`nets.PruningConfig.payoff`).
READINGS = ("paper", "loss_descent", "taylor")
#: L1 strengths of the section 9.2 probe (beta = 0: no L2 term at all).
SECTION_92_GAMMAS = (0.01, 0.1)
PAPER_WIDTHS = (512, 256)


def _game_options(args: argparse.Namespace, payoff: str, beta: float, gamma: float,
                  name: str) -> dict[str, Any]:
    return {"payoff": payoff, "alpha": 1.0, "beta": beta, "gamma": gamma, "eta": 0.0,
            "participation_lr": args.participation_lr, "epsilon": args.epsilon,
            "weight_decay": args.weight_decay, "include_outgoing": args.include_outgoing,
            "s_update": args.s_update, "eval_mode": "soft", "name": name}


def configs(args: argparse.Namespace) -> list[RunConfig]:
    """Every run of the reproduction: Table 1 x readings x seeds, section 9.2, dense."""
    runs = []
    for seed in args.seeds:
        common = dict(dataset=args.data, data_root=args.root, data_limit=args.limit,
                      model="mlp", hidden=args.hidden, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                      seed=seed)
        for payoff in args.readings:
            for key, c in PAPER_CONFIGS.items():
                runs.append(RunConfig(method="equilibrium", tag=f"{key}/{payoff}",
                                      pruning=_game_options(args, payoff, c.beta, c.gamma,
                                                            c.name), **common))
            if args.section_92:
                for gamma in SECTION_92_GAMMAS:
                    runs.append(RunConfig(
                        method="equilibrium", tag=f"l1_only_{gamma:g}/{payoff}",
                        pruning=_game_options(args, payoff, 0.0, gamma, f"L1 only {gamma:g}"),
                        **common))
        dense_options = {"weight_decay": args.weight_decay} if args.weight_decay else {}
        runs.append(RunConfig(method="dense", tag="dense", pruning=dense_options, **common))
    return runs


def _by_tag(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["config"]["tag"], []).append(row)
    return grouped


def table2_rows(rows: Sequence[Mapping[str, Any]], readings: Sequence[str]
                ) -> list[dict[str, Any]]:
    """Our Table 2 (percent, mean and spread over seeds) beside the paper's, per reading.

    ``accuracy_removed`` is the network with the units s < epsilon physically removed (the
    paper's step 3); ``accuracy_soft`` the network as trained, soft gates included;
    ``sparsity`` the share of players with s < epsilon, the paper's definition.
    """
    grouped = _by_tag(rows)
    table = []
    for key, (paper_accuracy, paper_sparsity) in PAPER_TABLE_2.items():
        for payoff in readings:
            runs = grouped.get(f"{key}/{payoff}", [])
            if not runs:
                continue
            removed = mean_std([100 * r["accuracy"] for r in runs])
            soft = mean_std([100 * r["history"][-1]["test_accuracy"] for r in runs])
            sparsity = mean_std([100 * r["below_epsilon"] for r in runs])
            kept = [sum(r["kept_per_layer"]) for r in runs]
            table.append({
                "configuration": PAPER_CONFIGS[key].name, "reading": payoff,
                "seeds": len(runs), "accuracy_removed": removed[0],
                "accuracy_removed_std": removed[1], "accuracy_soft": soft[0],
                "accuracy_soft_std": soft[1], "sparsity": sparsity[0],
                "sparsity_std": sparsity[1], "kept_min": min(kept), "kept_max": max(kept),
                "paper_accuracy": paper_accuracy, "paper_sparsity": paper_sparsity})
    dense = grouped.get("dense", [])
    if dense:
        accuracy = mean_std([100 * r["accuracy"] for r in dense])
        width = sum(dense[0]["kept_per_layer"])
        table.append({"configuration": "dense (no game)", "reading": "-", "seeds": len(dense),
                      "accuracy_removed": accuracy[0], "accuracy_removed_std": accuracy[1],
                      "accuracy_soft": accuracy[0], "accuracy_soft_std": accuracy[1],
                      "sparsity": 0.0, "sparsity_std": 0.0, "kept_min": width,
                      "kept_max": width, "paper_accuracy": None, "paper_sparsity": None})
    return table


def section92_rows(rows: Sequence[Mapping[str, Any]], epsilon: float) -> list[dict[str, Any]]:
    """Per equilibrium run: beta, gamma, the share of players at exactly 0 and below epsilon.

    Section 9.2 of the paper claims L1 alone (beta = 0) rarely reaches exact zero and that L2
    is essential. Exact zero is reachable by Algorithm 1's projection (Eq. 18 clips at 0).
    """
    table = []
    for row in rows:
        if row["config"]["method"] != "equilibrium":
            continue
        s = np.asarray(row["participation"], dtype=float)
        options = row["config"]["pruning"]
        table.append({"tag": row["config"]["tag"], "seed": row["config"]["seed"],
                      "beta": options.get("beta", 0.0), "gamma": options.get("gamma", 0.0),
                      "exact_zero": float(np.mean(s == 0.0)),
                      "below_epsilon": float(np.mean(s < epsilon)),
                      "accuracy_removed": row["accuracy"]})
    return sorted(table, key=lambda r: (r["tag"], r["seed"]))


def _table1(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [{"configuration": c.name, "alpha": 1.0, "beta": c.beta, "gamma": c.gamma,
             "eta": 0.0, "lr_s": args.participation_lr, "epochs": args.epochs,
             "batch": args.batch_size} for c in PAPER_CONFIGS.values()]


def _write_text(text: str, path: Path) -> Path:
    return atomic_write_text(path, text)


def _figures(rows: Sequence[Mapping[str, Any]], readings: Sequence[str], seed: int,
             epsilon: float, out: Path) -> list[Path]:
    """Figures 1 and 2 per reading, from the runs of one seed."""
    written = []
    for payoff in readings:
        picked = {PAPER_CONFIGS[key].name: row for key in PAPER_CONFIGS for row in rows
                  if row["config"]["tag"] == f"{key}/{payoff}" and row["config"]["seed"] == seed}
        if not picked:
            continue
        written += [out / f"figure1_{payoff}.png", out / f"figure2_{payoff}.png"]
        training_dynamics({n: r["history"] for n, r in picked.items()}, written[-2])
        participation_histogram(
            {n: np.asarray(r["participation"]) for n, r in picked.items()}, epsilon,
            written[-1])
    return written


def _readings(text: str) -> tuple[str, ...]:
    values = comma_names(text)
    unknown = [v for v in values if v not in READINGS]
    if unknown:
        raise argparse.ArgumentTypeError(f"--readings: unknown {unknown}; choose from {READINGS}")
    return values


def parser() -> argparse.ArgumentParser:
    """The command line of the reproduction (shared with ``pruning-game reproduce paper``)."""
    p = OneLineParser(
        prog="pruning-game reproduce paper",
        description="Tables 1-2 and Figures 1-2 of Shah & Khan (2025) under each reading of "
                    "its open choices; resumable (rerun the same command to finish).")
    p.add_argument("--data", default="fashion-mnist",
                   help="dataset (nets.data.load): fashion-mnist (default), mnist (needs "
                        "--root), digits, synthetic")
    p.add_argument("--root", default=None, help="folder of the IDX files (mnist)")
    p.add_argument("--limit", type=positive_int, default=None, help="keep the first N examples")
    p.add_argument("--out", type=out_dir, default="results/paper",
                   help="output folder (checked before any run)")
    p.add_argument("--readings", type=_readings, default=("paper", "loss_descent"),
                   help="benefit readings of Eq. 9, comma-separated, from "
                        f"{','.join(READINGS)} (default paper,loss_descent)")
    p.add_argument("--seeds", type=comma_seeds, default=(0,),
                   help="comma-separated seeds (default 0)")
    p.add_argument("--epochs", type=positive_int, default=20, help="default 20, as in the paper")
    p.add_argument("--batch-size", type=positive_int, default=128,
                   help="default 128, as in the paper")
    p.add_argument("--hidden", type=comma_ints,
                   default=PAPER_WIDTHS, help="hidden widths (default 512,256, as in the paper)")
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam",
                   help="weight optimizer; the paper does not say (default adam)")
    p.add_argument("--lr", type=float, default=1e-3,
                   help="weight learning rate; the paper does not say (default 1e-3)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="default 0")
    p.add_argument("--participation-lr", type=float, default=1e-3,
                   help="lr_s of Eq. 17 (default 0.001, the paper's)")
    p.add_argument("--epsilon", type=float, default=0.01,
                   help="pruning threshold (default 0.01, the paper's)")
    p.add_argument("--include-outgoing", action="store_true",
                   help="theta_i holds the outgoing weights too (default: incoming row + bias)")
    p.add_argument("--s-update", choices=("simultaneous", "sequential"),
                   default="simultaneous", help="Eq. 17 for all players at once (default) or "
                                                "layer by layer")
    p.add_argument("--no-section-92", dest="section_92", action="store_false",
                   help="skip the L1-only runs of the section 9.2 probe")
    p.add_argument("--workers", type=non_negative_int, default=None,
                   help="parallel worker processes with one torch thread each (default: one "
                        "per core; 0 runs in this process, the default with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="toy size (CI): digits, 600 examples, widths 32,16, 4 epochs, in this "
                        "process; --data, --limit, --hidden, --epochs and --workers given "
                        "beside it are honoured")
    add_device_argument(p)
    return p


#: What ``--quick`` sets, for each option left at its default.
QUICK: dict[str, Any] = {"data": "digits", "limit": 600, "hidden": (32, 16), "epochs": 4,
                         "workers": 0}


def quick_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """`args` with the toy sizes of ``--quick`` for every option left at its default (an
    option given on the command line, such as ``--data``, is kept)."""
    return quick_defaults(parser(), args, QUICK) if args.quick else args


def main(argv: list[str] | None = None) -> int:
    """Run the reproduction; print Table 2 beside the paper's; write tables and figures."""
    cli = parser()
    args = quick_arguments(cli.parse_args(argv))
    require_data(cli, args.data, args.root)
    out: Path = args.out
    workers = (os.cpu_count() or 1) if args.workers is None else args.workers
    with local_executor(workers) as pool:
        runs = [run.replace(device=args.device) for run in configs(args)]
        rows = [r.to_dict() for r in sweep(runs, out / "runs", pool, progress=True)]
    _write_text(to_markdown(_table1(args)) + "\n", out / "table1.md")
    table = table2_rows(rows, args.readings)
    to_csv(table, out / "table2.csv")
    _write_text(to_markdown(table, floatfmt=".2f") + "\n", out / "table2.md")
    section = section92_rows(rows, args.epsilon)
    to_csv(section, out / "section92.csv")
    figures = _figures(rows, args.readings, args.seeds[0], args.epsilon, out)
    print(f"Table 2 on {args.data} ({len(args.seeds)} seed(s); accuracy in %, sparsity = share "
          f"of players with s < {args.epsilon:g}); paper's numbers are MNIST:\n")
    print(to_markdown(table, floatfmt=".2f"))
    print("\nSection 9.2 probe (share of players at exactly 0 / below epsilon):\n")
    print(to_markdown(section, floatfmt=".3f"))
    print(f"\nwrote {out / 'table1.md'}, {out / 'table2.csv'}, {out / 'table2.md'}, "
          f"{out / 'section92.csv'}, " + ", ".join(str(f) for f in figures))
    return 0


if __name__ == "__main__":
    from analysis.guard import run_guarded

    raise SystemExit(run_guarded("pruning-game reproduce paper", main))
