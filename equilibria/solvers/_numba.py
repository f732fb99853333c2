"""Compiled Gauss-Seidel sweeps of the quadratic game (numba), one per competition format.

A Gauss-Seidel sweep moves player i to its exact best response (Shah & Khan 2025, Eq. 14)
``BR_i = clip((a_i - r_i) / (2 q_i), lo, hi)`` with ``r_i = (R s)_i`` read from the players
already moved, then player i + 1, and so on. Each update reads the previous one, so the sweep
cannot be written as whole-array numpy operations, and a Python loop pays about 2-4 us per
player (4 s a sweep at N = 10^6). Here each sweep is one compiled loop:

- LowRank ``R = scale (F F^T - diag)``: keep ``y = F^T s`` current, so ``r_i = scale (F_i . y -
  ||F_i||^2 s_i)`` and a move ``delta`` of player i is the rank-1 update ``y += delta F_i``.
  A sweep reads every row of F once, O(N d): the cost of one pass over the factors.
- CSR sparse: ``r_i`` from row i's stored entries, O(nnz) a sweep.
- dense: ``r_i = R_i . s``, O(N^2) a sweep.

Why numba rather than scipy: scipy has no sequential (Gauss-Seidel) projected solver for
box-constrained problems (``scipy.sparse.linalg`` has only unconstrained iterative solvers, and
its triangular solves cannot clip each coordinate to the box as it is computed), and the
LowRank sweep needs the rank-1 update of ``F^T s`` after every player, which no library call
fuses. numba is a dependency of the package; it is imported only when a kernel runs, so that
``import equilibria`` stays light and small games never load it (Gauss-Seidel sweeps in Python
for a solve's first `equilibria.solvers.best_response.PYTHON_SWEEP_MOVES` player moves, the
dual Newton passes below `equilibria.solvers.newton.COMPILED_MIN_PLAYERS` players in numpy).

`dual_pass`, `dual_gain`, `moved_transpose_product`, `gather_scaled`, `dual_step_profile` and
`dual_line_slope` serve `equilibria.solvers.newton.DualNewton`: one read of the factors per
Newton step for the step and the Nash-gap check together. The three that read the factors run
on every core (numba ``parallel``, ``prange`` over blocks of `_PASS_BLOCK` rows) with partial
sums per block joined in block order, so their results do not depend on the thread count.

The kernels are compiled on first use and cached on disk (``cache=True``); sums may be
reassociated (vectorized), so a sweep agrees with the sequential Python loop to rounding.
Best responses of players with ``q_i = 0`` follow `ParticipationGame.best_response_to_player`:
hi when ``a_i - r_i > 0``, else lo.
"""

from __future__ import annotations

import numba
import numpy as np

#: Only reassociation, so that LLVM vectorizes the sums (dot products); inf and NaN keep their
#: IEEE meaning (a tiny q_i gives an infinite unclipped best response, which the clip maps).
_FASTMATH = {"reassoc"}


@numba.njit(cache=True, inline="always")
def _respond(numerator: float, q: float, lo: float, hi: float) -> float:
    """Player's best response to ``a_i - r_i = numerator`` (as best_response_to_player)."""
    if q > 0.0:
        return min(max(numerator / (2.0 * q), lo), hi)
    return hi if numerator > 0.0 else lo


@numba.njit(cache=True, inline="always")
def _in_box(value: float, lo: float, hi: float) -> tuple[float, bool]:
    """``value`` clipped to [lo, hi], and whether it lies strictly inside (a free player)."""
    if value <= lo:
        return lo, False
    if value >= hi:
        return hi, False
    return value, True


