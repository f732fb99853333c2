"""Projected gradient play: every player ascends its own utility and projects onto the box.

``s <- clip(s + step * g(s), lo, hi)`` with g the pseudo-gradient: the paper's participation
update (Shah & Khan 2025, Eq. 17-18) applied to the whole game. For a potential game it is
projected gradient ascent on the potential and converges for step < 2 / L; for a strongly
monotone game for step < 2 mu / L^2 (Facchinei & Pang 2003, Thm. 12.1.8), where L is the
Lipschitz constant of g (the spectral norm of its Jacobian).

A given ``step`` is used at every iteration (`projected_gradient_step`). Without one the
step adapts (`adaptive_projected_gradient_step`): one global L is a poor guide when the
curvature varies over the box (a Tullock contest's Jacobian grows like 1 / S^2 towards the
lower bound), so each iteration backtracks on the *local* Lipschitz estimate of its own step
y = clip(s + t g(s)), ``L_k = ||g(y) - g(s)|| / ||y - s||``, until ``t L_k <= ACCEPT``, the
Armijo-type rule of Khobotov (1987), and, where the step is locally monotone, until the map
``x -> x + t g(x)`` contracts along it on the moving players (`backtracked_projection`: the
local form of t < 2 mu / L^2, so a non-potential game whose Jacobian rotates gets the short
step it needs); after an iteration whose load ``t L_k`` was small (at most `GROW_BELOW`) the
next trial starts `GROW` times larger (He & Liao 2002, JOTA 112). For a quadratic potential
game an accepted step ascends the potential (the secant estimate is exact along the step:
``Phi(y) - Phi(s) >= (1 - ACCEPT / 2) / t ||y - s||^2``); over the whole box of other games
the tests are local estimates, not a convergence proof: extragradient
(`equilibria.solvers.extragradient`) is the method with a convergence theory for monotone
games.
"""

from __future__ import annotations

import numpy as np

from equilibria.callable_game import ContinuousGame
from equilibria.game import ParticipationGame
from equilibria.solvers._loop import Step

#: Accept a trial step t when its load (`backtracked_projection`) is at most this (Khobotov's
#: delta).
ACCEPT = 0.9
#: Grow the next step by this factor after an iteration whose load was at most GROW_BELOW.
GROW = 1.5
#: He & Liao's (2002) threshold of the load below which the step grows.
GROW_BELOW = 0.4
#: A rejected step shrinks by at least this factor (more when its load is far above ACCEPT).
SHRINK = 0.5
#: Largest step, relative to the first one (a game with a constant gradient never rejects).
MAX_GROWTH = 1e8
#: Backtracking halvings before a step is taken as it is (only a non-Lipschitz g gets there).
MAX_BACKTRACKS = 60


def lipschitz_constant(game: ContinuousGame, iterations: int = 50) -> float:
    """Spectral norm of the pseudo-gradient's Jacobian, with a 10% safety margin.

    For a ParticipationGame, power iteration on ``J^T J`` through the O(N d) operator
    (``iterations`` products, start vector from a fixed local generator so the estimate is
    deterministic; the iteration approaches the norm from below, hence the margin); exact
    for N <= 2. For other games the finite-difference Jacobian at the box centre.
    """
    if not isinstance(game, ParticipationGame) or game.n_players <= 2:
        return 1.1 * float(np.linalg.norm(game.jacobian(), 2))
    operator = game.jacobian_operator()
    vector = np.random.default_rng(0).standard_normal(game.n_players)
    vector /= np.linalg.norm(vector)
    for _ in range(iterations):
        vector = operator.rmatvec(operator.matvec(vector))
        norm = np.linalg.norm(vector)
        if norm == 0.0:
            return 0.0
        vector /= norm
    return 1.1 * float(np.linalg.norm(operator.matvec(vector)))


def projected_gradient_step(game: ContinuousGame, step: float) -> Step:
    """``s <- clip(s + step * g(s), lo, hi)`` (paper Eq. 17)."""
    lo, hi = game.bounds

    def update(s: np.ndarray, k: int) -> np.ndarray:
        return np.clip(s + step * game.pseudo_gradient(s), lo, hi)

    return update


