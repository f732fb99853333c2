"""Continuous fictitious play: best-respond to the running average of past play.

Brown (1951), Robinson (1951); for potential games Monderer & Shapley (1996). At iteration k
every player best-responds to the average profile, and the average moves 1/(k + 2) of the way
towards that response: ``avg <- avg + (BR(avg) - avg) / (k + 2)``. The reported profile is the
average, which converges more slowly (about O(1/k)) than best-response play but without its
oscillations.

On a `CallableGame` the step's ``BR(avg)`` is one batched bounded search for all players
(`CallableGame.best_response`), and the Nash gap the solver loop checks at the same average
reuses it (the game keeps the best responses of the last profile it was asked about).
"""

from __future__ import annotations

import numpy as np

from equilibria.callable_game import ContinuousGame
from equilibria.solvers._loop import Step


def fictitious_play_step(game: ContinuousGame) -> Step:
    """``avg <- avg + (BR(avg) - avg) / (k + 2)`` (the average is the iterate)."""

    def step(average: np.ndarray, k: int) -> np.ndarray:
        return average + (game.best_response(average) - average) / (k + 2.0)

    return step
