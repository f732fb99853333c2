"""Korpelevich's extragradient method for the game's variational inequality.

Korpelevich (1976); Facchinei & Pang (2003), Sec. 12.1.2. A trial step
``y = clip(s + t g(s))`` followed by the real step from s with the gradient at y,
``s <- clip(s + t g(y))``. It converges for any monotone game with t < 1 / L, including the
non-symmetric (non-potential) games where plain projected gradient play can cycle.

A given ``step`` is used at every iteration (`extragradient_step`). Without one the step
adapts (`adaptive_extragradient_step`): Khobotov's (1987) Armijo-type rule backtracks the
trial step until ``t ||g(y) - g(s)|| <= ACCEPT ||y - s||`` (a local Lipschitz estimate, so
no global L is needed; Khobotov 1987, Zh. Vychisl. Mat. Mat. Fiz. 27(10); Marcotte 1991,
INFOR 29(4)), and after an iteration whose ratio ``t L_k`` was at most `GROW_BELOW` the next
trial starts `GROW` times larger (He & Liao 2002, JOTA 112), so a step cut short in a region
of high curvature (a Tullock contest near its lower bound) recovers elsewhere. The
constants are those of `equilibria.solvers.projected_gradient`.
"""

from __future__ import annotations

import numpy as np

from equilibria.callable_game import ContinuousGame
from equilibria.solvers._loop import Step
from equilibria.solvers.projected_gradient import (
    GROW,
    GROW_BELOW,
    MAX_GROWTH,
    backtracked_projection,
    lipschitz_constant,
)


def extragradient_step(game: ContinuousGame, step: float) -> Step:
    """Predict with the gradient at s, correct with the gradient at the prediction."""
    lo, hi = game.bounds

    def update(s: np.ndarray, k: int) -> np.ndarray:
        trial = np.clip(s + step * game.pseudo_gradient(s), lo, hi)
        return np.clip(s + step * game.pseudo_gradient(trial), lo, hi)

    return update


def adaptive_extragradient_step(game: ContinuousGame,
                                initial_step: float | None = None) -> Step:
    """Extragradient with Khobotov's backtracked step and He & Liao's growth (module
    docstring).

    Parameters
    ----------
    game : ContinuousGame
    initial_step : float, optional
        The first trial step; ``0.9 / lipschitz_constant(game)`` (the former fixed default)
        when omitted.
    """
    lo, hi = game.bounds
    state: dict = {"step": initial_step}

    def update(s: np.ndarray, k: int) -> np.ndarray:
        if state["step"] is None:
            state["step"] = 0.9 / max(lipschitz_constant(game), 1e-300)
        state.setdefault("largest", MAX_GROWTH * state["step"])
        gradient = np.asarray(game.pseudo_gradient(s), dtype=np.float64)
        _, g_trial, t, load = backtracked_projection(game, s, gradient, state["step"])
        state["step"] = min(GROW * t, state["largest"]) if load <= GROW_BELOW else t
        return np.clip(s + t * g_trial, lo, hi)

    return update
