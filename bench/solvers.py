"""Solver benchmark: time to a certified equilibrium against the one-pass floor and L-BFGS-B.

Prints, in one run (every ratio is ours / baseline on the same game, taken in this run, as the
median of interleaved repeats where repeats are asked for):

(a) time to a certified equilibrium (relative Nash gap <= tol) for N = 10^3 ... 10^6 players
    with rank-64 LowRank competition, per solver, each within a wall-clock budget, beside the
    measured floor: one pass over the factors, ``F^T s`` then ``F y`` (what one pseudo-gradient
    costs), and the fastest solver's time in passes;
(b) our fastest solver's time divided by scipy's L-BFGS-B maximizing the potential to the
    same Nash gap on the same game (the gap is checked in an L-BFGS-B callback, exactly as our
    solvers check it each iteration), for weak competition (Jacobi best-response spectral
    radius below 1) and strong competition (radius well above 1, where simultaneous best
    response oscillates; the game stays monotone, so the equilibrium is unique);
(c) dense against LowRank competition for the same game at N = 10^4;
(d) issue 13's targets at N = 10^6: the harder game (factors N(0, 0.05^2), b ~ U(-1, 2),
    q ~ U(0.5, 1), c = 0.1, seed 3) and the strong-competition game of (b), certified in at
    most 5 s and within 10x of the one-pass floor (newton and gauss_seidel);
(e) fictitious play on the 30-player `CallableGame` of the budget tests (U_i = s_i (1 - s_i / 2
    - sum_j C_ij s_j), C = 0.3 (1 - I) / 30): 2,000 iterations (issue 13: 233 s with one scalar
    search per player and call), with a vectorized utility (every best-response search step is
    one call for all players) and with one utility call per player;
(f) where numba pays: the CPU time of importing numba and loading its cached kernels (in fresh
    processes), against what the compiled code saves: a Gauss-Seidel player move in Python and
    compiled (`equilibria.solvers.best_response.PYTHON_SWEEP_MOVES` moves run in Python), and
    newton's dual passes with numpy and compiled, N = 10^4 .. 10^6, each solve timed (wall) in a
    fresh process, so that the first compiled one carries the import and the kernels' load
    (`equilibria.solvers.newton.COMPILED_MIN_PLAYERS`).

The games of (a)-(c) come from network-like statistics: each player's parameter group theta_i
has a shared mean direction (units of a layer are correlated), benefits are heavy-tailed like
gradient inner products, ``q_i = beta ||theta_i||^2``, ``c_i = gamma``,
``R = eta (Theta Theta^T - diag)`` (Shah & Khan 2025, Eq. 9-10). The payoff scale that makes
the gap relative is a property of the game (O(N d^2), computed once per game): it is timed on
its own and left out of the solver times, and (d) prints the total with it.

In (d) the relative gap of the returned profile is measured again by `equilibria.nash_gap`
(outside the timing): newton's steps compute the gap themselves from the products they share.

Usage: ``python bench/solvers.py [--quick] [--parts abcdef] [--max-seconds SECONDS]
[--repeats K]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from unittest import mock

import numpy as np
from scipy.optimize import minimize

from equilibria import (
    CallableGame,
    LowRank,
    ParticipationGame,
    analyze_stability,
    nash_gap,
    solve,
)
from equilibria.solvers import best_response
from equilibria.solvers.newton import COMPILED_MIN_PLAYERS
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


def hard_game(n: int, *, rank: int = 64, seed: int = 3) -> ParticipationGame:
    """Issue 13's harder game: factors N(0, 0.05^2), b ~ U(-1, 2), q ~ U(0.5, 1), c = 0.1."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(0.0, 0.05, (n, rank))
    benefit = rng.uniform(-1.0, 2.0, n)
    quadratic = rng.uniform(0.5, 1.0, n)
    return ParticipationGame(benefit, quadratic, 0.1, LowRank(factors))


def one_pass_seconds(game: ParticipationGame, repeats: int = 5) -> float:
    """Median time of one pass over the factors: ``y = F^T s`` then ``F y``."""
    factors = game.competition.factors
    s = np.full(game.n_players, 0.5)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        factors @ (factors.T @ s)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def scale_seconds(game: ParticipationGame) -> float:
    """Time of the game's payoff scale (computed once per game, then cached by the game)."""
    start = time.perf_counter()
    game.payoff_scale()
    return time.perf_counter() - start


