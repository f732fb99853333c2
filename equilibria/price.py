"""The game's own price of sparsity: the smallest L1 price gamma that reaches a target.

In the participation game (Shah & Khan 2025, Eq. 8-10; docs/explanation/game.md) the uniform
L1 cost ``c_i = gamma`` is the price a player pays per unit of participation. Without
competition player i sits at zero exactly when ``gamma >= b_i - 2 q_i lo`` (Eq. 15), so the
share of players at zero in the equilibrium rises with gamma and the smallest gamma that
zeroes a requested share is a threshold that bisection finds. Under competition the share is
*not* monotone in gamma in general (docs/explanation/game.md, Section 6.1 has a certified
counterexample), so `price_for_sparsity` bisects on a bracket ``[lo, hi]`` whose ends are
known to fall short of / reach the target and returns the smallest gamma it *found* whose
certified equilibrium reaches it (there may be a smaller one it did not visit); the result
reports the achieved share and the gamma.

Every profile returned is a certified equilibrium of the priced game (relative Nash gap at
most `equilibria.certify.EQUILIBRIUM_TOL`, `certified_equilibrium`: Newton first, then the
first-order solvers of `equilibria.certify.NEAREST_METHODS`).

Scopes:

- ``"global"``: one gamma for all players; a per-layer floor (``min_keep``) is then applied to
  the equilibrium: when the equilibrium removes all but fewer than ``min_keep`` players of a
  layer, the layer keeps ``min_keep`` players anyway, the removed ones with the largest
  pseudo-gradient ``g_i(s*)`` (Eq. 13/18: the players closest to re-entering), at
  participation ``hi`` (``PricedEquilibrium.floored``). The share counted towards the target
  is the one after the floor, so the target is capped at what the floor allows.
- ``"layer"``: one gamma per layer, each bisected on its own layer's share (a layer's target
  is ``round(sparsity * n_l)``, capped at ``n_l - min_keep``), the other layers' prices held
  fixed; when layers interact (competition across layers) the sweep over the layers is
  repeated, at most ``max_sweeps`` times, until every layer holds its target at the final
  prices (``PricedEquilibrium.reached`` says whether it did).

`emergent_equilibrium` keeps the paper's rule instead (Algorithm 1, step 3): at the game's own
price, remove the players with ``s_i < epsilon``, with the same floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from equilibria.certify import EQUILIBRIUM_TOL, SolveBudget, first_equilibrium
from equilibria.competition import interval_products
from equilibria.errors import GameTypeError, InvalidOptionError
from equilibria.game import ParticipationGame
from equilibria.plain import to_plain
from equilibria.solvers.result import EquilibriumResult

__all__ = ["PRICE_SCOPES", "ZERO_TOL", "NoCertifiedEquilibriumError", "PricedEquilibrium",
           "certified_equilibrium", "dominance_prices", "emergent_equilibrium",
           "price_for_sparsity"]

#: Scopes of `price_for_sparsity`.
PRICE_SCOPES = ("global", "layer")
#: A player is "at zero" when its equilibrium participation is below this. Newton's active set
#: puts a player clearly past its threshold exactly on the bound, but one within the
#: bisection's resolution of it (a price ``xtol * gamma`` above its threshold) may certify at
#: about ``xtol * gamma / (2 q_i)``: its best-response gain is then far below any relative Nash
#: gap a solver can resolve. The applied participation sets such players to exactly 0.
ZERO_TOL = 1e-6
#: The stricter threshold the bisections test (`_Search`).
_BISECT_TOL = 1e-2 * ZERO_TOL


class NoCertifiedEquilibriumError(RuntimeError):
    """No solver certified an equilibrium (relative Nash gap <= EQUILIBRIUM_TOL)."""


@dataclass(frozen=True, eq=False)
class PricedEquilibrium:
    """A certified equilibrium at a price, and the removal it decides.

    Attributes
    ----------
    gamma : ndarray of shape (N,)
        The L1 price of every player (one value for ``scope="global"``, one per layer for
        ``"layer"``, the game's own for `emergent_equilibrium`).
    layer_gamma : tuple of float
        The price of each layer (all equal for the global scope).
    equilibrium : EquilibriumResult
        The certified solve at that price (``nash_gap <= EQUILIBRIUM_TOL``).
    removed : ndarray of bool, shape (N,)
        Players removed: at zero (target mode) or below epsilon (emergent), after the floor.
    floored : ndarray of bool, shape (N,)
        Players the equilibrium removes but the per-layer floor keeps (at participation hi).
    participation : ndarray of shape (N,)
        What to apply to the network: the equilibrium, 0 on the removed players, hi on the
        floored ones.
    target : float or None
        The requested share of removed players (None: emergent).
    achieved : float
        The share of players removed.
    reached : bool
        Whether every requested count was met (always True in emergent mode).
    scope : str
        ``"global"``, ``"layer"`` or ``"emergent"``.
    evaluations : int
        Certified solves spent.
    """

    gamma: np.ndarray
    layer_gamma: tuple[float, ...]
    equilibrium: EquilibriumResult
    removed: np.ndarray
    floored: np.ndarray
    participation: np.ndarray
    target: float | None
    achieved: float
    reached: bool
    scope: str
    evaluations: int

    @property
    def nash_gap(self) -> float:
        """Relative Nash gap of the equilibrium on the priced game."""
        return float(self.equilibrium.nash_gap)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (arrays as lists; the solve without its history)."""
        return to_plain({"layer_gamma": self.layer_gamma, "target": self.target,
                         "achieved": self.achieved, "reached": self.reached,
                         "scope": self.scope, "evaluations": self.evaluations,
                         "nash_gap": self.nash_gap, "method": self.equilibrium.method,
                         "removed": int(self.removed.sum()),
                         "floored": int(self.floored.sum()),
                         "equilibrium": self.equilibrium.profile})


# ---------------------------------------------------------------------------- building blocks
def certified_equilibrium(game: ParticipationGame, start: Any = None,
                          budget: SolveBudget | None = None) -> EquilibriumResult:
    """A certified equilibrium of `game`: Newton from `start` (default hi), then the
    first-order solvers of `equilibria.certify.NEAREST_METHODS`, every result polished by
    Newton (`equilibria.certify.first_equilibrium`).

    Raises
    ------
    NoCertifiedEquilibriumError
        When no solver reaches a relative Nash gap (Eq. 11) of at most `EQUILIBRIUM_TOL`.
    """
    _check_game(game)
    budget = budget or SolveBudget()
    start = np.full(game.n_players, game.bounds[1]) if start is None else game.check(start)
    found, tried = first_equilibrium(game, start, budget)
    if found is None:
        best = min(tried, key=lambda r: r.nash_gap)
        if best.nash_gap <= EQUILIBRIUM_TOL:
            return best
        raise NoCertifiedEquilibriumError(
            f"no solver certified an equilibrium of the {game.n_players}-player game (best "
            f"relative Nash gap {best.nash_gap:.3g} by {best.method}, tolerance "
            f"{EQUILIBRIUM_TOL:g}); raise the SolveBudget or make the game monotone")
    return found


def dominance_prices(game: ParticipationGame) -> np.ndarray:
    """Per player, the L1 price at and above which lo is dominant (Eq. 12, 15).

    lo is a best response to every ``s_{-i}`` when ``b_i - c - 2 q_i lo - min_s (R s)_i <= 0``
    (docs/explanation/game.md, Section 6), i.e. for ``c >= b_i - 2 q_i lo - min_s (R s)_i``;
    clipped at 0. At ``max(dominance_prices(game))`` every player is at lo in the (then unique)
    equilibrium.
    """
    _check_game(game)
    lo, hi = game.bounds
    n = game.n_players
    low, _ = interval_products(game.competition, np.full(n, lo), np.full(n, hi))
    return np.maximum(game.benefit - 2.0 * game.quadratic_cost * lo - low, 0.0)


def _floor(profile: np.ndarray, pseudo_gradient: np.ndarray, layer: np.ndarray,
           removed: np.ndarray, min_keep: int) -> tuple[np.ndarray, np.ndarray]:
    """The removal after the floor: every layer keeps at least ``min_keep`` players, the
    removed ones with the largest pseudo-gradient first. Returns (removed, floored)."""
    removed = removed.copy()
    floored = np.zeros_like(removed)
    for k in np.unique(layer):
        members = np.flatnonzero(layer == k)
        missing = min(min_keep, members.size) - int((~removed[members]).sum())
        if missing <= 0:
            continue
        candidates = members[removed[members]]
        order = np.argsort(-pseudo_gradient[candidates], kind="stable")[:missing]
        floored[candidates[order]] = True
        removed[candidates[order]] = False
    return removed, floored


def _decide(game: ParticipationGame, result: EquilibriumResult, layer: np.ndarray,
            threshold: float, min_keep: int) -> tuple[np.ndarray, np.ndarray]:
    below = result.profile < threshold
    return _floor(result.profile, game.pseudo_gradient(result.profile), layer, below, min_keep)


def _check_game(game: Any) -> None:
    if not isinstance(game, ParticipationGame):
        raise GameTypeError(f"game must be an equilibria.ParticipationGame; got "
                            f"{type(game).__name__}")


def _check_layer(layer: Any, n: int) -> np.ndarray:
    if layer is None:
        return np.zeros(n, dtype=np.int64)
    array = np.asarray(layer)
    if array.shape != (n,) or not np.issubdtype(array.dtype, np.integer):
        raise InvalidOptionError(f"layer must be {n} integers (the layer of each player); got "
                                 f"shape {array.shape} of {array.dtype}")
    return array.astype(np.int64)


def _check_min_keep(min_keep: Any) -> int:
    if isinstance(min_keep, bool) or not isinstance(min_keep, int | np.integer) or min_keep < 0:
        raise InvalidOptionError(f"min_keep must be an integer >= 0; got {min_keep!r}")
    return int(min_keep)


def _check_lower_bound(game: ParticipationGame) -> None:
    if game.bounds[0] != 0.0:
        raise InvalidOptionError(f"the game's bounds must start at 0 for a removal at zero; got "
                                 f"bounds={game.bounds}")


# ---------------------------------------------------------------------------- entry points
def emergent_equilibrium(game: ParticipationGame, layer: Any = None, *, epsilon: float = 0.01,
                         min_keep: int = 1, budget: SolveBudget | None = None
                         ) -> PricedEquilibrium:
    """The certified equilibrium at the game's own price and the paper's removal rule.

    Players with ``s_i < epsilon`` are removed (Shah & Khan 2025, Algorithm 1, step 3), then
    every layer keeps at least ``min_keep`` players (module docstring).

    Parameters
    ----------
    game : ParticipationGame
    layer : array_like of int, shape (N,), optional
        The layer of each player (`equilibria.spec.NetworkStatistics.layer`); None: one layer.
    epsilon : float, default 0.01
    min_keep : int, default 1
    budget : SolveBudget, optional
    """
    _check_game(game)
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise InvalidOptionError(f"epsilon must be a finite number > 0; got {epsilon}")
    layer = _check_layer(layer, game.n_players)
    min_keep = _check_min_keep(min_keep)
    result = certified_equilibrium(game, budget=budget)
    removed, floored = _decide(game, result, layer, epsilon, min_keep)
    gammas = tuple(float(game.linear_cost[layer == k].mean()) for k in np.unique(layer))
    return _priced(game, result, game.linear_cost, gammas, removed, floored, None, True,
                   "emergent", 1)


def price_for_sparsity(game: ParticipationGame, sparsity: float, layer: Any = None, *,
                       scope: str = "global", min_keep: int = 1, gamma_min: float = 0.0,
                       xtol: float = 1e-9, max_evaluations: int = 80, max_sweeps: int = 3,
                       budget: SolveBudget | None = None) -> PricedEquilibrium:
    """The smallest L1 price found whose certified equilibrium removes `sparsity` of the players.

    The game's own linear cost is replaced by the price. A player counts as removed when its
    equilibrium participation is below `ZERO_TOL` (the support of the equilibrium), after the
    per-layer floor (module docstring). The target count is ``round(sparsity * N)`` players
    (per layer ``round(sparsity * n_l)`` for ``scope="layer"``), capped at what the floor
    allows. Bisection keeps a bracket ``[lo, hi]`` with the count short of the target at lo and
    reached at hi (hi starts at the largest `dominance_prices`, where every player is at zero),
    halves it until ``hi - lo <= xtol * hi`` and returns hi. Monotone in gamma without
    competition, so the threshold found is exact there; under competition the count may be
    non-monotone (docs/explanation/game.md, 6.1) and hi is the smallest reaching price visited.

    Parameters
    ----------
    game : ParticipationGame
        Bounds must start at 0.
    sparsity : float in [0, 1)
    layer : array_like of int, shape (N,), optional
        The layer of each player; None: one layer.
    scope : {"global", "layer"}, default "global"
    min_keep : int, default 1
        Players every layer keeps.
    gamma_min : float, default 0.0
        The lowest price tried (the bracket's lower end).
    xtol : float, default 1e-9
        Relative width of the final bracket.
    max_evaluations : int, default 80
        Certified solves per bisection.
    max_sweeps : int, default 3
        Sweeps over the layers (``scope="layer"``).
    budget : SolveBudget, optional
        Work limits of every solve.

    Returns
    -------
    PricedEquilibrium

    Raises
    ------
    InvalidOptionError
        For an option out of range; `NoCertifiedEquilibriumError` when a solve cannot be
        certified.
    """
    _check_game(game)
    _check_lower_bound(game)
    if isinstance(sparsity, bool) or not isinstance(sparsity, int | float | np.floating) \
            or not 0.0 <= float(sparsity) < 1.0:
        raise InvalidOptionError(f"sparsity must be a number in [0, 1); got {sparsity!r}")
    if scope not in PRICE_SCOPES:
        raise InvalidOptionError(f"scope must be one of {PRICE_SCOPES}; got {scope!r}")
    if not (np.isfinite(gamma_min) and gamma_min >= 0):
        raise InvalidOptionError(f"gamma_min must be a finite number >= 0; got {gamma_min}")
    if not (np.isfinite(xtol) and xtol > 0):
        raise InvalidOptionError(f"xtol must be a finite number > 0; got {xtol}")
    for name, value in (("max_evaluations", max_evaluations), ("max_sweeps", max_sweeps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidOptionError(f"{name} must be a positive integer; got {value!r}")
    layer = _check_layer(layer, game.n_players)
    min_keep = _check_min_keep(min_keep)
    search = _Search(game, layer, min_keep, budget or SolveBudget())
    if scope == "global":
        return search.global_price(float(sparsity), gamma_min, xtol, max_evaluations)
    return search.layer_prices(float(sparsity), gamma_min, xtol, max_evaluations, max_sweeps)


class _Search:
    """The bisections of `price_for_sparsity` on one game (counts the certified solves).

    A bisection converges onto the price where some player's participation crosses the
    threshold it tests, so a later solve at that price (from another start, or with another
    layer's price changed) could land on either side. The bisection therefore tests the
    stricter `_BISECT_TOL` and the decision uses `ZERO_TOL`, a hundredfold margin.
    """

    def __init__(self, game: ParticipationGame, layer: np.ndarray, min_keep: int,
                 budget: SolveBudget) -> None:
        self.game = game
        self.layer = layer
        self.layers = np.unique(layer)
        self.min_keep = min_keep
        self.budget = budget
        self.evaluations = 0
        self.ceiling = dominance_prices(game)

    def at(self, gamma: np.ndarray, start: np.ndarray | None) -> tuple[EquilibriumResult,
                                                                        ParticipationGame]:
        priced = self.game.with_costs(linear_cost=gamma)
        result = certified_equilibrium(priced, start, self.budget)
        self.evaluations += 1
        return result, priced

    def removed(self, state: tuple[EquilibriumResult, ParticipationGame],
                threshold: float = ZERO_TOL) -> tuple[np.ndarray, np.ndarray]:
        result, priced = state
        return _decide(priced, result, self.layer, threshold, self.min_keep)

    def cap(self, members: np.ndarray, count: int) -> int:
        return min(count, max(members.size - self.min_keep, 0))

    def bisect(self, gamma_of: Any, lo: float, hi: float, short_of: Any, xtol: float,
               max_evaluations: int, start: np.ndarray | None) -> tuple[float, Any]:
        """Bisection of the scalar price (``gamma_of(price)`` is the price vector) for
        ``short_of(removed) <= 0``: returns the price and its evaluation."""
        def reaches(state: Any) -> bool:
            return short_of(self.removed(state, _BISECT_TOL)[0]) <= 0

        low = self.at(gamma_of(lo), start)
        if reaches(low):
            return lo, low
        hi = max(hi, lo) * (1.0 + 1e-12) + 1e-300
        high = self.at(gamma_of(hi), low[0].profile)
        doubled = 0
        while not reaches(high):  # cannot happen past the dominance price; a guard
            if doubled >= 8:
                raise NoCertifiedEquilibriumError("the price that zeroes every player was not "
                                                  "found by doubling the dominance price")
            hi, doubled = 2.0 * hi, doubled + 1
            high = self.at(gamma_of(hi), high[0].profile)
        for _ in range(max_evaluations):
            if hi - lo <= xtol * hi:
                break
            mid = 0.5 * (lo + hi)
            middle = self.at(gamma_of(mid), high[0].profile)
            if reaches(middle):
                hi, high = mid, middle
            else:
                lo = mid
        return hi, high

    def global_price(self, sparsity: float, gamma_min: float, xtol: float,
                     max_evaluations: int) -> PricedEquilibrium:
        n = self.game.n_players
        reachable = sum(self.cap(np.flatnonzero(self.layer == k), n) for k in self.layers)
        target = min(round(sparsity * n), reachable)
        gamma, state = self.bisect(
            lambda g: np.full(n, g), gamma_min, float(self.ceiling.max()),
            lambda removed: target - int(removed.sum()), xtol, max_evaluations, None)
        removed, floored = self.removed(state)
        return _priced(state[1], state[0], np.full(n, gamma), (gamma,) * self.layers.size,
                       removed, floored, sparsity, int(removed.sum()) >= target, "global",
                       self.evaluations)

    def layer_prices(self, sparsity: float, gamma_min: float, xtol: float,
                     max_evaluations: int, max_sweeps: int) -> PricedEquilibrium:
        n = self.game.n_players
        members = {k: np.flatnonzero(self.layer == k) for k in self.layers}
        targets = {k: self.cap(m, round(sparsity * m.size)) for k, m in members.items()}
        prices = {k: gamma_min for k in self.layers}

        def vector(overrides: dict[Any, float]) -> np.ndarray:
            gamma = np.empty(n)
            for k, m in members.items():
                gamma[m] = overrides.get(k, prices[k])
            return gamma

        def reached(state: Any) -> bool:
            removed = self.removed(state)[0]
            return all(int(removed[m].sum()) >= targets[k] for k, m in members.items())

        state = self.at(vector({}), None)
        for _ in range(max_sweeps):
            if reached(state):
                break
            for k, m in members.items():
                # state stays the evaluation at the current prices (the last bisection's)
                prices[k], state = self.bisect(
                    lambda g, k=k: vector({k: g}), gamma_min, float(self.ceiling[m].max()),
                    lambda removed, k=k, m=m: targets[k] - int(removed[m].sum()), xtol,
                    max_evaluations, state[0].profile)
        removed, floored = self.removed(state)
        return _priced(state[1], state[0], vector({}),
                       tuple(float(prices[k]) for k in self.layers), removed, floored, sparsity,
                       reached(state), "layer", self.evaluations)


def _priced(game: ParticipationGame, result: EquilibriumResult, gamma: Any,
            layer_gamma: tuple[float, ...], removed: np.ndarray, floored: np.ndarray,
            target: float | None, reached: bool, scope: str, evaluations: int
            ) -> PricedEquilibrium:
    participation = np.where(removed, game.bounds[0], result.profile)
    participation = np.where(floored, game.bounds[1], participation)
    return PricedEquilibrium(gamma=np.broadcast_to(np.asarray(gamma, dtype=float),
                                                   (game.n_players,)).copy(),
                             layer_gamma=tuple(float(g) for g in layer_gamma),
                             equilibrium=result, removed=removed, floored=floored,
                             participation=participation, target=target,
                             achieved=float(removed.mean()), reached=bool(reached),
                             scope=scope, evaluations=evaluations)
