"""Korpelevich's extragradient method for the game's variational inequality.

Korpelevich (1976); Facchinei & Pang (2003), Sec. 12.1.2. A trial step
``y = clip(s + t g(s))`` followed by the real step from s with the gradient at y,
``s <- clip(s + t g(y))``. It converges for any monotone game with t < 1 / L, including the
non-symmetric (non-potential) games where plain projected gradient play can cycle.
"""

from __future__ import annotations

import numpy as np

from equilibria.callable_game import ContinuousGame
from equilibria.solvers._loop import Step


def extragradient_step(game: ContinuousGame, step: float) -> Step:
    """Predict with the gradient at s, correct with the gradient at the prediction."""
    lo, hi = game.bounds

    def update(s: np.ndarray, k: int) -> np.ndarray:
        trial = np.clip(s + step * game.pseudo_gradient(s), lo, hi)
        return np.clip(s + step * game.pseudo_gradient(trial), lo, hi)

    return update
