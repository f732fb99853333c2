"""Basins of attraction: where a solver ends from each of many starts.

Which equilibrium a learning process reaches depends on where it starts (Shah & Khan 2025,
Sec. 5.3). `basins` runs one solver (`equilibria.solve`) from every start and reports the
share of starts that end at each equilibrium: the equilibria of `all_equilibria` for a
participation game small enough to enumerate (or the ones given), plus any other certified
profile a solver reaches (a `CallableGame`, a game too large to enumerate), and the starts
that did not converge. A participation game's endpoints are first refined by Newton
(`equilibria.certify.polish`: a profile with relative gap 1e-10 can still be 1e-4 from its
equilibrium), then matched to the nearest equilibrium in the max-norm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from equilibria.callable_game import ContinuousGame
from equilibria.certify import DISTINCT_TOL, SOLVE_TOL, SolveBudget, polish
from equilibria.enumerate import MAX_PLAYERS, all_equilibria
from equilibria.errors import InvalidOptionError, as_generator, check_count, check_tol
from equilibria.game import ParticipationGame
from equilibria.plain import to_plain
from equilibria.solvers import solve

__all__ = ["Basins", "basins"]


@dataclass(frozen=True)
class Basins:
    """Where the starts of `basins` ended.

    Attributes
    ----------
    equilibria : ndarray of shape (k, N)
        The enumerated (or given) equilibria, then any other ones the solver reached.
    counts : ndarray of int, shape (k,)
        Starts that ended at each equilibrium.
    enumerated : ndarray of bool, shape (k,)
        Whether each equilibrium came from the enumeration (or `equilibria=`) rather than
        from a solver run.
    labels : ndarray of int, shape (n_starts,)
        The equilibrium each start ended at (its row in `equilibria`), -1 when the solve did
        not converge.
    starts : ndarray of shape (n_starts, N)
        The starting profiles.
    method : str
        The solver.
    """

    equilibria: np.ndarray
    counts: np.ndarray
    enumerated: np.ndarray
    labels: np.ndarray
    starts: np.ndarray
    method: str

    @property
    def n_starts(self) -> int:
        """Number of starts."""
        return int(self.labels.shape[0])

    @property
    def shares(self) -> np.ndarray:
        """Share of the starts that ended at each equilibrium."""
        return self.counts / max(self.n_starts, 1)

    @property
    def unconverged(self) -> int:
        """Starts whose solve did not converge."""
        return int((self.labels < 0).sum())

    @property
    def unconverged_share(self) -> float:
        """Share of the starts whose solve did not converge."""
        return self.unconverged / max(self.n_starts, 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary: equilibria, counts, shares, labels and the unconverged share."""
        return to_plain({"equilibria": self.equilibria, "counts": self.counts,
                         "shares": self.shares, "enumerated": self.enumerated,
                         "labels": self.labels, "method": self.method,
                         "n_starts": self.n_starts, "unconverged": self.unconverged,
                         "unconverged_share": self.unconverged_share})


def _starts(game: ContinuousGame, starts: Any, n_starts: int | None,
            rng: Any) -> np.ndarray:
    if (starts is None) == (n_starts is None):
        raise InvalidOptionError("basins needs exactly one of starts= (an array of profiles) "
                                 "and n_starts= (a number of uniform random starts)")
    if starts is None:
        n_starts = check_count(n_starts, "n_starts", 1)
        lo, hi = game.bounds
        return as_generator(rng).uniform(lo, hi, (n_starts, game.n_players))
    array = np.asarray(starts, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise InvalidOptionError(f"starts must be a non-empty (n_starts, {game.n_players}) "
                                 f"array of profiles; got shape {array.shape}")
    return np.array([game.check(s, "starts") for s in array])


def basins(game: ContinuousGame, method: str = "best_response", *, starts: Any = None,
           n_starts: int | None = None, rng: Any = None, equilibria: Any = None,
           tol: float = SOLVE_TOL, max_iter: int = 10_000, max_seconds: float | None = 60.0,
           match_tol: float = DISTINCT_TOL, **options: Any) -> Basins:
    """Run `method` from every start and count the starts ending at each equilibrium.

    Parameters
    ----------
    game : ParticipationGame or ContinuousGame
    method : str, default "best_response"
        Any method of `equilibria.solve`; `options` are its options.
    starts : array_like of shape (n_starts, N), optional
        The starting profiles; or
    n_starts : int, optional
        that many uniform random starts in the box, drawn with `rng`.
    rng : numpy.random.Generator or int, optional
        Seeds the random starts (and the solver's randomness); 0 when omitted.
    equilibria : array_like of shape (k, N), optional
        The known equilibria; by default `all_equilibria` for a participation game of at
        most `equilibria.enumerate.MAX_PLAYERS` players, none otherwise (then the distinct
        endpoints themselves are the equilibria).
    tol : float, default `equilibria.certify.SOLVE_TOL`
        Each solve's tolerance (relative Nash gap).
    max_iter, max_seconds
        Each solve's budgets.
    match_tol : float, default `equilibria.certify.DISTINCT_TOL`
        An endpoint within this max-norm distance of an equilibrium ended there; an endpoint
        farther from all of them is a new equilibrium (``enumerated`` False).

    Returns
    -------
    Basins

    Raises
    ------
    InvalidOptionError
        Unless exactly one of `starts` and `n_starts` is given, or for a bad option.
    """
    tol, match_tol = check_tol(tol), check_tol(match_tol, "match_tol")
    generator = as_generator(rng)
    profiles = _starts(game, starts, n_starts, generator)
    participation = isinstance(game, ParticipationGame)
    if equilibria is None:
        known = list(all_equilibria(game).equilibria) \
            if participation and game.n_players <= MAX_PLAYERS else []
    else:
        array = np.asarray(equilibria, dtype=np.float64).reshape(-1, game.n_players)
        known = [game.check(s, "equilibria") for s in array]
    enumerated = [True] * len(known)
    counts = [0] * len(known)
    labels = np.full(profiles.shape[0], -1, dtype=np.int64)
    budget = SolveBudget(max_seconds=max_seconds or SolveBudget.max_seconds)
    for k, start in enumerate(profiles):
        result = solve(game, method, s0=start, tol=tol, max_iter=max_iter, rng=generator,
                       max_seconds=max_seconds, **options)
        if not result.converged:
            continue
        if participation:
            result = polish(game, result, budget)
        end = result.profile
        distances = [float(np.abs(end - s).max()) for s in known]
        if distances and min(distances) <= match_tol:
            label = int(np.argmin(distances))
        else:
            known.append(end)
            enumerated.append(False)
            counts.append(0)
            label = len(known) - 1
        counts[label] += 1
        labels[k] = label
    n = game.n_players
    return Basins(equilibria=np.array(known, dtype=np.float64).reshape(len(known), n),
                  counts=np.array(counts, dtype=np.int64),
                  enumerated=np.array(enumerated, dtype=bool), labels=labels,
                  starts=profiles, method=method)
