"""Certificates of equilibrium: the Nash gap and the natural-map (KKT) residual.

- Nash gap (docs/design.md): ``gap_i(s) = U_i(BR_i(s), s_-i) - U_i(s) >= 0``; s is a Nash
  equilibrium (paper Eq. 11) iff ``max_i gap_i(s) = 0``. It is reported relative to the game's
  payoff scale (`ParticipationGame.payoff_scale`), so a tolerance means the same thing for a
  game and for the game with every payoff multiplied by 1000.
- Natural-map residual (Facchinei & Pang 2003, Sec. 1.5): ``|| s - clip(s + g(s), lo, hi) ||``,
  zero exactly at the solutions of the variational inequality whose solutions are the
  equilibria of a game with concave own-utilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from equilibria.callable_game import ContinuousGame
from equilibria.errors import check_tol


def nash_gap(game: ContinuousGame, s: Any, *, relative: bool = True,
             per_player: bool = False) -> float | np.ndarray:
    """Nash gap of profile `s`: what a player gains by deviating alone to its best response.

    Parameters
    ----------
    game : ContinuousGame
    s : array_like of shape (N,)
        A profile inside the box.
    relative : bool, default True
        Divide by ``game.payoff_scale()``.
    per_player : bool, default False
        Return every player's gap instead of the maximum.

    Returns
    -------
    float or ndarray
        ``max_i gap_i(s)`` (or the vector of gaps), >= 0.
    """
    gains = game.deviation_gains(s)
    if relative:
        gains = gains / game.payoff_scale()
    return gains if per_player else float(gains.max())


def kkt_residual(game: ContinuousGame, s: Any, ord: float = 2) -> float:
    """Norm of the natural map ``s - clip(s + g(s), lo, hi)`` (zero iff s is an equilibrium).

    Parameters
    ----------
    game : ContinuousGame
    s : array_like of shape (N,)
    ord : {2, numpy.inf, 1}, default 2
        Vector norm, as in ``numpy.linalg.norm``.
    """
    s = game.check(s)
    lo, hi = game.bounds
    return float(np.linalg.norm(s - np.clip(s + game.pseudo_gradient(s), lo, hi), ord=ord))


def is_equilibrium(game: ContinuousGame, s: Any, tol: float = 1e-8) -> bool:
    """Whether the relative Nash gap of `s` is at most `tol`.

    Parameters
    ----------
    tol : float, default 1e-8
        Tolerance relative to the payoff scale; must be >= 0.
    """
    check_tol(tol)
    return nash_gap(game, s) <= tol
