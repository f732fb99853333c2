"""Dominance: players whose lowest participation is optimal whatever the others do.

Shah & Khan (2025), Eq. 12 and 15: s_i = 0 is dominant when no profile of the others makes
any positive participation better, i.e. when the largest marginal utility at zero,
``max_{s_-i in box} (a_i - (R s)_i) = a_i - min_{s_-i} (R s)_i``, is <= 0. The minimum of the
linear form over the box sits at a corner and has a closed form
(`equilibria.competition.interval_products`).

Iterated dominance narrows every player's interval [L_i, U_i] to the range of its best
responses against the others' intervals, repeatedly (a continuous version of iterated
elimination of dominated strategies; Moulin 1984; Milgrom & Roberts 1990 for the
monotone-comparative-statics argument). The intervals always contain every equilibrium; they
shrink to the unique equilibrium when ``rho(diag(1/2q) |R|) < 1`` (entrywise absolute values:
the best-response map contracts in the max-norm); a signed spectral radius below 1 is not
enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from equilibria import competition as comp
from equilibria.errors import check_count, check_tol
from equilibria.game import ParticipationGame
from equilibria.plain import to_plain


def dominated_players(game: ParticipationGame) -> np.ndarray:
    """Indices of players for whom the lower bound lo is a dominant participation.

    Player i is dominated when ``a_i - min_{s_-i} (R s)_i <= 0`` with q_i > 0 (then any
    s_i > lo is strictly worse, paper Eq. 12), or ``< 0`` when q_i = 0 (a linear utility at a
    tie is indifferent, not dominated).

    Returns
    -------
    ndarray of int
        Sorted indices of dominated players.
    """
    lo, hi = game.bounds
    n = game.n_players
    smallest, _ = comp.interval_products(game.competition, np.full(n, lo), np.full(n, hi))
    best_margin = game.net_benefit - smallest - 2.0 * game.quadratic_cost * lo
    dominated = np.where(game.quadratic_cost > 0, best_margin <= 0, best_margin < 0)
    return np.flatnonzero(dominated)


def _largest_best_response(game: ParticipationGame, r: np.ndarray) -> np.ndarray:
    """Like `ParticipationGame.best_response_to` but a q_i = 0 tie resolves to hi."""
    lo, hi = game.bounds
    linear = np.where(game.net_benefit - r >= 0, hi, lo)
    return np.where(game.quadratic_cost > 0, game.best_response_to(r), linear)


@dataclass(frozen=True)
class DominanceResult:
    """Outcome of `iterated_dominance`.

    Attributes
    ----------
    lower, upper : ndarray of shape (N,)
        Every equilibrium s satisfies lower <= s <= upper.
    rounds : int
        Narrowing rounds performed.
    converged : bool
        Whether the intervals stopped changing (up to `tol`).
    eliminated : ndarray of int
        Players whose interval collapsed to {lo} (pruned by dominance).
    """

    lower: np.ndarray
    upper: np.ndarray
    rounds: int
    converged: bool
    eliminated: np.ndarray

    @property
    def width(self) -> float:
        """Largest interval width: 0 when dominance pins down a unique equilibrium."""
        return float((self.upper - self.lower).max())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types."""
        return to_plain({"lower": self.lower, "upper": self.upper, "rounds": self.rounds,
                         "converged": self.converged, "eliminated": self.eliminated,
                         "width": self.width})


def iterated_dominance(game: ParticipationGame, *, max_rounds: int = 1000,
                       tol: float = 1e-12) -> DominanceResult:
    """Narrow each player's interval to its best responses against the others' intervals.

    Because BR_i is non-increasing in ``r_i = (R s)_i``, the best responses to s_-i in the box
    ``lower <= s <= upper`` lie in ``[BR_i(max r_i), BR_i(min r_i)]``; intersecting with the
    current interval and repeating never removes an equilibrium.

    Parameters
    ----------
    game : ParticipationGame
    max_rounds : int, default 1000
    tol : float, default 1e-12
        Stop when no bound moves by more than `tol`.
    """
    max_rounds = check_count(max_rounds, "max_rounds", 1)
    tol = check_tol(tol)
    lo, hi = game.bounds
    n = game.n_players
    lower, upper = np.full(n, lo), np.full(n, hi)
    converged = False
    rounds = 0
    while rounds < max_rounds:
        rounds += 1
        smallest, largest = comp.interval_products(game.competition, lower, upper)
        new_lower = np.maximum(lower, game.best_response_to(largest))
        new_upper = np.minimum(upper, _largest_best_response(game, smallest))
        new_upper = np.maximum(new_upper, new_lower)
        change = max(float(np.abs(new_lower - lower).max()),
                     float(np.abs(new_upper - upper).max()))
        lower, upper = new_lower, new_upper
        if change <= tol:
            converged = True
            break
    eliminated = np.flatnonzero(upper <= lo)
    return DominanceResult(lower, upper, rounds, converged, eliminated)
