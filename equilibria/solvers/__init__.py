"""`solve`: one entry point for every equilibrium solver (docs/design.md, "equilibria").

Methods (one algorithm per module):

========================  =========================================================
``"best_response"``       exact best-response play, ``scheme="gauss_seidel"`` (default)
                          or ``"jacobi"``, ``damping`` in (0, 1], ``order`` cyclic/random
``"fictitious_play"``     best response to the running average; reports the average
``"projected_gradient"``  ``s <- clip(s + step g(s))`` (paper Eq. 17), ``step`` = 1/L
``"extragradient"``       Korpelevich's predictor-corrector, ``step`` = 0.9/L
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

import numpy as np

from equilibria.callable_game import ContinuousGame
from equilibria.errors import (
    InvalidProfileError,
    UnknownMethodError,
    UnknownOptionError,
    as_generator,
    check_count,
    check_positive,
    check_seconds,
    check_tol,
)
from equilibria.game import ParticipationGame
from equilibria.solvers._loop import Step, iterate
from equilibria.solvers.best_response import ORDERS, SCHEMES, gauss_seidel_step, jacobi_step
from equilibria.solvers.extragradient import extragradient_step
from equilibria.solvers.fictitious_play import fictitious_play_step
from equilibria.solvers.newton import newton_step
from equilibria.solvers.projected_gradient import lipschitz_constant, projected_gradient_step
from equilibria.solvers.result import EquilibriumResult

METHODS: dict[str, tuple[str, ...]] = {
    "best_response": ("scheme", "damping", "order"),
    "fictitious_play": (),
    "projected_gradient": ("step",),
    "extragradient": ("step",),
    "newton": (),
}

#: Default ``max_seconds`` of fictitious play on a game with numeric best responses.
NUMERIC_FICTITIOUS_PLAY_SECONDS = 10.0

#: The default of `solve`'s ``max_seconds``: no budget, except `NUMERIC_FICTITIOUS_PLAY_SECONDS`
#: for fictitious play on a game that is not a ParticipationGame.
DEFAULT_BUDGET = "default"

__all__ = ["DEFAULT_BUDGET", "METHODS", "NUMERIC_FICTITIOUS_PLAY_SECONDS", "EquilibriumResult",
           "check_method", "initial_profile", "solve"]


def check_method(method: str, options: dict[str, Any]) -> None:
    """Raise unless `method` is known and takes every option in `options`."""
    if method not in METHODS:
        raise UnknownMethodError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    unknown = set(options) - set(METHODS[method])
    if unknown:
        raise UnknownOptionError(f"method {method!r} takes options "
                                 f"{METHODS[method] or 'none'}; got unexpected {sorted(unknown)}")


def initial_profile(game: ContinuousGame, s0: Any,
                    rng: np.random.Generator | None) -> np.ndarray:
    """The starting profile: ``None`` means everyone at hi (the paper starts at s = 1),
    ``"random"`` draws uniformly from the box with `rng`, anything else is validated."""
    lo, hi = game.bounds
    if s0 is None:
        return np.full(game.n_players, hi)
    if isinstance(s0, str):
        if s0 != "random":
            raise InvalidProfileError(f"s0 must be None, 'random' or a profile; got {s0!r}")
        generator = rng if rng is not None else np.random.default_rng(0)
        return generator.uniform(lo, hi, game.n_players)
    return game.check(s0, "s0").copy()


def _make_step(game: ContinuousGame, method: str, options: dict[str, Any],
               rng: np.random.Generator) -> Step:
    if method == "best_response":
        scheme = options.get("scheme", "gauss_seidel")
        damping = check_positive(options.get("damping", 1.0), "damping", upper=1.0)
        order = options.get("order", "cyclic")
        if scheme not in SCHEMES:
            raise UnknownMethodError(f"scheme must be one of {SCHEMES}; got {scheme!r}")
        if order not in ORDERS:
            raise UnknownMethodError(f"order must be one of {ORDERS}; got {order!r}")
        if scheme == "jacobi":
            return jacobi_step(game, damping)
        return gauss_seidel_step(game, damping, order, rng)
    if method == "fictitious_play":
        return fictitious_play_step(game)
    if method == "newton":
        if not isinstance(game, ParticipationGame):
            raise TypeError("method='newton' needs a ParticipationGame (it solves the game's "
                            "linear first-order conditions); use 'best_response' or "
                            "'extragradient' for a CallableGame")
        return newton_step(game)
    step = options.get("step")
    if step is None:
        factor = 1.0 if method == "projected_gradient" else 0.9
        step = factor / max(lipschitz_constant(game), 1e-300)
    else:
        step = check_positive(step, "step")
    if method == "projected_gradient":
        return projected_gradient_step(game, float(step))
    return extragradient_step(game, float(step))


def solve(game: ContinuousGame, method: str = "best_response", *, s0: Any = None,
          tol: float = 1e-8, max_iter: int = 10_000, rng: Any = None, record: bool = False,
          decompose: bool = False, max_seconds: float | None | str = DEFAULT_BUDGET,
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
        (`equilibria.graphs.solve_by_components`); same equilibrium for a unique one.
    max_seconds : float, None or "default"
        Wall-clock budget in seconds (> 0), or None for none; the result says when it ran
        out (``stop_reason="max_seconds"``, ``converged=False``). The default,
        `DEFAULT_BUDGET`, is no budget, except `NUMERIC_FICTITIOUS_PLAY_SECONDS` for
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
    check_method(method, options)
    tol = check_tol(tol)
    max_iter = check_count(max_iter, "max_iter")
    note = ""
    if isinstance(max_seconds, str) and max_seconds == DEFAULT_BUDGET:
        max_seconds = None
        if method == "fictitious_play" and not isinstance(game, ParticipationGame):
            max_seconds = NUMERIC_FICTITIOUS_PLAY_SECONDS
            note = (" (the default budget of fictitious play on a game with numeric best "
                    "responses; pass max_seconds=None for none)")
    max_seconds = check_seconds(max_seconds)
    generator = as_generator(rng)
    if decompose:
        from equilibria.graphs import solve_by_components

        return solve_by_components(game, method, s0=s0, tol=tol, max_iter=max_iter,
                                   rng=generator, record=record, max_seconds=max_seconds,
                                   **options)
    start = initial_profile(game, s0, generator)
    step = _make_step(game, method, options, generator)
    label = method if method != "best_response" else \
        f"best_response[{options.get('scheme', 'gauss_seidel')}]"
    return iterate(game, step, start, method=label, tol=tol, max_iter=max_iter,
                   record=record, max_seconds=max_seconds, budget_note=note)
