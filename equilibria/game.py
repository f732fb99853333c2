"""The quadratic participation game (docs/design.md, "The game"; Shah & Khan 2025, Eq. 8-14).

Each of N players picks a participation s_i in the box [lo, hi] (default [0, 1]) and receives

    U_i(s) = b_i s_i - q_i s_i^2 - c_i |s_i| - s_i * sum_{j != i} R_ij s_j.

Because lo >= 0, |s_i| = s_i on the box and every formula below uses the net benefit
a_i = b_i - c_i. With r_i = sum_{j != i} R_ij s_j:

- pseudo-gradient  g_i(s) = a_i - 2 q_i s_i - r_i                       (paper Eq. 13/18)
- best response    BR_i(s) = clip((a_i - r_i) / (2 q_i), lo, hi)        (paper Eq. 14)
  (for q_i = 0, U_i is linear in s_i and BR_i is hi when a_i > r_i, else lo)
- deviation gain   U_i(BR_i(s), s_-i) - U_i(s) >= 0                     (Nash gap per player)
- Jacobian         J = -2 diag(q) - R                                   (constant)
- potential        Phi(s) = sum_i (a_i s_i - q_i s_i^2) - 1/2 s^T R s   (when R = R^T)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from equilibria import competition as comp
from equilibria.competition import Competition, LowRank
from equilibria.errors import (
    InvalidGameError,
    NotPotentialGameError,
    as_finite_vector,
    check_bounds,
    check_nonnegative,
    check_profile,
)

#: Largest N for which `jacobian()` materializes a dense matrix.
DENSE_JACOBIAN_LIMIT = 20_000


@dataclass(frozen=True, eq=False)
class ParticipationGame:
    """Quadratic participation game on the box [lo, hi]^N.

    ``U_i(s) = b_i s_i - q_i s_i^2 - c_i |s_i| - s_i sum_{j != i} R_ij s_j`` (docs/design.md; the
    paper's Eq. 8-10 is the instance built by `from_paper`).

    Parameters
    ----------
    benefit : array_like of shape (N,)
        b, the benefit (contribution) of each player.
    quadratic_cost : array_like of shape (N,) or float
        q >= 0, the own quadratic cost.
    linear_cost : array_like of shape (N,) or float, default 0.0
        c >= 0, the linear (L1) cost.
    competition : None, (N, N) array, scipy.sparse matrix or LowRank, default None
        R, the competition between players; its diagonal is ignored.
    bounds : (float, float), default (0.0, 1.0)
        The box [lo, hi] with 0 <= lo < hi.

    Raises
    ------
    InvalidGameError
        On NaN or inf, mismatched shapes, negative costs or a bad box.

    Examples
    --------
    >>> game = ParticipationGame([1.0, 0.2], 0.5, competition=[[0, 0.3], [0.3, 0]])
    >>> game.best_response([1.0, 1.0])
    array([0.7, 0. ])
    """

    benefit: np.ndarray
    quadratic_cost: np.ndarray
    linear_cost: np.ndarray | float = 0.0
    competition: Any = None
    bounds: tuple[float, float] = (0.0, 1.0)
    _net_benefit: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        benefit = as_finite_vector(self.benefit, "benefit")
        n = benefit.shape[0]
        if n == 0:
            raise InvalidGameError("benefit is empty; a game needs at least one player")
        quadratic = as_finite_vector(self.quadratic_cost, "quadratic_cost", n)
        linear = as_finite_vector(self.linear_cost, "linear_cost", n)
        check_nonnegative(quadratic, "quadratic_cost")
        check_nonnegative(linear, "linear_cost")
        object.__setattr__(self, "benefit", benefit)
        object.__setattr__(self, "quadratic_cost", quadratic)
        object.__setattr__(self, "linear_cost", linear)
        object.__setattr__(self, "competition", comp.normalize(self.competition, n))
        object.__setattr__(self, "bounds", check_bounds(self.bounds))
        object.__setattr__(self, "_net_benefit", benefit - linear)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_paper(cls, grad_inner: Any, sq_norms: Any, gram: Any = None, alpha: float = 1.0,
                   beta: float = 0.0, gamma: float = 0.0, eta: float = 0.0,
                   bounds: tuple[float, float] = (0.0, 1.0)) -> ParticipationGame:
        """The paper's utility as a participation game (Shah & Khan 2025, Eq. 8-10).

        ``b_i = alpha <grad_{theta_i} L, theta_i>``, ``q_i = beta ||theta_i||^2``,
        ``c_i = gamma`` and ``R_ij = eta <theta_i, theta_j>``.

        Parameters
        ----------
        grad_inner : array_like of shape (N,)
            ``<grad_{theta_i} L, theta_i>`` per player.
        sq_norms : array_like of shape (N,)
            ``||theta_i||^2`` per player.
        gram : None, (N, N) array, scipy.sparse matrix or LowRank
            ``<theta_i, theta_j>`` (a LowRank of the stacked theta_i is the cheap form).
        alpha, beta, gamma, eta : float
            The paper's weights; beta, gamma >= 0.
        """
        for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma), ("eta", eta)):
            if not np.isfinite(value):
                raise InvalidGameError(f"{name} must be finite; got {value}")
        if beta < 0 or gamma < 0:
            raise InvalidGameError(f"beta and gamma are costs and must be >= 0; got beta={beta}, "
                                   f"gamma={gamma}")
        grad_inner = as_finite_vector(grad_inner, "grad_inner")
        sq_norms = as_finite_vector(sq_norms, "sq_norms", grad_inner.shape[0])
        check_nonnegative(sq_norms, "sq_norms")
        competition: Competition = None
        if gram is not None and eta != 0.0:
            if isinstance(gram, LowRank):
                competition = LowRank(gram.factors, gram.scale * eta)
            elif sp.issparse(gram):
                competition = sp.csr_matrix(gram, dtype=np.float64) * eta
            else:
                competition = np.asarray(gram, dtype=np.float64) * eta
        return cls(alpha * grad_inner, beta * sq_norms, gamma, competition, bounds)

    # ------------------------------------------------------------------ basic facts
    @property
    def n_players(self) -> int:
        """Number of players N."""
        return self.benefit.shape[0]

    @property
    def net_benefit(self) -> np.ndarray:
        """a = b - c: the benefit net of the linear cost (valid because s >= 0)."""
        return self._net_benefit

    @property
    def is_potential(self) -> bool:
        """Whether the game is an exact potential game (R symmetric; Monderer & Shapley 1996)."""
        return comp.is_symmetric(self.competition)

    def check(self, s: Any, name: str = "s") -> np.ndarray:
        """Validate a profile: a finite vector of length N inside the box."""
        return check_profile(s, self.n_players, self.bounds, name)

    def competition_product(self, s: np.ndarray) -> np.ndarray:
        """``r_i = sum_{j != i} R_ij s_j`` for every player."""
        return comp.matvec(self.competition, s)

    # ------------------------------------------------------------------ payoffs
    def utilities(self, s: Any) -> np.ndarray:
        """Every player's utility U_i(s) (docs/design.md; paper Eq. 8)."""
        s = self.check(s)
        r = self.competition_product(s)
        return s * (self._net_benefit - self.quadratic_cost * s - r)

    def pseudo_gradient(self, s: Any) -> np.ndarray:
        """``g_i(s) = dU_i/ds_i = a_i - 2 q_i s_i - r_i`` (paper Eq. 13/18, s_i > 0)."""
        s = self.check(s)
        return self._net_benefit - 2.0 * self.quadratic_cost * s - self.competition_product(s)

    def best_response(self, s: Any) -> np.ndarray:
        """Every player's exact best response to s_-i (paper Eq. 14, clipped to the box)."""
        s = self.check(s)
        return self.best_response_to(self.competition_product(s))

    def best_response_to(self, r: np.ndarray) -> np.ndarray:
        """Best responses given the competition products ``r_i = (R s)_i``.

        For q_i > 0 the maximizer of the concave quadratic is clipped to the box; for q_i = 0
        the utility is linear and the best response is hi when ``a_i - r_i > 0``, else lo
        (at a tie every point is a best response and lo is returned).
        """
        lo, hi = self.bounds
        numerator = self._net_benefit - r
        q = self.quadratic_cost
        # a tiny q_i overflows the ratio to +-inf, which the clip maps to the right bound
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            interior = np.clip(numerator / (2.0 * q), lo, hi)
        endpoint = np.where(numerator > 0.0, hi, lo)
        return np.where(q > 0.0, interior, endpoint)

    def player_best_response(self, i: int, s: np.ndarray) -> float:
        """Best response of player i alone (for sequential best-response play)."""
        r_i = self._competition_row_product(i, s)
        return float(self.best_response_to_player(i, r_i))

    def best_response_to_player(self, i: int, r_i: float) -> float:
        """Player i's best response given ``r_i = (R s)_i``."""
        lo, hi = self.bounds
        numerator = self._net_benefit[i] - r_i
        q = self.quadratic_cost[i]
        if q > 0.0:
            return min(max(numerator / (2.0 * q), lo), hi)
        return hi if numerator > 0.0 else lo

    def _competition_row_product(self, i: int, s: np.ndarray) -> float:
        R = self.competition
        if R is None:
            return 0.0
        if isinstance(R, LowRank):
            f_i = R.factors[i]
            return float(R.scale * (f_i @ (R.factors.T @ s) - f_i @ f_i * s[i]))
        if sp.issparse(R):
            start, stop = R.indptr[i], R.indptr[i + 1]
            return float(R.data[start:stop] @ s[R.indices[start:stop]])
        return float(R[i] @ s)

    def deviation_gains(self, s: Any) -> np.ndarray:
        """``U_i(BR_i(s), s_-i) - U_i(s) >= 0`` for every player, in closed form.

        With t = BR_i(s): ``(a_i - r_i)(t - s_i) - q_i (t^2 - s_i^2)``.
        """
        s = self.check(s)
        r = self.competition_product(s)
        t = self.best_response_to(r)
        gains = (self._net_benefit - r) * (t - s) - self.quadratic_cost * (t * t - s * s)
        return np.maximum(gains, 0.0)

    def potential(self, s: Any) -> float:
        """Exact potential ``Phi(s) = sum_i (a_i s_i - q_i s_i^2) - 1/2 s^T R s``.

        Monderer & Shapley (1996): for symmetric R, ``U_i(t, s_-i) - U_i(s) =
        Phi(t, s_-i) - Phi(s)`` for every unilateral deviation.

        Raises
        ------
        NotPotentialGameError
            When R is not symmetric (then no exact potential exists).
        """
        if not self.is_potential:
            raise NotPotentialGameError("potential() needs a symmetric competition matrix; this "
                                        "game's R is not symmetric, so it has no exact potential")
        s = self.check(s)
        r = self.competition_product(s)
        return float(s @ (self._net_benefit - self.quadratic_cost * s) - 0.5 * s @ r)

    # ------------------------------------------------------------------ linearization
    def jacobian(self, s: Any = None) -> np.ndarray:
        """Dense Jacobian of the pseudo-gradient, ``J = -2 diag(q) - R`` (constant in s).

        Raises
        ------
        InvalidGameError
            For N above `DENSE_JACOBIAN_LIMIT`; use `jacobian_operator` instead.
        """
        n = self.n_players
        if n > DENSE_JACOBIAN_LIMIT:
            raise InvalidGameError(f"jacobian() would materialize a {n} x {n} matrix; use "
                             "jacobian_operator() for large games")
        J = -comp.to_dense(self.competition, n)
        J[np.diag_indices(n)] = -2.0 * self.quadratic_cost
        return J

    def jacobian_operator(self) -> spla.LinearOperator:
        """J as a scipy LinearOperator: products in O(nnz) or O(N d) for LowRank."""
        q2 = 2.0 * self.quadratic_cost
        R = self.competition
        n = self.n_players
        return spla.LinearOperator(
            (n, n), dtype=np.float64,
            matvec=lambda v: -q2 * np.ravel(v) - comp.matvec(R, np.ravel(v)),
            rmatvec=lambda v: -q2 * np.ravel(v) - comp.rmatvec(R, np.ravel(v)))

    def payoff_scale(self) -> float:
        """The scale that makes the Nash gap relative (documented in docs/explanation/game.md).

        ``max_i [ m (|b_i| + c_i) + m^2 (q_i + ||R_i||_2) ]`` with m = hi, the largest
        participation: the size of each utility's terms at full participation, with the
        competition row measured by its Euclidean norm so that dense, sparse and LowRank forms
        of the same game share one scale. Never below 1e-300.
        """
        cached = self.__dict__.get("_payoff_scale")
        if cached is None:
            m = self.bounds[1]
            rows = comp.row_norms(self.competition, self.n_players)
            scale = m * (np.abs(self.benefit) + self.linear_cost) + m * m * (self.quadratic_cost
                                                                              + rows)
            cached = float(max(scale.max(), 1e-300))
            object.__setattr__(self, "_payoff_scale", cached)  # the game is immutable
        return cached

    # ------------------------------------------------------------------ derived games
    def restrict(self, index: Any, s: Any = None) -> ParticipationGame:
        """The game among the players in `index` with every other player fixed at `s`.

        Players outside `index` become part of the benefit: ``b'_I = b_I - R_{I, not I} s``.
        With ``s=None`` the others contribute nothing, which is exact when the groups do not
        interact (connected components of the interaction graph, `equilibria.graphs`).
        """
        index = np.asarray(index, dtype=np.int64)
        if index.ndim != 1 or index.size == 0:
            raise InvalidGameError("index must be a non-empty 1-D array of player indices")
        if index.min() < 0 or index.max() >= self.n_players:
            raise InvalidGameError(f"index must hold player indices in [0, {self.n_players}); "
                                   f"got values in [{index.min()}, {index.max()}]")
        benefit = self.benefit[index]
        if s is not None and self.competition is not None:
            others = self.check(s).copy()
            others[index] = 0.0
            benefit = benefit - self.competition_product(others)[index]
        return ParticipationGame(benefit, self.quadratic_cost[index], self.linear_cost[index],
                                 comp.subset(self.competition, index), self.bounds)

    def with_costs(self, *, quadratic_cost: Any = None, linear_cost: Any = None
                   ) -> ParticipationGame:
        """A copy with new costs (for sweeps over beta and gamma)."""
        return replace(self,
                       quadratic_cost=self.quadratic_cost if quadratic_cost is None
                       else quadratic_cost,
                       linear_cost=self.linear_cost if linear_cost is None else linear_cost)

    def permuted(self, order: Any) -> ParticipationGame:
        """The same game with players relabelled: new player k is old player order[k]."""
        order = np.asarray(order, dtype=np.int64)
        if sorted(order.tolist()) != list(range(self.n_players)):
            raise InvalidGameError("order must be a permutation of range(n_players)")
        return ParticipationGame(self.benefit[order], self.quadratic_cost[order],
                                 self.linear_cost[order], comp.subset(self.competition, order),
                                 self.bounds)

    def scaled(self, factor: float) -> ParticipationGame:
        """Every payoff multiplied by ``factor > 0`` (same best responses and equilibria)."""
        if not (np.isfinite(factor) and factor > 0):
            raise InvalidGameError(f"factor must be a finite number > 0; got {factor}")
        R = self.competition
        if isinstance(R, LowRank):
            R = LowRank(R.factors, R.scale * factor)
        elif R is not None:
            R = R * factor
        return ParticipationGame(self.benefit * factor, self.quadratic_cost * factor,
                                 self.linear_cost * factor, R, self.bounds)
