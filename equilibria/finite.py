"""Two-player sub-games of the participation game as finite bimatrix games (nashpy).

Fix every player but i and j at a profile s, give i and j a finite set of participation levels
(the two ends of the box, "keep or drop", or a grid), and the pair plays a bimatrix game

    A[a, b] = U_i(s with s_i = level[a], s_j = level[b]),   B[a, b] = U_j(same profile),

with U the utility of the participation game (docs/design.md; Shah & Khan 2025, Eq. 8-10). Its Nash
equilibria, pure and mixed, are computed by nashpy (Knight & Campbell 2018, "Nashpy: A Python
library for the computation of Nash equilibria", JOSS 3(30), 904) with

- support enumeration (Nisan, Roughgarden, Tardos & Vazirani 2007, *Algorithmic Game Theory*,
  ch. 3, Algorithm 3.4),
- vertex enumeration of the best-response polytopes (ibid., Algorithm 3.5; Avis, Rosenberg,
  Savani & von Stengel 2010, "Enumeration of Nash equilibria for two-player games", Economic
  Theory 42, 9-37),
- the Lemke-Howson algorithm (Lemke & Howson 1964, "Equilibrium points of bimatrix games",
  SIAM J. Appl. Math. 12(2), 413-423; Nisan et al. 2007, Algorithm 3.6), started from every
  initial dropped label.

nashpy's algorithms have no iteration cap, so their loops run here under a time budget and,
for Lemke-Howson, a pivot cap (`bimatrix_solution`); a result says when a budget stopped it and
whether its equilibria are certified to be all of them (``BimatrixSolution.complete``).
Support enumeration as nashpy implements it misses equilibria in about one small random game
in six, so it is checked against vertex enumeration on small games, and vertex enumeration is
the default.

nashpy's answers are not trusted blindly: every equilibrium is re-verified with the tolerant
gap `bimatrix_gap`, failures are dropped with a `DegenerateGameWarning`, and nashpy's own
warnings about degenerate games are re-emitted as `DegenerateGameWarning`.
"""

from __future__ import annotations

import itertools
import numbers
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import nashpy
import numpy as np
from nashpy import linalg, polytope
from nashpy.algorithms import support_enumeration

from equilibria.errors import (
    DegenerateGameWarning,
    GameTypeError,
    IncompleteSearchWarning,
    InvalidGameError,
    InvalidProfileError,
    SolverStoppedWarning,
    UnknownMethodError,
    check_count,
    check_seconds,
    check_tol,
)
from equilibria.game import ParticipationGame
from equilibria.plain import to_plain

#: Methods accepted by `solve_pair` and `bimatrix_equilibria`.
METHODS: tuple[str, ...] = ("support_enumeration", "vertex_enumeration", "lemke_howson")

#: How far a probability vector may stray from nonnegativity and unit sum.
PROBABILITY_ATOL = 1e-9

#: Entries of a returned strategy at most this large in magnitude are set to exactly zero.
_ZERO = 1e-10

#: Strategy pairs closer than this (max-norm) are the same equilibrium.
_DUPLICATE_ATOL = 1e-9

#: Default wall-clock budget of one finite-game solve, in seconds.
DEFAULT_MAX_SECONDS = 60.0

#: Default Lemke-Howson pivots per initial dropped label (a start that needs more is cycling).
DEFAULT_MAX_PIVOTS = 2000

#: Support enumeration is checked against vertex enumeration up to this many strategies.
CROSS_CHECK_LIMIT = 6

#: What nashpy raises when a degenerate game breaks one of its algorithms.
_NASHPY_FAILURES = (ArithmeticError, IndexError, np.linalg.LinAlgError, RuntimeError,
                    TypeError, ValueError)

__all__ = [
    "CROSS_CHECK_LIMIT",
    "DEFAULT_MAX_PIVOTS",
    "DEFAULT_MAX_SECONDS",
    "METHODS",
    "BimatrixSolution",
    "FiniteEquilibrium",
    "PairGame",
    "bimatrix_equilibria",
    "bimatrix_gap",
    "bimatrix_solution",
    "pair_game",
    "pure_equilibria",
    "solve_pair",
]


