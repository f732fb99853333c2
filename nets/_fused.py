"""Compiled s-step of Algorithm 1 (numba): the closed-form pseudo-gradient and the projected step,
one loop over a layer's players each.

Algorithm 1's s-step (Shah & Khan 2025, Eq. 17-18) on the closed-form path of
`nets.training.EquilibriumPruning` is, per player i of a layer,

    g_i = (benefit_i - (||theta_i||^2 * 2 beta) * s_i) - gamma,   benefit_i = s_i dL/ds_i
          (payoff "paper", times alpha) or -alpha dL/ds_i ("loss_descent"),
    s_i <- clip(s_i + g_i * lr_s, 0, 1),

about ten element-wise operations on a few hundred numbers. As torch operations (even one
``torch._foreach_*`` call per operation over all layers, which on the CPU loops over the layers
anyway) each costs a dispatch of a few microseconds, several times the arithmetic; here each
formula is one compiled loop per layer.

The loops do the torch formulas' float operations in the same order, in the array's dtype, with
every scalar first rounded to that dtype as torch rounds a Python scalar, and without fastmath
(no fused multiply-add, no reassociation), so they give the same bits as the torch operations
(``tests/nets/test_fused_step.py`` checks that on random inputs and through training). The clip
keeps NaN, as ``torch.clamp`` does. ``||theta_i||`` itself stays ``torch.linalg.vector_norm``
(its reduction order is torch's).

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


#: The empty bias `pseudo_gradient` reads for a layer without one: float32, float64.
NO_BIAS = (np.zeros(0, np.float32), np.zeros(0, np.float64))
