"""Compiled s-step of Algorithm 1 (numba): the closed-form pseudo-gradient and the projected step,
one loop over a layer's players each.

Algorithm 1's s-step (Shah & Khan 2025, Eq. 17-18) on the closed-form path of
`nets.training.EquilibriumPruning` is, per player i of a layer (theta_i its incoming row and
bias),

    g_i = (benefit_i - (||theta_i||^2 * 2 beta) * s_i) - gamma,
    s_i <- clip(s_i + g_i * lr_s, 0, 1),

with two readings of the benefit:

- payoff "paper": ``alpha <dL/dtheta_i, theta_i>`` (Eq. 9 literally), read from the weights and
  their gradients by `weights_pseudo_gradient`: one pass over a layer's weights gives both sums
  of player i, the benefit and ``||theta_i||^2``, so the gates need no gradient at all;
- payoff "loss_descent", ``-alpha dL/ds_i``, and "paper" on a layer whose weights are frozen,
  ``alpha s_i dL/ds_i`` (equal by the chain rule), read from dL/ds by `pseudo_gradient`, with
  ``||theta_i||`` from ``torch.linalg.vector_norm``.

As torch operations (even one ``torch._foreach_*`` call per operation over all layers, which on
the CPU loops over the layers anyway) each of these costs a dispatch of a few microseconds and
a pass over memory; here each formula is one compiled loop per layer.

`pseudo_gradient` does the torch formula's float operations in the same order, in the array's
dtype, with every scalar first rounded to that dtype as torch rounds a Python scalar, and
without fastmath (no fused multiply-add, no reassociation), so it gives the same bits as the
torch operations (``tests/nets/test_fused_step.py``). `weights_pseudo_gradient` sums each row
with reassociation allowed (`_row_sums`), which lets the compiler vectorize the sums: its bits
are those of the compiled code, the same on every call on one machine, and differ from torch's
sums by rounding only (the test bounds both against the float64 value). The clip keeps NaN, as
``torch.clamp`` does.

Why numba rather than ``torch.compile``: Inductor needs a C++ compiler at run time, compiles
for seconds, and its vectorized code may contract a multiply and an add into one FMA, which
changes the bits of Algorithm 1. numba is a dependency of the package (the Gauss-Seidel sweeps
of `equilibria.solvers._numba`); this module is imported on the first compiled s-step only,
and the kernels are cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _gradient(s: float, ds: float, row: float, bias: np.ndarray, i: int, paper: bool,
              alpha_is_one: bool, alpha: float, two_beta: float,
              gamma: float) -> float:  # pragma: no cover - compiled
    """Player i's ``(benefit - ((row^2 + bias_i^2) * two_beta) * s) - gamma``."""
    squared = row * row
    if bias.shape[0] > 0:
        squared = squared + bias[i] * bias[i]
    if paper:
        benefit = s * ds if alpha_is_one else (s * alpha) * ds
    else:
        benefit = ds * alpha
    return (benefit - (squared * two_beta) * s) - gamma


@numba.njit(cache=True, inline="always")
def _projected(s: float, gradient: float, lr: float) -> float:  # pragma: no cover - compiled
    """``clip(s + gradient * lr, 0, 1)``; NaN stays NaN, as in torch.clamp."""
    value = s + gradient * lr
    if value < 0.0:
        return 0.0
    if value > 1.0:
        return 1.0
    return value


@numba.njit(cache=True)
def pseudo_gradient(s: np.ndarray, ds: np.ndarray, rows: np.ndarray, bias: np.ndarray,
                    out: np.ndarray, paper: bool, alpha_is_one: bool, alpha: float,
                    two_beta: float, gamma: float) -> None:  # pragma: no cover - compiled
    """``out_i = (benefit_i - ((rows_i^2 + bias_i^2) * two_beta) * s_i) - gamma``.

    ``rows`` holds ``||w_i||`` (the incoming weight rows' norms), ``bias`` the bias (length 0
    when the layer has none); ``benefit_i = s_i ds_i`` (``paper``; ``(s_i alpha) ds_i`` unless
    ``alpha_is_one``) or ``ds_i alpha`` (``alpha`` is then -alpha of the config). The scalars
    come in the arrays' dtype.
    """
    for i in range(s.shape[0]):
        out[i] = _gradient(s[i], ds[i], rows[i], bias, i, paper, alpha_is_one, alpha, two_beta,
                           gamma)