@dataclass(frozen=True)
class Timing:
    """One timed solve."""

    seconds: float
    converged: bool
    iterations: int
    gap: float
    #: the returned profile's relative gap measured again by `equilibria.nash_gap` (untimed)
    checked_gap: float = float("nan")


def time_ours(game: ParticipationGame, method: str, options: dict, tol: float,
              budget: float) -> Timing:
    """Wall time of `equilibria.solve` to the certificate (includes its gap checks)."""
    start = time.perf_counter()
    result = solve(game, method, tol=tol, max_iter=10**7, max_seconds=budget, **options)
    seconds = time.perf_counter() - start
    return Timing(seconds, result.converged, result.iterations, result.nash_gap,
                  float(nash_gap(game, result.profile)))


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


def warm_up() -> None:
    """Import and compile everything once (numba kernels, scipy) so no timing pays for it."""
    for game in (network_like_game(200, rank=4, eta=0.05), hard_game(200, rank=4),
                 ParticipationGame(network_like_game(50, rank=4, eta=0.05).benefit, 1.0, 0.0,
                                   np.ones((50, 50)) / 50)):
        for _, method, options in SOLVERS:
            solve(game, method, tol=1e-6, max_iter=20, **options)
        time_lbfgsb(game, 1e-6, 1.0)
    solve(thirty_player_game(True, 4), "fictitious_play", max_iter=2, max_seconds=None)


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
    print("    floor: one pass over the factors (F^T s then F y); each cell: seconds "
          "(iterations) and time / floor; scale: the game's payoff scale, once per game")
    header = (f"{'N':>9} {'floor':>9} {'scale':>8} "
              + " ".join(f"{name:>26}" for name, _, _ in SOLVERS) + f" {'best/floor':>11}")
    print(header)
    print("-" * len(header))
    for n in sizes:
        game = network_like_game(n, eta=0.05)
        scale = scale_seconds(game)
        floor = one_pass_seconds(game)
        timings = [time_ours(game, method, options, tol, budget)
                   for _, method, options in SOLVERS]
        best = min((t.seconds for t in timings if t.converged), default=np.nan)
        cells = [cell(t) + (f" {t.seconds / floor:>5.0f}x" if t.converged else " " * 7)
                 for t in timings]
        print(f"{n:>9} {floor * 1e3:>7.2f}ms {scale:>7.3f}s "
              + " ".join(f"{c:>26}" for c in cells) + f" {best / floor:>11.1f}", flush=True)


def part_b(n: int, tol: float, budget: float, repeats: int) -> None:
    print(f"\n(b) our fastest solver / scipy L-BFGS-B on the potential, same game, same "
          f"certificate, N = {n}, median of {repeats}")
    print("    BR radius: spectral radius of diag(1/2q) R over all players (Jacobi from "
          "s = 1) / over the free players at the equilibrium")
    print(f"{'competition':>12} {'eta':>9} {'BR radius':>18} {'ours (solver)':>28} "
          f"{'L-BFGS-B':>22} {'ratio':>7} {'target <= 0.1':>14}")
    unit = best_response_radius(network_like_game(n, eta=1.0))
    for label, eta in (("weak", 0.5 / unit), ("strong", 1.0)):
        game = network_like_game(n, eta=eta)
        game.payoff_scale()  # a property of the game, shared by both sides of the ratio
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
              f"{'yes' if ratio <= 0.1 else 'NO':>14}", flush=True)


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


