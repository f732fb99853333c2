"""The result every solver returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from equilibria.errors import InvalidOptionError
from equilibria.plain import to_plain

#: Every value `EquilibriumResult.stop_reason` takes.
STOP_REASONS: tuple[str, ...] = ("converged", "max_iter", "max_seconds", "non_finite",
                                 "components")


@dataclass(frozen=True)
class EquilibriumResult:
    """Outcome of `equilibria.solve`.

    Attributes
    ----------
    profile : ndarray of shape (N,)
        The participation profile reached (for fictitious play, the running average).
    converged : bool
        Whether the relative Nash gap reached the tolerance.
    iterations : int
        Iterations (sweeps for Gauss-Seidel, Newton steps for newton) performed.
    nash_gap : float
        Relative Nash gap of `profile` (`equilibria.nash_gap`).
    history : ndarray
        Relative Nash gap after each iteration (index 0 is the starting profile).
    method : str
        The solver that produced the result.
    message : str
        Why the solver stopped.
    seconds : float
        Wall-clock time spent in the solver.
    trajectory : ndarray of shape (iterations + 1, N) or None
        Every iterate, when ``record=True``.
    stop_reason : str
        Why the solver stopped, one of `STOP_REASONS`: ``"converged"`` (the gap reached
        tol), ``"max_iter"``, ``"max_seconds"`` (the time budget ran out) or
        ``"non_finite"`` (the iterate overflowed); ``"components"`` when `solve_by_components`
        assembled the result and some component did not converge.
    """

    profile: np.ndarray
    converged: bool
    iterations: int
    nash_gap: float
    history: np.ndarray
    method: str
    message: str
    seconds: float = 0.0
    trajectory: np.ndarray | None = None
    stop_reason: str = "converged"

    def __post_init__(self) -> None:
        if self.stop_reason not in STOP_REASONS:
            raise InvalidOptionError(f"stop_reason must be one of {STOP_REASONS}; got "
                                     f"{self.stop_reason!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types (arrays become lists)."""
        return to_plain({
            "profile": self.profile.tolist(),
            "converged": self.converged,
            "iterations": self.iterations,
            "nash_gap": self.nash_gap,
            "history": self.history.tolist(),
            "method": self.method,
            "message": self.message,
            "seconds": self.seconds,
            "trajectory": None if self.trajectory is None else self.trajectory.tolist(),
            "stop_reason": self.stop_reason,
        })
