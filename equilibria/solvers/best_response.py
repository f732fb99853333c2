"""Best-response dynamics: simultaneous (Jacobi) and sequential (Gauss-Seidel) play.

Each player moves to its exact best response (Shah & Khan 2025, Eq. 14) to the others.
Jacobi play updates everyone at once, ``s <- (1 - d) s + d BR(s)`` with damping d, and
converges when the best-response map is a contraction (spectral radius of
``diag(1/2q) R`` below 1 on the active set; `analyze_stability` reports it). Gauss-Seidel play
updates one player at a time with the others' latest moves; in a potential game no update
lowers the potential (Monderer & Shapley 1996), so it converges even when Jacobi oscillates.

For a LowRank competition a Gauss-Seidel sweep keeps ``z = F^T s`` up to date in O(d) per
player, so a sweep costs O(N d) like one Jacobi step. The sweep is a Python loop over players
(one small BLAS call each): vectorizing it is impossible because each update reads the
previous one.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas

from equilibria.callable_game import ContinuousGame
from equilibria.competition import LowRank
from equilibria.game import ParticipationGame
from equilibria.solvers._loop import Step

SCHEMES = ("jacobi", "gauss_seidel")
ORDERS = ("cyclic", "random")


def jacobi_step(game: ContinuousGame, damping: float = 1.0) -> Step:
    """``s <- (1 - damping) s + damping * BR(s)``: every player responds at once."""

    def step(s: np.ndarray, k: int) -> np.ndarray:
        return (1.0 - damping) * s + damping * game.best_response(s)

    return step


def gauss_seidel_step(game: ContinuousGame, damping: float = 1.0, order: str = "cyclic",
                      rng: np.random.Generator | None = None) -> Step:
    """One sweep of sequential best responses, players in cyclic or random order."""

    def players(n: int) -> np.ndarray:
        if order == "random":
            return (rng or np.random.default_rng(0)).permutation(n)
        return np.arange(n)

    if isinstance(game, ParticipationGame):
        return _quadratic_sweep(game, damping, players)

    def step(s: np.ndarray, k: int) -> np.ndarray:
        s = s.copy()
        for i in players(game.n_players):
            s[i] += damping * (game.player_best_response(int(i), s) - s[i])
        return s

    return step


def _quadratic_sweep(game: ParticipationGame, damping: float, players) -> Step:
    """Gauss-Seidel sweep specialized to the quadratic game's competition representation."""
    R = game.competition
    respond = game.best_response_to_player

    if R is None:
        def independent(s: np.ndarray, k: int) -> np.ndarray:
            return s + damping * (game.best_response_to(np.zeros_like(s)) - s)
        return independent

    if isinstance(R, LowRank):
        factors, scale = R.factors, R.scale
        row_sq = np.einsum("ij,ij->i", factors, factors)

        def low_rank(s: np.ndarray, k: int) -> np.ndarray:
            s = s.copy()
            z = factors.T @ s
            for i in players(s.shape[0]):
                f_i = factors[i]
                r_i = scale * (blas.ddot(f_i, z) - row_sq[i] * s[i])
                delta = damping * (respond(i, r_i) - s[i])
                if delta != 0.0:
                    s[i] += delta
                    z = blas.daxpy(f_i, z, a=delta)
            return s
        return low_rank

    if sp.issparse(R):
        indptr, indices, data = R.indptr, R.indices, R.data

        def sparse(s: np.ndarray, k: int) -> np.ndarray:
            s = s.copy()
            for i in players(s.shape[0]):
                lo_, hi_ = indptr[i], indptr[i + 1]
                r_i = float(data[lo_:hi_] @ s[indices[lo_:hi_]])
                s[i] += damping * (respond(i, r_i) - s[i])
            return s
        return sparse

    def dense(s: np.ndarray, k: int) -> np.ndarray:
        s = s.copy()
        for i in players(s.shape[0]):
            s[i] += damping * (respond(i, float(R[i] @ s)) - s[i])
        return s
    return dense