@numba.njit(cache=True)
def pseudo_gradient_and_step(s: np.ndarray, ds: np.ndarray, rows: np.ndarray, bias: np.ndarray,
                             out: np.ndarray, paper: bool, alpha_is_one: bool, alpha: float,
                             two_beta: float, gamma: float,
                             lr: float) -> None:  # pragma: no cover - compiled
    """`pseudo_gradient` into ``out``, then `projected_step` of s by it, in one loop."""
    for i in range(s.shape[0]):
        gradient = _gradient(s[i], ds[i], rows[i], bias, i, paper, alpha_is_one, alpha,
                             two_beta, gamma)
        out[i] = gradient
        s[i] = _projected(s[i], gradient, lr)


@numba.njit(cache=True)
def projected_step(s: np.ndarray, gradient: np.ndarray,
                   lr: float) -> None:  # pragma: no cover - compiled
    """``s <- clip(s + gradient * lr, 0, 1)`` in place (NaN stays NaN, as in torch.clamp)."""
    for i in range(s.shape[0]):
        s[i] = _projected(s[i], gradient[i], lr)


@numba.njit(cache=True, fastmath={"reassoc"})
def _row_sums(weight: np.ndarray, grad: np.ndarray, i: int,
              zero: float) -> tuple[float, float]:  # pragma: no cover - compiled
    """``(sum_j grad[i, j] weight[i, j], sum_j weight[i, j]^2)`` in the weights' dtype.

    The one place that allows reassociation (``fastmath={"reassoc"}``, no contraction into
    FMAs): the vectorizer then sums in lanes, at the memory's speed instead of one addition
    per cycle. The order is the compiled code's, so the same on every call on one machine.
    """
    dot = zero
    squared = zero
    for j in range(weight.shape[1]):
        w = weight[i, j]
        dot += grad[i, j] * w
        squared += w * w
    return dot, squared


@numba.njit(cache=True, inline="always")
def _weights_gradient(s: float, weight: np.ndarray, grad: np.ndarray, bias: np.ndarray,
                      bias_grad: np.ndarray, i: int, zero: float, alpha_is_one: bool,
                      alpha: float, two_beta: float,
                      gamma: float) -> float:  # pragma: no cover - compiled
    """Player i's ``(alpha <dL/dtheta_i, theta_i> - (||theta_i||^2 * two_beta) * s) - gamma``
    with theta_i the incoming row and bias, read from the weights and their gradients."""
    dot, squared = _row_sums(weight, grad, i, zero)
    if bias.shape[0] > 0:
        dot = dot + bias_grad[i] * bias[i]
        squared = squared + bias[i] * bias[i]
    benefit = dot if alpha_is_one else alpha * dot
    return (benefit - (squared * two_beta) * s) - gamma


@numba.njit(cache=True)
def weights_pseudo_gradient(s: np.ndarray, weight: np.ndarray, grad: np.ndarray,
                            bias: np.ndarray, bias_grad: np.ndarray, out: np.ndarray,
                            alpha_is_one: bool, alpha: float, two_beta: float,
                            gamma: float) -> None:  # pragma: no cover - compiled
    """The pseudo-gradient of payoff "paper" read from the weights (Eq. 9 literally):
    ``out_i = (alpha <dL/dtheta_i, theta_i> - (||theta_i||^2 * two_beta) * s_i) - gamma``.

    ``weight`` and ``grad`` are the layer's incoming weights and their gradient as (units,
    fan-in) matrices, ``bias`` and ``bias_grad`` the bias and its gradient (length 0 when the
    layer has none). One pass over the weights gives both the benefit and the cost's norm.
    """
    zero = np.zeros(1, weight.dtype)[0]
    for i in range(s.shape[0]):
        out[i] = _weights_gradient(s[i], weight, grad, bias, bias_grad, i, zero, alpha_is_one,
                                   alpha, two_beta, gamma)


@numba.njit(cache=True)
def weights_pseudo_gradient_and_step(s: np.ndarray, weight: np.ndarray, grad: np.ndarray,
                                     bias: np.ndarray, bias_grad: np.ndarray, out: np.ndarray,
                                     alpha_is_one: bool, alpha: float, two_beta: float,
                                     gamma: float,
                                     lr: float) -> None:  # pragma: no cover - compiled
    """`weights_pseudo_gradient` into ``out``, then `projected_step` of s by it, in one loop."""
    zero = np.zeros(1, weight.dtype)[0]
    for i in range(s.shape[0]):
        gradient = _weights_gradient(s[i], weight, grad, bias, bias_grad, i, zero,
                                     alpha_is_one, alpha, two_beta, gamma)
        out[i] = gradient
        s[i] = _projected(s[i], gradient, lr)


#: The empty bias `pseudo_gradient` reads for a layer without one: float32, float64.
NO_BIAS = (np.zeros(0, np.float32), np.zeros(0, np.float64))
