"""Every equilibrium of a small participation game, by enumerating the players' statuses.

At an equilibrium of the participation game (docs/design.md, "The game") each player is at
lo with ``g_i <= 0``, at hi with ``g_i >= 0``, or interior with ``g_i = 0`` (the KKT
conditions of its concave utility, Shah & Khan 2025, Eq. 13-14). Fixing every player's status
leaves a linear system for the interior players F,

    (2 diag(q) + R)_FF s_F = a_F - R_FB s_B,                 (a = b - c, B the bounded ones)

so an equilibrium is a status pattern whose solution lies in the box and whose bounded
players' gradients have the right signs. This is the continuous analogue of support
enumeration for bimatrix games (the idea of nashpy's `support_enumeration`: guess the
support, solve the indifference conditions, check that no one gains off the support), with
3^N patterns instead of pairs of supports.

The 3^N patterns are searched depth first and pruned by interval reasoning that never removes
an equilibrium: every player keeps an interval holding its value at every equilibrium that
agrees with the statuses fixed so far, started from iterated dominance
(`equilibria.dominance.iterated_dominance`: dominated players are fixed at lo) and narrowed
after every branch to the range of the player's best responses against the others'
intervals (the competition's interval products, `equilibria.competition.interval_products`).
A status is feasible only if that range allows it (lo needs ``a_i - 2 q_i lo - max r_i <= 0``,
hi needs ``a_i - 2 q_i hi - min r_i >= 0``, interior a best response inside the box); a
branch with no feasible status for some player is cut (branch and bound with a feasibility
bound). Each leaf's linear solve is verified by the sign conditions and certified by the
relative Nash gap (`equilibria.nash_gap`), and the certified profiles are deduplicated with
`equilibria.certify.distinct_profiles`.

A singular interior block with a consistent system means a continuum of equilibria may pass
through that pattern (e.g. q = 0 duplicates); only its least-squares solution is checked, and
`EquilibriumSet.singular_patterns` counts such patterns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from equilibria import competition as comp
from equilibria.certify import DISTINCT_TOL, SOLVE_TOL, distinct_profiles
from equilibria.dominance import iterated_dominance
from equilibria.errors import GameTypeError, InvalidOptionError, check_count, check_tol
from equilibria.game import ParticipationGame
from equilibria.gap import nash_gap
from equilibria.plain import to_plain
from equilibria.stability import analyze_stability

__all__ = ["MAX_PLAYERS", "EquilibriumSet", "all_equilibria"]

#: Largest game `all_equilibria` enumerates by default (3^15 = 14 million status patterns
#: before pruning).
MAX_PLAYERS = 15
#: Search nodes visited before the search stops and reports itself incomplete.
MAX_NODES = 2_000_000

_LO, _HI, _FREE, _UNSET = 0, 1, 2, -1
#: Slack of the feasibility tests, relative to the payoff scale (pruning must never remove an
#: equilibrium through rounding; the certificate at the leaf is exact).
_SLACK = 1e-9
#: Narrowing rounds per search node.
_ROUNDS = 30
#: Interior blocks with a condition number above this are solved as singular.
_SINGULAR_CONDITION = 1e12


@dataclass(frozen=True)
class EquilibriumSet:
    """The distinct certified equilibria of a game found by `all_equilibria`.

    Attributes
    ----------
    equilibria : ndarray of shape (k, N)
        The distinct equilibria (max-norm farther than `distinct_tol` apart), sorted
        lexicographically.
    nash_gaps : ndarray of shape (k,)
        Relative Nash gap of each (all <= the tolerance asked for).
    classifications : tuple of str
        `equilibria.analyze_stability` of each: stable, unstable or inconclusive.
    dominated : ndarray of int
        Players fixed at lo by iterated dominance before the search.
    nodes : int
        Search nodes visited (partial status patterns).
    leaves : int
        Complete status patterns whose linear system was solved.
    singular_patterns : int
        Leaves whose interior block was singular with a consistent system (a continuum of
        equilibria may pass there; only its least-squares point was checked).
    complete : bool
        The search visited every pattern the pruning kept (False when `max_nodes` ran out).
    seconds : float
        Wall-clock time of the search.
    """

    equilibria: np.ndarray
    nash_gaps: np.ndarray
    classifications: tuple[str, ...]
    dominated: np.ndarray
    nodes: int
    leaves: int
    singular_patterns: int
    complete: bool
    seconds: float

    @property
    def count(self) -> int:
        """Number of distinct equilibria."""
        return int(self.equilibria.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (arrays as lists) with ``count``."""
        return to_plain({"equilibria": self.equilibria, "nash_gaps": self.nash_gaps,
                         "classifications": list(self.classifications),
                         "dominated": self.dominated, "nodes": self.nodes,
                         "leaves": self.leaves, "singular_patterns": self.singular_patterns,
                         "complete": self.complete, "seconds": self.seconds,
                         "count": self.count})


