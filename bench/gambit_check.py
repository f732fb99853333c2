"""`equilibria.all_equilibria` against pygambit on discretized two-player participation games
(issue 13, item 5): a one-off offline check, not a test (pygambit is not a dependency).

For every pair game each player's strategy set [0, 1] is replaced by the grid
G_k = {0, 1/k, ..., 1}, the bimatrix game ``A[x, y] = U_1(x, y)``, ``B[x, y] = U_2(x, y)``
(x, y in G_k, payoffs from `ParticipationGame.utilities`) is built with
``pygambit.StrategicGame.from_arrays`` and solved by ``pygambit.nash.enumpure_solve`` (every
pure equilibrium) and ``pygambit.nash.lcp_solve`` (Lemke-Howson from every label: the
accessible mixed equilibria; ``enummixed_solve`` is complete but took 112 s on one 41 x 41
game here). The equilibria of the continuous game (ours) are then compared with the grid's in
the max-norm, both ways.

Why the grid's equilibria are within ``tol = kappa h`` (h = 1/k) of ours
-------------------------------------------------------------------------
1. **Grid best responses are within h/2 of the continuous ones.** For q_i > 0,
   ``x -> U_i(x, s_j) = a_i x - q_i x^2 - R_ij s_j x`` is a concave parabola, symmetric about
   its peak ``(a_i - R_ij s_j) / (2 q_i)``; its maximum over G_k is therefore the grid point
   nearest the peak's clip to [0, 1] (two points at a tie), at most h/2 from the continuous
   best response ``BR_i(s_j)``. A mixed strategy of player j enters U_i only through its
   mean mu_j (U_i is linear in s_j), so the best responses to a mixed strategy are the grid
   best responses to mu_j, and a player's equilibrium mix is a mix of them: at every pure or
   mixed grid equilibrium the means mu satisfy ``|mu_i - BR_i(mu_j)| <= h/2``.
2. **An h/2-approximate fixed point is close to a fixed point.** On a piece where both best
   responses are affine (interior: slope ``m_i = -R_ij / (2 q_i)``; clipped: slope 0),
   ``mu - s* = M (mu - s*) + e`` with ``M = [[0, m_1], [m_2, 0]]`` and ``|e| <= h/2``, so
   ``|mu - s*|_inf <= (1 + max|m_i|) h / (2 |1 - m_1 m_2|)``. With the clipped pieces
   (``det = 1``) this gives ``kappa = (1 + max_i |m_i|) / (2 min(1, |1 - m_1 m_2|))``.
   Conversely, a regular equilibrium (``m_1 m_2 != 1``: index +-1) survives the h/2
   perturbation of the best-response graphs, so the convexified grid correspondence, whose
   fixed points are the grid game's mixed equilibria, has one within the same distance.
   A *pure* grid equilibrium need not exist there: near an unstable equilibrium
   (``m_1 m_2 > 1``) the step map ``x -> BR_1(BR_2(x))`` on G_k can jump over the diagonal,
   and only a mixed grid equilibrium lies nearby. Near a tangency of the two best-response
   curves (``m_1 m_2`` close to 1, or a kink touching the other curve) the bound is
   weak; any such case shows up as a reported disagreement.
3. **k = 1 is exact.** With q = 0 the utilities ``s_i (a_i - R_ij s_j)`` are bilinear, so the
   continuous game on [0, 1]^2 *is* the mixed extension of the 2 x 2 game on {0, 1}
   (participation = probability of playing 1): its equilibria and the bimatrix game's
   (``enummixed_solve``, complete) coincide exactly.

The script prints one row per (family, k): games, equilibria found by each side, the largest
distances in units of h, the number of our equilibria without a *pure* grid equilibrium within
tol (with their stability), and disagreements (an equilibrium of either side with nothing of
the other side within tol), listed in full. It writes the same as markdown to
``bench/results/gambit_check.md`` (atomically).

Usage, in a separate environment with pygambit (not the project's: `equilibria` needs only
numpy, scipy, networkx and nashpy there, no torch)::

    python -m venv /work/gambit-venv
    /work/gambit-venv/bin/pip install pygambit numpy scipy pandas click networkx nashpy
    PYTHONPATH=. /work/gambit-venv/bin/python bench/gambit_check.py [--games 20] \
        [--grids 20,25,40] [--quick]

The committed results took 20-25 s (pygambit 17.0.0b2, from a local wheel).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from equilibria import LowRank, ParticipationGame, all_equilibria, solve
from equilibria import competition as comp
from equilibria.atomic import atomic_write_text
from equilibria.certify import DISTINCT_TOL, distinct_profiles

try:
    import pygambit as gbt
except ImportError:  # a one-off check: pygambit is deliberately not a project dependency
    gbt = None

RESULTS = Path(__file__).resolve().parent / "results" / "gambit_check.md"
EXACT_TOL = 1e-9


# ---------------------------------------------------------------------------- the games
def duplicate_pair() -> ParticipationGame:
    """Two identical players with strong competition: (1, 0), (0, 1) and (1/4, 1/4)."""
    return ParticipationGame([1.0, 1.0], [0.5, 0.5], 0.0, [[0.0, 3.0], [3.0, 0.0]])


def near_duplicate_pair(rng: np.random.Generator) -> ParticipationGame:
    """Two nearly parallel parameter groups theta_2 = theta_1 + noise, in the paper's form
    (``from_paper`` with a LowRank Gram matrix): b = <grad, theta>, q = beta |theta|^2,
    R = eta <theta_i, theta_j>; eta / beta in [1, 8] gives one or three equilibria."""
    theta = rng.standard_normal(8)
    factors = np.stack([theta, theta + rng.uniform(0.0, 0.4) * rng.standard_normal(8)])
    beta = 0.05
    return ParticipationGame.from_paper(
        rng.uniform(0.2, 2.0, 2) * (factors ** 2).sum(axis=1) * beta * 2.0,
        (factors ** 2).sum(axis=1), LowRank(factors), beta=beta,
        gamma=float(rng.uniform(0.0, 0.1)), eta=beta * float(rng.uniform(1.0, 8.0)))


def random_pair(rng: np.random.Generator) -> ParticipationGame:
    """Dense R with independent (possibly opposite-signed) entries: complements, substitutes
    and asymmetric games."""
    R = rng.uniform(-1.0, 3.0, (2, 2))
    return ParticipationGame(rng.uniform(-0.3, 2.0, 2), rng.uniform(0.2, 1.0, 2),
                             rng.uniform(0.0, 0.2, 2), R)


def dominated_pair(rng: np.random.Generator) -> ParticipationGame:
    """Player 2 dominated: either outright (b_2 < c_2) or after one round of iterated
    dominance (player 1 always plays at least s_min > 0 and R_21 s_min > a_2)."""
    q = rng.uniform(0.2, 1.0, 2)
    if rng.random() < 0.5:
        return ParticipationGame([rng.uniform(0.3, 2.0), rng.uniform(0.0, 0.2)], q,
                                 [0.0, rng.uniform(0.25, 0.5)],
                                 [[0.0, rng.uniform(-1, 1)], [rng.uniform(-1, 1), 0.0]])
    a1, r12 = 2.0 * q[0] * rng.uniform(0.6, 1.0) + 1.0, rng.uniform(0.0, 1.0)
    s_min = min((a1 - r12) / (2.0 * q[0]), 1.0)
    r21 = rng.uniform(1.2, 2.0) / s_min
    return ParticipationGame([a1, rng.uniform(0.1, 1.0)], q, 0.0, [[0.0, r12], [r21, 0.0]])


def corner_pair(rng: np.random.Generator) -> ParticipationGame:
    """q = 0: bilinear utilities, the mixed extension of a 2 x 2 game (exact at k = 1)."""
    return ParticipationGame(rng.uniform(-1.0, 2.0, 2), 0.0, 0.0, rng.uniform(-2.0, 2.0, (2, 2)))


FAMILIES = {"near-duplicate (LowRank)": near_duplicate_pair, "random dense": random_pair,
            "dominated player": dominated_pair}


# ---------------------------------------------------------------------------- pygambit side
def grid_payoffs(game: ParticipationGame, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``A[x, y], B[x, y]``: the players' utilities on the grid {0, 1/k, ..., 1}^2."""
    grid = np.arange(k + 1) / k
    payoffs = np.array([[game.utilities([x, y]) for y in grid] for x in grid])
    return payoffs[..., 0], payoffs[..., 1]


