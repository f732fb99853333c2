"""`PruningError` and the option checks that raise it (one helper per kind of value).

Every configuration of `nets` (`nets.PruningConfig`, `nets.baselines.Budget`, the baselines'
options, `nets.compare`) checks its arguments with these, so that a bad value is refused with
one line naming the argument and what would work, never silently changed or dropped. Python's
``bool`` is an ``int``, so ``True`` is refused explicitly where a number is expected.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

__all__ = ["PruningError", "check_choice", "check_int", "check_number", "check_sequence"]


class PruningError(ValueError):
    """A pruning request that cannot be met (bad sparsity, unknown option, invalid setting)."""


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """`value` as an int, or a `PruningError` naming `name`.

    Parameters
    ----------
    value : Any
        Accepted: a Python or numpy integer (not a bool) >= `minimum`.
    name : str
        The argument's name, for the message.
    minimum : int, optional
        Smallest allowed value.
    """
    if _is_bool(value) or not isinstance(value, int | np.integer) \
            or (minimum is not None and value < minimum):
        kind = {None: "an integer", 0: "an integer >= 0", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")
        raise PruningError(f"{name} must be {kind}; got {value!r}")
    return int(value)


def check_number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """`value` as a finite float within the given bounds, or a `PruningError` naming `name`.

    Parameters
    ----------
    value : Any
        Accepted: a Python or numpy int or float (not a bool), finite, within the bounds.
    name : str
        The argument's name, for the message.
    low, high : float, optional
        Bounds (None: unbounded on that side).
    low_open, high_open : bool, default False
        Whether the bound itself is excluded.
    """
    ok = not _is_bool(value) and isinstance(value, int | float | np.integer | np.floating) \
        and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise PruningError(f"{name} must be {_describe(low, high, low_open, high_open)}; "
                           f"got {value!r}")
    return float(value)


def _describe(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return (f"a number in {'(' if low_open else '['}{low:g}, {high:g}"
                f"{')' if high_open else ']'}")
    if low is not None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return "a finite number"


def check_choice(value: Any, name: str, allowed: Collection[Any]) -> Any:
    """`value` if it is one of `allowed`, else a `PruningError` listing them."""
    if isinstance(value, list | dict | set) or value not in allowed:
        raise PruningError(f"{name} must be one of {tuple(allowed)}; got {value!r}")
    return value


def check_sequence(values: Any, name: str) -> list[Any]:
    """`values` as a non-empty list without repeats, or a `PruningError` naming `name`.

    A string is refused (it is not a list of values: ``"01"`` is not seeds 0 and 1).
    """
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise PruningError(f"{name} must be a non-empty sequence; got {values!r}")
    items = list(values)
    if not items:
        raise PruningError(f"{name} is empty; give at least one value")
    seen: list[Any] = []
    for item in items:
        if item in seen:
            raise PruningError(f"{name} lists {item!r} twice; give each value once")
        seen.append(item)
    return items
