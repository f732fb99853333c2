"""Solver benchmark: time to a certified equilibrium, against L-BFGS-B, dense against LowRank.

Prints, in one run (every ratio is ours / baseline on the same game, taken in this run, as the
median of interleaved repeats):

(a) time to a certified equilibrium (relative Nash gap <= tol) for N = 10^3 ... 10^6 players
    with rank-64 LowRank competition, per solver, each within a wall-clock budget;
(b) our fastest solver's time divided by scipy's L-BFGS-B maximizing the potential to the
    same Nash gap on the same game (the gap is checked in an L-BFGS-B callback, exactly as our
    solvers check it each iteration), for weak competition (Jacobi best-response spectral
    radius below 1) and strong competition (radius well above 1, where simultaneous best
    response oscillates; the game stays monotone, so the equilibrium is unique);
(c) dense against LowRank competition for the same game at N = 10^4.

The games come from network-like statistics: each player's parameter group theta_i has a
shared mean direction (units of a layer are correlated), benefits are heavy-tailed like
gradient inner products, ``q_i = beta ||theta_i||^2``, ``c_i = gamma``,
``R = eta (Theta Theta^T - diag)`` (Shah & Khan 2025, Eq. 9-10).

Usage: ``python bench/solvers.py [--quick] [--max-seconds SECONDS] [--repeats K]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from equilibria import LowRank, ParticipationGame, analyze_stability, nash_gap, solve
from equilibria.stability import best_response_radius

SOLVERS: tuple[tuple[str, str, dict], ...] = (
    ("newton", "newton", {}),
    ("gauss_seidel", "best_response", {"scheme": "gauss_seidel"}),
    ("jacobi", "best_response", {"scheme": "jacobi"}),
    ("projected_gradient", "projected_gradient", {}),
    ("extragradient", "extragradient", {}),
    ("fictitious_play", "fictitious_play", {}),
)


def network_like_game(n: int, *, rank: int = 64, eta: float, beta: float = 1.0,
                      gamma: float = 0.05, seed: int = 0) -> ParticipationGame:
    """A participation game from synthetic layer statistics (see the module docstring)."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal(rank)
    theta = (rng.standard_normal((n, rank)) + 0.5 * shared) / np.sqrt(rank)
    sq_norms = np.einsum("ij,ij->i", theta, theta)
    grad_inner = 0.3 + 0.5 * rng.standard_t(df=3, size=n)
    return ParticipationGame.from_paper(grad_inner, sq_norms, LowRank(theta), beta=beta,
                                        gamma=gamma, eta=eta)


@dataclass(frozen=True)
class Timing:
    """One timed solve."""

    seconds: float
    converged: bool
    iterations: int
    gap: float


def time_ours(game: ParticipationGame, method: str, options: dict, tol: float,
              budget: float) -> Timing:
    """Wall time of `equilibria.solve` to the certificate (includes its gap checks)."""
    start = time.perf_counter()
    result = solve(game, method, tol=tol, max_iter=10**7, max_seconds=budget, **options)
    return Timing(time.perf_counter() - start, result.converged, result.iterations,
                  result.nash_gap)


def time_lbfgsb(game: ParticipationGame, tol: float, budget: float) -> Timing:
    """L-BFGS-B maximizing the potential from s = 1, stopped at the same relative Nash gap."""
    n = game.n_players
    lo, hi = game.bounds
    state = {"iterations": 0, "gap": np.inf}
    start = time.perf_counter()

    def objective(s: np.ndarray) -> tuple[float, np.ndarray]:
        s = np.clip(s, lo, hi)
        return -game.potential(s), -game.pseudo_gradient(s)

    def certified(intermediate_result) -> None:
        state["iterations"] += 1
        state["gap"] = nash_gap(game, np.clip(intermediate_result.x, lo, hi))
        if state["gap"] <= tol or time.perf_counter() - start > budget:
            raise StopIteration

    result = minimize(objective, np.full(n, hi), jac=True, method="L-BFGS-B",
                      bounds=[(lo, hi)] * n, callback=certified,
                      options={"maxiter": 10**6, "maxfun": 10**7, "ftol": 0.0, "gtol": 0.0})
    gap = nash_gap(game, np.clip(result.x, lo, hi))
    return Timing(time.perf_counter() - start, gap <= tol, state["iterations"], gap)