def profile_means(equilibria, k: int) -> list[np.ndarray]:
    """Each pygambit equilibrium as the pair of means (mu_1, mu_2) over the grid."""
    grid = np.arange(k + 1) / k
    return [np.array([sum(float(p) * grid[int(label) - 1] for label, p in profile[player])
                      for player in ("1", "2")]) for profile in equilibria]


def kappa(game: ParticipationGame) -> float:
    """``(1 + max|m_i|) / (2 min(1, |1 - m_1 m_2|))`` with ``m_i = -R_ij / (2 q_i)``."""
    R = comp.to_dense(game.competition, 2)
    m = -np.array([R[0, 1], R[1, 0]]) / (2.0 * game.quadratic_cost)
    return float((1.0 + np.abs(m).max()) / (2.0 * min(1.0, abs(1.0 - m[0] * m[1]))))


def nearest(points: list[np.ndarray], to: list[np.ndarray]) -> np.ndarray:
    """Max-norm distance from each of `points` to the nearest of `to` (inf when empty)."""
    return np.array([min((float(np.abs(p - t).max()) for t in to), default=np.inf)
                     for p in points])


def diagnose(game: ParticipationGame, point: np.ndarray, ours: list[np.ndarray],
             h: float) -> str:
    """Why a grid equilibrium has none of ours nearby: its best-response residual (at most
    h/2 by step 1 of the module docstring), where the unclipped best-response lines cross
    (the interior equilibrium, when it is inside the box) and where damped Jacobi best-response play
    started there ends."""
    residual = float(np.abs(point - game.best_response(point)).max())
    R = comp.to_dense(game.competition, 2)
    crossing = np.linalg.solve(R + np.diag(2.0 * game.quadratic_cost), game.net_benefit)
    result = solve(game, "best_response", s0=point, scheme="jacobi", damping=0.5)
    d = float(nearest([result.profile], ours)[0])
    where = ("one of ours" if d <= DISTINCT_TOL else f"{d:.2e} from ours") if result.converged \
        else "not converged"
    return (f"|mu - BR(mu)| = {residual / h:.2f} h: an h/2-approximate equilibrium with no "
            f"exact one nearby (the unclipped best-response lines cross at "
            f"{np.round(crossing, 4).tolist()}); best-response play from it ends at "
            f"{np.round(result.profile, 4).tolist()} ({where})")


