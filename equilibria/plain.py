"""`to_plain`: turn a result's fields into plain Python values that `json.dumps` accepts.

numpy returns its own scalar types from reductions and comparisons (``numpy.bool``,
``numpy.float64``, ``numpy.int64``), and which one a library function returns can change with
an upstream release. Every public ``to_dict()`` of the project passes its values through
`to_plain`, so a result always serializes with a bare ``json.dumps`` (no ``default=`` hook)
and loads back equal.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from equilibria.errors import NotPlainError

__all__ = ["PLAIN_TYPES", "is_plain", "to_plain"]

#: The leaf types a plain value may hold (besides lists and str-keyed dicts of them).
PLAIN_TYPES: tuple[type, ...] = (bool, int, float, str, type(None))


def to_plain(value: Any) -> Any:
    """Return `value` with every container and scalar converted to plain Python types.

    Parameters
    ----------
    value : Any
        A scalar, a numpy scalar or array, a sequence, a mapping, a path, a dataclass or a
        nest of those.

    Returns
    -------
    bool, int, float, str, None, list or dict
        numpy booleans become ``bool``, numpy integers ``int``, numpy floats ``float``;
        complex numbers become ``[real, imag]``; arrays, tuples, lists and sets become lists
        (sets sorted when their items allow it); mappings become dicts with ``str`` keys;
        ``os.PathLike`` values become ``str``; a dataclass instance becomes the plain form of
        its ``to_dict()`` when it has one, else of its fields.

    Raises
    ------
    NotPlainError
        For a value of any other type, naming the type: a plain form is never guessed.

    Examples
    --------
    >>> to_plain({"ok": np.bool_(True), "x": np.arange(2), "t": (np.float64(0.5),)})
    {'ok': True, 'x': [0, 1], 't': [0.5]}
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, complex | np.complexfloating):
        return [float(value.real), float(value.imag)]
    if isinstance(value, np.ndarray):
        return [to_plain(item) for item in value.tolist()] if value.ndim else \
            to_plain(value.item())
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    if isinstance(value, set | frozenset):
        items = [to_plain(item) for item in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        if callable(to_dict):
            return to_plain(to_dict())
        return to_plain({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    raise NotPlainError(f"to_plain cannot convert a {type(value).__module__}."
                        f"{type(value).__qualname__}; give the result a to_dict() or convert "
                        "the field at its source")


def is_plain(value: Any) -> bool:
    """Whether `value` holds only plain types: `PLAIN_TYPES` leaves in lists and str-keyed dicts.

    Parameters
    ----------
    value : Any

    Returns
    -------
    bool
        False for any numpy scalar, tuple, non-str key or other type anywhere in the nest.
        A float that is NaN or infinite counts as plain (``json.dumps`` writes it, but as a
        non-standard token).
    """
    if isinstance(value, list):
        return all(is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and is_plain(item) for key, item in value.items())
    return type(value) in PLAIN_TYPES
