"""Pareto study: accuracy against sparsity for equilibrium pruning and every baseline.

Every method of `nets.baselines.REGISTRY` is run at each target sparsity, equilibrium pruning
also with emergent sparsity over a (beta, gamma) grid, and a dense model per seed, all on one
shared training budget (the same epochs, learning rate, batch size and optimizer for every
method) and over several seeds, through one resumable `analysis.sweep`:

    python -m papers.beyond.pareto                       # digits, seeds 0,1,2, 40 epochs
    python -m papers.beyond.pareto --quick --out /tmp/pareto   # toy size (CI, ~30 s)
    pruning-game reproduce pareto                         # the same as the first line

Rerunning the same command resumes an interrupted sweep. Written to ``--out``:

- ``results.jsonl``: the sweep's store (one `analysis.RunResult` per line);
- ``runs.csv``: every run, flat, with its ``method`` label and operating ``point``;
- ``pareto.csv``: per method and point, mean and sample std over seeds of the achieved
  sparsity, the accuracy and the share of parameters kept, and ``n`` (the seeds);
- ``pareto.png``: accuracy against achieved sparsity (`analysis.plots.pareto_front`).

Game settings. Equilibrium pruning uses the settings that actually prune on digits
(`DEMO_GAME`: the game of `nets.presets.DEMO`, chosen in docs/explanation/digits-dynamics.md):
the loss-descent benefit b_i = -alpha dL/ds_i, competition from the overlap of the units'
activations with eta = 0.1, and lr_s = 0.02. The paper-literal benefit (Eq. 9 at the raw theta)
collapses the network to chance on digits in every configuration we tried, so a Pareto curve of
it would be a single point at 10% accuracy. The labels:

- ``equilibrium (ranked)``: the demo's game (beta = gamma = 0.01), then the players of lowest
  final participation are removed down to each target sparsity (like the other methods).
  Equilibrium runs spend the whole budget in Algorithm 1 and are not fine-tuned after the
  removal, whereas the baselines' one-shot schedule trains half, prunes and fine-tunes half
  (the protocol of `analysis.runner` and `nets.baselines.equilibrium`);
- ``equilibrium (emergent, beta=...)``: the game over the (beta, gamma) grid `GRID_BETAS` x
  `GRID_GAMMAS` (one label per beta, one point per gamma), removing the players with
  s < epsilon (the paper's rule): the sparsity is whatever the game reaches;
- ``magnitude (unstructured)``: magnitude pruning has no structured variant, so its sparsity
  is the share of zero *weights*, not of removed units; it is drawn but kept off the Pareto
  front. Every other method removes units (structured), with its default options.
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
    comma_names,
    comma_seeds,
    out_dir,
    positive_int,
    quick_defaults,
    require_data,
)
from analysis.plots import pareto_front
from analysis.sweeps import local_executor
from analysis.tables import aggregate, flatten, format_mean_std, to_csv, to_markdown
from nets.baselines import REGISTRY
from nets.presets import COMPARE_SPARSITIES, DEMO, game_fields
from nets.training import PruningConfig

__all__ = ["DEFAULT_EPOCHS", "DEFAULT_SPARSITIES", "DEMO_GAME", "GRID_BETAS", "GRID_GAMMAS",
           "configs", "label", "main", "point", "summarize"]

#: The demo's game (`nets.presets.DEMO`), which prunes on digits: the fields of
#: `nets.presets.game_fields` it sets away from their `PruningConfig` defaults (payoff, beta,
#: gamma, eta, overlap, participation_lr), as `RunConfig.pruning` options.
DEMO_GAME: dict[str, Any] = {name: value for name, value in game_fields(DEMO).items()
                             if value != getattr(PruningConfig, name)}
#: The (beta, gamma) grid of emergent-sparsity equilibrium pruning.
GRID_BETAS: tuple[float, ...] = (0.01, 0.1)
GRID_GAMMAS: tuple[float, ...] = (0.03, 0.1, 0.3)
DEFAULT_SPARSITIES: tuple[float, ...] = COMPARE_SPARSITIES
#: The shared training budget: 40 epochs of batch 128 at lr 1e-3 (Adam), chosen so the full
#: study (216 runs) fits in about 25 minutes on one shared core; the demo uses 60.
DEFAULT_EPOCHS = 40
#: Toy size of ``--quick``.
QUICK = dict(data_limit=300, hidden=(16, 8), epochs=1, sparsities=(0.5, 0.8), seeds=(0,),
             betas=(0.01,), gammas=(0.01, 0.1), methods=("random", "magnitude", "equilibrium"))


def _granularity(method: str) -> str:
    """Structured (remove units) whenever the method can, else unstructured."""
    return "structured" if "structured" in REGISTRY[method].granularities else "unstructured"


def configs(data: str = "digits", root: str | None = None, *, seeds: Sequence[int] = (0, 1, 2),
            sparsities: Sequence[float] = DEFAULT_SPARSITIES, epochs: int = DEFAULT_EPOCHS,
            methods: Sequence[str] | None = None, betas: Sequence[float] = GRID_BETAS,
            gammas: Sequence[float] = GRID_GAMMAS, data_limit: int | None = None,
            hidden: tuple[int, ...] | None = None, batch_size: int = 128,
            lr: float = 1e-3) -> list[RunConfig]:
    """The sweep: dense per seed, every method at every target sparsity, the game grid.

    Parameters
    ----------
    data, root : str
        `nets.data.load` name and folder.
    seeds : sequence of int
        One run of everything per seed.
    sparsities : sequence of float
        Target sparsities in [0, 1) of every method.
    epochs, batch_size, lr : int, int, float
        The training budget shared by every method (Adam).
    methods : sequence of str, optional
        `nets.baselines.REGISTRY` names (default: all). ``"equilibrium"`` adds the ranked
        equilibrium runs at each target and the emergent runs over `betas` x `gammas`.
    betas, gammas : sequence of float
        The emergent-sparsity grid (beta, gamma >= 0).
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
        For an unknown method, an empty `seeds`, `sparsities` or `methods`, or invalid values
        (`RunConfig` names the field).
    """
    methods = list(REGISTRY) if methods is None else list(methods)
    unknown = sorted(set(methods) - set(REGISTRY))
    if unknown:
        raise ValueError(f"methods: unknown {unknown}; registered: {sorted(REGISTRY)}")
    for name, value in (("seeds", seeds), ("sparsities", sparsities), ("methods", methods)):
        if len(value) == 0:
            raise ValueError(f"{name} must not be empty")
    common = dict(dataset=data, data_root=root, data_limit=data_limit, model="mlp",
                  hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr, optimizer="adam")
    runs: list[RunConfig] = []
    for seed in seeds:
        runs.append(RunConfig(method="dense", seed=seed, **common))
        for method in methods:
            pruning = DEMO_GAME if method == "equilibrium" else {}
            granularity = "structured" if method == "equilibrium" else _granularity(method)
            runs.extend(RunConfig(method=method, sparsity=sparsity, granularity=granularity,
                                  pruning=pruning, seed=seed, **common)
                        for sparsity in sparsities)
        if "equilibrium" in methods:
            runs.extend(RunConfig(method="equilibrium", sparsity=None, seed=seed,
                                  pruning={**DEMO_GAME, "beta": beta, "gamma": gamma}, **common)
                        for beta in betas for gamma in gammas)
    return runs


def _game_value(config: Mapping[str, Any], name: str) -> float:
    """A game field of an equilibrium run (absent means the `PruningConfig` default, 0)."""
    return float((config.get("pruning") or {}).get(name, 0.0))


def label(config: Mapping[str, Any]) -> str:
    """The method label of a run (its ``RunConfig.to_dict()``), as in the figure; emergent
    equilibrium runs are labelled by beta, so each line of the figure sweeps gamma."""
    method = config["method"]
    if method == "equilibrium":
        if config["sparsity"] is None:
            return f"equilibrium (emergent, beta={_game_value(config, 'beta'):g})"
        return "equilibrium (ranked)"
    if config.get("granularity") == "unstructured":
        return f"{method} (unstructured)"
    return method


def point(config: Mapping[str, Any]) -> str:
    """The operating point of a run: its target sparsity, or its game's gamma (the beta is in
    the `label`)."""
    if config["method"] == "dense":
        return "dense"
    if config["sparsity"] is not None:
        return f"{config['sparsity']:g}"
    return f"gamma={_game_value(config, 'gamma'):g}"


def flat_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Sweep rows as flat dicts led by ``method``, ``point``, ``sparsity`` (achieved),
    ``accuracy`` and ``params_kept`` (nonzero over total parameters)."""
    flat = []
    for row in rows:
        config = row["config"]
        flat.append({"method": label(config), "point": point(config),
                     "sparsity": row["achieved_sparsity"], "accuracy": row["accuracy"],
                     "params_kept": row["params_nonzero"] / row["params_total"],
                     **flatten(row)})
    return flat