def part_d(n: int, tol: float, budget: float, repeats: int) -> None:
    print(f"\n(d) issue 13 targets, N = {n}, rank 64: certified (gap <= {tol:g}) in <= 5 s "
          f"and <= 10 floors; median of {repeats} interleaved runs, budget {budget:g}s")
    print("    gap again: the returned profile's relative gap measured by equilibria.nash_gap")
    print(f"{'game':>8} {'floor':>9} {'scale':>8} {'solver':>13} {'solve':>22} "
          f"{'+ scale':>9} {'/ floor':>8} {'<= 5 s':>7} {'<= 10x':>7} {'gap again':>10}")
    for label, build in (("harder", lambda: hard_game(n)),
                         ("strong", lambda: network_like_game(n, eta=1.0))):
        game = build()
        scale = scale_seconds(game)
        floor = one_pass_seconds(game)
        runs: dict[str, list[Timing]] = {name: [] for name, _, _ in SOLVERS[:2]}
        floors: list[float] = []
        for _ in range(repeats):  # the floor measured between the solves, so both see one load
            for name, method, options in SOLVERS[:2]:
                floors.append(one_pass_seconds(game, 3))
                runs[name].append(time_ours(game, method, options, tol, budget))
        floor = float(np.median([floor, *floors]))
        for name, timings in runs.items():
            t = sorted(timings, key=lambda x: x.seconds)[len(timings) // 2]
            ok = t.converged and t.seconds + scale <= 5.0
            within = t.converged and t.seconds <= 10 * floor
            print(f"{label:>8} {floor * 1e3:>7.1f}ms {scale:>7.2f}s {name:>13} {cell(t):>22} "
                  f"{t.seconds + scale:>8.2f}s {t.seconds / floor:>8.1f} "
                  f"{'yes' if ok else 'NO':>7} {'yes' if within else 'NO':>7} "
                  f"{t.checked_gap:>10.1e}", flush=True)
        del game


def thirty_player_game(vectorized: bool, n: int = 30) -> CallableGame:
    """The 30-player CallableGame of the budget tests; the utility broadcasts over stacks."""
    coupling = 0.3 * (np.ones((n, n)) - np.eye(n)) / n
    return CallableGame(lambda s: s * (1.0 - 0.5 * s - s @ coupling.T), n,
                        vectorized=vectorized)


def part_e(iterations: int) -> None:
    print(f"\n(e) fictitious play, 30-player CallableGame, {iterations} iterations "
          "(issue 13: 2,000 in 233 s); target: the same gap in <= 5 s")
    print(f"{'utility calls':>24} {'seconds':>9} {'gap':>10} {'ms / iteration':>15}")
    results = {}
    for label, vectorized in (("one per search step", True), ("one per player", False)):
        start = time.perf_counter()
        result = solve(thirty_player_game(vectorized), "fictitious_play", tol=0.0,
                       max_iter=iterations, max_seconds=None)
        seconds = time.perf_counter() - start
        results[label] = (seconds, result)
        print(f"{label:>24} {seconds:>8.2f}s {result.nash_gap:>10.2e} "
              f"{seconds / iterations * 1e3:>15.2f}", flush=True)
    gap = np.abs(results["one per search step"][1].profile
                 - results["one per player"][1].profile).max()
    print(f"largest difference between the two final profiles: {gap:.1e} (the search is "
          "accurate to about 1e-8)")


_NUMBA_COST = """
import time
started = time.process_time()
import numpy as np
import numba
from equilibria.solvers import _numba
s = np.zeros(3)
_numba.dense_sweep(s, np.zeros((3, 3)), np.ones(3), np.ones(3), 0.0, 1.0, 1.0,
                   np.arange(3, dtype=np.int64))
_numba.dual_line_slope(1.0, s, s, s, s + 1.0, 1.0, 0.0, 1.0)
print(time.process_time() - started)
"""


def numba_cost(repeats: int) -> float:
    """Median CPU seconds a fresh process spends importing numba and loading two cached
    kernels (numpy itself imported before the clock starts is cheap beside it)."""
    seconds = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _NUMBA_COST], capture_output=True,
                             text=True, check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
        seconds.append(float(out.stdout.strip().splitlines()[-1]))
    return float(np.median(seconds))


