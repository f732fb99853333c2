"""Argument types shared by the command lines (`argparse` ``type=`` callables).

Each parses a comma-separated list and raises `argparse.ArgumentTypeError` (shown by argparse
as a one-line usage error naming the option) on text it cannot read.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

__all__ = ["comma_floats", "comma_ints", "comma_names"]

_T = TypeVar("_T")


def _comma_list(text: str, cast: Callable[[str], _T], kind: str) -> tuple[_T, ...]:
    try:
        values = tuple(cast(v.strip()) for v in text.split(",") if v.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated {kind}; got {text!r}"
                                         ) from error
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated {kind}; got nothing")
    return values


def comma_floats(text: str) -> tuple[float, ...]:
    """``"0.5,0.9"`` -> ``(0.5, 0.9)``."""
    return _comma_list(text, float, "numbers")


def comma_ints(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` -> ``(0, 1, 2)``."""
    return _comma_list(text, int, "integers")


def comma_names(text: str) -> tuple[str, ...]:
    """``"random, taylor"`` -> ``("random", "taylor")``."""
    return _comma_list(text, str, "names")