class _Search:
    """Depth-first search over status patterns with interval propagation (module docstring)."""

    def __init__(self, game: ParticipationGame, tol: float, max_nodes: int) -> None:
        n = game.n_players
        self.game, self.tol, self.max_nodes = game, tol, max_nodes
        self.lo, self.hi = game.bounds
        self.a = game.net_benefit
        self.q2 = 2.0 * game.quadratic_cost
        self.R = comp.to_dense(game.competition, n)
        self.M = self.R.copy()
        self.M[np.diag_indices(n)] = self.q2
        self.slack = _SLACK * game.payoff_scale()
        self.width_tol = 1e-12 * (self.hi - self.lo)
        self.nodes = self.leaves = self.singular = 0
        self.found: list[np.ndarray] = []
        self.solutions: dict[bytes, tuple[np.ndarray, np.ndarray] | None] = {}
        self.stopped = False

    # ------------------------------------------------------------------ propagation
    def _response_range(self, r_min: np.ndarray, r_max: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
        """The smallest and largest best responses to r in [r_min, r_max] (unclipped for
        q > 0; for q = 0 the endpoint rule with ties going both ways)."""
        q2, a = self.q2, self.a
        with np.errstate(divide="ignore", invalid="ignore"):
            low = np.where(q2 > 0, (a - r_max) / q2,
                           np.where(a - r_max > self.slack, self.hi, self.lo))
            high = np.where(q2 > 0, (a - r_min) / q2,
                            np.where(a - r_min >= -self.slack, self.hi, self.lo))
        return low, high

    def propagate(self, status: np.ndarray, lower: np.ndarray,
                  upper: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Narrow the intervals under `status`; None when some player has no feasible value."""
        lo, hi, slack = self.lo, self.hi, self.slack
        lower, upper = lower.copy(), upper.copy()
        lower[status == _LO] = upper[status == _LO] = lo
        lower[status == _HI] = upper[status == _HI] = hi
        for _ in range(_ROUNDS):
            r_min, r_max = comp.interval_products(self.R, lower, upper)
            at_lo = self.a - self.q2 * lo - r_max <= slack       # lo can be a best response
            at_hi = self.a - self.q2 * hi - r_min >= -slack      # hi can be a best response
            low, high = self._response_range(r_min, r_max)
            pad = slack / np.where(self.q2 > 0, self.q2, 1.0)
            new_lower, new_upper = lower.copy(), upper.copy()
            unset, free = status == _UNSET, status == _FREE
            if np.any((status == _LO) & ~at_lo) or np.any((status == _HI) & ~at_hi):
                return None
            # Every player's value is a best response: clipped for unset players, interior
            # (unclipped, inside the box) for free ones.
            moving = unset | free
            new_lower[moving] = np.maximum(lower, np.clip(low - pad, lo, hi))[moving]
            new_upper[moving] = np.minimum(upper, np.clip(high + pad, lo, hi))[moving]
            if np.any(free & ((high + pad < lo) | (low - pad > hi))):
                return None
            if np.any(new_lower > new_upper + self.width_tol):
                return None
            new_upper = np.maximum(new_upper, new_lower)
            if np.any(free) and not self._solve_free(free, new_lower, new_upper):
                return None
            change = max(float(np.abs(new_lower - lower).max()),
                         float(np.abs(new_upper - upper).max()))
            lower, upper = new_lower, new_upper
            if change <= self.width_tol:
                break
        return lower, upper

    def _solve_free(self, free: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> bool:
        """Narrow the interior players' intervals (in place) to the exact hull of the
        solutions of their first-order conditions ``M_FF s_F = a_F - R_FO s_O`` over the
        others' box (a linear image of a box: centre ``A mid``, radius ``|A| rad``); False
        when that hull misses the intervals. Skipped for an ill-conditioned block."""
        index, others = np.flatnonzero(free), np.flatnonzero(~free)
        key = free.tobytes()
        if key not in self.solutions:  # each interior set's (M_FF^-1, M_FF^-1 R_FO) once
            block = self.M[np.ix_(index, index)]
            if np.linalg.cond(block) >= _SINGULAR_CONDITION:
                self.solutions[key] = None
            else:
                inverse = np.linalg.inv(block)
                self.solutions[key] = (inverse, inverse @ self.R[np.ix_(index, others)])
        solution = self.solutions[key]
        if solution is None:
            return True
        inverse, coupling = solution
        middle = 0.5 * (lower[others] + upper[others])
        radius = 0.5 * (upper[others] - lower[others])
        centre = inverse @ self.a[index] - coupling @ middle
        spread = np.abs(coupling) @ radius + 1e-9 * (self.hi - self.lo)
        low = np.maximum(lower[index], centre - spread)
        high = np.minimum(upper[index], centre + spread)
        if np.any(low > high + self.width_tol):
            return False
        lower[index], upper[index] = low, np.maximum(high, low)
        return True

    def options(self, i: int, lower: np.ndarray, upper: np.ndarray) -> list[int]:
        """The statuses player i can still take: lo, hi only if its interval reaches them,
        interior only if the interval has room inside the box."""
        choices = []
        if lower[i] <= self.lo + self.width_tol:
            choices.append(_LO)
        if upper[i] >= self.hi - self.width_tol:
            choices.append(_HI)
        if upper[i] > self.lo + self.width_tol and lower[i] < self.hi - self.width_tol:
            choices.append(_FREE)
        return choices

    # ------------------------------------------------------------------ search
    def run(self, status: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        stack = [(status, lower, upper)]
        while stack:
            if self.nodes >= self.max_nodes:
                self.stopped = True
                return
            status, lower, upper = stack.pop()
            self.nodes += 1
            narrowed = self.propagate(status, lower, upper)
            if narrowed is None:
                continue
            lower, upper = narrowed
            unset = np.flatnonzero(status == _UNSET)
            forced = False
            for i in unset:  # players with one status left take it without branching
                choices = self.options(int(i), lower, upper)
                if not choices:
                    break
                if len(choices) == 1:
                    status = status.copy() if not forced else status
                    status[i], forced = choices[0], True
            else:
                if forced:
                    stack.append((status, lower, upper))
                    continue
                if unset.size == 0:
                    self.leaf(status)
                    continue
                widths = (upper - lower)[unset]
                i = int(unset[int(np.argmax(widths))])
                for choice in reversed(self.options(i, lower, upper)):
                    child = status.copy()
                    child[i] = choice
                    stack.append((child, lower.copy(), upper.copy()))

    def leaf(self, status: np.ndarray) -> None:
        """Solve the interior players' first-order conditions and keep a certified profile."""
        self.leaves += 1
        lo, hi, slack = self.lo, self.hi, self.slack
        s = np.where(status == _HI, hi, lo).astype(np.float64)
        free = np.flatnonzero(status == _FREE)
        if free.size:
            bounded = np.flatnonzero(status != _FREE)
            rhs = self.a[free] - self.R[np.ix_(free, bounded)] @ s[bounded]
            block = self.M[np.ix_(free, free)]
            exact = np.linalg.cond(block) < _SINGULAR_CONDITION
            if exact:
                x = np.linalg.solve(block, rhs)
            else:
                x = np.linalg.lstsq(block, rhs, rcond=None)[0]
                if np.abs(block @ x - rhs).max() > slack:
                    return  # inconsistent: no equilibrium with this pattern
                self.singular += 1
            pad = 1e-9 * (hi - lo)
            if np.any(x < lo - pad) or np.any(x > hi + pad):
                return
            s[free] = np.clip(x, lo, hi)
        g = self.game.pseudo_gradient(s)
        if np.any(g[status == _LO] > slack) or np.any(g[status == _HI] < -slack):
            return
        if nash_gap(self.game, s) <= self.tol:
            self.found.append(s)


def all_equilibria(game: ParticipationGame, *, max_players: int = MAX_PLAYERS,
                   tol: float = SOLVE_TOL, distinct_tol: float = DISTINCT_TOL,
                   max_nodes: int = MAX_NODES) -> EquilibriumSet:
    """Every equilibrium of a small participation game (module docstring).

    Parameters
    ----------
    game : ParticipationGame
        Any competition (dense, sparse, LowRank; expanded to a dense N x N matrix).
    max_players : int, default `MAX_PLAYERS`
        Refuse larger games (the search is exponential in N in the worst case).
    tol : float, default `equilibria.certify.SOLVE_TOL`
        A profile is kept when its relative Nash gap is at most `tol`.
    distinct_tol : float, default `equilibria.certify.DISTINCT_TOL`
        Max-norm distance beyond which two equilibria count as distinct.
    max_nodes : int, default `MAX_NODES`
        Search nodes before the search gives up (``complete=False``).

    Returns
    -------
    EquilibriumSet

    Raises
    ------
    GameTypeError
        For a game that is not a ParticipationGame.
    InvalidOptionError
        For a game with more than `max_players` players, or a bad option.
    """
    if not isinstance(game, ParticipationGame):
        raise GameTypeError(f"game must be an equilibria.ParticipationGame (linear-quadratic "
                            f"utilities); got {type(game).__name__}")
    max_players = check_count(max_players, "max_players", 1)
    tol, distinct_tol = check_tol(tol), check_tol(distinct_tol, "distinct_tol")
    max_nodes = check_count(max_nodes, "max_nodes", 1)
    n = game.n_players
    if n > max_players:
        raise InvalidOptionError(f"all_equilibria enumerates up to max_players={max_players} "
                                 f"players (3^N status patterns); this game has {n}: restrict "
                                 "it (game.restrict) or pass a larger max_players")
    started = time.perf_counter()
    dominance = iterated_dominance(game)
    search = _Search(game, tol, max_nodes)
    status = np.full(n, _UNSET)
    status[dominance.eliminated] = _LO
    search.run(status, dominance.lower.copy(), dominance.upper.copy())
    # The most exact representative of each cluster first: a bound player whose gradient
    # is within rounding of zero passes both as bounded and as interior.
    found = sorted(search.found, key=lambda s: nash_gap(game, s))
    profiles = sorted(distinct_profiles(found, distinct_tol), key=tuple)
    equilibria = np.array(profiles, dtype=np.float64).reshape(len(profiles), n)
    return EquilibriumSet(
        equilibria=equilibria,
        nash_gaps=np.array([nash_gap(game, s) for s in equilibria]),
        classifications=tuple(analyze_stability(game, s).classification for s in equilibria),
        dominated=np.asarray(dominance.eliminated, dtype=np.int64),
        nodes=search.nodes, leaves=search.leaves, singular_patterns=search.singular,
        complete=not search.stopped, seconds=time.perf_counter() - started)
