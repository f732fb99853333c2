"""Semismooth Newton (primal-dual active set) for the quadratic game's equilibrium.

The equilibria of the participation game are the solutions of the affine variational
inequality ``find s in [lo, hi]^N with (t - s)^T g(s) <= 0 for every t in the box``, where
``g(s) = a - M s`` and ``M = 2 diag(q) + R``. They are the zeros of the (diagonally scaled)
natural map ``s - clip(s + D^{-1} g(s), lo, hi)`` (Facchinei & Pang 2003, Sec. 1.5).

Each step guesses which players sit at lo, at hi or strictly inside from ``s + D^{-1} g(s)``,
fixes the bounded ones, and solves the linear first-order conditions ``g_F(s) = 0`` of the free
players exactly: this is a semismooth Newton step on the natural map, equivalently the primal-
dual active-set method (Hintermueller, Ito & Kunisch 2002, SIAM J. Optim. 13(3)). It converges
in a handful of steps when the active set settles. A backtracking line search on the natural
residual globalizes it: a step is accepted when it brings the residual below the best one so
far, not only below the current one (a fallback step may raise it, and a Newton step straight
back would close a cycle: seen on the demo's non-monotone game, tests/equilibria/
test_newton_cycles.py). When no backtracked step does, the solver takes an adaptive projected
gradient step (`equilibria.solvers.projected_gradient.adaptive_projected_gradient_step`, whose
step is kept from one fallback to the next), so it never stalls. On the demo's trained game
(192 players, many equilibria) this converges from 61 of the basins study's 67 starts in 200
iterations, against 4 with a Newton step accepted below the current residual and a fixed
fallback step 1 / L.

The free-player solve uses the competition's structure: dense LU, sparse LU
(``scipy.sparse.linalg.spsolve``), or for ``R = scale (F F^T - diag)`` the Woodbury identity
``(D' + scale F F^T)^{-1}`` with a d x d capacitance matrix, O(N d^2) per step.

**LowRank, strongly monotone: Newton in the d-dimensional dual.** For ``R = scale (F F^T -
diag)`` with ``scale > 0`` and ``D_i = 2 q_i - scale ||F_i||^2 > 0`` for every player, the
potential is ``Phi(s) = a.s - 1/2 sum_i D_i s_i^2 - scale/2 ||F^T s||^2``, strictly concave, and
its maximizer over the box (the unique equilibrium) is ``s(y) = clip((a - scale F y) / D, lo,
hi)`` at the unique minimizer y of the strongly convex, piecewise quadratic dual

    psi(y) = scale/2 ||y||^2 + sum_i max_{lo <= t <= hi} [(a_i - scale F_i.y) t - D_i t^2 / 2]

(Fenchel duality: ``-scale/2 ||v||^2 = min_y scale (||y||^2 / 2 - y.v)``; at the solution
``y = F^T s``). Its gradient is ``scale (y - F^T s(y))`` and its generalized Hessian ``scale (I +
scale F_A^T diag(1 / D_A) F_A)`` over the free players A, so a semismooth Newton step (Qi & Sun
1993, Math. Programming 58) is a d x d solve, and an exact line search along the step costs
O(N) per trial because ``F (y + t dy) = F y + t F dy``. The step and the loop's Nash-gap check
share their passes over the factors (`DualNewton`): one read of F per step gives ``F (F^T s)``
for the gap, ``F dy`` and the next ``F^T s``, half the one-pass floor ``F (F^T s)``; the d x d
core ``F_A^T diag(1/D_A) F_A`` is kept from the previous step and updated by the rows of the
players that entered or left A only (gathered into one small buffer, never a copy of F); the
compiled pass adds to ``F^T s`` only the rows of players that moved, and the last gap check
of a solve, once a bound on the gains from the dual residual puts the gap below tol
(`DualNewton._surely_within`), reads only ``F (F^T s)`` and takes no next direction. The
passes are numba kernels from `COMPILED_MIN_PLAYERS` players and numpy below (two reads a
pass, same results to rounding). On the benchmark games it certifies in 3-6 steps from s = 1.
Other games (scale <= 0, a ``D_i <= 0``, dense or sparse R) take the active-set steps above.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from equilibria import competition as comp
from equilibria.competition import LowRank
from equilibria.errors import SingularSystemWarning
from equilibria.game import ParticipationGame
from equilibria.solvers._loop import Step
from equilibria.solvers.projected_gradient import adaptive_projected_gradient_step

#: Backtracking halvings tried before falling back to a projected gradient step.
_MAX_BACKTRACKS = 8
#: Rows of the factors gathered at a time when the dual Newton core is built or updated.
_CHUNK_ROWS = 1 << 13
#: A line-search step reads the rows of the players whose bound changed between t and the unit
#: step to correct ``F^T s``, unless more than 1 / `_CORRECTED_SHARE` of them changed.
_CORRECTED_SHARE = 8
#: Otherwise, compiled, it reads the rows of the players that moved from the step's start.
#: Rows gathered at a time into the d x d core's buffer (1024 x 64 float64 = 512 KiB, in L2).
_GRAM_CHUNK_ROWS = 1 << 10
#: Safeguarded Newton iterations of the exact line search along a dual Newton step.
_LINE_SEARCH_STEPS = 60
#: Players from which `DualNewton` takes its passes with the numba kernels (one read of the
#: factors per pass instead of two, on every core). Below it numpy runs them and numba is never
#: imported: its import and the load of the cached kernels cost about 0.3 s (wall) once per
#: process. Measured by bench/solvers.py part (f) on the 2-core machine (fresh processes, first
#: solve against later ones): the compiled passes solve 3-4x faster at every size, and the load
#: is repaid after 52 solves at 10^4 players, 5.8 at 10^5, 2.3 at 3 10^5 and at once at 10^6.
#: The threshold favours a process that solves several games (certificates from several starts,
#: basins, sweeps); a single solve between 10^5 and about 5 10^5 players pays up to 0.3 s once.
#: (No "compiled once numba is loaded" rule: a solve's last bits would then depend on what the
#: process ran before.)
COMPILED_MIN_PLAYERS = 100_000
#: threadpoolctl's controller of the BLAS libraries, made on the first compiled step.
_BLAS: Any = None


def solve_free_block(game: ParticipationGame, free: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``(2 diag(q) + R)[free, free] x = rhs`` with the competition's structure.

    Falls back to least squares (dense) or MINRES / LSQR (operators) when the block is
    singular, so the Newton step is always defined. Singular blocks are common (beta = 0
    gives q = 0, and duplicate players give rank-deficient competition): scipy's
    ``MatrixRankWarning`` from the sparse LU is caught and the fallback is taken silently,
    as for the dense LU; one `SingularSystemWarning` is issued only when the least-squares
    fallback itself returns a non-finite step.
    """
    q2 = 2.0 * game.quadratic_cost[free]
    R = game.competition
    if R is None:
        return np.divide(rhs, q2, out=np.zeros_like(rhs), where=q2 > 0)
    if isinstance(R, LowRank):
        return _woodbury_solve(R, free, q2, rhs)
    if sp.issparse(R):
        block = sp.csc_matrix(sp.diags(q2) + R[free][:, free])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", spla.MatrixRankWarning)
                x = spla.spsolve(block, rhs)
        except (RuntimeError, spla.MatrixRankWarning):
            x = np.full_like(rhs, np.nan)
        if not np.all(np.isfinite(x)):
            x = spla.lsqr(block, rhs, atol=1e-14, btol=1e-14)[0]
        if not np.all(np.isfinite(x)):
            warnings.warn(SingularSystemWarning(
                f"the Newton system of {free.size} free players is singular and least squares "
                "gave a non-finite step; the solver falls back to projected gradient steps"),
                stacklevel=2)
        return np.asarray(x, dtype=np.float64)
    block = comp.principal_dense(R, free)
    block[np.diag_indices_from(block)] = q2
    try:
        return np.linalg.solve(block, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(block, rhs, rcond=None)[0]


def _woodbury_solve(R: LowRank, free: np.ndarray, q2: np.ndarray,
                    rhs: np.ndarray) -> np.ndarray:
    """``(diag(q2 - scale ||F_i||^2) + scale F_A F_A^T)^{-1} rhs`` on the players ``A = free``.

    By the Woodbury identity with the d x d capacitance ``I / scale + F_A^T diag(1/D) F_A``;
    the rows of A are read `_CHUNK_ROWS` at a time (no copy of the factors).
    """
    factors, scale = R.factors, R.scale
    diagonal = q2 - scale * R._row_sq[free]  # type: ignore[attr-defined]
    if scale == 0.0:
        return np.divide(rhs, q2, out=np.zeros_like(rhs), where=q2 > 0)
    reference = max(float(np.abs(diagonal).max(initial=0.0)), abs(scale) * 1e-300)
    if np.abs(diagonal).min(initial=np.inf) > 1e-10 * reference:
        inverse = 1.0 / diagonal
        capacitance = _weighted_gram(factors, free, inverse, np.eye(factors.shape[1]) / scale)
        inner = _rows_transpose_product(factors, free, rhs * inverse)
        try:
            correction = np.linalg.solve(capacitance, inner)
        except np.linalg.LinAlgError:
            correction = np.linalg.lstsq(capacitance, inner, rcond=None)[0]
        return (rhs - _rows_product(factors, free, correction)) * inverse
    n = free.size
    operator = spla.LinearOperator(
        (n, n), dtype=np.float64,
        matvec=lambda v: diagonal * np.ravel(v) + scale * _rows_product(
            factors, free, _rows_transpose_product(factors, free, np.ravel(v))))
    return spla.minres(operator, rhs, rtol=1e-12, maxiter=10 * n)[0]


def _rows_product(factors: np.ndarray, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``F[rows] @ vector``, `_CHUNK_ROWS` rows at a time."""
    out = np.empty(rows.size)
    for start in range(0, rows.size, _CHUNK_ROWS):
        out[start:start + _CHUNK_ROWS] = factors[rows[start:start + _CHUNK_ROWS]] @ vector
    return out


def _rows_transpose_product(factors: np.ndarray, rows: np.ndarray,
                            vector: np.ndarray) -> np.ndarray:
    """``F[rows]^T @ vector``, `_CHUNK_ROWS` rows at a time."""
    out = np.zeros(factors.shape[1])
    for start in range(0, rows.size, _CHUNK_ROWS):
        out += factors[rows[start:start + _CHUNK_ROWS]].T @ vector[start:start + _CHUNK_ROWS]
    return out


def _weighted_gram(factors: np.ndarray, rows: np.ndarray, weights: np.ndarray,
                   start_from: np.ndarray, compiled: bool = False) -> np.ndarray:
    """``start_from + F[rows]^T diag(weights) F[rows]`` (weights of either sign), symmetric.

    Rows of positive and of negative weight are scaled by ``sqrt(|w|)`` and multiplied as
    ``X^T X``, which numpy runs as BLAS syrk; `_GRAM_CHUNK_ROWS` rows at a time are gathered
    into one reused buffer that stays in the L2 cache and scaled there (``numpy.take`` and an
    in-place product, or with `compiled` numba's `_numba.gather_scaled`: the same numbers).
    """
    gram = start_from.copy()
    buffer = np.empty((min(_GRAM_CHUNK_ROWS, rows.size), factors.shape[1]))
    if compiled:
        from equilibria.solvers import _numba
    for sign in (1.0, -1.0):
        chosen = np.flatnonzero(sign * weights > 0.0)
        roots = np.sqrt(sign * weights[chosen])
        for start in range(0, chosen.size, _GRAM_CHUNK_ROWS):
            pick = rows[chosen[start:start + _GRAM_CHUNK_ROWS]]
            block = buffer[:pick.size]
            if compiled:
                _numba.gather_scaled(factors, pick, roots[start:start + _GRAM_CHUNK_ROWS], block)
            else:
                np.take(factors, pick, axis=0, out=block)
                block *= roots[start:start + _GRAM_CHUNK_ROWS, None]
            gram += sign * (block.T @ block)
    return 0.5 * (gram + gram.T)


def newton_step(game: ParticipationGame) -> Step:
    """One semismooth Newton step: in the dual for strongly monotone LowRank games (module
    docstring), else a globalized active-set step on the natural map."""
    if dual_applies(game):
        return DualNewton(game)
    return active_set_step(game)


def dual_applies(game: ParticipationGame) -> bool:
    """Whether the game is LowRank with ``scale > 0`` and every ``2 q_i > scale ||F_i||^2``."""
    R = game.competition
    if not isinstance(R, LowRank) or not R.scale > 0.0 or R.rank == 0:
        return False
    diagonal = 2.0 * game.quadratic_cost - R.scale * R._row_sq  # type: ignore[attr-defined]
    return bool(diagonal.min(initial=np.inf) > 1e-12 * max(float(diagonal.max()), 1e-300))


def dual_newton_step(game: ParticipationGame, compiled: bool | None = None) -> DualNewton:
    """The dual Newton step of `game` (module docstring); `compiled` as in `DualNewton`."""
    return DualNewton(game, compiled)


@dataclass
class _Pass:
    """What one read of the factors gave (`_numba.dual_pass`) along the direction ``dy``:
    ``w = F dy``, the unit step's profile ``s`` with its free set, ``acc = F^T s`` and ``bent =
    F^T (free w / D)``; `gain`, the largest deviation gain at the profile whose gap the pass
    also measured (None when it measured none); `unit_slope`, ``sum_i w_i s_i`` and ``sum_{i
    free} w_i^2 / D_i`` (the line search's first trial, t = 1)."""

    dy: np.ndarray
    w: np.ndarray
    s: np.ndarray
    free: np.ndarray
    acc: np.ndarray
    bent: np.ndarray
    gain: float | None
    unit_slope: tuple[float, float]


@dataclass
class _DualState:
    """The dual iterate y with ``z = F y``, its profile ``s = s(y)``, ``acc = F^T s`` and the
    free set of s; `pending` is the pass already taken along the next step's direction;
    `gain`, the largest deviation gain at s when it was measured without that pass."""

    y: np.ndarray
    z: np.ndarray
    s: np.ndarray
    acc: np.ndarray
    free: np.ndarray
    pending: _Pass | None = None
    gain: float | None = None


class DualNewton:
    """Semismooth Newton with exact line search on the dual psi(y) (module docstring), a step
    of `equilibria.solvers._loop.iterate` that also certifies (its `gap`).

    The step and the Nash-gap check share their passes over the factors: the gap of a profile
    ``s = s(y)`` needs ``R s = scale (F (F^T s) - ||F_i||^2 s)``, and the next step needs ``F^T
    s`` (its dual residual ``y - F^T s``) and ``F dy``. So `gap` computes the next direction
    dy first (from ``F^T s``, already known, and the d x d core) and then reads F once for
    both ``F (F^T s)`` and ``F dy``, in the same read also the profile of the unit step and
    its ``F^T s``; a line-search step ``t != 1`` corrects that sum by the rows whose bound
    changed between t and 1 (``F^T s(t) = F^T s(1) - scale (t - 1) F^T (free w / D) + ...``).
    One Newton step then costs one read of the factors (half the one-pass floor ``F (F^T
    s)``, which reads them twice), where the step and a separate `equilibria.nash_gap`
    would read them four times. The gap is `equilibria.nash_gap`'s formula on the shared
    product, so the certificate is the same number (to rounding).

    Parameters
    ----------
    game : ParticipationGame
        A game where `dual_applies`.
    compiled : bool, optional
        Take the passes and line searches with the numba kernels of
        `equilibria.solvers._numba` (one read of F per pass) or with numpy (two reads, the
        same results to rounding). None: compiled from `COMPILED_MIN_PLAYERS` players, so that
        smaller games never import numba.
    """

    def __init__(self, game: ParticipationGame, compiled: bool | None = None) -> None:
        R = game.competition
        assert isinstance(R, LowRank)
        self.game = game
        self.factors, self.scale = R.factors, R.scale
        self.row_sq = R._row_sq  # type: ignore[attr-defined]
        self.lo, self.hi = (float(bound) for bound in game.bounds)
        self.a = np.ascontiguousarray(game.net_benefit, dtype=np.float64)
        self.q = np.ascontiguousarray(game.quadratic_cost, dtype=np.float64)
        self.inverse = 1.0 / (2.0 * game.quadratic_cost - self.scale * self.row_sq)
        self.compiled = (game.n_players >= COMPILED_MIN_PLAYERS if compiled is None
                         else bool(compiled))
        d = self.factors.shape[1]
        self._core = np.zeros((d, d))
        self._core_free = np.zeros(game.n_players, dtype=bool)
        self._state: _DualState | None = None
        self._gain_bound: float | None = None  # scale^2 max_i ||F_i||^2 / (4 q_i) / payoff
        # the profile a gap was last computed for, with the dual start it made (a profile
        # that is no s(y) of the last step: the first one, or a restart)
        self._start: tuple[np.ndarray, _DualState] | None = None

    # ------------------------------------------------------------------ shared passes
    def _primal(self, z: np.ndarray) -> np.ndarray:
        return np.clip((self.a - self.scale * z) * self.inverse, self.lo, self.hi)

    def _pass(self, dy: np.ndarray, z: np.ndarray, base: tuple[np.ndarray, np.ndarray],
              x_gap: np.ndarray | None = None, s_gap: np.ndarray | None = None) -> _Pass:
        """``F dy`` and the unit step ``s(z + F dy)`` with its sums (`_Pass`); given ``x_gap =
        F^T s_gap``, in the same read the largest deviation gain at `s_gap`. `base` is a
        profile with its ``F^T`` product (the compiled pass adds only the rows that moved)."""
        n, d = self.factors.shape
        game = self.game
        with_gap = x_gap is not None and s_gap is not None
        if self.compiled:
            from equilibria.solvers import _numba  # numba only for games that use it

            out = _Pass(dy, np.empty(n), np.empty(n), np.empty(n, dtype=bool), np.empty(d),
                        np.empty(d), None, (0.0, 0.0))
            gain, moved, curvature = _numba.dual_pass(
                self.factors, dy if x_gap is None else x_gap, z if s_gap is None else s_gap,
                dy, z, self.a, self.q, self.inverse, self.row_sq, self.scale, self.lo,
                self.hi, with_gap, base[0], base[1], out.w, out.s, out.free, out.acc,
                out.bent)
            out.gain = gain if with_gap else None
            out.unit_slope = (moved, curvature)
            return out
        if with_gap:
            products = self.factors @ np.column_stack((x_gap, dy))
            w = np.ascontiguousarray(products[:, 1])
            r = self.scale * (products[:, 0] - self.row_sq * s_gap)
            t = game.best_response_to(r)
            gains = (self.a - r) * (t - s_gap) - self.q * (t * t - s_gap * s_gap)
            gain: float | None = float(np.maximum(gains, 0.0).max())
        else:
            w, gain = self.factors @ dy, None
        s = self._primal(z + w)
        free = (s > self.lo) & (s < self.hi)
        sums = self.factors.T @ np.column_stack((s, np.where(free, w * self.inverse, 0.0)))
        return _Pass(dy, w, s, free, np.ascontiguousarray(sums[:, 0]),
                     np.ascontiguousarray(sums[:, 1]), gain,
                     (float(w @ s), float(w @ np.where(free, w * self.inverse, 0.0))))

    def _direction(self, state: _DualState) -> np.ndarray:
        """The Newton direction ``dy = -(I + scale core)^{-1} (y - F^T s)`` at `state`."""
        self._core = _updated_core(self.factors, self.inverse, self._core, self._core_free,
                                   state.free, self.compiled)
        self._core_free = state.free
        residual = state.y - state.acc
        hessian = np.eye(residual.shape[0]) + self.scale * self._core
        try:
            return -sla.cho_solve(sla.cho_factor(hessian), residual)
        except np.linalg.LinAlgError:
            return -np.linalg.solve(hessian, residual)

    def _dual_start(self, s: np.ndarray) -> tuple[float, _DualState]:
        """The largest deviation gain at profile `s` and the dual state at ``y = F^T s``."""
        if self.compiled:  # F^T s on every core (moved from the profile 0)
            from equilibria.solvers import _numba

            y = np.empty(self.factors.shape[1])
            _numba.moved_transpose_product(self.factors, np.ascontiguousarray(s, np.float64),
                                           np.zeros(s.shape[0]), np.zeros_like(y), y)
        else:
            y = self.factors.T @ s
        # w = F y = F F^T s: z of the state
        first = self._pass(y, np.zeros(s.shape[0]), (s, y), y, s)
        state = _DualState(y=y, z=first.w, s=first.s, acc=first.acc, free=first.free)
        assert first.gain is not None
        return first.gain, state

    def _threads(self) -> contextlib.AbstractContextManager:
        """One BLAS thread while the compiled kernels run on every core (numba ``parallel``):
        OpenBLAS threads that spin after a call would take the cores the kernels' threads
        need (threadpoolctl; numpy has nothing to set it). A no-op for the numpy passes."""
        if not self.compiled:
            return contextlib.nullcontext()
        global _BLAS
        if _BLAS is None:
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
        return _BLAS.limit(limits=1, user_api="blas")

    def gap(self, s: np.ndarray, tol: float | None = None) -> float:
        """The relative Nash gap of `s` (`equilibria.nash_gap`), from the shared passes.

        Given the loop's `tol`, a compiled pass skips the next step's direction and products
        when the gap is sure to be at most `tol` (`_surely_within`): the last check of a
        solve then reads only ``F (F^T s)``, and the core is not updated for a step never
        taken."""
        with self._threads():
            return self._gap(s, tol)

    def _gap(self, s: np.ndarray, tol: float | None) -> float:
        state = self._state
        if state is not None and (state.s is s or np.array_equal(state.s, s)):
            if state.pending is not None and state.pending.gain is not None:
                gain = state.pending.gain
            elif state.gain is not None:
                gain = state.gain
            elif self.compiled and tol is not None and self._surely_within(state, tol):
                from equilibria.solvers import _numba

                gain = state.gain = _numba.dual_gain(
                    self.factors, state.acc, s, self.a, self.q, self.row_sq, self.scale,
                    self.lo, self.hi)
            else:
                state.pending = self._pass(self._direction(state), state.z,
                                           (state.s, state.acc), state.acc, s)
                gain = state.pending.gain
        else:
            gain, start = self._dual_start(s)
            self._start = (s, start)
        assert gain is not None
        return max(gain, 0.0) / self.game.payoff_scale()

    def _surely_within(self, state: _DualState, tol: float) -> bool:
        """Whether the relative gap of ``s(y)`` is at most `tol` by the bound ``gain_i <=
        (scale F_i.(y - F^T s))^2 / (4 q_i) <= scale^2 ||F_i||^2 ||y - F^T s||^2 / (4 q_i)``.

        Player i's utility is concave in its own strategy with curvature ``2 q_i``, so its gain
        is at most ``u_i'(s_i)^2 / (4 q_i)``; at ``s_i = s_i(y)`` that slope is ``scale F_i.(y -
        F^T s)`` for a free player and at most that (towards the box) for a bounded one. Only a
        prediction: the gap is measured all the same."""
        if self._gain_bound is None:
            self._gain_bound = (self.scale ** 2 * float(np.max(self.row_sq / self.q)) / 4.0
                                / self.game.payoff_scale())
        residual = state.y - state.acc
        return self._gain_bound * float(residual @ residual) <= tol

    # ------------------------------------------------------------------ the step
    def __call__(self, s: np.ndarray, k: int) -> np.ndarray:
        with self._threads():
            return self._step(s)

    def _step(self, s: np.ndarray) -> np.ndarray:
        state = self._state
        if state is None or not (state.s is s or np.array_equal(state.s, s)):
            start = self._start
            if start is None or not (start[0] is s or np.array_equal(start[0], s)):
                start = (s, self._dual_start(s)[1])
            state = start[1]
            self._start = None
        if state.pending is None:
            state.pending = self._pass(self._direction(state), state.z, (state.s, state.acc))
        ahead = state.pending
        dy, w = ahead.dy, ahead.w
        initial = self.scale * float((state.y - state.acc) @ dy)
        # a step that is no descent direction means a residual at rounding level: take it whole
        t = (self._line_search(state.y, dy, state.z, w, initial, ahead.unit_slope)
             if initial < 0.0 else 1.0)
        y = state.y + t * dy
        if t == 1.0:
            z, s_new, acc, free = state.z + w, ahead.s, ahead.acc, ahead.free
        else:
            z, s_new, free, acc = self._moved_profile(ahead, state.z, t, (state.s, state.acc))
        self._state = _DualState(y=y, z=z, s=s_new, acc=acc, free=free)
        return s_new

    def _moved_profile(self, ahead: _Pass, z: np.ndarray, t: float,
                       base: tuple[np.ndarray, np.ndarray]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``z + t w``, the profile ``s(t)``, its free set and ``F^T s(t)`` from the unit step's
        ``F^T s(1)``: players free at both t and 1 moved by ``-scale (t - 1) w_i / D_i`` (that
        is ``bent``); only the rows of the others are read. When too many of them changed,
        compiled: ``F^T s(t)`` from `base` (the profile before the step and its ``F^T``
        product) by the rows of the players that moved from it; numpy: one BLAS read."""
        shift = self.scale * (t - 1.0)
        n = z.shape[0]
        if self.compiled:
            from equilibria.solvers import _numba

            z_new, s_new, change = np.empty(n), np.empty(n), np.empty(n)
            free = np.empty(n, dtype=bool)
            count = _numba.dual_step_profile(t, z, ahead.w, self.a, self.inverse, self.scale,
                                             self.lo, self.hi, ahead.s, ahead.free, z_new,
                                             s_new, free, change)
            if count > n // _CORRECTED_SHARE:
                acc = np.empty(self.factors.shape[1])
                _numba.moved_transpose_product(self.factors, s_new, base[0], base[1], acc)
                return z_new, s_new, free, acc
            others = np.flatnonzero(change)
        else:
            z_new = z + t * ahead.w
            s_new = self._primal(z_new)
            free = (s_new > self.lo) & (s_new < self.hi)
            change = s_new - ahead.s
            change += np.where(ahead.free, shift * ahead.w * self.inverse, 0.0)
            change[(free & ahead.free) | (s_new == ahead.s)] = 0.0
            others = np.flatnonzero(change)
            if others.size > n // _CORRECTED_SHARE:
                others = None
        if others is None:  # most rows changed: one BLAS read of F beats gathering them
            return z_new, s_new, free, self.factors.T @ s_new
        acc = (ahead.acc - shift * ahead.bent
               + _rows_transpose_product(self.factors, others, change[others]))
        return z_new, s_new, free, acc

    def _slope(self, t: float, y: np.ndarray, dy: np.ndarray, z: np.ndarray,
               w: np.ndarray, unit_slope: tuple[float, float] | None = None
               ) -> tuple[float, float]:
        """psi'(t) and psi''(t) along y + t dy (``F y = z``, ``F dy = w``), in O(N); at t = 1
        from the pass's sums `unit_slope` when given."""
        if t == 1.0 and unit_slope is not None:
            moved, curvature = unit_slope
        elif self.compiled:
            from equilibria.solvers import _numba

            moved, curvature = _numba.dual_line_slope(t, z, w, self.a, self.inverse,
                                                      self.scale, self.lo, self.hi)
        else:
            value = (self.a - self.scale * (z + t * w)) * self.inverse
            inside = (value > self.lo) & (value < self.hi)
            moved = float(w @ np.clip(value, self.lo, self.hi))
            curvature = float((w * w * self.inverse) @ inside)
        first = self.scale * (float((y + t * dy) @ dy) - moved)
        second = self.scale * (float(dy @ dy) + self.scale * curvature)
        return first, second

    def _line_search(self, y: np.ndarray, dy: np.ndarray, z: np.ndarray, w: np.ndarray,
                     initial: float, unit_slope: tuple[float, float]) -> float:
        """The minimizer of the convex psi(y + t dy) over t >= 0: safeguarded Newton on psi'."""
        low, high, t = 0.0, np.inf, 1.0
        for _ in range(_LINE_SEARCH_STEPS):
            first, second = self._slope(t, y, dy, z, w, unit_slope)
            if abs(first) <= 1e-9 * abs(initial):
                break
            if first < 0.0:
                low = t
            else:
                high = t
            trial = t - first / second if second > 0.0 else np.inf
            if not low < trial < high:
                trial = 0.5 * (low + high) if np.isfinite(high) else 2.0 * t
            if high - low <= 1e-15 * max(t, 1.0):
                break
            t = trial
        return t


def _updated_core(factors: np.ndarray, inverse: np.ndarray, core: np.ndarray,
                  current: np.ndarray, free: np.ndarray, compiled: bool = False) -> np.ndarray:
    """``F_A^T diag(1/D_A) F_A`` for the free set `free`, from the core of the set `current`.

    Only the rows of players that entered or left the set are read (``core += F_C^T diag(+-1/D_C)
    F_C``), or the free rows themselves when that is fewer; rows are gathered `_CHUNK_ROWS` at a
    time, so no copy of the factors is ever made.
    """
    changed = np.flatnonzero(current != free)
    if changed.size == 0:
        return core
    members = np.flatnonzero(free)
    if changed.size >= members.size:
        return _weighted_gram(factors, members, inverse[members], np.zeros_like(core),
                              compiled)
    weights = np.where(free[changed], inverse[changed], -inverse[changed])
    return _weighted_gram(factors, changed, weights, core, compiled)


def active_set_step(game: ParticipationGame) -> Step:
    """One globalized semismooth Newton (active-set) step on the scaled natural map."""
    lo, hi = game.bounds
    a = game.net_benefit
    q2 = 2.0 * game.quadratic_cost
    # A q_i so small that g_i / q_i overflows behaves like q_i = 0 (a linear utility): the
    # scaled step only decides which bound the player goes to, so use 1 there as for 0.
    diag_scale = np.where(q2 > 1e-150, q2, 1.0)
    fallback = adaptive_projected_gradient_step(game)  # (its step persists across calls)
    # the pseudo-gradient at the profile the last step returned (its line search computed it)
    accepted: dict[str, Any] = {}

    def natural_residual(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = a - q2 * s - game.competition_product(s)
        return s - np.clip(s + g / diag_scale, lo, hi), g

    def step(s: np.ndarray, k: int) -> np.ndarray:
        last = accepted.get("s")
        if last is not None and np.array_equal(last, s):
            g = accepted["g"]
            residual = s - np.clip(s + g / diag_scale, lo, hi)
        else:
            residual, g = natural_residual(s)
        merit = float(np.linalg.norm(residual))
        if k == 0 or "best" not in accepted:
            accepted["best"] = np.inf
        # Below the best residual so far, not only the current one (module docstring).
        reference = min(merit, float(accepted["best"]))
        predicted = s + g / diag_scale
        free = np.flatnonzero((predicted > lo) & (predicted < hi))
        target = np.where(predicted <= lo, lo, hi)
        if free.size:
            fixed = target.copy()
            fixed[free] = 0.0
            rhs = a[free] - game.competition_product(fixed)[free]
            target[free] = solve_free_block(game, free, rhs)
        candidate = np.clip(target, lo, hi)
        t = 1.0
        for _ in range(_MAX_BACKTRACKS + 1):
            trial = s + t * (candidate - s)
            trial_residual, trial_g = natural_residual(trial)
            trial_merit = float(np.linalg.norm(trial_residual))
            if trial_merit <= (1.0 - 1e-4 * t) * reference:
                accepted.update(s=trial.copy(), g=trial_g, best=trial_merit)
                return trial
            t *= 0.5
        return fallback(s, k)

    return step
