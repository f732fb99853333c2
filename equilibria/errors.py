"""Error and warning types of the equilibria package, and the argument checks that raise them.

Every check names the argument, says what was wrong and what would work (docs/design.md,
Conventions), so that users never see a raw traceback from deep inside numpy.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


class InvalidGameError(ValueError):
    """A game was built from inconsistent or non-finite data."""


class InvalidProfileError(ValueError):
    """A strategy profile has the wrong shape, is not finite, or lies outside the box."""


class UnknownMethodError(ValueError):
    """A solver, payoff or option name is not one of the known names."""


class UnknownOptionError(UnknownMethodError, TypeError):
    """A keyword option the chosen method does not take (a TypeError too, as Python's own)."""


class NotPotentialGameError(ValueError):
    """A potential was asked of a game whose competition matrix is not symmetric."""


class InvalidOptionError(ValueError):
    """A solver's numeric option (tol, max_iter, max_seconds, damping, step...) is out of range."""


class GameFileError(InvalidGameError):
    """A game file is truncated, corrupt, of an unknown format or holds no valid game."""


class GameFileNotFoundError(FileNotFoundError):
    """No game file at the path given."""


class GameTypeError(TypeError):
    """A function that needs a ParticipationGame (or a PairGame) was given another object."""


class NotPlainError(TypeError):
    """`equilibria.plain.to_plain` met a value it cannot turn into plain Python types."""


class EigenvalueSearchError(RuntimeError):
    """ARPACK found no extreme eigenvalue of an operator too large for the dense fallback."""


class DegenerateGameWarning(UserWarning):
    """nashpy reported a degenerate bimatrix game; some equilibria may be missing."""


class IncompleteSearchWarning(UserWarning):
    """A finite-game method missed equilibria that a complete method found on the same game."""


class SolverStoppedWarning(UserWarning):
    """A solver ran out of its iteration, pivot or time budget before it finished."""


class SingularSystemWarning(UserWarning):
    """A linear system inside a solver was singular; a least-squares solution was used."""


def as_finite_vector(value: Any, name: str, n: int | None = None) -> np.ndarray:
    """Return `value` as a finite 1-D float64 array of length `n` (scalars broadcast).

    Raises
    ------
    InvalidGameError
        When the value is not numeric, has the wrong shape, or holds NaN or inf.
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidGameError(f"{name} must be numeric; got {type(value).__name__}") from error
    if array.ndim == 0 and n is not None:
        array = np.full(n, float(array))
    if array.ndim != 1:
        raise InvalidGameError(f"{name} must be a 1-D array (one entry per player); "
                               f"got shape {array.shape}")
    if n is not None and array.shape[0] != n:
        raise InvalidGameError(f"{name} has {array.shape[0]} entries but the game has {n} "
                               "players; pass one entry per player or a scalar")
    if not np.all(np.isfinite(array)):
        raise InvalidGameError(f"{name} holds NaN or inf; every entry must be finite")
    return array


def check_nonnegative(array: np.ndarray, name: str) -> None:
    """Raise `InvalidGameError` unless every entry of `array` is >= 0."""
    if np.any(array < 0):
        worst = int(np.argmin(array))
        raise InvalidGameError(f"{name} must be >= 0 (a cost); entry {worst} is {array[worst]:g}")


def check_bounds(bounds: Any) -> tuple[float, float]:
    """Return the box bounds as floats with 0 <= lo < hi, both finite."""
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError) as error:
        raise InvalidGameError(f"bounds must be a pair (lo, hi) of numbers; got {bounds!r}") \
            from error
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InvalidGameError(f"bounds must be finite; got ({lo}, {hi})")
    if lo < 0:
        raise InvalidGameError(f"bounds lo must be >= 0 (participation is non-negative, so "
                               f"|s_i| = s_i); got lo = {lo}")
    if not lo < hi:
        raise InvalidGameError(f"bounds must satisfy lo < hi; got lo = {lo}, hi = {hi}")
    return lo, hi


def check_profile(s: Any, n: int, bounds: tuple[float, float], name: str = "s",
                  atol: float = 1e-12) -> np.ndarray:
    """Return `s` as a float64 vector of length `n` inside the box (up to `atol`).

    Raises
    ------
    InvalidProfileError
        When `s` has the wrong shape, holds NaN or inf, or lies outside [lo, hi].
    """
    try:
        array = np.asarray(s, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidProfileError(f"{name} must be a numeric vector; got {type(s).__name__}") \
            from error
    if array.shape != (n,):
        raise InvalidProfileError(f"{name} must have shape ({n},), one participation per "
                                  f"player; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InvalidProfileError(f"{name} holds NaN or inf; every participation must be finite")
    lo, hi = bounds
    if np.any(array < lo - atol) or np.any(array > hi + atol):
        raise InvalidProfileError(f"{name} must lie in the box [{lo}, {hi}]; got values in "
                                  f"[{array.min():g}, {array.max():g}]. Clip it with "
                                  "numpy.clip(s, lo, hi) if that is what you mean")
    return np.clip(array, lo, hi)


def check_tol(tol: Any, name: str = "tol") -> float:
    """Return `tol` as a float, raising `InvalidOptionError` unless it is finite and >= 0."""
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not np.isfinite(tol) \
            or tol < 0:
        raise InvalidOptionError(f"{name} must be a finite number >= 0; got {tol!r}")
    return float(tol)


def check_count(value: Any, name: str, minimum: int = 0) -> int:
    """Return `value` as an int, raising `InvalidOptionError` unless it is an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InvalidOptionError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_seconds(value: Any, name: str = "max_seconds") -> float | None:
    """Return a time budget: None (no budget) or a finite number > 0, else `InvalidOptionError`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or value <= 0:
        raise InvalidOptionError(f"{name} must be None or a finite number of seconds > 0; got "
                                 f"{value!r}")
    return float(value)


def check_positive(value: Any, name: str, upper: float | None = None) -> float:
    """Return `value` as a float in (0, upper] (or (0, inf)), else `InvalidOptionError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or value <= 0 or (upper is not None and value > upper):
        where = f"(0, {upper:g}]" if upper is not None else "(0, inf), finite"
        raise InvalidOptionError(f"{name} must lie in {where}; got {value!r}")
    return float(value)


def as_generator(rng: Any, name: str = "rng") -> np.random.Generator:
    """``numpy.random.default_rng(rng)``, seeded 0 for None; `InvalidOptionError` otherwise.

    Accepts None, a non-negative int seed, a numpy Generator or anything else
    `numpy.random.default_rng` takes (a SeedSequence, a BitGenerator).
    """
    if isinstance(rng, bool | float | str):
        raise InvalidOptionError(f"{name} must be None, a non-negative int seed or a "
                                 f"numpy.random.Generator; got {rng!r}")
    try:
        return np.random.default_rng(0 if rng is None else rng)
    except (TypeError, ValueError) as error:
        raise InvalidOptionError(f"{name} must be None, a non-negative int seed or a "
                                 f"numpy.random.Generator; got {rng!r}") from error