# ---------------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class PairGame:
    """The bimatrix game played by players i and j with everyone else fixed.

    Attributes
    ----------
    players : (int, int)
        The row player i and the column player j of the participation game.
    levels : tuple of float
        The participation levels both players choose from (increasing, inside the box).
    row_payoffs : ndarray of shape (k, k)
        ``A[a, b] = U_i`` when i plays ``levels[a]`` and j plays ``levels[b]``.
    col_payoffs : ndarray of shape (k, k)
        ``B[a, b] = U_j`` at the same profile.
    base_profile : ndarray of shape (N,)
        The profile the other players are fixed at (entries i and j are ignored).
    """

    players: tuple[int, int]
    levels: tuple[float, ...]
    row_payoffs: np.ndarray
    col_payoffs: np.ndarray
    base_profile: np.ndarray

    def __post_init__(self) -> None:
        levels = tuple(float(level) for level in self.levels)
        k = len(levels)
        A = _payoff_matrix(self.row_payoffs, "row_payoffs")
        B = _payoff_matrix(self.col_payoffs, "col_payoffs")
        if A.shape != (k, k) or B.shape != (k, k):
            raise InvalidGameError(f"row_payoffs and col_payoffs must both have shape ({k}, "
                                   f"{k}), one row and column per level; got {A.shape} and "
                                   f"{B.shape}")
        base = np.array(self.base_profile, dtype=np.float64)
        i, j = (int(p) for p in self.players)
        if base.ndim != 1 or not (0 <= i < base.size and 0 <= j < base.size):
            raise InvalidGameError(f"base_profile must be a 1-D profile holding players {i} "
                                   f"and {j}; got shape {base.shape}")
        for array in (A, B, base):
            array.setflags(write=False)
        object.__setattr__(self, "players", (i, j))
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "row_payoffs", A)
        object.__setattr__(self, "col_payoffs", B)
        object.__setattr__(self, "base_profile", base)

    @property
    def nashpy_game(self) -> nashpy.Game:
        """The game as ``nashpy.Game(A, B)`` (Knight & Campbell 2018)."""
        return nashpy.Game(np.array(self.row_payoffs), np.array(self.col_payoffs))

    def profile(self, a: int, b: int) -> np.ndarray:
        """The full participation vector with ``s_i = levels[a]`` and ``s_j = levels[b]``.

        Raises
        ------
        InvalidProfileError
            When `a` or `b` is not a level index in ``[0, len(levels))``.
        """
        k = len(self.levels)
        for name, value in (("a", a), ("b", b)):
            if not (isinstance(value, numbers.Integral) and 0 <= value < k):
                raise InvalidProfileError(f"{name} must be a level index in [0, {k}); got "
                                          f"{value!r}")
        s = self.base_profile.copy()
        i, j = self.players
        s[i], s[j] = self.levels[a], self.levels[b]
        return s

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types (arrays become lists)."""
        return to_plain({
            "players": self.players,
            "levels": self.levels,
            "row_payoffs": self.row_payoffs,
            "col_payoffs": self.col_payoffs,
            "base_profile": self.base_profile,
        })


@dataclass(frozen=True, eq=False)
class FiniteEquilibrium:
    """A verified Nash equilibrium of a `PairGame`.

    Attributes
    ----------
    row_strategy, col_strategy : ndarray
        Probability vectors over the levels of players i and j.
    is_pure : bool
        Whether both strategies put all their mass on one level.
    gap : float
        ``bimatrix_gap`` relative to the payoff scale ``max(max|A|, max|B|)``.
    expected_participation : (float, float)
        ``levels @ row_strategy`` and ``levels @ col_strategy``.
    profile : ndarray of shape (N,)
        For a pure equilibrium, the exact profile it is played at. For a mixed one, the base
        profile with s_i and s_j replaced by their expected participation: a summary of the
        mixed equilibrium, which is *not* itself an equilibrium of the continuous game (nor
        of the finite one).
    """

    row_strategy: np.ndarray
    col_strategy: np.ndarray
    is_pure: bool
    gap: float
    expected_participation: tuple[float, float]
    profile: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types (arrays become lists)."""
        return to_plain({
            "row_strategy": self.row_strategy,
            "col_strategy": self.col_strategy,
            "is_pure": self.is_pure,
            "gap": self.gap,
            "expected_participation": self.expected_participation,
            "profile": self.profile,
        })