# ---------------------------------------------------------------------------- comparison
@dataclass
class Row:
    family: str
    k: int
    games: int = 0
    several: int = 0               # games with more than one equilibrium (ours)
    dominated: int = 0             # games where iterated dominance fixed a player
    ours: int = 0
    pure: int = 0
    lcp: int = 0
    ours_to_pure: float = 0.0      # in units of h (exact distances at k = 1)
    ours_to_grid: float = 0.0
    grid_to_ours: float = 0.0
    tol: float = 0.0               # the largest tol / h
    without_pure: dict[str, int] = field(default_factory=dict)
    disagreements: list[str] = field(default_factory=list)
    beyond_step: int = 0           # equilibria of either side with none of the other within h
    seconds: float = 0.0


def check_grid(row: Row, name: str, game: ParticipationGame, k: int) -> None:
    """Ours against the pure and LCP equilibria of the k-grid game (module docstring)."""
    found = all_equilibria(game)
    ours = list(found.equilibria)
    bimatrix = gbt.StrategicGame.from_arrays(*grid_payoffs(game, k))
    pure = profile_means(gbt.nash.enumpure_solve(bimatrix).equilibria, k)
    lcp = profile_means(gbt.nash.lcp_solve(bimatrix, rational=False).equilibria, k)
    h, tol = 1.0 / k, kappa(game) / k + 1e-9
    grid = distinct_profiles(pure + lcp, EXACT_TOL)  # LCP finds the pure ones again
    to_pure, to_grid, back = nearest(ours, pure), nearest(ours, grid), nearest(grid, ours)
    row.games += 1
    row.several += len(ours) > 1
    row.dominated += found.dominated.size > 0
    row.ours, row.pure, row.lcp = row.ours + len(ours), row.pure + len(pure), row.lcp + len(lcp)
    row.beyond_step += int((to_grid > h).sum() + (back > h).sum())
    row.ours_to_pure = max(row.ours_to_pure, float(to_pure.max(initial=0.0)) / h)
    row.ours_to_grid = max(row.ours_to_grid, float(to_grid.max(initial=0.0)) / h)
    row.grid_to_ours = max(row.grid_to_ours, float(back.max(initial=0.0)) / h)
    row.tol = max(row.tol, tol / h)
    R = comp.to_dense(game.competition, 2)
    kind = "m1 m2 < 0" if R[0, 1] * R[1, 0] < 0 else "m1 m2 >= 0"
    for d, label in zip(to_pure, found.classifications, strict=True):
        if d > tol:
            key = f"{label}, {kind}"
            row.without_pure[key] = row.without_pure.get(key, 0) + 1
    for s, d in zip(ours, to_grid, strict=True):
        if d > tol:
            row.disagreements.append(f"{name}, k={k}: ours {np.round(s, 4).tolist()} has no "
                                     f"grid equilibrium within tol={tol:.4f} (nearest {d:.4f})")
    for s, d in zip(grid, back, strict=True):
        if d > tol:
            row.disagreements.append(f"{name}, k={k}: grid {np.round(s, 4).tolist()} has none "
                                     f"of ours within tol={tol:.4f} (nearest {d:.4f}); "
                                     + diagnose(game, s, ours, h))


