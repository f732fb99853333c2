"""Certificates of trained networks: is Algorithm 1's final state an equilibrium of its game?

Shah & Khan (2025) train with Algorithm 1 (Eq. 16-17) and call the final participation s an
equilibrium (Eq. 11) without checking it. For several game configurations trained on the same
MLP -- the demo's (``analysis.demo.DEMO_CONFIG``: loss-descent benefit, activation
competition), the four Table 1 configurations (``nets.PAPER_CONFIGS``, paper-literal benefit
Eq. 9, eta = 0) and the demo without competition (eta = 0) -- and several seeds, this study
asks of the FINAL s on the FINAL game (statistics averaged over the whole training set,
``EquilibriumPruning.final_game``):

(i)   is s a Nash equilibrium? relative Nash gap (Eq. 11, ``equilibria.nash_gap``) and the
      natural-map (KKT) residual; s counts as an equilibrium when the gap is <= 1e-6;
(ii)  is it stable? ``equilibria.analyze_stability`` at s and at the nearest equilibrium;
(iii) is the equilibrium unique? Rosen's monotonicity certificate, and equilibria found from
      several solver starts (zeros, ones, s, seeded random) counted as distinct when more
      than 1e-4 apart in max-norm;
(iv)  how far is the nearest equilibrium from s, how many players does each prune
      (s < epsilon), and how much do the two pruned sets agree (Jaccard)?

The certificate itself is `equilibria.certify.certify` (re-exported here with its pieces);
this module holds the study: the training runs, their stored games (`equilibria.io`), the
tables and the figures.

Every configuration is trained for the same number of epochs (default 200 on digits: 2,200
steps of Algorithm 1, about a quarter of the paper's 20 MNIST epochs) on the demo's MLP
64-128-64-10. It also solves the demo configuration's final game (seed 0) with every solver of
``equilibria.METHODS`` from s (``analysis.plots.solver_convergence``) and draws the spectra of
the Jacobian's free block at s and at the nearest equilibrium for every configuration, seed 0
(``analysis.plots.stability_spectra``).

Run (the full study, then a toy run that CI uses)::

    python -m papers.beyond.certificates --out results/beyond/certificates
    python -m papers.beyond.certificates --quick --out /tmp/certificates

Outputs in ``--out``: ``certificates.csv`` (one row per configuration x seed),
``certificates_solvers.csv``, ``certificates_solver_convergence.png``,
``certificates_stability_spectra.png`` and ``runs/`` with one ``.npz`` (final s and the final
game, dense) and one ``.json`` (its certificate) per configuration and seed. The study is
resumable: a finished configuration/seed is read back, not recomputed, when its stored
configuration matches. Everything is deterministic for a given seed; the solvers' wall-clock
budgets (``max_seconds``) are a safety net only, and the CSV counts the solves that hit it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.arguments import (
    OneLineParser,
    add_device_argument,
    comma_seeds,
    out_dir,
    positive_int,
    require_data,
)
from analysis.tables import to_csv
from equilibria import METHODS, EquilibriumResult, ParticipationGame
from equilibria.atomic import atomic_write_json
from equilibria.certify import (  # the study's certificate; re-exported for its readers
    DISTINCT_TOL,
    EQUILIBRIUM_TOL,
    NEAREST_METHODS,
    SOLVE_TOL,
    Certificate,
    SolveBudget,
    certify,
    distinct_profiles,
    first_equilibrium,
    jaccard,
    nearest_equilibrium,
    polish,
    solve_within,
    solver_starts,
)
from equilibria.io import read_game_file, save_game

__all__ = [  # the certificate itself lives in equilibria.certify; re-exported here
    "CERTIFICATE_VERSION", "DISTINCT_TOL", "EQUILIBRIUM_TOL", "NEAREST_METHODS", "SOLVE_TOL",
    "Certificate", "SolveBudget", "StudyData", "certify", "certify_run", "distinct_profiles",
    "first_equilibrium", "jaccard", "load_run_game", "main", "markdown_table",
    "nearest_equilibrium", "polish", "save_run_game", "solver_comparison", "solver_starts",
    "study_configs", "train_final_game"]
from nets.presets import DEMO_CONFIG, DEMO_WIDTHS

#: Bumped when `certify` changes, so stored certificates are recomputed (not the training).
CERTIFICATE_VERSION = 3
QUICK_WIDTHS = (16, 8)
QUICK_LIMIT = 300
QUICK_EPOCHS = 3
#: Epochs of every configuration in the full study: 200 digits epochs are 2,200 steps of
#: Algorithm 1 (11 batches of 128), a quarter of the paper's 20 MNIST epochs (9,380 steps);
#: the configurations' own 60 (demo) or 20 (Table 1) epochs are 660 or 220 steps.
FULL_EPOCHS = 200


# ---------------------------------------------------------------------------- configurations
def study_configs(epochs: int | None = None) -> dict[str, Any]:
    """The game configurations of the study, keyed by a short name.

    Parameters
    ----------
    epochs : int, optional
        Training epochs for every configuration; None keeps each configuration's own (60 for
        the demo and its no-competition variant, the paper's 20 for Table 1).

    Returns
    -------
    dict of str -> nets.PruningConfig
        ``demo`` (DEMO_CONFIG), the four ``nets.PAPER_CONFIGS`` (Shah & Khan 2025, Table 1,
        paper-literal benefit Eq. 9, eta = 0) and ``no_competition`` (the demo with eta = 0).
    """
    from nets import PAPER_CONFIGS, PruningConfig

    if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs must be a positive integer or None; got {epochs!r}")
    demo = PruningConfig(**DEMO_CONFIG)
    configs = {"demo": demo,
               **{key: dataclasses.replace(c, payoff="paper") for key, c in PAPER_CONFIGS.items()},
               "no_competition": dataclasses.replace(demo, name="loss_descent, no competition",
                                                     eta=0.0, overlap=None)}
    if epochs is not None:
        configs = {k: dataclasses.replace(c, epochs=epochs) for k, c in configs.items()}
    return configs


# ---------------------------------------------------------------------------- storage
def write_json(payload: Any, path: Path) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    atomic_write_json(path, payload, indent=1)


def write_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Write rows (same keys) as CSV atomically."""
    if not rows:
        raise ValueError("rows must not be empty")
    to_csv(rows, path, list(rows[0]), drop=())


