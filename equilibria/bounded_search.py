"""Bounded scalar minimization of many independent functions at once (vectorized Brent).

`minimize_bounded` runs Brent's bounded minimization (golden section with parabolic
interpolation; Brent 1973, "Algorithms for Minimization without Derivatives", ch. 5) on M
scalar problems ``min_{lower <= x_m <= upper} f_m(x_m)`` simultaneously: one call of the
objective evaluates every still-running problem at its next trial point. It is scipy's
``minimize_scalar(method="bounded")`` (``scipy.optimize._optimize._minimize_scalar_bounded``)
transcribed step for step with numpy masks, so each problem follows exactly the iterates the
scalar routine would take (same trial points, same stopping rule ``|x - xm| <= 2 tol -
(b - a) / 2`` with ``tol = sqrt(eps) |x| + xatol / 3``), and stops on its own; finished problems
keep their answer while the others go on.

Why not a library call: scipy's bounded Brent takes one scalar function at a time, and
``scipy.optimize.elementwise.find_minimum`` (vectorized) needs a bracket ``x_l < x_m < x_r``
with ``f(x_m)`` below both ends, which a minimizer at a bound of the box does not have (the usual
case for a player who drops out or participates fully).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_SQRT_EPS = np.sqrt(2.2e-16)
_GOLDEN = 0.5 * (3.0 - np.sqrt(5.0))


def minimize_bounded(fun: Callable[[np.ndarray], np.ndarray], lower: float, upper: float,
                     size: int, *, xatol: float = 1e-5,
                     maxiter: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Minimize ``size`` scalar functions over ``[lower, upper]`` at once.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> values``, both of shape (size,): ``values[m] = f_m(x[m])``. Entry m of the
        result may depend on ``x[m]`` only.
    lower, upper : float
        The interval, ``lower <= upper``, shared by every problem.
    size : int
        Number of problems M.
    xatol : float, default 1e-5
        Absolute tolerance on each minimizer (scipy's ``xatol``).
    maxiter : int, default 500
        Function evaluations per problem before it stops (scipy's ``maxiter``).

    Returns
    -------
    x, values : ndarray of shape (size,)
        Each problem's minimizer and its function value, as ``minimize_scalar(f_m,
        bounds=(lower, upper), method="bounded", options={"xatol": xatol})`` returns them.
    """
    a = np.full(size, float(lower))
    b = np.full(size, float(upper))
    xf = a + _GOLDEN * (b - a)
    nfc, fulc = xf.copy(), xf.copy()
    rat, e = np.zeros(size), np.zeros(size)
    fx = np.asarray(fun(xf.copy()), dtype=np.float64)
    ffulc, fnfc = fx.copy(), fx.copy()
    xm = 0.5 * (a + b)
    tol1 = _SQRT_EPS * np.abs(xf) + xatol / 3.0
    tol2 = 2.0 * tol1
    evaluations = 1
    active = np.abs(xf - xm) > tol2 - 0.5 * (b - a)
    while active.any() and evaluations < maxiter:
        parabolic = active & (np.abs(e) > tol1)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # parabolic fit through (xf, fx), (nfc, fnfc), (fulc, ffulc)
            r = (xf - nfc) * (fx - ffulc)
            q = (xf - fulc) * (fx - fnfc)
            p = (xf - fulc) * q - (xf - nfc) * r
            q = 2.0 * (q - r)
            p = np.where(q > 0.0, -p, p)
            q = np.abs(q)
            r_old = np.where(parabolic, e, 0.0)
            e = np.where(parabolic, rat, e)
            accept = parabolic & (np.abs(p) < np.abs(0.5 * q * r_old)) & (p > q * (a - xf)) \
                & (p < q * (b - xf))
            step = np.where(accept, p / np.where(accept, q, 1.0), 0.0)
        near_end = accept & (((xf + step - a) < tol2) | ((b - xf - step) < tol2))
        toward_middle = np.sign(xm - xf) + ((xm - xf) == 0)
        rat = np.where(accept, np.where(near_end, tol1 * toward_middle, step), rat)
        golden = active & ~accept
        e = np.where(golden, np.where(xf >= xm, a - xf, b - xf), e)
        rat = np.where(golden, _GOLDEN * e, rat)

        si = np.sign(rat) + (rat == 0)
        x = np.where(active, xf + si * np.maximum(np.abs(rat), tol1), xf)
        fu = np.asarray(fun(x.copy()), dtype=np.float64)
        evaluations += 1

        better = active & (fu <= fx)
        worse = active & ~better
        # fu <= fx: the trial becomes the best point
        a = np.where(better & (x >= xf), xf, a)
        b = np.where(better & (x < xf), xf, b)
        # fu > fx: the trial shrinks the interval and may replace the other two points
        a = np.where(worse & (x < xf), x, a)
        b = np.where(worse & (x >= xf), x, b)
        second = worse & ((fu <= fnfc) | (nfc == xf))
        third = worse & ~second & ((fu <= ffulc) | (fulc == xf) | (fulc == nfc))
        fulc_new = np.where(better | second, nfc, np.where(third, x, fulc))
        ffulc_new = np.where(better | second, fnfc, np.where(third, fu, ffulc))
        nfc_new = np.where(better, xf, np.where(second, x, nfc))
        fnfc_new = np.where(better, fx, np.where(second, fu, fnfc))
        fulc, ffulc, nfc, fnfc = fulc_new, ffulc_new, nfc_new, fnfc_new
        xf = np.where(better, x, xf)
        fx = np.where(better, fu, fx)

        xm = np.where(active, 0.5 * (a + b), xm)
        tol1 = np.where(active, _SQRT_EPS * np.abs(xf) + xatol / 3.0, tol1)
        tol2 = 2.0 * tol1
        active = active & (np.abs(xf - xm) > tol2 - 0.5 * (b - a))
    return xf, fx
