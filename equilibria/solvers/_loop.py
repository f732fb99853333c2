"""The iteration loop shared by every solver: certify by the relative Nash gap, stop, record."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from equilibria.callable_game import ContinuousGame
from equilibria.gap import nash_gap
from equilibria.solvers.result import EquilibriumResult

#: One solver step: (current profile, iteration index k >= 0) -> next profile.
Step = Callable[[np.ndarray, int], np.ndarray]


def iterate(game: ContinuousGame, step: Step, s0: np.ndarray, *, method: str, tol: float,
            max_iter: int, record: bool, max_seconds: float | None = None,
            budget_note: str = "") -> EquilibriumResult:
    """Apply `step` until the relative Nash gap is at most `tol`.

    The gap is the certificate (docs/design.md): a solver stops only when the profile it reports
    is an equilibrium up to `tol`, or when it runs out of iterations or time, and then says
    so in ``converged``, ``stop_reason`` and ``message`` (`budget_note` is appended to the
    message when the time budget ran out, e.g. to say it was a default).

    A step with a ``gap`` method (``step.gap(s, tol) -> float``, e.g.
    `equilibria.solvers.newton.DualNewton`) computes `equilibria.nash_gap` itself, from the
    products its steps share (`tol` lets it skip the next step's work when the gap is sure
    to be at most `tol`); every other step is certified by `equilibria.nash_gap`.
    """
    start = time.perf_counter()
    own_gap: Callable[[np.ndarray, float], float] | None = getattr(step, "gap", None)
    if own_gap is None:
        def certify(profile: np.ndarray) -> float:
            return float(nash_gap(game, profile))
    else:
        def certify(profile: np.ndarray) -> float:
            return own_gap(profile, tol)
    s = s0
    gap = certify(s)
    history = [gap]
    trajectory = [s.copy()] if record else None
    k = 0
    stop, reason = f"reached max_iter={max_iter}", "max_iter"
    while gap > tol:
        if k >= max_iter:
            break
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            stop, reason = f"ran out of max_seconds={max_seconds:g}{budget_note}", "max_seconds"
            break
        s = step(s, k)
        if not np.all(np.isfinite(s)):
            stop, reason = f"the iterate became non-finite at iteration {k + 1}", "non_finite"
            break
        k += 1
        gap = certify(s)
        history.append(gap)
        if record:
            trajectory.append(s.copy())  # type: ignore[union-attr]
    converged = gap <= tol
    if converged:
        message = f"relative Nash gap {gap:.3g} <= tol={tol:g} after {k} iterations"
        reason = "converged"
    else:
        message = f"{stop} after {k} iterations with relative Nash gap {gap:.3g} > tol={tol:g}"
    return EquilibriumResult(
        profile=s, converged=bool(converged), iterations=k, nash_gap=float(gap),
        history=np.asarray(history), method=method, message=message,
        seconds=time.perf_counter() - start,
        trajectory=None if trajectory is None else np.asarray(trajectory), stop_reason=reason)