def backtracked_projection(game: ContinuousGame, s: np.ndarray, gradient: np.ndarray,
                           step: float, *, contraction: bool = False
                           ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The projection step ``y = clip(s + t g(s))`` with t backtracked from `step`.

    With d = y - s, the load of t is ``t L_k`` with the secant Lipschitz estimate
    ``L_k = ||g(y) - g(s)|| / ||d||`` (Khobotov's 1987 rule); t is accepted when its load is
    at most `ACCEPT`, else shrunk by ``min(SHRINK, 0.9 ACCEPT / load)`` (the estimate says
    how far) and tried again. With `contraction`, on the players that move (d_i != 0) and
    when the step is locally monotone (``mu_k = -(g(y) - g(s))^T d / ||d||^2 > 0`` there),
    the load is also ``t L_k^2 / (2 mu_k)`` with L_k measured on those players: below 1
    exactly when the map ``x -> x + t g(x)`` brings s and y closer, ``||d + t (g(y) - g(s))||
    < ||d||``, the local form of projected gradient's condition t < 2 mu / L^2 (Facchinei &
    Pang 2003, Thm. 12.1.8), which a game whose Jacobian rotates (a non-potential game) needs
    and a Lipschitz test does not see. Players pinned at a bound do not count (the
    projection stops them), nor does a step along which g grows (leaving an unstable
    equilibrium must expand), nor a constant gradient (a translation towards a bound).

    Returns
    -------
    (y, g(y), t, load)
        The accepted point, its pseudo-gradient, the accepted step and its load (0 when
        y = s: then s is a fixed point of the projection step, an equilibrium).
    """
    lo, hi = game.bounds
    t = step
    for _ in range(MAX_BACKTRACKS):
        y = np.clip(s + t * gradient, lo, hi)
        d = y - s
        moved = float(d @ d)
        g_y = np.asarray(game.pseudo_gradient(y), dtype=np.float64)
        if moved == 0.0:
            return y, g_y, t, 0.0
        change = g_y - gradient
        load = t * float(np.sqrt(change @ change / moved))
        if load > ACCEPT:
            t *= min(SHRINK, 0.9 * ACCEPT / load)
            continue
        moving = d != 0.0
        descent = -float(change[moving] @ d[moving])
        if not contraction or descent <= 0.0:
            return y, g_y, t, load
        contracting = t * float(change[moving] @ change[moving]) / (2.0 * descent)
        if contracting <= ACCEPT:
            return y, g_y, t, max(load, contracting)
        t *= min(SHRINK, 0.9 * ACCEPT / contracting)
    return y, g_y, t, load


def adaptive_projected_gradient_step(game: ContinuousGame,
                                     initial_step: float | None = None) -> Step:
    """Projected gradient play with a backtracked, growing step (module docstring).

    Parameters
    ----------
    game : ContinuousGame
    initial_step : float, optional
        The first trial step; ``1 / lipschitz_constant(game)`` (the former fixed default)
        when omitted.
    """
    state: dict = {"step": initial_step, "point": None, "gradient": None}

    def update(s: np.ndarray, k: int) -> np.ndarray:
        if state["step"] is None:
            state["step"] = 1.0 / max(lipschitz_constant(game), 1e-300)
        state.setdefault("largest", MAX_GROWTH * state["step"])
        point = state["point"]
        if point is not None and point.shape == s.shape and np.array_equal(point, s):
            gradient = state["gradient"]  # g(s) was computed by the last step's test
        else:
            gradient = np.asarray(game.pseudo_gradient(s), dtype=np.float64)
        y, g_y, t, load = backtracked_projection(game, s, gradient, state["step"],
                                                 contraction=True)
        if load <= GROW_BELOW:
            t = min(GROW * t, state["largest"])
        state.update(step=t, point=y, gradient=g_y)
        return y

    return update
