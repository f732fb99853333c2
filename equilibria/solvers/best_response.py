"""Best-response dynamics: simultaneous (Jacobi) and sequential (Gauss-Seidel) play.

Each player moves to its exact best response (Shah & Khan 2025, Eq. 14) to the others.
Jacobi play updates everyone at once, ``s <- (1 - d) s + d BR(s)`` with damping d, and
converges when the best-response map is a contraction (spectral radius of
``diag(1/2q) R`` below 1 on the active set; `analyze_stability` reports it). Gauss-Seidel play
updates one player at a time with the others' latest moves; in a potential game no update
lowers the potential (Monderer & Shapley 1996), so it converges even when Jacobi oscillates.
On a `CallableGame` Jacobi play asks for every best response at once (one batched search),
Gauss-Seidel play for one player's at a time (`player_best_response`).

For a LowRank competition a Gauss-Seidel sweep keeps ``y = F^T s`` up to date in O(d) per
player (a rank-1 update per move), so a sweep costs one pass over the factors, like one Jacobi
step. Each update reads the previous one, so the sweep cannot be vectorized: it is a compiled
loop (`equilibria.solvers._numba`, numba) for LowRank, sparse and dense competition alike,
except while a solve's sweeps have moved fewer than `PYTHON_SWEEP_MOVES` players in all: those
first sweeps are the same loop in Python (a few microseconds a player), so that a small game
(the demo's certificate: 192 players, about 30 sweeps) never pays the import of numba and the
load of its cached kernels (about 0.6 s of CPU once per process; bench/solvers.py part (f)
measures both).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from equilibria.callable_game import ContinuousGame
from equilibria.competition import LowRank
from equilibria.game import ParticipationGame
from equilibria.solvers._loop import Step

SCHEMES = ("jacobi", "gauss_seidel")
ORDERS = ("cyclic", "random")
#: Player moves a Gauss-Seidel solve makes in Python before its sweeps switch to the compiled
#: kernels: about 0.2 s of Python sweeping, a third of what importing numba and loading its
#: cached kernels costs (bench/solvers.py part (f)), so a game that needs fewer moves never
#: imports numba and one that needs more loses at most that.
PYTHON_SWEEP_MOVES = 50_000


def jacobi_step(game: ContinuousGame, damping: float = 1.0) -> Step:
    """``s <- (1 - damping) s + damping * BR(s)``: every player responds at once."""

    def step(s: np.ndarray, k: int) -> np.ndarray:
        return (1.0 - damping) * s + damping * game.best_response(s)

    return step


def gauss_seidel_step(game: ContinuousGame, damping: float = 1.0, order: str = "cyclic",
                      rng: np.random.Generator | None = None) -> Step:
    """One sweep of sequential best responses, players in cyclic or random order."""

    def players(n: int) -> np.ndarray:
        if order == "random":
            return (rng or np.random.default_rng(0)).permutation(n)
        return np.arange(n)

    if isinstance(game, ParticipationGame):
        return _quadratic_sweep(game, damping, players)

    def step(s: np.ndarray, k: int) -> np.ndarray:
        s = s.copy()
        for i in players(game.n_players):
            s[i] += damping * (game.player_best_response(int(i), s) - s[i])
        return s

    return step


def _quadratic_sweep(game: ParticipationGame, damping: float, players) -> Step:
    """Gauss-Seidel sweep of the quadratic game, compiled for its competition format.

    The sweeps are numba kernels (`equilibria.solvers._numba`, which says why numba): one
    pass over the factors (LowRank), the stored entries (sparse) or the matrix (dense) per
    sweep, with the same arithmetic as `ParticipationGame.best_response_to_player`. While
    the sweeps so far and this one move at most `PYTHON_SWEEP_MOVES` players in all, the
    sweep runs the same loop in Python (`_python_sweep`) and numba is not imported.
    """
    R = game.competition
    lo, hi = (float(bound) for bound in game.bounds)
    a = np.ascontiguousarray(game.net_benefit, dtype=np.float64)
    q = np.ascontiguousarray(game.quadratic_cost, dtype=np.float64)
    moves = {"python": 0}

    def in_python(n: int) -> bool:
        """Whether this sweep of n players stays within the Python budget (and count it)."""
        if moves["python"] + n > PYTHON_SWEEP_MOVES:
            return False
        moves["python"] += n
        return True

    if R is None:
        def independent(s: np.ndarray, k: int) -> np.ndarray:
            return s + damping * (game.best_response_to(np.zeros_like(s)) - s)
        return independent

    if isinstance(R, LowRank):
        factors = np.ascontiguousarray(R.factors)
        row_sq = np.einsum("ij,ij->i", factors, factors)
        scale = float(R.scale)
        # y = F^T s is carried from one sweep to the next when the loop hands back the profile
        # the last sweep returned (one pass over F saved per sweep), and recomputed every
        # _REFRESH sweeps so that the rank-1 updates do not accumulate rounding.
        carried: dict[str, np.ndarray | int] = {}

        def low_rank(s: np.ndarray, k: int) -> np.ndarray:
            last = carried.get("s")
            count = int(carried.get("count", 0))
            if (isinstance(last, np.ndarray) and count % _REFRESH
                    and np.array_equal(last, s)):
                y = carried["y"]
            else:
                y = factors.T @ s
            s = np.array(s, dtype=np.float64)
            order = _order(players, s.shape[0])
            if in_python(s.shape[0]):
                _python_sweep(s, order, a, q, lo, hi, damping, low_rank=(factors, row_sq,
                                                                          scale, y))
            else:
                from equilibria.solvers import _numba  # numba only once the sweeps pay for it

                _numba.low_rank_sweep(s, y, factors, row_sq, scale, a, q, lo, hi, damping,
                                      order)
            carried.update(s=s.copy(), y=y, count=count + 1)
            return s
        return low_rank

    if sp.issparse(R):
        indptr, indices = R.indptr, R.indices
        data = np.ascontiguousarray(R.data, dtype=np.float64)

        def sparse(s: np.ndarray, k: int) -> np.ndarray:
            s = np.array(s, dtype=np.float64)
            order = _order(players, s.shape[0])
            if in_python(s.shape[0]):
                _python_sweep(s, order, a, q, lo, hi, damping, sparse=(indptr, indices, data))
            else:
                from equilibria.solvers import _numba

                _numba.sparse_sweep(s, indptr, indices, data, a, q, lo, hi, damping, order)
            return s
        return sparse

    dense_matrix = np.ascontiguousarray(R, dtype=np.float64)

    def dense(s: np.ndarray, k: int) -> np.ndarray:
        s = np.array(s, dtype=np.float64)
        order = _order(players, s.shape[0])
        if in_python(s.shape[0]):
            _python_sweep(s, order, a, q, lo, hi, damping, dense=dense_matrix)
        else:
            from equilibria.solvers import _numba

            _numba.dense_sweep(s, dense_matrix, a, q, lo, hi, damping, order)
        return s
    return dense


def _python_sweep(s: np.ndarray, order: np.ndarray, a: np.ndarray, q: np.ndarray, lo: float,
                  hi: float, damping: float, *, low_rank: tuple | None = None,
                  sparse: tuple | None = None, dense: np.ndarray | None = None) -> None:
    """The sweep of the `equilibria.solvers._numba` kernels in Python, in place (`s`, and
    ``y = F^T s`` for `low_rank` = (factors, row_sq, scale, y)); one competition format given.

    Each move is `ParticipationGame.best_response_to_player`'s arithmetic on ``r_i`` from one
    numpy product of row i (sums in BLAS order: equal to the kernels' to rounding).
    """
    for i in order.tolist():
        if low_rank is not None:
            factors, row_sq, scale, y = low_rank
            r = scale * (float(factors[i] @ y) - row_sq[i] * s[i])
        elif sparse is not None:
            indptr, indices, data = sparse
            start, stop = indptr[i], indptr[i + 1]
            r = float(data[start:stop] @ s[indices[start:stop]])
        else:
            assert dense is not None
            r = float(dense[i] @ s)
        numerator, cost = float(a[i]) - r, float(q[i])  # Python floats: inf, not a warning
        if cost > 0.0:
            response = min(max(numerator / (2.0 * cost), lo), hi)
        else:
            response = hi if numerator > 0.0 else lo
        delta = damping * (response - float(s[i]))
        if delta != 0.0:
            s[i] += delta
            if low_rank is not None:
                y += delta * low_rank[0][i]


#: LowRank sweeps between two fresh computations of ``F^T s``.
_REFRESH = 32


def _order(players, n: int) -> np.ndarray:
    """The sweep's player order as a contiguous int64 array (what the kernels take)."""
    return np.ascontiguousarray(players(n), dtype=np.int64)
