"""Games beyond the quadratic form: the `ContinuousGame` protocol and `CallableGame`.

Every solver and certificate in this package talks to a game through the `ContinuousGame`
protocol, so a new theory of pruning plugs in by writing its utilities as a function.
`CallableGame` wraps any smooth ``utility_fn(s) -> (N,)`` array with numeric best responses
and finite-difference pseudo-gradients and Jacobians.

Best responses are a bounded Brent search (scipy's ``minimize_scalar(method="bounded")``, run
for every player at once by `equilibria.bounded_search.minimize_bounded`) plus both endpoints.
Each step of the search needs every player's utility after a deviation of that player alone,
``U_i(t_i, s_-i)``: with ``vectorized=True`` the game stacks the N deviated profiles and asks
`utility_fn` for all of them in one call; otherwise it calls `utility_fn` once per player, which
works for any utility. Both give the same numbers (each player's search is the scalar search).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from equilibria.bounded_search import minimize_bounded
from equilibria.errors import InvalidGameError, check_bounds, check_profile


@runtime_checkable
class ContinuousGame(Protocol):
    """What the solvers and certificates need of a game on the box [lo, hi]^N.

    Each player's utility must be concave in its own participation for the best response to
    be the global maximizer (true for `ParticipationGame`; for `CallableGame` the numeric
    search returns the best of a bounded Brent search and both endpoints).
    """

    bounds: tuple[float, float]

    @property
    def n_players(self) -> int: ...

    def check(self, s: Any, name: str = "s") -> np.ndarray: ...

    def utilities(self, s: Any) -> np.ndarray: ...

    def pseudo_gradient(self, s: Any) -> np.ndarray: ...

    def best_response(self, s: Any) -> np.ndarray: ...

    def player_best_response(self, i: int, s: np.ndarray) -> float: ...

    def deviation_gains(self, s: Any) -> np.ndarray: ...

    def jacobian(self, s: Any = None) -> np.ndarray: ...

    def payoff_scale(self) -> float: ...


@dataclass(frozen=True, eq=False)
class CallableGame:
    """A game given by a utility function, with numeric best responses and derivatives.

    Parameters
    ----------
    utility_fn : callable
        ``utility_fn(s) -> ndarray of shape (N,)``: every player's utility at profile s. It
        must be a pure function of s: the best responses at the profile asked for last are
        kept and reused (a solver asks for the Nash gap and its next step at the same
        profile).
    n_players : int
        N.
    bounds : (float, float), default (0.0, 1.0)
        The box [lo, hi], 0 <= lo < hi.
    gradient_fn : callable, optional
        ``gradient_fn(s) -> (N,)``, the exact pseudo-gradient dU_i/ds_i; central finite
        differences (one-sided at the bounds) otherwise.
    scale : float, optional
        The payoff scale used to make the Nash gap relative; by default the largest |U_i|
        seen at the profiles lo*1, hi*1 and (lo+hi)/2*1.
    fd_step : float, default 1e-6
        Finite-difference step, relative to hi - lo.
    xtol : float, default 1e-10
        Tolerance of the bounded scalar search.
    vectorized : bool, default False
        Whether `utility_fn` also takes a stack of profiles, shape (M, N), and returns every
        player's utility at each of them, shape (M, N) (row m at profile m) -- what a utility
        written with ``s[..., i]`` and ``axis=-1`` reductions does under numpy broadcasting.
        Then every step of the best-response search is one call for all N players (N stacked
        profiles, O(N^2) memory) instead of N calls.

    Examples
    --------
    >>> game = CallableGame(lambda s: s * (1.0 - s - 0.5 * s[::-1]), 2)
    >>> game.best_response([0.0, 0.0]).round(6)
    array([0.5, 0.5])
    >>> fast = CallableGame(lambda s: s * (1.0 - s - 0.5 * s[..., ::-1]), 2, vectorized=True)
    >>> fast.best_response([0.0, 0.0]).round(6)
    array([0.5, 0.5])
    """

    utility_fn: Callable[[np.ndarray], np.ndarray]
    n_players: int
    bounds: tuple[float, float] = (0.0, 1.0)
    gradient_fn: Callable[[np.ndarray], np.ndarray] | None = None
    scale: float | None = None
    fd_step: float = 1e-6
    xtol: float = 1e-10
    vectorized: bool = False

    def __post_init__(self) -> None:
        if not callable(self.utility_fn):
            raise InvalidGameError("utility_fn must be callable: utility_fn(s) -> (N,) array")
        if int(self.n_players) != self.n_players or self.n_players < 1:
            raise InvalidGameError(f"n_players must be a positive integer; got {self.n_players}")
        object.__setattr__(self, "n_players", int(self.n_players))
        object.__setattr__(self, "bounds", check_bounds(self.bounds))
        if self.scale is not None and not (np.isfinite(self.scale) and self.scale > 0):
            raise InvalidGameError(f"scale must be a finite number > 0; got {self.scale}")
        if not (0 < self.fd_step < 1):
            raise InvalidGameError(f"fd_step must lie in (0, 1); got {self.fd_step}")
        object.__setattr__(self, "vectorized", bool(self.vectorized))

    def check(self, s: Any, name: str = "s") -> np.ndarray:
        """Validate a profile: a finite vector of length N inside the box."""
        return check_profile(s, self.n_players, self.bounds, name)

    def utilities(self, s: Any) -> np.ndarray:
        """Every player's utility, checked to be a finite (N,) array."""
        s = self.check(s)
        return self._checked(self.utility_fn(s.copy()), (self.n_players,))

    def _checked(self, values: Any, shape: tuple[int, ...]) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != shape:
            what = "a stack of profiles (vectorized=True)" if len(shape) == 2 else "a profile"
            raise InvalidGameError(f"utility_fn must return shape {shape} for {what}; got "
                                   f"{values.shape}")
        if not np.all(np.isfinite(values)):
            raise InvalidGameError("utility_fn returned NaN or inf")
        return values

    def _player_utility(self, i: int, t: float, s: np.ndarray) -> float:
        trial = s.copy()
        trial[i] = t
        return float(self._checked(self.utility_fn(trial), (self.n_players,))[i])

    def deviation_utilities(self, t: Any, s: Any) -> np.ndarray:
        """``U_i(t_i, s_-i)`` for every player i: each player deviating alone to t_i.

        One call of `utility_fn` on the N stacked deviations when `vectorized`, else one call
        per player.
        """
        s = self.check(s)
        t = self.check(t, "t")
        return self._deviations(t, s)

    def _deviations(self, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        n = self.n_players
        if self.vectorized:
            stack = np.repeat(s[None, :], n, axis=0)
            stack[np.arange(n), np.arange(n)] = t
            return np.diagonal(self._checked(self.utility_fn(stack), (n, n))).copy()
        return np.array([self._player_utility(i, float(t[i]), s) for i in range(n)])

    def pseudo_gradient(self, s: Any) -> np.ndarray:
        """dU_i/ds_i for every player: ``gradient_fn`` or finite differences."""
        s = self.check(s)
        if self.gradient_fn is not None:
            return np.asarray(self.gradient_fn(s.copy()), dtype=np.float64)
        lo, hi = self.bounds
        h = self.fd_step * (hi - lo)
        up, down = np.minimum(s + h, hi), np.maximum(s - h, lo)
        return (self._deviations(up, s) - self._deviations(down, s)) / (up - down)

    def _responses(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every player's best response to s and the utility it gets (kept for the last s)."""
        memo = self.__dict__.get("_memo")
        if memo is not None and np.array_equal(memo[0], s):
            return memo[1], memo[2]
        lo, hi = self.bounds
        searched, negative = minimize_bounded(lambda t: -self._deviations(t, s), lo, hi,
                                              self.n_players, xatol=self.xtol)
        # the best of the endpoints and the search, preferring lo, then hi, on ties
        candidates = np.stack([np.full(self.n_players, lo), np.full(self.n_players, hi),
                               searched])
        values = np.stack([self._deviations(candidates[0], s),
                           self._deviations(candidates[1], s), -negative])
        best = np.argmax(values, axis=0)
        players = np.arange(self.n_players)
        response, utility = candidates[best, players], values[best, players]
        object.__setattr__(self, "_memo", (s.copy(), response, utility))
        return response, utility

    def player_best_response(self, i: int, s: np.ndarray) -> float:
        """Player i's best response: the best of a bounded Brent search and both endpoints."""
        lo, hi = self.bounds
        s = np.asarray(s, dtype=np.float64)

        def utility(t: float) -> float:
            return self._player_utility(i, t, s)

        searched, _ = minimize_bounded(lambda t: np.array([-utility(float(t[0]))]), lo, hi, 1,
                                       xatol=self.xtol)
        candidates = [lo, hi, float(searched[0])]
        values = [utility(t) for t in candidates]
        return candidates[int(np.argmax(values))]

    def best_response(self, s: Any) -> np.ndarray:
        """Every player's numeric best response to s_-i, all players searched at once."""
        return self._responses(self.check(s))[0].copy()

    def deviation_gains(self, s: Any) -> np.ndarray:
        """``U_i(BR_i(s), s_-i) - U_i(s) >= 0`` for every player (numeric best response)."""
        s = self.check(s)
        return np.maximum(self._responses(s)[1] - self.utilities(s), 0.0)

    def jacobian(self, s: Any = None) -> np.ndarray:
        """Finite-difference Jacobian of the pseudo-gradient at s (default: the box centre)."""
        lo, hi = self.bounds
        s = np.full(self.n_players, 0.5 * (lo + hi)) if s is None else self.check(s)
        h = self.fd_step ** 0.5 * (hi - lo)
        J = np.empty((self.n_players, self.n_players))
        for j in range(self.n_players):
            up, down = s.copy(), s.copy()
            up[j], down[j] = min(s[j] + h, hi), max(s[j] - h, lo)
            J[:, j] = (self.pseudo_gradient(up) - self.pseudo_gradient(down)) / (up[j] - down[j])
        return J

    def payoff_scale(self) -> float:
        """`scale`, or the largest |U_i| at the profiles lo*1, hi*1 and the box centre."""
        if self.scale is not None:
            return float(self.scale)
        cached = self.__dict__.get("_payoff_scale")
        if cached is None:
            lo, hi = self.bounds
            largest = max(float(np.abs(self.utilities(np.full(self.n_players, t))).max())
                          for t in (lo, hi, 0.5 * (lo + hi)))
            cached = max(largest, 1e-300)
            object.__setattr__(self, "_payoff_scale", cached)  # utility_fn is pure
        return cached