def check_corner(row: Row, name: str, game: ParticipationGame) -> None:
    """k = 1, q = 0: ours and enummixed (complete, exact rationals) must coincide."""
    found = all_equilibria(game)
    ours = list(found.equilibria)
    bimatrix = gbt.StrategicGame.from_arrays(*grid_payoffs(game, 1))
    pure = profile_means(gbt.nash.enumpure_solve(bimatrix).equilibria, 1)
    mixed = profile_means(gbt.nash.enummixed_solve(bimatrix, rational=True).equilibria, 1)
    to_pure, to_grid, back = nearest(ours, pure), nearest(ours, mixed), nearest(mixed, ours)
    row.games += 1
    row.several += len(ours) > 1
    row.dominated += found.dominated.size > 0
    row.ours, row.pure, row.lcp = row.ours + len(ours), row.pure + len(pure), row.lcp + len(mixed)
    matched = to_pure[to_pure <= EXACT_TOL]  # the others are mixed (interior) equilibria
    row.ours_to_pure = max(row.ours_to_pure, float(matched.max(initial=0.0)))
    mixed_ours = int((to_pure > EXACT_TOL).sum())
    row.without_pure["interior"] = row.without_pure.get("interior", 0) + mixed_ours
    row.ours_to_grid = max(row.ours_to_grid, float(to_grid.max(initial=0.0)))
    row.grid_to_ours = max(row.grid_to_ours, float(back.max(initial=0.0)))
    row.tol = EXACT_TOL
    if len(ours) != len(mixed):
        row.disagreements.append(f"{name}: {len(ours)} equilibria of ours, {len(mixed)} of "
                                 "enummixed")
    for s, d in [*zip(ours, to_grid, strict=True), *zip(mixed, back, strict=True)]:
        if d > EXACT_TOL:
            row.disagreements.append(f"{name}: {np.round(s, 6).tolist()} unmatched "
                                     f"(nearest {d:.2e})")