@numba.njit(cache=True, fastmath=_FASTMATH)
def low_rank_sweep(s: np.ndarray, y: np.ndarray, factors: np.ndarray, row_sq: np.ndarray,
                   scale: float, a: np.ndarray, q: np.ndarray, lo: float, hi: float,
                   damping: float, order: np.ndarray) -> None:
    """One sweep in `order`, updating `s` and ``y = F^T s`` in place."""
    d = factors.shape[1]
    for idx in range(order.shape[0]):
        i = order[idx]
        dot = 0.0
        for k in range(d):
            dot += factors[i, k] * y[k]
        r = scale * (dot - row_sq[i] * s[i])
        delta = damping * (_respond(a[i] - r, q[i], lo, hi) - s[i])
        if delta != 0.0:
            s[i] += delta
            for k in range(d):
                y[k] += delta * factors[i, k]


@numba.njit(cache=True, fastmath=_FASTMATH)
def sparse_sweep(s: np.ndarray, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 a: np.ndarray, q: np.ndarray, lo: float, hi: float, damping: float,
                 order: np.ndarray) -> None:
    """One sweep in `order` over a CSR competition (zero diagonal), updating `s` in place."""
    for idx in range(order.shape[0]):
        i = order[idx]
        r = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            r += data[p] * s[indices[p]]
        s[i] += damping * (_respond(a[i] - r, q[i], lo, hi) - s[i])


@numba.njit(cache=True, fastmath=_FASTMATH)
def dense_sweep(s: np.ndarray, R: np.ndarray, a: np.ndarray, q: np.ndarray, lo: float,
                hi: float, damping: float, order: np.ndarray) -> None:
    """One sweep in `order` over a dense competition (zero diagonal), updating `s` in place."""
    n = s.shape[0]
    for idx in range(order.shape[0]):
        i = order[idx]
        r = 0.0
        for j in range(n):
            r += R[i, j] * s[j]
        s[i] += damping * (_respond(a[i] - r, q[i], lo, hi) - s[i])


@numba.njit(cache=True, fastmath=_FASTMATH)
def dual_line_slope(t: float, z: np.ndarray, w: np.ndarray, a: np.ndarray,
                    inverse: np.ndarray, scale: float, lo: float,
                    hi: float) -> tuple[float, float]:
    """``sum_i w_i s_i`` and ``sum_{i free} w_i^2 / D_i`` at ``s = clip((a - scale z_t) / D)``.

    Here ``z_t = z + t w`` and D = 1 / `inverse`.

    The O(N) part of the exact line search of `equilibria.solvers.newton.DualNewton`,
    fused into one loop (numpy would make five temporaries of length N per trial step).
    """
    moved = 0.0
    curvature = 0.0
    for i in range(z.shape[0]):
        value = (a[i] - scale * (z[i] + t * w[i])) * inverse[i]
        if value <= lo:
            moved += w[i] * lo
        elif value >= hi:
            moved += w[i] * hi
        else:
            moved += w[i] * value
            curvature += w[i] * w[i] * inverse[i]
    return moved, curvature


#: Rows whose contributions to ``F^T s`` are summed apart before joining the running total
#: (blocked summation: the rounding error grows with N / block + block, not with N).
_PASS_BLOCK = 256
#: `dual_pass` may also contract multiply-adds into FMA instructions (a 10-15% faster pass).
_PASS_FASTMATH = {"reassoc", "contract"}


