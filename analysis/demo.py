"""`make demo`: the toolkit's main job, end to end on data bundled with scikit-learn.

1. Solvers on a 10,000-player game from network-like statistics: every solver, its certified
   Nash gap and time, and the stability report of the equilibrium.
2. Equilibrium-driven pruning (Algorithm 1, Shah & Khan 2025) of an MLP on the 8x8 digits:
   train, certify the final participation on the final game (Nash gap, stability), remove the
   pruned units physically, and compare with the same MLP trained densely on the same budget
   (accuracy, neurons kept, parameters, MACs, measured latency). Figures and a JSON summary
   are written to the output folder.

Run ``python -m analysis.demo --help`` for the options.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.arguments import OneLineParser, out_dir, positive_float, positive_int
from analysis.plots import participation_histogram, training_dynamics
from equilibria import (
    LowRank,
    ParticipationGame,
    analyze_stability,
    nash_gap,
    solve,
)
from equilibria.atomic import atomic_write_json
from nets.presets import DEMO_CONFIG, DEMO_WIDTHS

# The demo's pruning configuration and widths live in `nets.presets` (re-exported here): chosen
# on digits from the grid recorded in docs/explanation/digits-dynamics.md, the loss-descent
# benefit with competition from the correlation of the units' activations. Without
# competition every reading we tried either shrank all participations together (nothing
# below epsilon) or collapsed the network.
__all__ = ["DEMO_CONFIG", "DEMO_WIDTHS", "main", "pruning_demo", "solver_table", "write_json"]


def write_json(payload: Any, path: Path) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    atomic_write_json(path, payload, indent=2)


def solver_table(n_players: int, max_seconds: float, seed: int = 0) -> list[dict[str, Any]]:
    """Solve one network-like game with every solver, each within `max_seconds` (`solve`'s
    wall-clock limit); print and return the rows."""
    rng = np.random.default_rng(seed)
    rank = 32
    theta = (rng.standard_normal((n_players, rank)) + 0.5 * rng.standard_normal(rank))
    theta /= np.sqrt(rank)
    game = ParticipationGame.from_paper(0.3 + 0.5 * rng.standard_t(3, n_players),
                                        np.einsum("ij,ij->i", theta, theta), LowRank(theta),
                                        beta=1.0, gamma=0.05, eta=0.01)
    print(f"\n== 1. A {n_players:,}-player participation game (rank-{rank} competition) ==")
    print(f"{'solver':<28}{'certified':>10}{'rel. Nash gap':>15}{'iterations':>12}"
          f"{'seconds':>9}{'active':>8}")
    rows = []
    solvers = (("newton", {}), ("best_response", {"scheme": "gauss_seidel"}),
               ("best_response", {"scheme": "jacobi"}), ("projected_gradient", {}),
               ("extragradient", {}), ("fictitious_play", {}))
    for method, options in solvers:
        result = solve(game, method, tol=1e-8, max_seconds=max_seconds, max_iter=10**6, **options)
        active = int((result.profile > 1e-9).sum())
        print(f"{result.method:<28}{'yes' if result.converged else 'no':>10}"
              f"{result.nash_gap:>15.2e}{result.iterations:>12}{result.seconds:>9.2f}"
              f"{active:>8}")
        rows.append({"method": result.method, "converged": result.converged,
                     "nash_gap": result.nash_gap, "iterations": result.iterations,
                     "seconds": result.seconds, "active": active})
    best = solve(game, "newton", tol=1e-12)
    report = analyze_stability(game, best.profile)
    print(f"equilibrium: {report.classification}, unique (monotone game): {report.unique}, "
          f"potential game: {report.is_potential}, Jacobi best-response radius on the free "
          f"players: {report.br_spectral_radius:.3g}, free/at 0/at 1: {report.n_free}/"
          f"{report.n_at_lower}/{report.n_at_upper}")
    return rows


def pruning_demo(out: Path, epochs: int) -> dict[str, Any]:
    """Train with Algorithm 1 on digits, certify, remove, compare with dense training."""
    from nets import (
        EquilibriumPruning,
        PruningConfig,
        apply_participation,
        data,
        evaluate,
        models,
    )
    from nets.plain import train_plain

    torch.set_num_threads(min(2, torch.get_num_threads()))
    config = PruningConfig(**{**DEMO_CONFIG, "epochs": epochs})
    bundle = data.load("digits")
    model = models.mlp(64, DEMO_WIDTHS, 10, seed=config.seed)
    print(f"\n== 2. Equilibrium-driven pruning of an MLP 64-{'-'.join(map(str, DEMO_WIDTHS))}"
          f"-10 on digits ({len(bundle.train)} train / {len(bundle.test)} test) ==")
    print("config: " + ", ".join(f"{k}={getattr(config, k)}" for k in (
        "alpha", "beta", "gamma", "eta", "payoff", "overlap", "participation_lr", "optimizer",
        "lr", "epochs")))
    started = time.perf_counter()
    dense = train_plain(model, bundle, config)
    dense_seconds = time.perf_counter() - started
    started = time.perf_counter()
    trainer = EquilibriumPruning(config)
    result = trainer.fit(model, bundle, checkpoint_dir=out / "checkpoint",
                         progress=True)
    game_seconds = time.perf_counter() - started
    train_loader, test_loader = bundle.loaders(256, seed=0)
    final_game = trainer.final_game(result.gated, train_loader, n_batches=len(train_loader))
    s = result.participation
    gap = nash_gap(final_game, s)
    report = analyze_stability(final_game, s)
    nearest = solve(final_game, "newton", s0=s, tol=1e-10)
    moved = float(np.abs(nearest.profile - s).max())
    print(f"\ncertificate of the final participation on the final game (statistics over the "
          f"whole training set, {config.payoff} benefit):")
    verdict = "an equilibrium" if gap <= 1e-6 else "NOT an equilibrium at tol 1e-6"
    print(f"  relative Nash gap {gap:.3e} ({verdict}); stability: {report.classification}; "
          f"unique: {report.unique}; free/at 0/at 1: {report.n_free}/{report.n_at_lower}/"
          f"{report.n_at_upper}")
    print(f"  the nearest certified equilibrium (Newton from s) is {moved:.3g} away in "
          f"max-norm and prunes {int((nearest.profile < config.epsilon).sum())} players")
    removed = result.pruned("remove", on_empty="keep_strongest")
    reference = dense.model
    dense_eval = evaluate(reference, test_loader)
    soft_eval = evaluate(apply_participation(result.gated, mode="fold"), test_loader,
                         reference=reference)
    removed_eval = evaluate(removed, test_loader, reference=reference)
    kept = [m.out_features for m in removed if isinstance(m, torch.nn.Linear)][:-1]
    rows = [("dense (plain training)", dense_eval, list(DEMO_WIDTHS), dense_seconds),
            ("game, soft gates folded", soft_eval, list(DEMO_WIDTHS), game_seconds),
            ("game, pruned units removed", removed_eval, kept, game_seconds)]
    print(f"\n{'model':<28}{'accuracy':>9}{'neurons':>12}{'params':>9}{'MACs':>9}"
          f"{'compress':>9}{'speedup':>9}{'latency ms':>11}{'train s':>9}")
    for name, ev, widths, seconds in rows:
        print(f"{name:<28}{ev.accuracy:>9.4f}{'-'.join(map(str, widths)):>12}"
              f"{ev.params_nonzero:>9}{ev.macs_remaining:>9}{ev.compression_ratio:>9.2f}"
              f"{ev.theoretical_speedup:>9.2f}{ev.latency_ms:>11.3f}{seconds:>9.1f}")
    dynamics, histogram = out / "training_dynamics.png", out / "participation_histogram.png"
    training_dynamics({config.name: [r.to_dict() for r in result.history]}, dynamics)
    participation_histogram({config.name: s}, config.epsilon, histogram)
    print(f"\nfigures: {dynamics}, {histogram}")
    return {"config": config.to_dict(), "history": [r.to_dict() for r in result.history],
            "participation": s.tolist(), "final_nash_gap": gap,
            "stability": report.to_dict(), "nearest_equilibrium_distance": moved,
            "dense": dense_eval.to_dict(), "soft": soft_eval.to_dict(),
            "removed": removed_eval.to_dict(), "kept_widths": kept}


def parser() -> argparse.ArgumentParser:
    """The ``pruning-game demo`` command line."""
    parser = OneLineParser(prog="pruning-game demo", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=out_dir, default="results/demo",
                        help="folder for figures, JSON and the training checkpoint (checked "
                             "before any work)")
    parser.add_argument("--epochs", type=positive_int, default=DEMO_CONFIG["epochs"],
                        help="training epochs (default %(default)s)")
    parser.add_argument("--players", type=int, default=10_000,
                        help="players of the solver demo game (default %(default)s)")
    parser.add_argument("--max-seconds", type=positive_float, default=3.0,
                        help="seconds each solver may take in part 1 (the solvers' "
                             "max_seconds; default %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    if args.players < 2:
        cli.error("argument --players: must be >= 2")
    started = time.perf_counter()
    rows = solver_table(args.players, args.max_seconds)
    summary = pruning_demo(args.out, args.epochs)
    summary["solvers"] = rows
    write_json(summary, args.out / "summary.json")
    print(f"\nsummary: {args.out / 'summary.json'}; demo time {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    from analysis.guard import run_guarded

    raise SystemExit(run_guarded("pruning-game demo", main))
