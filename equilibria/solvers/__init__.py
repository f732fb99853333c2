"""`solve`: one entry point for every equilibrium solver (docs/design.md, "equilibria").

Methods (one algorithm per module):

========================  =========================================================
``"best_response"``       exact best-response play, ``scheme="gauss_seidel"`` (default)
                          or ``"jacobi"``, ``damping`` in (0, 1], ``order`` cyclic/random
``"fictitious_play"``     best response to the running average; reports the average
``"projected_gradient"``  ``s <- clip(s + step g(s))`` (paper Eq. 17); a given ``step`` is
                          fixed, none adapts it (local Lipschitz backtracking)
``"extragradient"``       Korpelevich's predictor-corrector; ``step`` as above (Khobotov)
``"newton"``              semismooth Newton / active set (ParticipationGame only)
========================  =========================================================

Every method stops on the certificate, the relative Nash gap (`equilibria.nash_gap`), or on
its budgets (``max_iter``, ``max_seconds``), and says which in ``stop_reason``. Fictitious
play on a game with numeric best responses (any game but a ParticipationGame, e.g. a
`CallableGame`) converges like O(1/k) at a scalar search per player and iteration, so it gets
a time budget by default: `NUMERIC_FICTITIOUS_PLAY_SECONDS`.
"""

from __future__ import annotations

from typing import Any

from equilibria.callable_game import ContinuousGame
from equilibria.errors import as_generator, check_count, check_tol
from equilibria.solvers.components import solve_by_components
from equilibria.solvers.dispatch import (
    AUTO_MAX_SECONDS,
    DEFAULT_BUDGET,  # noqa: F401 - the former name of AUTO_MAX_SECONDS, for old imports
    METHODS,
    NUMERIC_FICTITIOUS_PLAY_SECONDS,
    check_method,
    initial_profile,
    resolve_budget,
    solve_joint,
)
from equilibria.solvers.result import EquilibriumResult

__all__ = ["AUTO_MAX_SECONDS", "METHODS", "NUMERIC_FICTITIOUS_PLAY_SECONDS", "EquilibriumResult",
           "check_method", "initial_profile", "solve", "solve_by_components"]


def solve(game: ContinuousGame, method: str = "best_response", *, s0: Any = None,
          tol: float = 1e-8, max_iter: int = 10_000, rng: Any = None, record: bool = False,
          decompose: bool = False, max_seconds: float | None | str = AUTO_MAX_SECONDS,
          **options: Any) -> EquilibriumResult:
    """Find a Nash equilibrium of `game`, certified by its relative Nash gap.

    Parameters
    ----------
    game : ParticipationGame or any ContinuousGame
    method : str, default "best_response"
        One of `METHODS` (see the module docstring).
    s0 : None, "random" or array_like, optional
        Starting profile; None starts every player at hi (Algorithm 1 starts at s = 1).
    tol : float, default 1e-8
        Stop when the relative Nash gap is at most `tol`; finite and >= 0.
    max_iter : int, default 10_000
        Iterations (sweeps, steps) before giving up; an integer >= 0.
    rng : numpy.random.Generator or int, optional
        Randomness for ``s0="random"`` and ``order="random"``; seeded 0 when omitted.
    record : bool, default False
        Keep every iterate in ``result.trajectory``.
    decompose : bool, default False
        Solve each connected component of the interaction graph on its own
        (`equilibria.solvers.components.solve_by_components`); same equilibrium for a unique one.
    max_seconds : float, None or "default"
        Wall-clock budget in seconds (> 0), or None for none; the result says when it ran
        out (``stop_reason="max_seconds"``, ``converged=False``). The default,
        `AUTO_MAX_SECONDS`, is no time limit, except `NUMERIC_FICTITIOUS_PLAY_SECONDS` for
        fictitious play on a game that is not a ParticipationGame (a `CallableGame`).
    **options
        Method options (`METHODS` lists them per method).

    Returns
    -------
    EquilibriumResult

    Raises
    ------
    UnknownMethodError
        For an unknown method or option value; `UnknownOptionError` (also a TypeError) for
        an option the method lacks.
    InvalidOptionError
        For a tol, max_iter, max_seconds, damping or step out of range.
    InvalidProfileError
        For an `s0` that is not a profile in the box.
    """
    if not decompose:
        return solve_joint(game, method, s0=s0, tol=tol, max_iter=max_iter, rng=rng,
                           record=record, max_seconds=max_seconds, **options)
    check_method(method, options)
    tol = check_tol(tol)
    max_iter = check_count(max_iter, "max_iter")
    max_seconds, _ = resolve_budget(game, method, max_seconds)
    return solve_by_components(game, method, s0=s0, tol=tol, max_iter=max_iter,
                               rng=as_generator(rng), record=record, max_seconds=max_seconds,
                               **options)