def median_timing(run: Callable[[], Timing], repeats: int) -> Timing:
    """The run with the median time among `repeats`."""
    runs = sorted((run() for _ in range(repeats)), key=lambda t: t.seconds)
    return runs[len(runs) // 2]


def cell(t: Timing) -> str:
    """A table cell: seconds, or what stopped the solver."""
    if t.converged:
        return f"{t.seconds:8.3f}s ({t.iterations})"
    return f"  >{t.seconds:5.1f}s gap {t.gap:.0e}"


def part_a(sizes: list[int], tol: float, budget: float) -> None:
    print(f"\n(a) time to a certified equilibrium (relative Nash gap <= {tol:g}), rank-64 "
          f"LowRank, eta = 0.05, budget {budget:g}s per solve; (iterations)")
    header = f"{'N':>9} " + " ".join(f"{name:>22}" for name, _, _ in SOLVERS)
    print(header)
    print("-" * len(header))
    for n in sizes:
        game = network_like_game(n, eta=0.05)
        cells = [cell(time_ours(game, method, options, tol, budget))
                 for _, method, options in SOLVERS]
        print(f"{n:>9} " + " ".join(f"{c:>22}" for c in cells), flush=True)


def part_b(n: int, tol: float, budget: float, repeats: int) -> None:
    print(f"\n(b) our fastest solver / scipy L-BFGS-B on the potential, same game, same "
          f"certificate, N = {n}, median of {repeats}")
    print("    BR radius: spectral radius of diag(1/2q) R over all players (Jacobi from "
          "s = 1) / over the free players at the equilibrium")
    print(f"{'competition':>12} {'eta':>9} {'BR radius':>18} {'ours (solver)':>28} "
          f"{'L-BFGS-B':>22} {'ratio':>7} {'target <= 0.5':>14}")
    unit = best_response_radius(network_like_game(n, eta=1.0))
    for label, eta in (("weak", 0.5 / unit), ("strong", 1.0)):
        game = network_like_game(n, eta=eta)
        reference = solve(game, "newton", tol=tol)
        radius = (f"{best_response_radius(game):.3g} / "
                  f"{analyze_stability(game, reference.profile).br_spectral_radius:.3g}")
        ours = {}
        for name, method, options in SOLVERS[:3]:
            def run(g: ParticipationGame = game, m: str = method, o: dict = options) -> Timing:
                return time_ours(g, m, o, tol, budget)
            ours[name] = median_timing(run, repeats)
        converged = {k: v for k, v in ours.items() if v.converged}
        best = min(converged, key=lambda k: converged[k].seconds) if converged else None
        baseline = median_timing(lambda g=game: time_lbfgsb(g, tol, budget), repeats)
        if best is None or not baseline.converged:
            print(f"{label:>12} {eta:>9.3g} {radius:>18}  no certified time within budget")
            continue
        ratio = converged[best].seconds / baseline.seconds
        print(f"{label:>12} {eta:>9.3g} {radius:>18} {cell(converged[best]):>19} "
              f"{best:>8} {cell(baseline):>22} {ratio:>7.3f} "
              f"{'yes' if ratio <= 0.5 else 'NO':>14}", flush=True)


def part_c(n: int, tol: float, budget: float) -> None:
    print(f"\n(c) dense / LowRank competition, same game, N = {n}, eta = 0.05")
    low = network_like_game(n, eta=0.05)
    start = time.perf_counter()
    dense = ParticipationGame(low.benefit, low.quadratic_cost, low.linear_cost,
                              low.competition.rows(0, n))
    build = time.perf_counter() - start
    print(f"dense matrix: {dense.competition.nbytes / 2**20:.0f} MiB built in {build:.2f}s; "
          f"LowRank factors: {low.competition.factors.nbytes / 2**20:.1f} MiB")
    product = {}
    for name, game in (("dense", dense), ("lowrank", low)):
        s = np.full(n, 0.5)
        start = time.perf_counter()
        for _ in range(20):
            game.pseudo_gradient(s)
        product[name] = (time.perf_counter() - start) / 20
    print(f"{'operation':>22} {'dense':>22} {'LowRank':>22} {'dense/LowRank':>14}")
    print(f"{'pseudo-gradient':>22} {product['dense'] * 1e3:>20.2f}ms "
          f"{product['lowrank'] * 1e3:>20.2f}ms {product['dense'] / product['lowrank']:>14.1f}")
    for name, method, options in SOLVERS[:4]:
        timings = [time_ours(game, method, options, tol, budget) for game in (dense, low)]
        ratio = timings[0].seconds / timings[1].seconds
        print(f"{name:>22} {cell(timings[0]):>22} {cell(timings[1]):>22} {ratio:>14.1f}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a CI smoke run)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="seconds per solve before giving up (default 60, quick 5)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="repeats for the ratios in (b) (default 3, quick 1)")
    parser.add_argument("--tol", type=float, default=1e-8, help="relative Nash gap")
    args = parser.parse_args()
    budget = args.max_seconds or (5.0 if args.quick else 60.0)
    repeats = args.repeats or (1 if args.quick else 3)
    print(f"python {platform.python_version()}, numpy {np.__version__}, cpus {os.cpu_count()}")
    started = time.perf_counter()
    part_a([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000], args.tol,
           budget)
    part_b(10_000 if args.quick else 100_000, args.tol, budget, repeats)
    part_c(2_000 if args.quick else 10_000, args.tol, budget)
    print(f"\nbenchmark time {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
