"""Second-order readings: a game whose potential is minus a quadratic model of the loss.

Around the participation ``s0`` at which a network was measured, the loss in the gates is
modelled to second order (docs/explanation/second-order.md):

    L(s) ~ L(s0) + g^T (s - s0) + 1/2 (s - s0)^T H (s - s0),

with ``g = dL/ds`` and a curvature H of the gates: the damped empirical Fisher ``G^T G / n +
lambda I`` of the per-example gate gradients G (n x N), a damped Gauss-Newton matrix, or any
symmetric matrix (the exact Hessian of a tiny net, the reconstruction Gram). Each player's
utility is minus that model loss minus its price, ``U_i(s) = -L(s) - gamma s_i -
beta ||theta_i||^2 s_i^2``; expanding the quadratic gives the participation game

    b_i = -g_i + (H s0)_i,   q_i = H_ii / 2 (+ beta ||theta_i||^2),   R_ij = H_ij (i != j),
    c_i = gamma,

an exact potential game whose potential is ``-L(s) - price(s)`` up to a constant (Monderer &
Shapley 1996), monotone when H is positive definite (damping > 0 makes it so), hence with one
equilibrium (Rosen 1965). The diagonal of H is what Optimal Brain Damage keeps (LeCun, Denker &
Solla 1990); the off-diagonal competition is what Optimal Brain Surgeon adds (Hassibi & Stork
1993); the paper's Eq. 8-10 (Shah & Khan 2025) has the same b/q/R shape with other entries.

H from n examples is ``F F^T + lambda I`` with F = G^T / sqrt(n) of shape (N, n): the game's
competition is then ``LowRank(F)`` (diagonal excluded by construction) and the diagonal
``||F_i||^2 + lambda`` goes to q, so no N x N matrix is ever formed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from equilibria import competition as comp
from equilibria.competition import LowRank
from equilibria.errors import InvalidGameError, as_finite_vector
from equilibria.game import ParticipationGame

__all__ = ["QuadraticModel", "quadratic_game"]


@dataclass(frozen=True, eq=False)
class QuadraticModel:
    """A quadratic model of the loss in the gates around ``s0`` (docs/explanation/second-order.md).

    ``L(s) - L(s0) ~ g^T d + 1/2 d^T H d`` with ``d = s - s0`` and ``H = F F^T + lambda I``
    (``factors`` F) or ``H = M + lambda I`` (``matrix`` M, dense or scipy.sparse, symmetric).

    Parameters
    ----------
    gradient : array_like of shape (N,)
        g = dL/ds at s0.
    reference : array_like of shape (N,)
        s0, the participation of the expansion.
    factors : array_like of shape (N, d), optional
        F with ``H = F F^T + damping I`` (the empirical Fisher ``G^T G / n`` has F =
        G^T / sqrt(n); a Gauss-Newton matrix has one column per example and output).
    matrix : (N, N) array or scipy.sparse matrix, optional
        A symmetric curvature M with ``H = M + damping I``. Exactly one of ``factors`` and
        ``matrix`` is given.
    damping : float, default 0.0
        lambda >= 0 added to the diagonal (Levenberg-Marquardt / Tikhonov damping).

    Raises
    ------
    InvalidGameError
        On shapes that do not match, non-finite entries, a non-symmetric matrix, negative
        damping, or neither or both of ``factors`` and ``matrix``.
    """

    gradient: np.ndarray
    reference: np.ndarray
    factors: np.ndarray | None = None
    matrix: Any = None
    damping: float = 0.0

    def __post_init__(self) -> None:
        gradient = as_finite_vector(self.gradient, "gradient")
        n = gradient.shape[0]
        object.__setattr__(self, "gradient", gradient)
        object.__setattr__(self, "reference", as_finite_vector(self.reference, "reference", n))
        if (self.factors is None) == (self.matrix is None):
            raise InvalidGameError("QuadraticModel needs exactly one of factors (H = F F^T + "
                                   "damping I) and matrix (H = M + damping I)")
        if not (np.isfinite(self.damping) and self.damping >= 0):
            raise InvalidGameError(f"damping must be a finite number >= 0; got {self.damping}")
        object.__setattr__(self, "damping", float(self.damping))
        if self.factors is not None:
            factors = np.asarray(self.factors, dtype=np.float64)
            if factors.ndim != 2 or factors.shape[0] != n or not np.all(np.isfinite(factors)):
                raise InvalidGameError(f"factors must be a finite ({n}, d) array, one row per "
                                       f"gate; got shape {factors.shape}")
            object.__setattr__(self, "factors", factors)
            return
        matrix = (sp.csr_matrix(self.matrix, dtype=np.float64) if sp.issparse(self.matrix)
                  else np.asarray(self.matrix, dtype=np.float64))
        finite = matrix.data if sp.issparse(matrix) else matrix
        if matrix.shape != (n, n) or not np.all(np.isfinite(finite)):
            raise InvalidGameError(f"matrix must be a finite ({n}, {n}) array; got shape "
                                   f"{matrix.shape}")
        if not comp.is_symmetric(matrix, rtol=1e-8):
            raise InvalidGameError("matrix must be symmetric (a curvature); got an asymmetric "
                                   "one")
        object.__setattr__(self, "matrix", matrix)

    @property
    def n_players(self) -> int:
        """Number of gates N."""
        return self.gradient.shape[0]

    def curvature_product(self, v: Any) -> np.ndarray:
        """``H v`` in O(N d) (factors) or O(nnz) (matrix)."""
        v = as_finite_vector(v, "v", self.n_players)
        if self.factors is not None:
            out = self.factors @ (self.factors.T @ v)
        else:
            out = np.asarray(self.matrix @ v, dtype=np.float64).ravel()
        return out + self.damping * v

    def curvature_diagonal(self) -> np.ndarray:
        """``diag(H)``: ``||F_i||^2 + damping`` or ``M_ii + damping``."""
        if self.factors is not None:
            diagonal = np.einsum("ij,ij->i", self.factors, self.factors)
        elif sp.issparse(self.matrix):
            diagonal = self.matrix.diagonal()
        else:
            diagonal = np.diag(self.matrix).copy()
        return diagonal + self.damping

    def loss_change(self, s: Any) -> float:
        """The predicted ``L(s) - L(s0) = g^T d + 1/2 d^T H d`` with ``d = s - s0``."""
        d = as_finite_vector(s, "s", self.n_players) - self.reference
        return float(self.gradient @ d + 0.5 * d @ self.curvature_product(d))

    def competition(self) -> LowRank | np.ndarray | sp.csr_matrix:
        """The off-diagonal of H as the game's competition R (LowRank for factors)."""
        if self.factors is not None:
            return LowRank(self.factors)
        return self.matrix