def run(games: int, grids: list[int], seed: int) -> list[Row]:
    rows = []
    cases = [("duplicate pair", duplicate_pair())]
    for f, (family, make) in enumerate(FAMILIES.items()):
        rng = np.random.default_rng([seed, f])
        cases += [(f"{family} #{g}", make(rng)) for g in range(games)]
    for k in grids:
        by_family: dict[str, Row] = {}
        for name, game in cases:
            family = name.split(" #")[0]
            row = by_family.setdefault(family, Row(family, k))
            started = time.perf_counter()
            check_grid(row, name, game, k)
            row.seconds += time.perf_counter() - started
        rows += by_family.values()
    corner = Row("corner q = 0 (exact)", 1)
    rng = np.random.default_rng([seed, len(FAMILIES)])
    for g in range(games):
        started = time.perf_counter()
        check_corner(corner, f"corner #{g}", corner_pair(rng))
        corner.seconds += time.perf_counter() - started
    return [*rows, corner]


def table(rows: list[Row]) -> str:
    header = ("| family | k | games | several eq. | dominated | ours | pure grid | LCP / mixed "
              "| max d(ours, pure) / h | max d(ours, grid) / h | max d(grid, ours) / h "
              "| max tol / h | ours without a pure grid eq. | beyond h | disagreements "
              "| seconds |")
    lines = [header, "|" + "---|" * (header.count(" | ") + 1)]
    for r in rows:
        unit = "" if r.k > 1 else " (abs.)"
        without = ", ".join(f"{n} {label}" for label, n in sorted(r.without_pure.items())) or "0"
        lines.append(f"| {r.family} | {r.k} | {r.games} | {r.several} | {r.dominated} "
                     f"| {r.ours} | {r.pure} | {r.lcp} "
                     f"| {r.ours_to_pure:.3g}{unit} | {r.ours_to_grid:.3g}{unit} "
                     f"| {r.grid_to_ours:.3g}{unit} | {r.tol:.3g}{unit} | {without} "
                     f"| {r.beyond_step if r.k > 1 else '-'} | {len(r.disagreements)} "
                     f"| {r.seconds:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=20, help="random games per family")
    parser.add_argument("--grids", default="20,25,40", help="grid sizes k, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="3 games per family at k = 20, results not written")
    args = parser.parse_args()
    if gbt is None:
        sys.exit("bench/gambit_check.py needs pygambit (a one-off check, not a project "
                 "dependency): pip install pygambit in a separate environment")
    games, grids = (3, [20]) if args.quick else (args.games, [int(k) for k in
                                                              args.grids.split(",")])
    started = time.perf_counter()
    rows = run(games, grids, args.seed)
    text = table(rows)
    problems = [line for r in rows for line in r.disagreements]
    print(text)
    print("\n".join(["", f"{len(problems)} disagreements", *problems]))
    if args.quick:
        return
    command = "python bench/gambit_check.py " + " ".join(sys.argv[1:])
    report = "\n".join([
        "# all_equilibria against pygambit on discretized pair games",
        "",
        f"Command: `{command.strip()}` (pygambit {gbt.__version__}, numpy {np.__version__}, "
        f"Python {platform.python_version()}; {time.perf_counter() - started:.0f} s). "
        "The method and the tolerance argument are in the docstring of "
        "`bench/gambit_check.py`: h = 1/k, tol = kappa h per game; at k = 1 (q = 0) "
        f"distances are absolute and tol = {EXACT_TOL:g}. \"pure grid\" counts "
        "`enumpure_solve`'s equilibria, \"LCP / mixed\" `lcp_solve`'s (k > 1) or "
        "`enummixed_solve`'s (k = 1, complete). One of ours may lack a *pure* grid "
        "neighbour when it is unstable (m1 m2 > 1) or when m1 m2 < 0 (docstring, step 2); it "
        "must still have a pure or mixed one. Each disagreement is diagnosed on its line.",
        "", text, "", f"Disagreements: {len(problems)}", "",
        *[f"- {line}" for line in problems], ""])
    atomic_write_text(RESULTS, report)
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
