"""Basins of the demo's trained game: which equilibrium each solver reaches from each start.

The paper says the equilibrium reached depends on the start (Shah & Khan 2025, Sec. 5.3);
the certificates study found several equilibria in one trained game. This study trains the
demo network as ``make demo`` does (``analysis.demo``: ``nets.presets.DEMO_CONFIG``, the MLP
64-128-64-10 on digits, seed 0; ``papers.beyond.certificates.train_final_game`` builds the
final game over the whole training set, as the demo's certificate does) and reports
`equilibria.basins` on it, two ways:

1. **The full game (192 players).** Too large for `equilibria.all_equilibria` (3^192 status
   patterns), so its equilibria are the distinct certified end points (relative Nash gap
   <= 1e-10, Newton-polished, distinct beyond 1e-4 in max-norm) of every solver of
   ``SOLVERS`` from the same starts: zeros, ones, the trained s and ``--starts`` uniform random
   profiles. Reported per solver: starts converged, distinct equilibria reached, the largest
   basin's share and the equilibrium reached from s; per equilibrium: stability, players
   pruned (s < epsilon), distance from s; and, for each pair of solvers, the share of starts
   from which both end at the same equilibrium.
2. **Sub-games of 12 players, enumerated exactly.** The other 180 players are held at s*, the
   certified equilibrium nearest the trained s (`equilibria.certify.nearest_equilibrium`), so
   ``game.restrict(I, s*)`` is the game the 12 players play when everyone else stays at an
   equilibrium (s*_I is one of its equilibria). Three selections of the 12:

   - ``coupled pairs``: the pairs with the largest best-response slope product
     ``R_ij R_ji / (4 q_i q_j)``, taken greedily until 12 players. A pair with a product
     above 1 has three equilibria on its own (two stable, one unstable), like the duplicate pair, so
     these are the players most contested by their rivals;
   - ``largest benefit``: the 12 largest net benefits ``|b_i - c_i|`` (the players that
     matter most to the loss);
   - ``random``: 12 players drawn with the study's seed, a control.

   For each: every equilibrium (`all_equilibria`: count, stability, whether the search was
   complete), how many of them extend to an equilibrium of the full game (others at s*), and
   `basins` for every solver from the same starts (zeros, ones, s_I, s*_I and random).

Run (the full study in about a minute; a toy run in a few seconds that the tests use)::

    python -m papers.beyond.basins --out papers/beyond/results/basins
    python -m papers.beyond.basins --quick --out /tmp/basins

Outputs in ``--out`` (each written atomically): ``full_game_solvers.csv``,
``full_game_equilibria.csv``, ``subgames.csv``, ``subgame_basins.csv`` and ``basins.md`` (the
tables). Deterministic for a given seed; the solvers' wall-clock budgets are a safety net only.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from analysis.arguments import OneLineParser, out_dir, positive_int
from analysis.tables import to_csv, to_markdown
from equilibria import ParticipationGame, all_equilibria, analyze_stability, basins, nash_gap
from equilibria import competition as comp
from equilibria.atomic import atomic_write_text
from equilibria.certify import (
    DISTINCT_TOL,
    SOLVE_TOL,
    SolveBudget,
    distinct_profiles,
    jaccard,
    nearest_equilibrium,
)

__all__ = ["SELECTIONS", "SOLVERS", "full_game_basins", "main", "select_players",
           "subgame_basins"]

#: The solvers whose basins are reported (the certificate's `NEAREST_METHODS`).
SOLVERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("best_response", {"scheme": "gauss_seidel"}), ("projected_gradient", {}),
    ("extragradient", {}), ("newton", {}))
#: How the players of a sub-game are chosen (module docstring).
SELECTIONS = ("coupled pairs", "largest benefit", "random")
SUBGAME_PLAYERS = 12
FULL_STARTS, SUBGAME_STARTS = 64, 100
QUICK_WIDTHS, QUICK_LIMIT, QUICK_EPOCHS = (16, 8), 300, 3
QUICK_PLAYERS, QUICK_STARTS = 6, 4
#: Solver budgets (Newton either converges in a few steps or cycles: 200 iterations).
BUDGET = SolveBudget(max_iter=20_000, newton_max_iter=200, max_seconds=10.0)
QUICK_BUDGET = SolveBudget(max_iter=2_000, newton_max_iter=50, max_seconds=2.0)


def _label(method: str, options: Mapping[str, Any]) -> str:
    return f"{method}[{options['scheme']}]" if "scheme" in options else method


def _starts(s: np.ndarray, n_random: int, rng: np.random.Generator,
            extra: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    starts = {"zeros": np.zeros_like(s), "ones": np.ones_like(s), "s": s.copy(), **(extra or {})}
    for k in range(n_random):
        starts[f"random{k}"] = rng.uniform(0.0, 1.0, s.shape)
    return starts


def _run_basins(game: ParticipationGame, starts: Mapping[str, np.ndarray], budget: SolveBudget,
                equilibria: Any = None) -> dict[str, Any]:
    """`equilibria.basins` for every solver of `SOLVERS` from the same starts."""
    runs = {}
    for method, options in SOLVERS:
        runs[_label(method, options)] = basins(
            game, method, starts=np.array(list(starts.values())), equilibria=equilibria,
            tol=SOLVE_TOL, max_iter=budget.iterations(method), max_seconds=budget.max_seconds,
            **options)
    return runs


# ---------------------------------------------------------------------------- full game
def full_game_basins(game: ParticipationGame, s: np.ndarray, *, n_random: int, seed: int,
                     epsilon: float, budget: SolveBudget) -> tuple[list[dict], list[dict],
                                                                  dict[str, Any]]:
    """Basins of every solver on the whole game; returns (solver rows, equilibrium rows,
    summary). Equilibria are the distinct certified end points of all solvers together."""
    starts = _starts(s, n_random, np.random.default_rng(seed))
    runs = _run_basins(game, starts, budget)
    ends = [e for run in runs.values() for e in run.equilibria]
    known = distinct_profiles(ends, DISTINCT_TOL)

    def index(profile: np.ndarray) -> int:
        return int(np.argmin([np.abs(profile - k).max() for k in known]))

    # Each solver's labels in the shared numbering (-1: the start did not converge).
    labels = {name: np.array([index(run.equilibria[lab]) if lab >= 0 else -1
                              for lab in run.labels]) for name, run in runs.items()}
    solver_rows = []
    for name, lab in labels.items():
        reached = lab[lab >= 0]
        counts = np.bincount(reached, minlength=len(known)) if reached.size else np.zeros(1)
        solver_rows.append({"solver": name, "starts": len(lab),
                            "converged": int(reached.size),
                            "distinct_equilibria": int(np.unique(reached).size),
                            "largest_basin_share": float(counts.max()) / len(lab),
                            "equilibrium_from_s": int(lab[list(starts).index("s")])})
    pruned = [k < epsilon for k in known]
    pruned_s = s < epsilon
    equilibrium_rows = []
    for e, profile in enumerate(known):
        equilibrium_rows.append({
            "equilibrium": e, "nash_gap": nash_gap(game, profile),
            "stability": analyze_stability(game, profile).classification,
            "pruned": int(pruned[e].sum()), "jaccard_with_s": jaccard(pruned[e], pruned_s),
            "distance_from_s": float(np.abs(profile - s).max()),
            **{f"starts[{name}]": int((lab == e).sum()) for name, lab in labels.items()}})
    names = list(labels)
    agreement = {f"same_end[{names[i]}, {names[j]}]":
                 float(((labels[names[i]] == labels[names[j]]) & (labels[names[i]] >= 0)).sum())
                 / len(starts) for i in range(len(names)) for j in range(i + 1, len(names))}
    pairs = [jaccard(pruned[i], pruned[j]) for i in range(len(known))
             for j in range(i + 1, len(known))]
    summary = {"players": game.n_players, "starts": len(starts),
               "distinct_equilibria": len(known),
               "stable": sum(r["stability"] == "stable" for r in equilibrium_rows),
               "pruned_min": min(int(p.sum()) for p in pruned) if known else 0,
               "pruned_max": max(int(p.sum()) for p in pruned) if known else 0,
               "pruned_at_s": int(pruned_s.sum()),
               "median_pairwise_jaccard": float(np.median(pairs)) if pairs else 1.0,
               "agreement": agreement}
    return solver_rows, equilibrium_rows, summary


# ---------------------------------------------------------------------------- sub-games
def select_players(game: ParticipationGame, selection: str, size: int,
                   rng: np.random.Generator) -> np.ndarray:
    """The players of one sub-game (module docstring), sorted."""
    n = game.n_players
    if selection == "coupled pairs":
        R = comp.to_dense(game.competition, n)
        q = np.maximum(game.quadratic_cost, 1e-300)
        product = R * R.T / (4.0 * np.outer(q, q))
        product[np.tril_indices(n)] = -np.inf
        chosen: list[int] = []
        for flat in np.argsort(-product, axis=None):
            for player in np.unravel_index(flat, product.shape):
                if int(player) not in chosen and len(chosen) < size:
                    chosen.append(int(player))
            if len(chosen) == size:
                break
        return np.sort(np.array(chosen))
    if selection == "largest benefit":
        return np.sort(np.argsort(-np.abs(game.net_benefit), kind="stable")[:size])
    if selection == "random":
        return np.sort(rng.choice(n, size, replace=False))
    raise ValueError(f"selection must be one of {SELECTIONS}; got {selection!r}")


def subgame_basins(game: ParticipationGame, s: np.ndarray, star: np.ndarray, *, size: int,
                   n_random: int, seed: int, budget: SolveBudget
                   ) -> tuple[list[dict], list[dict]]:
    """Every equilibrium and every solver's basins on each selection's sub-game (others at
    `star`); returns (sub-game rows, basin rows)."""
    rng = np.random.default_rng(seed)
    game_rows, basin_rows = [], []
    for selection in SELECTIONS:
        players = select_players(game, selection, size, rng)
        sub = game.restrict(players, star)
        found = all_equilibria(sub)
        extended = []
        for profile in found.equilibria:
            whole = star.copy()
            whole[players] = profile
            extended.append(nash_gap(game, whole))
        R = comp.to_dense(sub.competition, size)
        q = np.maximum(sub.quadratic_cost, 1e-300)
        game_rows.append({
            "selection": selection, "players": ";".join(map(str, players.tolist())),
            "equilibria": found.count,
            "stable": found.classifications.count("stable"),
            "unstable": found.classifications.count("unstable"),
            "inconclusive": found.classifications.count("inconclusive"),
            "complete": found.complete, "nodes": found.nodes, "seconds": found.seconds,
            "extend_to_full_game": int(sum(g <= 1e-8 for g in extended)),
            "max_slope_product": float((R * R.T / (4.0 * np.outer(q, q))).max())})
        starts = _starts(s[players], n_random, rng, {"s*": star[players]})
        for name, run in _run_basins(sub, starts, budget, found.equilibria).items():
            for e in range(run.equilibria.shape[0]):
                if run.counts[e] == 0:
                    continue
                basin_rows.append({
                    "selection": selection, "solver": name, "equilibrium": e,
                    "enumerated": bool(run.enumerated[e]),
                    "stability": found.classifications[e] if run.enumerated[e] else "new",
                    "starts": int(run.counts[e]), "share": float(run.shares[e]),
                    "unconverged_share": run.unconverged_share})
    return game_rows, basin_rows


# ---------------------------------------------------------------------------- report
def markdown(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """`analysis.tables.to_markdown` with three significant digits."""
    return to_markdown(rows, columns, floatfmt=".3g")


def basin_summary(game_rows: Sequence[Mapping[str, Any]],
                  basin_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per sub-game and solver: equilibria reached (stable ones), the largest share, and
    whether every converged start ended at an enumerated equilibrium."""
    rows = []
    for game_row in game_rows:
        selection = game_row["selection"]
        for method, options in SOLVERS:
            name = _label(method, options)
            mine = [r for r in basin_rows if r["selection"] == selection and r["solver"] == name]
            rows.append({
                "selection": selection, "solver": name, "reached": len(mine),
                "stable_reached": sum(r["stability"] == "stable" for r in mine),
                "largest_share": max((r["share"] for r in mine), default=0.0),
                "unconverged_share": mine[0]["unconverged_share"] if mine else 1.0,
                "all_enumerated": all(r["enumerated"] for r in mine)})
    return rows