@numba.njit(cache=True, fastmath=_PASS_FASTMATH, parallel=True)
def dual_pass(factors: np.ndarray, x_gap: np.ndarray, s_gap: np.ndarray, dx: np.ndarray,
              z: np.ndarray, a: np.ndarray, q: np.ndarray, inverse: np.ndarray,
              row_sq: np.ndarray, scale: float, lo: float, hi: float, with_gap: bool,
              base_s: np.ndarray, base_acc: np.ndarray, w: np.ndarray, s: np.ndarray,
              free: np.ndarray, acc: np.ndarray, bent: np.ndarray
              ) -> tuple[float, float, float]:
    """One read of the factors for `equilibria.solvers.newton.DualNewton`, into the outputs.

    Row by row: ``w = F dx``; the primal profile of the unit step ``s = clip((a - scale (z +
    w)) / D, lo, hi)`` with ``free = lo < s < hi``; the sums ``acc = F^T s`` and ``bent = F^T
    (free * w / D)`` (D = 1 / `inverse`). With `with_gap`, also ``r = scale (F x_gap -
    ||F_i||^2 s_gap)``, the competition product at `s_gap` when ``x_gap = F^T s_gap``, and the
    first return value ``max_i gain_i``: what player i gains by its best response to r
    (`ParticipationGame.deviation_gains`), else 0. ``acc`` is summed as ``base_acc + F^T (s -
    base_s)`` given ``base_acc = F^T base_s``: only the rows of players that moved from
    `base_s` are added (most players at the same bound as before cost no sum). The other two
    returns are `dual_line_slope` at the unit step, ``sum_i w_i s_i`` and ``sum_{i free} w_i^2
    / D_i``, the line search's first trial. numpy needs two reads of F for the same (``F
    [x_gap, dx]``, then ``F^T [s, w / D]``), since ``s`` depends on ``w``.
    """
    n, d = factors.shape
    blocks = (n + _PASS_BLOCK - 1) // _PASS_BLOCK
    # per-block partial sums, joined in block order: the same result for any thread count
    part_acc = np.zeros((blocks, d))
    part_bent = np.zeros((blocks, d))
    part_scalars = np.zeros((blocks, 3))  # largest gain, moved, curvature
    for block in numba.prange(blocks):
        block_acc = part_acc[block]
        block_bent = part_bent[block]
        largest = 0.0
        moved = 0.0
        curvature = 0.0
        for i in range(block * _PASS_BLOCK, min((block + 1) * _PASS_BLOCK, n)):
            dot_gap = 0.0
            dot_step = 0.0
            if with_gap:
                for k in range(d):
                    f = factors[i, k]
                    dot_gap += f * x_gap[k]
                    dot_step += f * dx[k]
                current = s_gap[i]
                numerator = a[i] - scale * (dot_gap - row_sq[i] * current)
                t = _respond(numerator, q[i], lo, hi)
                gain = numerator * (t - current) - q[i] * (t * t - current * current)
                if gain > largest:
                    largest = gain
            else:
                for k in range(d):
                    dot_step += factors[i, k] * dx[k]
            w[i] = dot_step
            value, inside = _in_box((a[i] - scale * (z[i] + dot_step)) * inverse[i], lo, hi)
            free[i] = inside
            if inside:
                weight = dot_step * inverse[i]
                curvature += dot_step * weight
                for k in range(d):
                    block_bent[k] += weight * factors[i, k]
            s[i] = value
            moved += dot_step * value
            delta = value - base_s[i]
            if delta != 0.0:
                for k in range(d):
                    block_acc[k] += delta * factors[i, k]
        part_scalars[block, 0] = largest
        part_scalars[block, 1] = moved
        part_scalars[block, 2] = curvature
    acc[:] = base_acc
    bent[:] = 0.0
    largest = 0.0
    moved = 0.0
    curvature = 0.0
    for block in range(blocks):
        for k in range(d):
            acc[k] += part_acc[block, k]
            bent[k] += part_bent[block, k]
        largest = max(largest, part_scalars[block, 0])
        moved += part_scalars[block, 1]
        curvature += part_scalars[block, 2]
    return largest, moved, curvature