# ---------------------------------------------------------------------------------- building
def pair_game(game: ParticipationGame, i: int, j: int, s: Any,
              grid: int | Sequence[float] | str = "keep_drop") -> PairGame:
    """The two-player game of players i and j with every other player fixed at `s`.

    The others are folded into the benefit by ``game.restrict([i, j], s)`` and the payoffs are
    that sub-game's utilities (docs/design.md; Shah & Khan 2025, Eq. 8-10) on the grid of levels.

    Parameters
    ----------
    game : ParticipationGame
    i, j : int
        The row and the column player; distinct indices in ``[0, N)``.
    s : array_like of shape (N,)
        The profile of everyone else (entries i and j are ignored), inside the box.
    grid : "keep_drop", int or sequence of float, default "keep_drop"
        ``"keep_drop"``: the two ends ``(lo, hi)`` of ``game.bounds``; an int k >= 2: k evenly
        spaced levels in ``[lo, hi]``; a sequence: strictly increasing levels inside the box.

    Returns
    -------
    PairGame

    Raises
    ------
    InvalidGameError
        When i == j, an index is out of range, or `grid` is not one of the forms above.
    InvalidProfileError
        When `s` is not a profile in the box.

    Examples
    --------
    >>> game = ParticipationGame([1.0, 1.0, 0.5], 0.1, competition=0.8 * (1 - np.eye(3)))
    >>> pair = pair_game(game, 0, 1, [1.0, 1.0, 0.0])
    >>> pair.row_payoffs
    array([[0. , 0. ],
           [0.9, 0.1]])
    """
    if not isinstance(game, ParticipationGame):
        raise GameTypeError(f"game must be a ParticipationGame; got {type(game).__name__}")
    n = game.n_players
    for name, value in (("i", i), ("j", j)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InvalidGameError(f"{name} must be an int player index; got {value!r}")
        if not 0 <= value < n:
            raise InvalidGameError(f"{name} must be a player index in [0, {n}); got {value}")
    if i == j:
        raise InvalidGameError(f"i and j must be two different players; got i = j = {i}")
    base = game.check(s, "s")
    levels = grid_levels(grid, game.bounds)
    sub = game.restrict([i, j], base)
    k = levels.size
    A, B = np.empty((k, k)), np.empty((k, k))
    for a in range(k):
        for b in range(k):
            A[a, b], B[a, b] = sub.utilities([levels[a], levels[b]])
    return PairGame((int(i), int(j)), tuple(levels.tolist()), A, B, base.copy())


def grid_levels(grid: int | Sequence[float] | str, bounds: tuple[float, float]) -> np.ndarray:
    """The participation levels a `grid` argument stands for (see `pair_game`).

    Raises
    ------
    InvalidGameError
        For an unknown string, an int below 2, or levels that are not finite, strictly
        increasing and inside ``[lo, hi]``.
    """
    lo, hi = bounds
    if isinstance(grid, str):
        if grid != "keep_drop":
            raise InvalidGameError(f"grid must be 'keep_drop', an int k >= 2 or an increasing "
                             f"sequence of levels in [{lo}, {hi}]; got {grid!r}")
        return np.array([lo, hi])
    if isinstance(grid, bool):
        raise InvalidGameError(f"grid must be 'keep_drop', an int k >= 2 or a sequence of levels; "
                         f"got {grid!r}")
    if isinstance(grid, numbers.Integral):
        if grid < 2:
            raise InvalidGameError(f"grid as an int is the number of levels and must be >= 2; got "
                             f"{grid}")
        return np.linspace(lo, hi, int(grid))
    try:
        levels = np.asarray(grid, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidGameError(f"grid must be 'keep_drop', an int k >= 2 or a sequence of numbers; "
                         f"got {type(grid).__name__}") from error
    if levels.ndim != 1 or levels.size < 2:
        raise InvalidGameError(f"grid as a sequence must hold at least 2 levels in a 1-D sequence; "
                         f"got shape {levels.shape}")
    if not np.all(np.isfinite(levels)):
        raise InvalidGameError("grid holds NaN or inf; every level must be finite")
    if np.any(np.diff(levels) <= 0):
        raise InvalidGameError(f"grid levels must be strictly increasing; got {levels.tolist()}")
    if levels[0] < lo or levels[-1] > hi:
        raise InvalidGameError(f"grid levels must lie inside the box [{lo}, {hi}]; got levels in "
                         f"[{levels[0]:g}, {levels[-1]:g}]")
    return levels


# ---------------------------------------------------------------------------------- checks
def bimatrix_gap(A: Any, B: Any, row_strategy: Any, col_strategy: Any) -> float:
    """Absolute Nash gap of a mixed-strategy pair in the bimatrix game (A, B).

    ``max(max_a (A y)_a - x^T A y, max_b (x^T B)_b - x^T B y)``: the most either player gains
    by a unilateral deviation (Nisan et al. 2007, ch. 3); zero exactly at a Nash equilibrium.

    Parameters
    ----------
    A, B : array_like of shape (m, n)
        Row and column player payoffs.
    row_strategy : array_like of shape (m,)
    col_strategy : array_like of shape (n,)
        Probability vectors: entries >= -1e-9 and sum within 1e-9 of 1 (`PROBABILITY_ATOL`).

    Returns
    -------
    float
        The gap, >= 0 (rounding below zero is clipped).

    Raises
    ------
    InvalidGameError
        When the payoffs are not two finite matrices of one shape.
    InvalidProfileError
        When a strategy is not a probability vector of the right length.
    """
    A = _payoff_matrix(A, "A")
    B = _payoff_matrix(B, "B")
    if A.shape != B.shape:
        raise InvalidGameError(f"A and B must have the same shape; got {A.shape} and {B.shape}")
    x = _probability_vector(row_strategy, A.shape[0], "row_strategy")
    y = _probability_vector(col_strategy, A.shape[1], "col_strategy")
    Ay, xB = A @ y, x @ B
    gap = max(float(Ay.max() - x @ Ay), float(xB.max() - xB @ y))
    return max(gap, 0.0)


def pure_equilibria(A: Any, B: Any, *, tol: float = 1e-9) -> list[tuple[int, int]]:
    """Every pure Nash equilibrium (a, b) of the bimatrix game (A, B).

    A mutual best-response check, independent of nashpy: ``A[a, b] >= max_a' A[a', b]`` and
    ``B[a, b] >= max_b' B[a, b']``, each up to `tol` times the payoff scale
    ``max(max|A|, max|B|)``.

    Parameters
    ----------
    A, B : array_like of shape (m, n)
    tol : float, default 1e-9
        Relative tolerance of the best-response comparisons; >= 0.

    Returns
    -------
    list of (int, int)
        Row-major order.
    """
    A = _payoff_matrix(A, "A")
    B = _payoff_matrix(B, "B")
    if A.shape != B.shape:
        raise InvalidGameError(f"A and B must have the same shape; got {A.shape} and {B.shape}")
    _check_tol(tol)
    slack = tol * _scale(A, B)
    row_best = A >= A.max(axis=0, keepdims=True) - slack
    col_best = B >= B.max(axis=1, keepdims=True) - slack
    return [(int(a), int(b)) for a, b in np.argwhere(row_best & col_best)]


# ---------------------------------------------------------------------------------- solving
@dataclass(frozen=True, eq=False)
class BimatrixSolution:
    """Everything one finite-game method found, and whether that is every equilibrium.

    Attributes
    ----------
    equilibria : tuple of (ndarray, ndarray)
        Distinct verified equilibria ``(row_strategy, col_strategy)`` in the order found.
    gaps : tuple of float
        Each equilibrium's `bimatrix_gap` relative to the payoff scale.
    method : str
        The method that ran (one of `METHODS`).
    finished : bool
        The method ran to its end; False when the time budget (``max_seconds``) or, for
        Lemke-Howson, the pivot budget of some start (``max_pivots``) stopped it.
    complete : bool
        The equilibria are certified to be all of them: vertex enumeration finished on a game
        that showed no degeneracy, or support enumeration agreed with such a vertex
        enumeration (run as a check on games of at most `CROSS_CHECK_LIMIT` strategies per
        player). Always False for Lemke-Howson, which finds one equilibrium per start.
    problems : tuple of str
        What went wrong or looked degenerate (nashpy's warnings and failures, dropped pairs,
        an even count, equilibria support enumeration missed, budgets that ran out).
    message : str
        One line: what was found and why the method stopped.
    steps : int
        Work done: support pairs tried, vertex pairs compared or pivots made.
    seconds : float
        Wall-clock time.
    """

    equilibria: tuple[tuple[np.ndarray, np.ndarray], ...]
    gaps: tuple[float, ...]
    method: str
    finished: bool
    complete: bool
    problems: tuple[str, ...]
    message: str
    steps: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types (strategies as lists)."""
        return to_plain({
            "equilibria": [[x, y] for x, y in self.equilibria], "gaps": self.gaps,
            "method": self.method, "finished": self.finished, "complete": self.complete,
            "problems": self.problems, "message": self.message, "steps": self.steps,
            "seconds": self.seconds,
        })


def bimatrix_solution(A: Any, B: Any, method: str = "vertex_enumeration", *,
                      tol: float = 1e-9, max_seconds: float | None = DEFAULT_MAX_SECONDS,
                      max_pivots: int = DEFAULT_MAX_PIVOTS) -> BimatrixSolution:
    """Verified Nash equilibria of the bimatrix game (A, B), with how complete they are.

    The engine behind `bimatrix_equilibria` and `solve_pair`; it warns about nothing and
    reports everything in the result instead. Every method runs under budgets: nashpy's
    algorithms have no iteration cap (its Lemke-Howson cycles forever on some games, on a
    pivot near 1e-300), so the loops of its three algorithms are run here, step by step, from
    the building blocks nashpy exposes (`nashpy.algorithms.support_enumeration`,
    `nashpy.polytope`, `nashpy.linalg` tableaux), with a clock and a pivot counter checked at
    every step.

    Parameters
    ----------
    A, B : array_like of shape (m, n)
        Row and column player payoffs, finite.
    method : {"vertex_enumeration", "support_enumeration", "lemke_howson"}
        See `solve_pair`.
    tol : float, default 1e-9
        Keep an equilibrium only when its relative `bimatrix_gap` is at most `tol`.
    max_seconds : float or None, default `DEFAULT_MAX_SECONDS`
        Wall-clock budget of the whole call (None: no time budget). When it runs out the
        equilibria found so far are returned with ``finished=False``.
    max_pivots : int, default `DEFAULT_MAX_PIVOTS`
        Lemke-Howson only: pivots allowed from each initial dropped label; a start that needs
        more is abandoned (it is cycling) and reported.

    Returns
    -------
    BimatrixSolution

    Raises
    ------
    InvalidGameError
        For payoffs that are not two finite non-empty matrices of one shape.
    UnknownMethodError
        For a method not in `METHODS`.
    InvalidOptionError
        For a negative or non-finite `tol`, a `max_seconds` that is not None or > 0, or a
        `max_pivots` below 1.
    """
    A = _payoff_matrix(A, "A")
    B = _payoff_matrix(B, "B")
    if A.shape != B.shape:
        raise InvalidGameError(f"A and B must have the same shape; got {A.shape} and {B.shape}")
    if method not in METHODS:
        raise UnknownMethodError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    tol = check_tol(tol)
    max_seconds = check_seconds(max_seconds)
    max_pivots = check_count(max_pivots, "max_pivots", 1)
    limits = _SearchLimits(max_seconds, max_pivots)
    found, problems, finished = _verified_equilibria(A, B, method, tol, limits)
    complete = False
    if method == "vertex_enumeration":
        complete = finished and not problems
    elif method == "support_enumeration" and finished and max(A.shape) <= CROSS_CHECK_LIMIT:
        check, check_problems, check_finished = _verified_equilibria(
            A, B, "vertex_enumeration", tol, limits)
        missed = [(x, y) for x, y, _ in check if not _listed(found, x, y)]
        if missed:
            problems.append(f"{_MISSED}{len(missed)} of the {len(check)} "
                            "equilibria vertex enumeration found (nashpy's support enumeration "
                            "rejects some supports over rounding); use vertex_enumeration")
        complete = check_finished and not check_problems and not missed
    seconds = limits.elapsed()
    message = (f"{method} found {len(found)} verified equilibri"
               f"{'um' if len(found) == 1 else 'a'} in {limits.steps} steps, {seconds:.3g} s; "
               + ("every equilibrium (complete)" if complete else
                  "not certified complete" if finished else "STOPPED before the end")
               + (f": {'; '.join(problems)}" if problems else ""))
    return BimatrixSolution(
        equilibria=tuple((x, y) for x, y, _ in found), gaps=tuple(g for _, _, g in found),
        method=method, finished=finished, complete=bool(complete), problems=tuple(problems),
        message=message, steps=limits.steps, seconds=seconds)


def bimatrix_equilibria(A: Any, B: Any, method: str = "vertex_enumeration", *,
                        tol: float = 1e-9, max_seconds: float | None = DEFAULT_MAX_SECONDS,
                        max_pivots: int = DEFAULT_MAX_PIVOTS
                        ) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Verified Nash equilibria of the bimatrix game (A, B), computed by nashpy.

    ``bimatrix_solution(...).equilibria`` with its findings turned into warnings, for any
    (m, n) game. See `solve_pair` for the methods, the verification and the warnings, and
    `bimatrix_solution` for the budgets and the errors.

    Returns
    -------
    tuple of (row_strategy, col_strategy)
        Distinct equilibria in the order nashpy found them.
    """
    solution = bimatrix_solution(A, B, method, tol=tol, max_seconds=max_seconds,
                                 max_pivots=max_pivots)
    _warn(solution)
    return solution.equilibria


def solve_pair(pair: PairGame, method: str = "vertex_enumeration", *, tol: float = 1e-9,
               max_seconds: float | None = DEFAULT_MAX_SECONDS,
               max_pivots: int = DEFAULT_MAX_PIVOTS) -> tuple[FiniteEquilibrium, ...]:
    """Nash equilibria of a `PairGame`, computed by nashpy and re-verified.

    Parameters
    ----------
    pair : PairGame
    method : {"vertex_enumeration", "support_enumeration", "lemke_howson"}
        The default is ``vertex_enumeration``, the one complete method: every equilibrium
        of a nondegenerate game, from the vertices of the best-response polytopes (Nisan et
        al. 2007, Algorithm 3.5; Avis et al. 2010). ``support_enumeration`` (ibid.,
        Algorithm 3.4) is complete in theory, but nashpy 0.0.43 rounds some zero
        probabilities to tiny negatives and drops those candidates, missing equilibria in
        about one random small game in six (often nondegenerate, sometimes with an odd
        count, so nashpy does not warn); on games of at most `CROSS_CHECK_LIMIT` strategies
        per player it is therefore checked against vertex enumeration, and a miss warns
        `IncompleteSearchWarning`. ``lemke_howson``: the complementary pivoting of Lemke &
        Howson (1964) run from every initial dropped label ``0 .. m + n - 1`` and
        deduplicated; fast, but it may miss equilibria, and a start that cycles is stopped
        after `max_pivots` pivots.
    tol : float, default 1e-9
        An equilibrium nashpy returns is kept only when its `bimatrix_gap` is at most `tol`
        times the payoff scale ``max(max|A|, max|B|)``.
    max_seconds : float or None, default `DEFAULT_MAX_SECONDS`
        Wall-clock budget; the equilibria found by then are returned with a
        `SolverStoppedWarning`.
    max_pivots : int, default `DEFAULT_MAX_PIVOTS`
        Lemke-Howson pivots per initial dropped label.

    Returns
    -------
    tuple of FiniteEquilibrium
        Distinct verified equilibria in the order nashpy found them.

    Warns
    -----
    DegenerateGameWarning
        When nashpy warns (a pivot divided by zero), when one of its algorithms fails on the
        game, when a returned pair fails the gap check and is dropped, or when a complete
        method finds an even number of equilibria (a nondegenerate game has an odd number;
        Lemke & Howson 1964): some equilibria may then be missing.
    IncompleteSearchWarning
        When support enumeration missed equilibria that vertex enumeration found.
    SolverStoppedWarning
        When a budget stopped the method (`bimatrix_solution` says which).

    Raises
    ------
    UnknownMethodError
        For a method not in `METHODS`; `InvalidOptionError` for a bad budget or tol.
    """
    if not isinstance(pair, PairGame):
        raise GameTypeError(f"pair must be a PairGame (build one with pair_game); got "
                            f"{type(pair).__name__}")
    solution = bimatrix_solution(pair.row_payoffs, pair.col_payoffs, method, tol=tol,
                                 max_seconds=max_seconds, max_pivots=max_pivots)
    _warn(solution)
    levels = np.asarray(pair.levels)
    results = []
    for (x, y), gap in zip(solution.equilibria, solution.gaps, strict=True):
        is_pure = bool(np.count_nonzero(x) == 1 and np.count_nonzero(y) == 1)
        expected = (float(levels @ x), float(levels @ y))
        if is_pure:
            profile = pair.profile(int(np.argmax(x)), int(np.argmax(y)))
        else:
            profile = pair.base_profile.copy()
            profile[list(pair.players)] = expected
        results.append(FiniteEquilibrium(x, y, is_pure, float(gap), expected, profile))
    return tuple(results)


# ---------------------------------------------------------------------------------- helpers
#: How the problems that `_warn` does not report as degeneracy begin.
_STOPPED = ("budget: ",)
_MISSED = "support enumeration missed "


class _OutOfTime(Exception):
    """Raised inside a capped loop when the wall-clock budget has run out."""


class _SearchLimits:
    """The clock and the pivot cap every capped loop checks at each step."""

    def __init__(self, max_seconds: float | None, max_pivots: int) -> None:
        self.start = time.perf_counter()
        self.deadline = None if max_seconds is None else self.start + max_seconds
        self.max_seconds = max_seconds
        self.max_pivots = max_pivots
        self.steps = 0

    def tick(self) -> None:
        self.steps += 1
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise _OutOfTime

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def _support_enumeration(A: np.ndarray, B: np.ndarray, limits: _SearchLimits
                         ) -> Iterator[tuple[Any, Any]]:
    """nashpy's ``Game.support_enumeration()`` loop (defaults non_degenerate=False,
    tol=1e-16), one support pair per step of the limits."""
    tol = 10 ** -16
    for pair in support_enumeration.potential_support_pairs(A, B, non_degenerate=False):
        limits.tick()
        s1 = support_enumeration.solve_indifference(B.T, *(pair[::-1]))
        s2 = support_enumeration.solve_indifference(A, *pair)
        if (support_enumeration.obey_support(s1, pair[0], tol=tol)
                and support_enumeration.obey_support(s2, pair[1], tol=tol)
                and support_enumeration.is_ne((s1, s2), pair, (A, B))):
            yield s1, s2


def _vertex_enumeration(A: np.ndarray, B: np.ndarray, limits: _SearchLimits
                        ) -> Iterator[tuple[Any, Any]]:
    """nashpy's ``Game.vertex_enumeration()`` loop, one vertex pair per step of the limits (the
    column polytope's vertices are listed once instead of once per row vertex)."""
    if np.min(A) < 0:
        A = A + abs(np.min(A))
    if np.min(B) < 0:
        B = B + abs(np.min(B))
    m, n = A.shape
    full_labels = set(range(m + n))
    col_vertices = list(polytope.non_trivial_vertices(polytope.build_halfspaces(A)))
    for row_v, row_l in polytope.non_trivial_vertices(polytope.build_halfspaces(B.T)):
        adjusted = {(label + m) % (m + n) for label in row_l}
        for col_v, col_l in col_vertices:
            limits.tick()
            if adjusted.union(col_l) == full_labels:
                yield row_v / sum(row_v), col_v / sum(col_v)


def _lemke_howson(A: np.ndarray, B: np.ndarray, label: int, limits: _SearchLimits
                  ) -> tuple[Any, Any] | None:
    """nashpy's ``lemke_howson(A, B, label)`` (lexicographic pivoting) under the pivot cap:
    None when it needs more than ``limits.max_pivots`` pivots."""
    col_tableau = linalg.create_col_tableau(A, True)
    row_tableau = linalg.create_row_tableau(B, True)
    if label in row_tableau.non_basic_variables:
        tableaux = itertools.cycle((row_tableau, col_tableau))
    else:
        tableaux = itertools.cycle((col_tableau, row_tableau))
    full_labels = col_tableau.labels
    entering = label
    for _ in range(limits.max_pivots):
        limits.tick()
        entering = next(tableaux).pivot_and_drop_label(entering)
        labels = col_tableau.non_basic_variables.union(row_tableau.non_basic_variables)
        if labels == full_labels:
            return (row_tableau.to_strategy(col_tableau.non_basic_variables),
                    col_tableau.to_strategy(row_tableau.non_basic_variables))
    return None


def _verified_equilibria(A: np.ndarray, B: np.ndarray, method: str, tol: float,
                         limits: _SearchLimits
                         ) -> tuple[list[tuple[np.ndarray, np.ndarray, float]], list[str], bool]:
    """Run one method under `limits`, verify every answer, say what went wrong and whether
    the method ran to its end."""
    problems: list[str] = []
    raw: list[tuple[Any, Any]] = []
    finished = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if method == "lemke_howson":
                cycling = []
                for label in range(sum(A.shape)):
                    answer = _lemke_howson(A, B, label, limits)
                    if answer is None:
                        cycling.append(label)
                    else:
                        raw.append(answer)
                if cycling:
                    finished = False
                    plural = "s" if len(cycling) > 1 else ""
                    problems.append(f"{_STOPPED[0]}Lemke-Howson from initial label{plural} "
                                    f"{', '.join(map(str, cycling))} stopped after "
                                    f"max_pivots={limits.max_pivots} pivots (cycling)")
            else:
                engine = _support_enumeration if method == "support_enumeration" \
                    else _vertex_enumeration
                raw.extend(engine(A, B, limits))
        except _OutOfTime:
            finished = False
            problems.append(f"{_STOPPED[0]}{method} ran out of max_seconds="
                            f"{limits.max_seconds:g} and stopped before the end")
        except _NASHPY_FAILURES as error:
            text = " ".join(str(error).split())
            problems.append(f"nashpy's {method} failed ({type(error).__name__}: {text})")
    warned: dict[str, int] = {}  # each distinct warning once, with its count
    for record in caught:
        if issubclass(record.category, (RuntimeWarning, UserWarning)):
            text = " ".join(str(record.message).split())
            warned[text] = warned.get(text, 0) + 1
        else:
            warnings.warn_explicit(record.message, record.category, record.filename,
                                   record.lineno)
    problems.extend(f"nashpy warned: {text}" + (f" ({count} times)" if count > 1 else "")
                    for text, count in warned.items())
    m, n = A.shape
    scale = _scale(A, B)
    found: list[tuple[np.ndarray, np.ndarray, float]] = []
    dropped = 0
    worst = 0.0
    for x_raw, y_raw in raw:
        x, y = _clean_strategy(x_raw, m), _clean_strategy(y_raw, n)
        if x is None or y is None:
            dropped += 1
            worst = np.inf
            continue
        gap = bimatrix_gap(A, B, x, y) / scale
        if gap > tol:
            dropped += 1
            worst = max(worst, gap)
            continue
        if not _listed(found, x, y):
            found.append((x, y, gap))
    if dropped:
        problems.append(f"dropped {dropped} strateg{'y pair' if dropped == 1 else 'y pairs'} "
                        f"that failed verification (worst relative gap {worst:.3g} > tol={tol:g}"
                        " or not probability vectors)")
    if method != "lemke_howson" and finished and len(found) % 2 == 0:
        problems.append(f"{len(found)} equilibria were found, an even number; a nondegenerate "
                        "game has an odd number (Lemke & Howson 1964)")
    return found, problems, finished


def _listed(found: Sequence[tuple[np.ndarray, ...]], x: np.ndarray, y: np.ndarray) -> bool:
    return any(np.allclose(x, entry[0], rtol=0.0, atol=_DUPLICATE_ATOL)
               and np.allclose(y, entry[1], rtol=0.0, atol=_DUPLICATE_ATOL) for entry in found)


def _warn(solution: BimatrixSolution) -> None:
    """Turn a solution's findings into the warnings `solve_pair` documents."""
    stopped = [p for p in solution.problems if p.startswith(_STOPPED)]
    missed = [p for p in solution.problems if p.startswith(_MISSED)]
    degenerate = [p for p in solution.problems if p not in stopped and p not in missed]
    if stopped:
        warnings.warn(SolverStoppedWarning(
            f"{solution.method} stopped before the end, so equilibria may be missing: "
            f"{'; '.join(stopped)}. Raise max_seconds (or max_pivots), or use "
            "vertex_enumeration"), stacklevel=3)
    if missed:
        warnings.warn(IncompleteSearchWarning(
            f"{solution.method} is incomplete on this game: {'; '.join(missed)}"), stacklevel=3)
    if degenerate:
        warnings.warn(DegenerateGameWarning(
            f"the bimatrix game looks degenerate for {solution.method}, so some equilibria "
            f"may be missing: {'; '.join(degenerate)}. Every equilibrium returned was "
            "verified; to find others try another method or perturb the payoffs slightly"),
            stacklevel=3)


def _clean_strategy(value: Any, size: int) -> np.ndarray | None:
    """Zero nashpy's rounding dust and renormalize; None when not a probability vector."""
    try:
        v = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    if v.shape != (size,) or not np.all(np.isfinite(v)):
        return None
    v = np.where(np.abs(v) <= _ZERO, 0.0, v)
    total = v.sum()
    if np.any(v < 0.0) or abs(total - 1.0) > 1e-6:
        return None
    return v / total


def _payoff_matrix(value: Any, name: str) -> np.ndarray:
    try:
        matrix = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidGameError(f"{name} must be a numeric payoff matrix; got "
                         f"{type(value).__name__}") from error
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise InvalidGameError(f"{name} must be a non-empty 2-D payoff matrix (rows: row player's "
                         f"strategies, columns: column player's); got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise InvalidGameError(f"{name} holds NaN or inf; every payoff must be finite")
    return matrix


def _probability_vector(value: Any, size: int, name: str) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidProfileError(f"{name} must be a numeric probability vector; got "
                         f"{type(value).__name__}") from error
    if v.shape != (size,):
        raise InvalidProfileError(f"{name} must have shape ({size},), one probability per "
                                  f"strategy; got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InvalidProfileError(f"{name} holds NaN or inf; probabilities must be finite")
    if v.min() < -PROBABILITY_ATOL:
        raise InvalidProfileError(f"{name} must be nonnegative; its smallest entry is {v.min():g}")
    if abs(v.sum() - 1.0) > PROBABILITY_ATOL:
        raise InvalidProfileError(f"{name} must sum to 1 (within {PROBABILITY_ATOL:g}); it sums to "
                         f"{v.sum():.12g}. Divide it by its sum")
    return v


def _scale(A: np.ndarray, B: np.ndarray) -> float:
    """The payoff scale ``max(max|A|, max|B|)`` that makes gaps relative (never below 1e-300)."""
    return max(float(np.abs(A).max()), float(np.abs(B).max()), 1e-300)


def _check_tol(tol: float) -> None:
    check_tol(tol)
