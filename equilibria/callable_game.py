"""Games beyond the quadratic form: the `ContinuousGame` protocol and `CallableGame`.

Every solver and certificate in this package talks to a game through the `ContinuousGame`
protocol, so a new theory of pruning plugs in by writing its utilities as a function.
`CallableGame` wraps any smooth ``utility_fn(s) -> (N,)`` array with numeric best responses
(a bounded scalar search per player, scipy's Brent method plus both endpoints) and
finite-difference pseudo-gradients and Jacobians.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy.optimize import minimize_scalar

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
        ``utility_fn(s) -> ndarray of shape (N,)``: every player's utility at profile s.
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

    Examples
    --------
    >>> game = CallableGame(lambda s: s * (1.0 - s - 0.5 * s[::-1]), 2)
    >>> game.best_response([0.0, 0.0]).round(6)
    array([0.5, 0.5])
    """

    utility_fn: Callable[[np.ndarray], np.ndarray]
    n_players: int
    bounds: tuple[float, float] = (0.0, 1.0)
    gradient_fn: Callable[[np.ndarray], np.ndarray] | None = None
    scale: float | None = None
    fd_step: float = 1e-6
    xtol: float = 1e-10

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

    def check(self, s: Any, name: str = "s") -> np.ndarray:
        """Validate a profile: a finite vector of length N inside the box."""
        return check_profile(s, self.n_players, self.bounds, name)

    def utilities(self, s: Any) -> np.ndarray:
        """Every player's utility, checked to be a finite (N,) array."""
        s = self.check(s)
        values = np.asarray(self.utility_fn(s.copy()), dtype=np.float64)
        if values.shape != (self.n_players,):
            raise InvalidGameError(f"utility_fn must return shape ({self.n_players},); "
                                   f"got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise InvalidGameError("utility_fn returned NaN or inf")
        return values

    def _player_utility(self, i: int, t: float, s: np.ndarray) -> float:
        trial = s.copy()
        trial[i] = t
        return float(self.utilities(trial)[i])

    def pseudo_gradient(self, s: Any) -> np.ndarray:
        """dU_i/ds_i for every player: ``gradient_fn`` or finite differences."""
        s = self.check(s)
        if self.gradient_fn is not None:
            return np.asarray(self.gradient_fn(s.copy()), dtype=np.float64)
        lo, hi = self.bounds
        h = self.fd_step * (hi - lo)
        gradient = np.empty(self.n_players)
        for i in range(self.n_players):
            up, down = min(s[i] + h, hi), max(s[i] - h, lo)
            gradient[i] = (self._player_utility(i, up, s)
                           - self._player_utility(i, down, s)) / (up - down)
        return gradient

    def player_best_response(self, i: int, s: np.ndarray) -> float:
        """Player i's best response: the best of a bounded Brent search and both endpoints."""
        lo, hi = self.bounds
        search = minimize_scalar(lambda t: -self._player_utility(i, t, s), bounds=(lo, hi),
                                 method="bounded", options={"xatol": self.xtol})
        candidates = [lo, hi, float(search.x)]
        values = [self._player_utility(i, t, s) for t in candidates]
        return candidates[int(np.argmax(values))]

    def best_response(self, s: Any) -> np.ndarray:
        """Every player's numeric best response to s_-i."""
        s = self.check(s)
        return np.array([self.player_best_response(i, s) for i in range(self.n_players)])

    def deviation_gains(self, s: Any) -> np.ndarray:
        """``U_i(BR_i(s), s_-i) - U_i(s) >= 0`` for every player (numeric best response)."""
        s = self.check(s)
        base = self.utilities(s)
        gains = np.empty(self.n_players)
        for i in range(self.n_players):
            gains[i] = self._player_utility(i, self.player_best_response(i, s), s) - base[i]
        return np.maximum(gains, 0.0)

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
        lo, hi = self.bounds
        largest = max(float(np.abs(self.utilities(np.full(self.n_players, t))).max())
                      for t in (lo, hi, 0.5 * (lo + hi)))
        return max(largest, 1e-300)