def save_run_game(path: Path, game: ParticipationGame, s: np.ndarray,
                  meta: Mapping[str, Any]) -> None:
    """Store a run's final game (dense competition) and final s in one .npz, atomically
    (`equilibria.io.save_game`)."""
    save_game(path, game, arrays={"participation": s}, meta=meta, dense=True)


def load_run_game(path: Path) -> tuple[ParticipationGame, np.ndarray, dict[str, Any]]:
    """Inverse of `save_run_game`: (game, s, meta). A zero competition matrix becomes None."""
    stored = read_game_file(path)
    game = stored.game
    if game.competition is not None and not np.any(game.competition):
        game = ParticipationGame(game.benefit, game.quadratic_cost, game.linear_cost, None,
                                 game.bounds)
    return game, stored.arrays["participation"].copy(), stored.meta


# ---------------------------------------------------------------------------- training
@dataclass(frozen=True)
class StudyData:
    """What every run shares: the data (name, folder, example limit) and the network's hidden
    widths."""

    data: str
    root: str | None
    widths: tuple[int, ...]
    limit: int | None


def train_final_game(config: Any, bundle: Any, widths: Sequence[int]) -> tuple[
        ParticipationGame, np.ndarray, dict[str, Any]]:
    """Train an MLP with Algorithm 1 and build its final game over the whole training set.

    Returns the final game (``EquilibriumPruning.final_game`` with every training batch), the
    final participation s and a summary (test accuracy, seconds).
    """
    from nets import EquilibriumPruning, models

    in_features = int(np.prod(bundle.input_shape))
    model = models.mlp(in_features, tuple(widths), bundle.n_classes, seed=config.seed)
    trainer = EquilibriumPruning(config)
    started = time.perf_counter()
    result = trainer.fit(model, bundle, progress=True)
    seconds = time.perf_counter() - started
    train_loader, _ = bundle.loaders(256, seed=0)
    game = trainer.final_game(result.gated, train_loader, n_batches=len(train_loader))
    last = result.history[-1]
    return game, result.participation, {"test_accuracy": last.test_accuracy,
                                        "train_seconds": seconds,
                                        "below_epsilon": result.below_epsilon}


