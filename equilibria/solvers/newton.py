"""Semismooth Newton (primal-dual active set) for the quadratic game's equilibrium.

The equilibria of the participation game are the solutions of the affine variational
inequality ``find s in [lo, hi]^N with (t - s)^T g(s) <= 0 for every t in the box``, where
``g(s) = a - M s`` and ``M = 2 diag(q) + R``. They are the zeros of the (diagonally scaled)
natural map ``s - clip(s + D^{-1} g(s), lo, hi)`` (Facchinei & Pang 2003, Sec. 1.5).

Each step guesses which players sit at lo, at hi or strictly inside from ``s + D^{-1} g(s)``,
fixes the bounded ones, and solves the linear first-order conditions ``g_F(s) = 0`` of the free
players exactly: this is a semismooth Newton step on the natural map, equivalently the primal-
dual active-set method (Hintermueller, Ito & Kunisch 2002, SIAM J. Optim. 13(3)). It converges
in a handful of steps when the active set settles. A backtracking line search on the natural
residual globalizes it; when no backtracked step decreases the residual the solver takes a
projected gradient step instead, so it never stalls.

The free-player solve uses the competition's structure: dense LU, sparse LU
(``scipy.sparse.linalg.spsolve``), or for ``R = scale (F F^T - diag)`` the Woodbury identity
``(D' + scale F F^T)^{-1}`` with a d x d capacitance matrix, O(N d^2) per step.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from equilibria import competition as comp
from equilibria.competition import LowRank
from equilibria.errors import SingularSystemWarning
from equilibria.game import ParticipationGame
from equilibria.solvers._loop import Step
from equilibria.solvers.projected_gradient import lipschitz_constant

#: Backtracking halvings tried before falling back to a projected gradient step.
_MAX_BACKTRACKS = 8


def solve_free_block(game: ParticipationGame, free: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``(2 diag(q) + R)[free, free] x = rhs`` with the competition's structure.

    Falls back to least squares (dense) or MINRES / LSQR (operators) when the block is
    singular, so the Newton step is always defined. Singular blocks are common (beta = 0
    gives q = 0, and duplicate players give rank-deficient competition): scipy's
    ``MatrixRankWarning`` from the sparse LU is caught and the fallback is taken silently,
    as for the dense LU; one `SingularSystemWarning` is issued only when the least-squares
    fallback itself returns a non-finite step.
    """
    q2 = 2.0 * game.quadratic_cost[free]
    R = game.competition
    if R is None:
        return np.divide(rhs, q2, out=np.zeros_like(rhs), where=q2 > 0)
    if isinstance(R, LowRank):
        return _woodbury_solve(R.factors[free], R.scale, q2, rhs)
    if sp.issparse(R):
        block = sp.csc_matrix(sp.diags(q2) + R[free][:, free])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", spla.MatrixRankWarning)
                x = spla.spsolve(block, rhs)
        except (RuntimeError, spla.MatrixRankWarning):
            x = np.full_like(rhs, np.nan)
        if not np.all(np.isfinite(x)):
            x = spla.lsqr(block, rhs, atol=1e-14, btol=1e-14)[0]
        if not np.all(np.isfinite(x)):
            warnings.warn(SingularSystemWarning(
                f"the Newton system of {free.size} free players is singular and least squares "
                "gave a non-finite step; the solver falls back to projected gradient steps"),
                stacklevel=2)
        return np.asarray(x, dtype=np.float64)
    block = comp.principal_dense(R, free)
    block[np.diag_indices_from(block)] = q2
    try:
        return np.linalg.solve(block, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(block, rhs, rcond=None)[0]


def _woodbury_solve(factors: np.ndarray, scale: float, q2: np.ndarray,
                    rhs: np.ndarray) -> np.ndarray:
    """``(diag(q2 - scale ||F_i||^2) + scale F F^T)^{-1} rhs`` by the Woodbury identity."""
    diagonal = q2 - scale * np.einsum("ij,ij->i", factors, factors)
    if scale == 0.0:
        return np.divide(rhs, q2, out=np.zeros_like(rhs), where=q2 > 0)
    reference = max(float(np.abs(diagonal).max(initial=0.0)), abs(scale) * 1e-300)
    if np.abs(diagonal).min(initial=np.inf) > 1e-10 * reference:
        scaled_factors = factors / diagonal[:, None]
        capacitance = np.eye(factors.shape[1]) / scale + factors.T @ scaled_factors
        inner = factors.T @ (rhs / diagonal)
        try:
            correction = np.linalg.solve(capacitance, inner)
        except np.linalg.LinAlgError:
            correction = np.linalg.lstsq(capacitance, inner, rcond=None)[0]
        return rhs / diagonal - scaled_factors @ correction
    n = factors.shape[0]
    operator = spla.LinearOperator(
        (n, n), dtype=np.float64,
        matvec=lambda v: diagonal * np.ravel(v) + scale * (factors @ (factors.T @ np.ravel(v))))
    return spla.minres(operator, rhs, rtol=1e-12, maxiter=10 * n)[0]


def newton_step(game: ParticipationGame) -> Step:
    """One globalized semismooth Newton (active-set) step on the scaled natural map."""
    lo, hi = game.bounds
    a = game.net_benefit
    q2 = 2.0 * game.quadratic_cost
    # A q_i so small that g_i / q_i overflows behaves like q_i = 0 (a linear utility): the
    # scaled step only decides which bound the player goes to, so use 1 there as for 0.
    diag_scale = np.where(q2 > 1e-150, q2, 1.0)
    fallback_step: list[float] = []

    def natural_residual(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = a - q2 * s - game.competition_product(s)
        return s - np.clip(s + g / diag_scale, lo, hi), g

    def step(s: np.ndarray, k: int) -> np.ndarray:
        residual, g = natural_residual(s)
        merit = float(np.linalg.norm(residual))
        predicted = s + g / diag_scale
        free = np.flatnonzero((predicted > lo) & (predicted < hi))
        target = np.where(predicted <= lo, lo, hi)
        if free.size:
            fixed = target.copy()
            fixed[free] = 0.0
            rhs = a[free] - game.competition_product(fixed)[free]
            target[free] = solve_free_block(game, free, rhs)
        candidate = np.clip(target, lo, hi)
        t = 1.0
        for _ in range(_MAX_BACKTRACKS + 1):
            trial = s + t * (candidate - s)
            if np.linalg.norm(natural_residual(trial)[0]) <= (1.0 - 1e-4 * t) * merit:
                return trial
            t *= 0.5
        if not fallback_step:
            fallback_step.append(1.0 / max(lipschitz_constant(game), 1e-300))
        return np.clip(s + fallback_step[0] * g, lo, hi)

    return step
