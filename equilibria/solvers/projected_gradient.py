"""Projected gradient play: every player ascends its own utility and projects onto the box.

``s <- clip(s + step * g(s), lo, hi)`` with g the pseudo-gradient: the paper's participation
update (Shah & Khan 2025, Eq. 17-18) applied to the whole game. For a potential game it is
projected gradient ascent on the potential and converges for step < 2 / L; for a strongly
monotone game for step < 2 mu / L^2 (Facchinei & Pang 2003, Thm. 12.1.8), where L is the
Lipschitz constant of g (the spectral norm of its Jacobian).
"""

from __future__ import annotations

import numpy as np

from equilibria.callable_game import ContinuousGame
from equilibria.game import ParticipationGame
from equilibria.solvers._loop import Step


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