def summarize(flat: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds of sparsity, accuracy and parameters kept per method and
    point (`analysis.tables.aggregate`)."""
    return aggregate(flat, ["method", "point"], ["sparsity", "accuracy", "params_kept"])


def markdown(summary: Sequence[Mapping[str, Any]]) -> str:
    """The summary as a Markdown table of means ± std."""
    return to_markdown([{"method": r["method"], "point": r["point"],
                         "sparsity": format_mean_std(r["sparsity_mean"], r["sparsity_std"]),
                         "accuracy": format_mean_std(r["accuracy_mean"], r["accuracy_std"]),
                         "params kept": format_mean_std(r["params_kept_mean"],
                                                        r["params_kept_std"]),
                         "n": r["n"]} for r in summary])


def parser() -> argparse.ArgumentParser:
    """The command line of `main`."""
    cli = OneLineParser(prog="pruning-game reproduce pareto",
                        description=__doc__.splitlines()[0])
    cli.add_argument("--data", default="digits", help="nets.data.load name (default %(default)s)")
    cli.add_argument("--root", default=None, help="folder of the IDX files (MNIST-like data)")
    cli.add_argument("--seeds", type=comma_seeds, default=(0, 1, 2),
                     help="comma-separated seeds (default 0,1,2)")
    cli.add_argument("--sparsities", type=comma_floats, default=DEFAULT_SPARSITIES,
                     help="comma-separated target sparsities (default 0.5,0.7,0.8,0.9,0.95)")
    cli.add_argument("--epochs", type=positive_int, default=None,
                     help=f"shared training epochs (default {DEFAULT_EPOCHS}; 1 with --quick)")
    cli.add_argument("--methods", type=comma_names, default=None,
                     help="comma-separated nets.baselines.REGISTRY names (default: all)")
    cli.add_argument("--betas", type=comma_floats, default=GRID_BETAS,
                     help="beta values of the emergent equilibrium grid (default 0.01,0.1)")
    cli.add_argument("--gammas", type=comma_floats, default=GRID_GAMMAS,
                     help="gamma values of the emergent equilibrium grid (default 0.03,0.1,0.3)")
    cli.add_argument("--out", type=out_dir, default="results/beyond/pareto",
                     help="output folder: the sweep's store, CSVs, figure (default %(default)s)")
    add_pool_arguments(cli)
    cli.add_argument("--quick", action="store_true",
                     help="toy size: 300 digits, MLP 16-8, 1 epoch, 2 targets, 1 seed, "
                          "2 grid points, 3 methods")
    add_device_argument(cli)
    return cli


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the sweep; write runs.csv, pareto.csv, pareto.png; print the table."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.quick:
        quick_defaults(cli, args, QUICK, ("sparsities", "seeds", "betas", "gammas", "methods",
                                          "epochs"))
    epochs = args.epochs or DEFAULT_EPOCHS
    workers = args.workers if args.workers is not None else (0 if args.quick else 1)
    try:
        runs = configs(args.data, args.root, seeds=args.seeds, sparsities=args.sparsities,
                       epochs=epochs, methods=args.methods, betas=args.betas,
                       gammas=args.gammas,
                       data_limit=QUICK["data_limit"] if args.quick else None,
                       hidden=QUICK["hidden"] if args.quick else None)
        runs = [run.replace(device=args.device) for run in runs]
    except ValueError as error:
        cli.error(str(error))
    require_data(cli, args.data, args.root)
    started = time.perf_counter()
    with local_executor(workers, args.threads) as pool:
        rows = [r.to_dict() for r in sweep(runs, args.out, executor=pool, progress=True)]
    flat = flat_rows(rows)
    summary = summarize(flat)
    to_csv(flat, args.out / "runs.csv")
    to_csv(summary, args.out / "pareto.csv")
    dense = [r["accuracy_mean"] for r in summary if r["method"] == "dense"]
    plotted = [r for r in summary if r["method"] != "dense"]
    structured = [r["method"] for r in plotted if not r["method"].endswith("(unstructured)")]
    pareto_front(plotted, args.out / "pareto.png", dense_accuracy=dense[0] if dense else None,
                 title=f"{args.data}: accuracy against achieved sparsity ({epochs} epochs, "
                       f"{len(args.seeds)} seeds)", front_groups=structured or None)
    print(markdown(summary))
    print(f"\n{len(rows)} runs in {args.out} (this call: {time.perf_counter() - started:.0f} s); "
          f"wrote runs.csv, pareto.csv, pareto.png")
    return 0


if __name__ == "__main__":
    from analysis.guard import run_guarded

    raise SystemExit(run_guarded("pruning-game reproduce pareto", main))
