"""Solving a game as one whole: the method table, option checks, start and step of `solve`.

`equilibria.solvers.solve` is `solve_joint` plus ``decompose=True``, which splits the game into
the components of its interaction graph (`equilibria.solvers.components`) and solves each with
`solve_joint`; keeping the one-piece solve here lets the component solver use it without an
import circle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from equilibria.callable_game import ContinuousGame
from equilibria.errors import (
    GameTypeError,
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
from equilibria.solvers.extragradient import adaptive_extragradient_step, extragradient_step
from equilibria.solvers.fictitious_play import fictitious_play_step
from equilibria.solvers.newton import newton_step
from equilibria.solvers.projected_gradient import (
    adaptive_projected_gradient_step,
    projected_gradient_step,
)
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

#: The default of `solve`'s ``max_seconds``: no time limit, except
#: `NUMERIC_FICTITIOUS_PLAY_SECONDS` for fictitious play on a game that is not a
#: ParticipationGame. (Not a "budget": `nets.baselines.Budget` is the training budget.)
AUTO_MAX_SECONDS = "default"
#: The former name of `AUTO_MAX_SECONDS`, kept so that old imports work.
DEFAULT_BUDGET = AUTO_MAX_SECONDS

__all__ = ["AUTO_MAX_SECONDS", "METHODS", "NUMERIC_FICTITIOUS_PLAY_SECONDS", "check_method",
           "initial_profile", "make_step", "solve_joint"]


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


def make_step(game: ContinuousGame, method: str, options: dict[str, Any],
               rng: np.random.Generator) -> Step:
    """The step function of `method` on `game`, its options checked (see `solve`)."""
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
            raise GameTypeError("method='newton' needs a ParticipationGame (it solves the "
                                "game's linear first-order conditions); use 'best_response' "
                                "or 'extragradient' for a CallableGame")
        return newton_step(game)
    step = options.get("step")
    if step is None:  # adapt the step to the local Lipschitz estimate (Khobotov 1987)
        if method == "projected_gradient":
            return adaptive_projected_gradient_step(game)
        return adaptive_extragradient_step(game)
    step = check_positive(step, "step")
    if method == "projected_gradient":
        return projected_gradient_step(game, float(step))
    return extragradient_step(game, float(step))


def solve_joint(game: ContinuousGame, method: str = "best_response", *, s0: Any = None,
                tol: float = 1e-8, max_iter: int = 10_000, rng: Any = None,
                record: bool = False, max_seconds: float | None | str = AUTO_MAX_SECONDS,
                **options: Any) -> EquilibriumResult:
    """`equilibria.solvers.solve` without ``decompose``: iterate `method` on the whole game.

    Parameters, return value and errors are those of `equilibria.solvers.solve`.
    """
    check_method(method, options)
    tol = check_tol(tol)
    max_iter = check_count(max_iter, "max_iter")
    max_seconds, note = resolve_budget(game, method, max_seconds)
    generator = as_generator(rng)
    start = initial_profile(game, s0, generator)
    step = make_step(game, method, options, generator)
    label = method if method != "best_response" else \
        f"best_response[{options.get('scheme', 'gauss_seidel')}]"
    return iterate(game, step, start, method=label, tol=tol, max_iter=max_iter,
                   record=record, max_seconds=max_seconds, budget_note=note)


def resolve_budget(game: ContinuousGame, method: str,
                   max_seconds: float | None | str) -> tuple[float | None, str]:
    """The checked time budget of a solve and the note its message adds when it runs out.

    `AUTO_MAX_SECONDS` means none, except `NUMERIC_FICTITIOUS_PLAY_SECONDS` for fictitious play
    on a game that is not a ParticipationGame.
    """
    note = ""
    if isinstance(max_seconds, str) and max_seconds == AUTO_MAX_SECONDS:
        max_seconds = None
        if method == "fictitious_play" and not isinstance(game, ParticipationGame):
            max_seconds = NUMERIC_FICTITIOUS_PLAY_SECONDS
            note = (" (the default budget of fictitious play on a game with numeric best "
                    "responses; pass max_seconds=None for none)")
    return check_seconds(max_seconds), note