def part_f(sizes: list[int], repeats: int) -> None:
    print("\n(f) where numba pays: its one-time cost per process against what compiled code "
          "saves (CPU seconds, median of interleaved runs)")
    cost = numba_cost(max(repeats, 3))
    print(f"import numba + load two cached kernels: {cost:.3f}s CPU in a fresh process")
    game = ParticipationGame.from_paper(*_sparse_stats(2_000), beta=1.0, gamma=0.05, eta=0.2)
    per_move = {}
    for label, moves in (("python", 10**12), ("compiled", 0)):
        times = []
        for _ in range(repeats):
            with mock.patch.object(best_response, "PYTHON_SWEEP_MOVES", moves):
                step = best_response.gauss_seidel_step(game)
                s = np.ones(game.n_players)
                start = time.process_time()
                for k in range(5):
                    s = step(s, k)
                times.append((time.process_time() - start) / (5 * game.n_players))
        per_move[label] = float(np.median(times))
    budget = best_response.PYTHON_SWEEP_MOVES
    print(f"Gauss-Seidel move (sparse, N = {game.n_players}): python "
          f"{per_move['python'] * 1e6:.2f} us, compiled {per_move['compiled'] * 1e6:.3f} us; "
          f"PYTHON_SWEEP_MOVES = {budget:,} "
          f"moves cost {budget * per_move['python']:.3f}s in Python "
          f"({budget * per_move['python'] / cost:.2f} of the import)")
    print(f"newton's dual passes on the strong-competition game, each first solve in a fresh "
          f"process (wall seconds; COMPILED_MIN_PLAYERS = {COMPILED_MIN_PLAYERS:,}):")
    print(f"{'N':>9} {'numpy':>9} {'compiled, first':>16} {'compiled, next':>15} "
          f"{'solves to repay the load':>25}")
    for n in sizes:
        rows: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(repeats):  # (interleaved)
            for compiled in (False, True):
                rows[compiled].append(first_solves(n, compiled))
        numpy_s = float(np.median([first for first, _ in rows[False]]))
        first_s = float(np.median([first for first, _ in rows[True]]))
        next_s = float(np.median([later for _, later in rows[True]]))
        saved, load = numpy_s - next_s, first_s - next_s
        repay = f"{load / saved:.1f}" if saved > 0 else "never"
        print(f"{n:>9} {numpy_s:>8.3f}s {first_s:>15.3f}s {next_s:>14.3f}s {repay:>25}",
              flush=True)


_FIRST_SOLVES = """
import sys, time
import numpy as np
sys.path.insert(0, "bench")
from solvers import network_like_game
from equilibria.solvers._loop import iterate
from equilibria.solvers.newton import DualNewton
n, compiled = int(sys.argv[1]), sys.argv[2] == "1"
game = network_like_game(n, eta=1.0)
game.payoff_scale()
seconds = []
for _ in range(2):
    started = time.perf_counter()
    result = iterate(game, DualNewton(game, compiled), np.ones(n), method="newton", tol=1e-8,
                     max_iter=100, record=False)
    seconds.append(time.perf_counter() - started)
    assert result.converged
print(*seconds)
"""


def first_solves(n: int, compiled: bool) -> tuple[float, float]:
    """Wall seconds of the first and the second newton solve of the strong-competition game
    with `n` players in a fresh process, with numpy's or numba's passes: the first compiled
    solve includes importing numba and loading the cached kernels, once per process."""
    out = subprocess.run([sys.executable, "-c", _FIRST_SOLVES, str(n), "1" if compiled else "0"],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    first, second = (float(value) for value in out.stdout.split())
    return first, second


def _sparse_stats(n: int) -> tuple[np.ndarray, np.ndarray, object]:
    """Benefits, squared norms and a sparse symmetric competition of about 20 entries a row."""
    import scipy.sparse as sp

    rng = np.random.default_rng(1)
    upper = sp.random(n, n, density=10 / n, random_state=rng, format="csr")
    gram = (upper + upper.T).tocsr()
    gram.setdiag(0.0)
    gram.eliminate_zeros()
    return 0.3 + 0.5 * rng.standard_t(df=3, size=n), rng.uniform(0.5, 1.5, n), gram


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a CI smoke run)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="seconds per solve before giving up (default 60, quick 5)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="repeats for the ratios in (b) (default 3, quick 1)")
    parser.add_argument("--tol", type=float, default=1e-8, help="relative Nash gap")
    parser.add_argument("--parts", default="abcdef", help="which parts to run, e.g. 'ad'")
    args = parser.parse_args()
    budget = args.max_seconds or (5.0 if args.quick else 60.0)
    repeats = args.repeats or (1 if args.quick else 3)
    print(f"python {platform.python_version()}, numpy {np.__version__}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f} (a busy machine slows the memory-bound floor "
          "and the compute-bound solves unequally: read ratios from a quiet one)")
    started = time.perf_counter()
    warm_up()
    if "a" in args.parts:
        part_a([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000],
               args.tol, budget)
    if "b" in args.parts:
        part_b(10_000 if args.quick else 100_000, args.tol, budget, repeats)
    if "c" in args.parts:
        part_c(2_000 if args.quick else 10_000, args.tol, budget)
    if "d" in args.parts:
        part_d(20_000 if args.quick else 1_000_000, args.tol, budget, repeats)
    if "e" in args.parts:
        part_e(200 if args.quick else 2_000)
    if "f" in args.parts:
        part_f([10_000] if args.quick else [10_000, 100_000, 300_000, 1_000_000],
               repeats)
    print(f"\nbenchmark time {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