def parser() -> argparse.ArgumentParser:
    """The command line of `main`."""
    parser = OneLineParser(prog="python -m papers.beyond.basins",
                           description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=out_dir, default="results/beyond/basins",
                        help="output folder (default %(default)s)")
    parser.add_argument("--starts", type=positive_int, default=None,
                        help=f"random starts on the full game (default {FULL_STARTS}; "
                             f"{QUICK_STARTS} with --quick); sub-games get "
                             f"{SUBGAME_STARTS}")
    parser.add_argument("--seed", type=int, default=0, help="starts and the random selection")
    parser.add_argument("--quick", action="store_true",
                        help=f"toy size: MLP widths {QUICK_WIDTHS}, {QUICK_LIMIT} examples, "
                             f"{QUICK_EPOCHS} epochs, {QUICK_PLAYERS}-player sub-games, "
                             f"{QUICK_STARTS} starts")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="torch CPU threads (default %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Train the demo network, report basins on its game; print the tables; return 0."""
    args = parser().parse_args(argv)
    import torch

    from nets import PruningConfig, data
    from nets.presets import DEMO_CONFIG, DEMO_WIDTHS
    from papers.beyond.certificates import train_final_game

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    quick = args.quick
    config = PruningConfig(**{**DEMO_CONFIG, **({"epochs": QUICK_EPOCHS} if quick else {})})
    widths = QUICK_WIDTHS if quick else tuple(DEMO_WIDTHS)
    bundle = data.load("digits", limit=QUICK_LIMIT if quick else None)
    game, s, trained = train_final_game(config, bundle, widths)
    train_seconds = time.perf_counter() - started
    budget = QUICK_BUDGET if quick else BUDGET
    n_random = args.starts or (QUICK_STARTS if quick else FULL_STARTS)
    solver_rows, equilibrium_rows, summary = full_game_basins(
        game, s, n_random=n_random, seed=args.seed, epsilon=config.epsilon, budget=budget)
    nearest, _ = nearest_equilibrium(game, s, budget)
    if nearest is None:
        print("no solver certified an equilibrium from s; sub-games skipped", file=sys.stderr)
        game_rows, basin_rows = [], []
    else:
        game_rows, basin_rows = subgame_basins(
            game, s, nearest.profile, size=min(QUICK_PLAYERS if quick else SUBGAME_PLAYERS,
                                               game.n_players),
            n_random=QUICK_STARTS if quick else SUBGAME_STARTS, seed=args.seed, budget=budget)
    out = args.out
    to_csv(solver_rows, out / "full_game_solvers.csv")
    to_csv(equilibrium_rows, out / "full_game_equilibria.csv")
    if game_rows:
        to_csv(game_rows, out / "subgames.csv")
        to_csv(basin_rows, out / "subgame_basins.csv")
    seconds = time.perf_counter() - started
    agreement = [{"solvers": key[len("same_end["):-1], "same_end_share": value}
                 for key, value in summary.pop("agreement").items()]
    summary_row = {**summary, "test_accuracy": trained["test_accuracy"],
                   "nearest_method": nearest.method if nearest else "none",
                   "nearest_distance": float(np.abs(nearest.profile - s).max())
                   if nearest else float("nan")}
    command = "python -m papers.beyond.basins " + " ".join(argv if argv is not None
                                                            else sys.argv[1:])
    parts = [f"# Basins of the demo's trained game ({'quick' if quick else 'full'} run)", "",
             f"Command: `{command.strip()}`; training {train_seconds:.0f} s, total "
             f"{seconds:.0f} s; config {config.name!r}, MLP widths "
             f"{'-'.join(map(str, widths))}, seed {config.seed}.", "",
             "## Full game", "", markdown([summary_row]), "", markdown(solver_rows), "",
             "Share of the starts from which two solvers end at the same equilibrium:", "",
             markdown(agreement)]
    if game_rows:
        parts += ["", f"## Sub-games (others held at the equilibrium nearest s, found by "
                      f"{summary_row['nearest_method']})", "",
                  markdown(game_rows, [c for c in game_rows[0] if c != "players"]), "",
                  markdown(basin_summary(game_rows, basin_rows))]
    text = "\n".join(parts) + "\n"
    atomic_write_text(out / "basins.md", text)
    print(text)
    print(f"results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from analysis.guard import run_guarded

    raise SystemExit(run_guarded("python -m papers.beyond.basins", main))