def quadratic_game(model: QuadraticModel, *, alpha: float = 1.0, gamma: float = 0.0,
                   l2: Any = 0.0, bounds: tuple[float, float] = (0.0, 1.0)) -> ParticipationGame:
    """The game with ``U_i(s) = -alpha L(s) - gamma s_i - l2_i s_i^2`` for a quadratic model L.

    ``b = alpha (-g + H s0)``, ``q = alpha diag(H) / 2 + l2``, ``R = alpha offdiag(H)``,
    ``c = gamma`` (module docstring; docs/explanation/second-order.md, Eq. 3). Its potential is
    ``-alpha (L(s) - L(s0)) - gamma sum_i s_i - sum_i l2_i s_i^2`` plus a constant, so its
    equilibria are the KKT points of the priced model loss on the box, unique when H is
    positive definite (a damping > 0 makes it so).

    Parameters
    ----------
    model : QuadraticModel
    alpha : float, default 1.0
        Weight of the model loss, > 0.
    gamma : float, default 0.0
        The L1 price c_i (Shah & Khan 2025, Eq. 10), >= 0.
    l2 : float or array_like (N,), default 0.0
        An extra own quadratic cost (``beta ||theta_i||^2`` of Eq. 10), >= 0.
    bounds : (float, float), default (0, 1)

    Raises
    ------
    InvalidGameError
        When alpha <= 0, gamma < 0, or the curvature's diagonal is negative somewhere (q_i
        must be >= 0: add damping).
    """
    if not (np.isfinite(alpha) and alpha > 0):
        raise InvalidGameError(f"alpha must be a finite number > 0 (the weight of the model "
                               f"loss); got {alpha}")
    if not (np.isfinite(gamma) and gamma >= 0):
        raise InvalidGameError(f"gamma is a price and must be a finite number >= 0; got {gamma}")
    diagonal = model.curvature_diagonal()
    negative = np.flatnonzero(diagonal < 0)
    if negative.size:
        raise InvalidGameError(f"the curvature's diagonal is negative at {negative.size} gates "
                               f"(smallest {diagonal.min():.3g}); the own cost H_ii / 2 must be "
                               "non-negative: raise the damping")
    benefit = alpha * (-model.gradient + model.curvature_product(model.reference))
    quadratic = alpha * diagonal / 2.0 + as_finite_vector(l2, "l2", model.n_players)
    R = model.competition()
    if isinstance(R, LowRank):
        R = LowRank(R.factors, R.scale * alpha)
    else:
        R = R * alpha
    return ParticipationGame(benefit, quadratic, gamma, R, bounds)
