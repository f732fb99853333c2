"""Solving a participation game component by component of its interaction graph.

Players in different connected components of the interaction graph (`equilibria.graphs`)
never affect each other's payoffs, so the game is the product of its components' games and a
profile is an equilibrium exactly when each component's restriction is one (Shah & Khan 2025,
Eq. 10: player i meets player j only through ``-s_i R_ij s_j``). ``solve(game, decompose=True)``
calls `solve_by_components`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from equilibria.errors import as_generator, check_count, check_seconds, check_tol
from equilibria.game import ParticipationGame
from equilibria.gap import nash_gap
from equilibria.graphs import check_game, components
from equilibria.solvers.dispatch import check_method, initial_profile, solve_joint
from equilibria.solvers.result import EquilibriumResult

__all__ = ["solve_by_components"]


def solve_by_components(game: ParticipationGame, method: str = "best_response", *,
                        s0: Any = None, tol: float = 1e-8, max_iter: int = 10_000,
                        rng: Any = None, record: bool = False,
                        max_seconds: float | None = None,
                        **options: Any) -> EquilibriumResult:
    """Solve each connected component of the interaction graph on its own.

    The game is the product of its components' games (module docstring), so solving every
    component's exact sub-game ``game.restrict(idx)`` with `equilibria.solvers.solve` and
    putting the pieces together gives an equilibrium of the whole game. Players alone in
    their component face no one: their exact best response ``game.restrict(idx)
    .best_response(...)`` is their equilibrium strategy, and no iterative solver runs for
    them. The assembled profile is certified by the Nash gap of the whole game
    (`equilibria.gap.nash_gap`).

    Parameters
    ----------
    game : ParticipationGame
    method : str, default "best_response"
        Any method of `equilibria.solvers.solve`, used for every component of two or more
        players.
    s0 : None, "random" or array_like of shape (N,), optional
        Starting profile of the whole game, as in `solve` (None: everyone at hi); each
        component starts from its slice.
    tol : float, default 1e-8
        Tolerance of each component's relative Nash gap, and of the whole game's.
    max_iter : int, default 10_000
        Per component.
    rng : numpy.random.Generator or int, optional
        Passed to `solve` for every component (a Generator is consumed in component order).
    record : bool, default False
        Keep the trajectory: component trajectories run side by side, each held at its last
        iterate once it has stopped.
    max_seconds : float, optional
        Wall-clock budget of each component's solve.
    **options
        Method options, passed to `solve`.

    Returns
    -------
    EquilibriumResult
        ``profile`` assembled from the components; ``nash_gap`` the relative gap of the whole
        game; ``converged`` when every component converged and that gap is at most `tol`;
        ``iterations`` the largest over components; ``history`` a one-element array holding
        the whole game's gap (components run on different clocks, so there is no joint
        per-iteration history); ``method`` is ``f"{method}+components"``.
    """
    check_game(game)
    check_method(method, options)  # here too: singletons never reach `solve`
    tol = check_tol(tol)
    max_iter = check_count(max_iter, "max_iter")
    max_seconds = check_seconds(max_seconds)
    clock = time.perf_counter()
    generator = as_generator(rng)
    start = initial_profile(game, s0, generator)
    if game.competition is None:  # no one interacts: skip building N singleton arrays
        singles, groups = np.arange(game.n_players), []
    else:
        parts = components(game)
        singles = np.array([part[0] for part in parts if part.size == 1], dtype=np.int64)
        groups = [part for part in parts if part.size > 1]
    profile = start.copy()
    iterations = 0
    failures = []
    tracks: list[tuple[np.ndarray, np.ndarray]] = []
    if singles.size:  # best response to nothing: exact in one step
        profile[singles] = game.restrict(singles).best_response(start[singles])
        iterations = int(np.any(profile[singles] != start[singles]))
        tracks.append((singles, np.vstack([start[singles], profile[singles]])[:iterations + 1]))
    for part in groups:
        result = solve_joint(game.restrict(part), method, s0=start[part], tol=tol,
                             max_iter=max_iter, rng=generator, record=record,
                             max_seconds=max_seconds, **options)
        profile[part] = result.profile
        iterations = max(iterations, result.iterations)
        if not result.converged:
            failures.append(f"component of {part.size} players starting at player {part[0]}: "
                            f"{result.message}")
        if record and result.trajectory is not None:
            tracks.append((part, result.trajectory))
    gap = float(nash_gap(game, profile))
    converged = not failures and gap <= tol
    largest = max((part.size for part in groups), default=1)
    summary = (f"{singles.size + len(groups)} components (largest {largest} players, "
               f"{singles.size} singletons); whole-game relative Nash gap {gap:.3g}")
    if converged:
        message = f"{summary} <= tol={tol:g}"
    elif failures:
        message = f"{summary}; {len(failures)} did not converge: " + "; ".join(failures[:3])
    else:
        message = f"{summary} > tol={tol:g}"
    return EquilibriumResult(
        profile=profile, converged=bool(converged), iterations=int(iterations), nash_gap=gap,
        history=np.array([gap]), method=f"{method}+components", message=message,
        seconds=time.perf_counter() - clock,
        trajectory=_assemble(start, tracks) if record else None,
        stop_reason="converged" if converged else "components")


def _assemble(start: np.ndarray, tracks: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Run component trajectories side by side, each held at its last row once it stops."""
    length = max((track.shape[0] for _, track in tracks), default=1)
    trajectory = np.tile(start, (length, 1))
    for index, track in tracks:
        trajectory[:track.shape[0], index] = track
        trajectory[track.shape[0]:, index] = track[-1]
    return trajectory