@numba.njit(cache=True, fastmath=_PASS_FASTMATH, parallel=True)
def dual_gain(factors: np.ndarray, x_gap: np.ndarray, s_gap: np.ndarray, a: np.ndarray,
              q: np.ndarray, row_sq: np.ndarray, scale: float, lo: float, hi: float) -> float:
    """``max_i gain_i`` at `s_gap` given ``x_gap = F^T s_gap``, as `dual_pass` with `with_gap`,
    without the step's products: one dot product per row (the last gap check of a solve)."""
    n, d = factors.shape
    blocks = (n + _PASS_BLOCK - 1) // _PASS_BLOCK
    part = np.zeros(blocks)
    for block in numba.prange(blocks):
        largest = 0.0
        for i in range(block * _PASS_BLOCK, min((block + 1) * _PASS_BLOCK, n)):
            dot_gap = 0.0
            for k in range(d):
                dot_gap += factors[i, k] * x_gap[k]
            current = s_gap[i]
            numerator = a[i] - scale * (dot_gap - row_sq[i] * current)
            t = _respond(numerator, q[i], lo, hi)
            gain = numerator * (t - current) - q[i] * (t * t - current * current)
            if gain > largest:
                largest = gain
        part[block] = largest
    return max(0.0, part.max())


@numba.njit(cache=True, fastmath=_PASS_FASTMATH, parallel=True)
def moved_transpose_product(factors: np.ndarray, s: np.ndarray, base_s: np.ndarray,
                            base_acc: np.ndarray, acc: np.ndarray) -> None:
    """``acc = base_acc + F^T (s - base_s)`` (given ``base_acc = F^T base_s``), reading only the
    rows of players whose value differs: ``F^T s`` after a line-search step of
    `equilibria.solvers.newton.DualNewton` from the profile of the step before, when many
    players changed bound between the step and the unit step (blocked sums as `dual_pass`)."""
    n, d = factors.shape
    blocks = (n + _PASS_BLOCK - 1) // _PASS_BLOCK
    part = np.zeros((blocks, d))
    for block in numba.prange(blocks):
        partial = part[block]
        for i in range(block * _PASS_BLOCK, min((block + 1) * _PASS_BLOCK, n)):
            delta = s[i] - base_s[i]
            if delta != 0.0:
                for k in range(d):
                    partial[k] += delta * factors[i, k]
    acc[:] = base_acc
    for block in range(blocks):
        for k in range(d):
            acc[k] += part[block, k]


@numba.njit(cache=True)
def gather_scaled(factors: np.ndarray, rows: np.ndarray, roots: np.ndarray,
                  out: np.ndarray) -> None:
    """``out[j] = roots[j] * factors[rows[j]]``: the scaled rows of a chunk of the dual Newton
    core (`equilibria.solvers.newton._weighted_gram`) gathered in one loop, the same numbers
    as ``numpy.take`` and an in-place product at about twice their speed."""
    d = factors.shape[1]
    for j in range(rows.shape[0]):
        row = rows[j]
        root = roots[j]
        for k in range(d):
            out[j, k] = root * factors[row, k]


@numba.njit(cache=True, fastmath=_FASTMATH)
def dual_step_profile(t: float, z: np.ndarray, w: np.ndarray, a: np.ndarray,
                      inverse: np.ndarray, scale: float, lo: float, hi: float,
                      unit: np.ndarray, unit_free: np.ndarray, z_out: np.ndarray,
                      s: np.ndarray, free: np.ndarray, change: np.ndarray) -> int:
    """The profile of the step t along w beside the unit step's, in one loop over the players.

    ``z_out = z + t w``, ``s = clip((a - scale z_out) / D, lo, hi)`` and its free set; and for
    the players not free at both t and 1 whose value moved, ``change_i = s_i - unit_i + [i free
    at 1] scale (t - 1) w_i / D_i`` (0 for the others), so that ``F^T s = F^T unit - scale (t -
    1) F^T (unit_free w / D) + F^T change``. Returns how many players have a change.
    """
    shift = scale * (t - 1.0)
    count = 0
    for i in range(z.shape[0]):
        moved_z = z[i] + t * w[i]
        z_out[i] = moved_z
        value, free[i] = _in_box((a[i] - scale * moved_z) * inverse[i], lo, hi)
        s[i] = value
        change[i] = 0.0
        if not (free[i] and unit_free[i]) and value != unit[i]:
            delta = value - unit[i]
            if unit_free[i]:
                delta += shift * w[i] * inverse[i]
            change[i] = delta
            count += 1
    return count