def certify_run(key: str, config: Any, study: StudyData, bundle_loader: Any, out: Path,
            budget: SolveBudget) -> dict[str, Any]:
    """Train (or reload), certify (or reload) one configuration/seed; returns its CSV row."""
    stem = out / "runs" / f"{key}_seed{config.seed}"
    identity = {"key": key, "config": config.to_dict(), "data": study.data,
                "widths": list(study.widths), "limit": study.limit}
    record_path, game_path = stem.with_suffix(".json"), stem.with_suffix(".npz")
    certified_identity = {**identity, "certificate_version": CERTIFICATE_VERSION}
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if record.get("identity") == certified_identity:
            return record
    stored = load_run_game(game_path) if game_path.exists() else None
    if stored is None or stored[2].get("identity") != identity:
        game, s, summary = train_final_game(config, bundle_loader(), study.widths)
        save_run_game(game_path, game, s, {"identity": identity, **summary})
    game, s, meta = load_run_game(game_path)
    certificate = certify(game, s, epsilon=config.epsilon, seed=config.seed, budget=budget)
    record = {"identity": certified_identity, "row": {
        "config": key, "name": config.name, "payoff": config.payoff, "beta": config.beta,
        "gamma": config.gamma, "eta": config.eta, "epochs": config.epochs, "seed": config.seed,
        "test_accuracy": meta["test_accuracy"], "train_seconds": meta["train_seconds"],
        **certificate.to_row()}, "certificate": certificate.to_dict()}
    write_json(record, record_path)
    return record


# ---------------------------------------------------------------------------- report
def solver_comparison(game: ParticipationGame, start: np.ndarray,
                      budget: SolveBudget) -> dict[str, EquilibriumResult]:
    """Every solver of `equilibria.METHODS` from the same start (best response in both its
    Gauss-Seidel and Jacobi schemes), to the study's tolerance."""
    runs: dict[str, EquilibriumResult] = {}
    for method in METHODS:
        schemes = ({"scheme": "gauss_seidel"}, {"scheme": "jacobi"}) \
            if method == "best_response" else ({},)
        for options in schemes:
            result = solve_within(game, method, options, start, budget)
            runs[result.method] = result
    return runs


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "nan" if not np.isfinite(value) else f"{value:.3g}"
    return str(value)


TABLE_COLUMNS = (("config", "configuration"), ("seed", "seed"), ("test_accuracy", "acc."),
                 ("nash_gap", "rel. Nash gap at s"), ("kkt_residual", "KKT res. (max)"),
                 ("is_equilibrium", "eq. (gap <= 1e-6)"), ("stability_at_s", "stability at s"),
                 ("monotone", "unique (Rosen)"), ("distinct_equilibria", "distinct eq. found"),
                 ("stable_equilibria", "of them stable"),
                 ("newton_distance", "Newton from s: dist."),
                 ("stability_at_newton", "stability"),
                 ("nearest_method", "nearest eq. by"), ("nearest_distance", "dist. (max)"),
                 ("stability_at_nearest", "stability at eq."), ("pruned_at_s", "pruned by s"),
                 ("pruned_at_nearest", "pruned by eq."), ("jaccard", "Jaccard"))


