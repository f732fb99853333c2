"""Phase diagram of equilibrium pruning over the L2 cost beta and the L1 cost gamma.

Equilibrium pruning (Algorithm 1 of Shah & Khan 2025, emergent sparsity: the players with
s < epsilon are removed) over a beta x gamma grid, log-spaced with 0 on both axes, on digits
at several seeds, through one resumable `analysis.sweep`:

    python -m papers.beyond.phase                        # 6 x 6 grid, seeds 0,1, 40 epochs
    python -m papers.beyond.phase --quick --out /tmp/phase   # toy size (CI, ~30 s)
    pruning-game reproduce phase                          # the same as the first line

Rerunning the same command resumes an interrupted sweep. Written to ``--out``:

- ``results.jsonl``: the sweep's store;
- ``runs.csv``: every run, flat, with its ``beta`` and ``gamma``;
- ``phase.csv``: per cell, mean and sample std over seeds of the achieved sparsity (share of
  units removed), the share of players below epsilon, the accuracy and the mean final
  participation, and ``n`` (the seeds);
- ``phase.png``: the heatmaps (`analysis.plots.phase_diagram`).

Game settings: every field but beta and gamma is `nets.presets.DEMO`'s
(`papers.beyond.pareto.DEMO_GAME`), the settings that actually prune on digits
(docs/explanation/digits-dynamics.md): the loss-descent benefit b_i = -alpha dL/ds_i,
competition from activation overlap at eta = 0.1, lr_s = 0.02. The paper-literal benefit (Eq. 9
at the raw theta) collapses the network to chance on digits, so its phase diagram would be one
flat phase. With eta > 0 the competition alone already prunes at beta = gamma = 0; the diagram
shows what the two costs add to it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from analysis import RunConfig, sweep
from analysis.arguments import (
    OneLineParser,
    add_device_argument,
    add_pool_arguments,
    comma_floats,
    comma_seeds,
    out_dir,
    positive_int,
    quick_defaults,
    require_data,
)
from analysis.plots import phase_diagram
from analysis.sweeps import local_executor
from analysis.tables import aggregate, flatten, format_mean_std, to_csv, to_markdown
from papers.beyond.pareto import DEMO_GAME

__all__ = ["BETAS", "DEFAULT_EPOCHS", "GAMMAS", "VALUES", "cell_rows", "configs", "main",
           "summarize"]

#: The grid: 0 and five log-spaced values on each axis.
BETAS: tuple[float, ...] = (0.0, 0.003, 0.01, 0.03, 0.1, 0.3)
GAMMAS: tuple[float, ...] = (0.0, 0.003, 0.01, 0.03, 0.1, 0.3)
DEFAULT_EPOCHS = 40
#: The summarised columns of ``phase.csv``.
VALUES = ("sparsity", "below_epsilon", "accuracy", "mean_participation")
#: Toy size of ``--quick``.
QUICK = dict(data_limit=300, hidden=(16, 8), epochs=1, seeds=(0,), betas=(0.0, 0.01),
             gammas=(0.01, 0.1))


def configs(data: str = "digits", root: str | None = None, *, seeds: Sequence[int] = (0, 1),
            betas: Sequence[float] = BETAS, gammas: Sequence[float] = GAMMAS,
            epochs: int = DEFAULT_EPOCHS, data_limit: int | None = None,
            hidden: tuple[int, ...] | None = None, batch_size: int = 128,
            lr: float = 1e-3) -> list[RunConfig]:
    """One emergent-sparsity equilibrium run per seed and (beta, gamma) cell.

    Parameters
    ----------
    data, root : str
        `nets.data.load` name and folder.
    seeds : sequence of int
    betas, gammas : sequence of float
        The grid (>= 0); the other game fields are `papers.beyond.pareto.DEMO_GAME`'s.
    epochs, batch_size, lr : int, int, float
        The training budget (Adam).
    data_limit : int, optional
        Keep only the first examples (quick runs).
    hidden : tuple of int, optional
        MLP hidden widths (default the runner's (128, 64)).

    Returns
    -------
    list of RunConfig

    Raises
    ------
    ValueError
        For an empty `seeds`, `betas` or `gammas`, or invalid values (`RunConfig` names the
        field).
    """
    for name, value in (("seeds", seeds), ("betas", betas), ("gammas", gammas)):
        if len(value) == 0:
            raise ValueError(f"{name} must not be empty")
    common = dict(dataset=data, data_root=root, data_limit=data_limit, model="mlp",
                  hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr, optimizer="adam",
                  method="equilibrium", sparsity=None)
    return [RunConfig(seed=seed, pruning={**DEMO_GAME, "beta": beta, "gamma": gamma}, **common)
            for seed in seeds for beta in betas for gamma in gammas]


def cell_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Sweep rows as flat dicts led by ``beta``, ``gamma``, ``sparsity`` (achieved),
    ``below_epsilon``, ``accuracy`` and ``mean_participation``."""
    flat = []
    for row in rows:
        pruning = row["config"].get("pruning") or {}
        flat.append({"beta": float(pruning.get("beta", 0.0)),
                     "gamma": float(pruning.get("gamma", 0.0)),
                     "sparsity": row["achieved_sparsity"],
                     "below_epsilon": row["below_epsilon"], "accuracy": row["accuracy"],
                     "mean_participation": row["mean_participation"], **flatten(row)})
    return flat


def summarize(flat: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (beta, gamma) cell, mean and std over seeds of `VALUES`, sorted by beta, gamma."""
    summary = aggregate(flat, ["beta", "gamma"], VALUES)
    return sorted(summary, key=lambda r: (r["beta"], r["gamma"]))


def markdown(summary: Sequence[Mapping[str, Any]]) -> str:
    """The summary as a Markdown table of means ± std."""
    return to_markdown([{"beta": f"{r['beta']:g}", "gamma": f"{r['gamma']:g}",
                         **{name.replace("_", " "): format_mean_std(r[f"{name}_mean"],
                                                                    r[f"{name}_std"])
                            for name in VALUES}, "n": r["n"]} for r in summary])


def parser() -> argparse.ArgumentParser:
    """The command line of `main`."""
    cli = OneLineParser(prog="pruning-game reproduce phase",
                        description=__doc__.splitlines()[0])
    cli.add_argument("--data", default="digits", help="nets.data.load name (default %(default)s)")
    cli.add_argument("--root", default=None, help="folder of the IDX files (MNIST-like data)")
    cli.add_argument("--seeds", type=comma_seeds, default=(0, 1),
                     help="comma-separated seeds (default 0,1)")
    cli.add_argument("--betas", type=comma_floats, default=BETAS,
                     help="beta values of the grid (default 0,0.003,0.01,0.03,0.1,0.3)")
    cli.add_argument("--gammas", type=comma_floats, default=GAMMAS,
                     help="gamma values of the grid (default 0,0.003,0.01,0.03,0.1,0.3)")
    cli.add_argument("--epochs", type=positive_int, default=None,
                     help=f"training epochs (default {DEFAULT_EPOCHS}; 1 with --quick)")
    cli.add_argument("--out", type=out_dir, default="results/beyond/phase",
                     help="output folder: the sweep's store, CSVs, figure (default %(default)s)")
    add_pool_arguments(cli)
    cli.add_argument("--quick", action="store_true",
                     help="toy size: 300 digits, MLP 16-8, 1 epoch, 2 x 2 grid, 1 seed")
    add_device_argument(cli)
    return cli


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the sweep; write runs.csv, phase.csv, phase.png; print the table."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.quick:
        quick_defaults(cli, args, QUICK, ("seeds", "betas", "gammas", "epochs"))
    epochs = args.epochs or DEFAULT_EPOCHS
    workers = args.workers if args.workers is not None else (0 if args.quick else 1)
    try:
        runs = configs(args.data, args.root, seeds=args.seeds, betas=args.betas,
                       gammas=args.gammas, epochs=epochs,
                       data_limit=QUICK["data_limit"] if args.quick else None,
                       hidden=QUICK["hidden"] if args.quick else None)
        runs = [run.replace(device=args.device) for run in runs]
    except ValueError as error:
        cli.error(str(error))
    require_data(cli, args.data, args.root)
    started = time.perf_counter()
    with local_executor(workers, args.threads) as pool:
        rows = [r.to_dict() for r in sweep(runs, args.out, executor=pool, progress=True)]
    flat = cell_rows(rows)
    summary = summarize(flat)
    to_csv(flat, args.out / "runs.csv")
    to_csv(summary, args.out / "phase.csv")
    phase_diagram(summary, args.out / "phase.png", values=VALUES,
                  title=f"{args.data}: equilibrium pruning over beta x gamma (eta = "
                        f"{DEMO_GAME['eta']:g}, {epochs} epochs, {len(args.seeds)} seeds)")
    print(markdown(summary))
    print(f"\n{len(rows)} runs in {args.out} (this call: {time.perf_counter() - started:.0f} s); "
          f"wrote runs.csv, phase.csv, phase.png")
    return 0


if __name__ == "__main__":
    from analysis.guard import run_guarded

    raise SystemExit(run_guarded("pruning-game reproduce phase", main))