def markdown_table(rows: Sequence[Mapping[str, Any]],
                   columns: Sequence[tuple[str, str]] = TABLE_COLUMNS) -> str:
    """A Markdown table of `rows` restricted to `columns` ((key, header) pairs)."""
    lines = ["| " + " | ".join(h for _, h in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_fmt(row.get(k)) for k, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def _figures(records: Mapping[tuple[str, int], Mapping[str, Any]], configs: Mapping[str, Any],
             seed: int, out: Path, budget: SolveBudget) -> tuple[list[dict[str, Any]], list[Path]]:
    from analysis.plots import solver_convergence, stability_spectra

    spectra = {}
    for key, config in configs.items():
        record = records.get((key, seed))
        if record is None:
            continue
        certificate = Certificate.from_dict(record["certificate"])
        panel = {"at s": certificate.eigenvalues_at_s}
        if certificate.eigenvalues_at_nearest is not None:
            panel["at the nearest equilibrium"] = certificate.eigenvalues_at_nearest
        spectra[f"{key}: {config.name}"] = panel
    paths = [out / "certificates_stability_spectra.png",
             out / "certificates_solver_convergence.png"]
    stability_spectra(spectra, paths[0],
                      title=f"Spectra of J_FF on the final game (seed {seed})")
    key = "demo" if "demo" in configs else next(iter(configs))
    game, s, _ = load_run_game(out / "runs" / f"{key}_seed{seed}.npz")
    runs = solver_comparison(game, s, budget)
    solver_convergence(
        runs, paths[1], tol=SOLVE_TOL, xscale="log",
        title=f"Every solver from the final s: final game of {key!r} (seed {seed}, "
              f"{game.n_players} players)")
    solver_rows = [{"config": key, "seed": seed, "method": name, "converged": r.converged,
                    "iterations": r.iterations, "nash_gap": r.nash_gap, "seconds": r.seconds,
                    "distance_from_s": float(np.abs(r.profile - s).max()),
                    "pruned": int((r.profile < configs[key].epsilon).sum()),
                    "message": r.message} for name, r in runs.items()]
    write_csv(solver_rows, out / "certificates_solvers.csv")
    return solver_rows, paths


def parser() -> argparse.ArgumentParser:
    """The command line of `main` (``pruning-game reproduce certificates``)."""
    parser = OneLineParser(prog="pruning-game reproduce certificates",
                           description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits",
                        help="dataset for nets.data.load (default %(default)s)")
    parser.add_argument("--root", default=None, help="dataset folder (fashion-mnist, mnist)")
    parser.add_argument("--seeds", type=comma_seeds, default=None,
                        help="comma-separated seeds (default 0,1,2; 0 with --quick)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help=f"training epochs of every configuration (default {FULL_EPOCHS}; "
                             f"{QUICK_EPOCHS} with --quick)")
    parser.add_argument("--out", type=out_dir, default="results/beyond/certificates",
                        help="output folder (default %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help=f"toy size: MLP widths {QUICK_WIDTHS}, {QUICK_LIMIT} examples, "
                             f"{QUICK_EPOCHS} epochs, one seed, short solver budgets")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="torch CPU threads (default %(default)s)")
    add_device_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the study; print the Markdown table; return 0."""
    cli = parser()
    args = cli.parse_args(argv)
    require_data(cli, args.data, args.root)
    import torch

    from nets import data

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    epochs = args.epochs or (QUICK_EPOCHS if args.quick else FULL_EPOCHS)
    study = StudyData(args.data, args.root, QUICK_WIDTHS if args.quick else tuple(DEMO_WIDTHS),
                      QUICK_LIMIT if args.quick else None)
    budget = SolveBudget(max_iter=1000, newton_max_iter=50, max_seconds=5.0, random_starts=1) \
        if args.quick else SolveBudget()
    bundle_cache: list[Any] = []

    def bundle() -> Any:
        if not bundle_cache:
            bundle_cache.append(data.load(study.data, study.root, limit=study.limit))
        return bundle_cache[0]

    configs = study_configs(epochs)
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for key, base in configs.items():
        for seed in seeds:
            config = dataclasses.replace(base, seed=seed, device=args.device)
            record = certify_run(key, config, study, bundle, args.out, budget)
            records[(key, seed)] = record
            row = record["row"]
            print(f"[{time.perf_counter() - started:6.0f}s] {key} seed {seed}: gap "
                  f"{row['nash_gap']:.2e}, {row['stability_at_s']}, "
                  f"{row['distinct_equilibria']} distinct eq., nearest "
                  f"{_fmt(row['nearest_distance'])} away", file=sys.stderr, flush=True)
    rows = [records[(key, seed)]["row"] for key in configs for seed in seeds]
    write_csv(rows, args.out / "certificates.csv")
    solver_rows, figures = _figures(records, configs, seeds[0], args.out, budget)
    print(f"\n## Certificates of the final participation on the final game ({study.data}, "
          f"MLP hidden widths {'-'.join(map(str, study.widths))}; equilibrium when the "
          f"relative Nash gap <= {EQUILIBRIUM_TOL:g}; solves to {SOLVE_TOL:g})\n")
    print(markdown_table(rows))
    print(f"\n## Every solver from the final s ({solver_rows[0]['config']}, seed "
          f"{solver_rows[0]['seed']})\n")
    print(markdown_table(solver_rows, (("method", "solver"), ("converged", "certified"),
                                       ("iterations", "iterations"), ("nash_gap", "rel. gap"),
                                       ("seconds", "seconds"),
                                       ("distance_from_s", "dist. from s"),
                                       ("pruned", "pruned"))))
    print(f"\nCSV: {args.out / 'certificates.csv'}; figures: "
          f"{', '.join(str(p) for p in figures)}; wall time "
          f"{time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    from analysis.guard import run_guarded

    raise SystemExit(run_guarded("pruning-game reproduce certificates", main))
