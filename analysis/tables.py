"""Tables of result rows as CSV (for pandas) and Markdown (for reports).

Rows are flat or nested dicts (`RunResult.to_dict`, `load_results` rows) or objects with a
``to_dict()`` method. Before tabulating, each row is flattened (`flatten`):

- nested dicts become dotted columns: ``config`` -> ``config.method``, ``config.seed``, ...,
  ``config.pruning.beta``;
- the per-run series named in ``drop`` (default `DROPPED`: ``history`` and ``participation``,
  one entry per epoch or per player) are left out; pass ``drop=()`` to keep them;
- any other list or tuple (``config.hidden``, ``kept_per_layer``) becomes its compact JSON
  text, e.g. ``[128,64]``, in one cell.

Columns are the union of the rows' columns in first-seen order unless ``columns`` picks and
orders them (`SUMMARY_COLUMNS` is a readable choice for sweep results); a row without a
column gets an empty cell.

Two pure helpers summarise rows before they are tabulated or plotted: `aggregate` (mean and
sample standard deviation per group, e.g. over seeds) and `pareto_mask` (the points no other
point beats on both of two objectives).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from equilibria.atomic import atomic_write

__all__ = ["DROPPED", "SUMMARY_COLUMNS", "aggregate", "columns_of", "flatten",
           "format_mean_std", "mean_std", "pareto_mask", "to_csv", "to_markdown"]

#: Per-run series left out of tables by default.
DROPPED = ("history", "participation")
#: A compact selection of `RunResult` columns.
SUMMARY_COLUMNS = ("config.method", "config.sparsity", "config.granularity", "config.seed",
                   "config.tag", "achieved_sparsity", "accuracy", "params_nonzero",
                   "compression_ratio", "theoretical_speedup", "steps", "seconds")


def flatten(row: Any, drop: Sequence[str] = DROPPED, sep: str = ".") -> dict[str, Any]:
    """One flat dict per row: dotted keys for nested dicts, lists as JSON text.

    Parameters
    ----------
    row : dict or object with ``to_dict()``
    drop : sequence of str
        Columns to leave out, by their flattened name (``"history"``, ``"config.pruning"``).
    sep : str
        Separator of the nested names.

    Returns
    -------
    dict
        Scalar values only (None, bool, int, float, str).
    """
    if not isinstance(row, Mapping):
        to_dict = getattr(row, "to_dict", None)
        if to_dict is None:
            raise TypeError(f"rows must be dicts or have a to_dict() method; got "
                            f"{type(row).__name__}")
        row = to_dict()
    flat: dict[str, Any] = {}
    _flatten_into(flat, row, "", set(drop), sep)
    return flat


def _flatten_into(flat: dict[str, Any], row: Mapping[str, Any], prefix: str, drop: set[str],
                  sep: str) -> None:
    for key, value in row.items():
        name = f"{prefix}{key}"
        if name in drop:
            continue
        if isinstance(value, Mapping):
            _flatten_into(flat, value, name + sep, drop, sep)
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(value, separators=(",", ":"))
        else:
            flat[name] = value


def columns_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Union of the flat rows' keys, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _table(rows: Iterable[Any], columns: Sequence[str] | None, drop: Sequence[str]
           ) -> tuple[list[str], list[dict[str, Any]]]:
    flat = [flatten(row, drop) for row in rows]
    if columns is None:
        return columns_of(flat), flat
    if isinstance(columns, str):
        raise TypeError("columns must be a sequence of column names, not one string")
    return list(columns), flat


def _csv_cell(value: Any) -> Any:
    return "" if value is None else value


def to_csv(rows: Iterable[Any], path: str | os.PathLike, columns: Sequence[str] | None = None,
           *, drop: Sequence[str] = DROPPED) -> Path:
    """Write the rows as CSV, atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    rows : iterable of dict (or objects with ``to_dict()``)
    path : path
        Destination; its folder is created if needed.
    columns : sequence of str, optional
        Columns and their order (flattened names); default all, in first-seen order.
    drop : sequence of str
        Columns left out when flattening (default `DROPPED`).

    Returns
    -------
    Path
        `path`; ``pandas.read_csv(path)`` reads it (None is an empty cell, floats keep full
        precision).
    """
    names, flat = _table(rows, columns, drop)
    path = Path(path)
    with atomic_write(path, newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in flat:
            writer.writerow([_csv_cell(row.get(name)) for name in names])
    return path


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _markdown_cell(value: Any, floatfmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = format(value, floatfmt) if math.isfinite(value) else str(value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def to_markdown(rows: Iterable[Any], columns: Sequence[str] | None = None, *,
                drop: Sequence[str] = DROPPED, floatfmt: str = ".4g") -> str:
    """The rows as a GitHub-flavoured Markdown table.

    Parameters
    ----------
    rows : iterable of dict (or objects with ``to_dict()``)
    columns : sequence of str, optional
        Columns and their order (flattened names); default all, in first-seen order.
    drop : sequence of str
        Columns left out when flattening (default `DROPPED`).
    floatfmt : str
        Format spec of floats (default ``".4g"``); ints and text are printed as they are.

    Returns
    -------
    str
        Header, alignment row (numeric columns right-aligned) and one line per row; empty
        string when there are no columns. ``|`` in cells is escaped.
    """
    names, flat = _table(rows, columns, drop)
    if not names:
        return ""
    align = []
    for name in names:
        values = [row.get(name) for row in flat if row.get(name) is not None]
        align.append("---:" if values and all(_is_number(v) for v in values) else "---")
    lines = ["| " + " | ".join(_markdown_cell(n, floatfmt) for n in names) + " |",
             "|" + "|".join(align) + "|"]
    for row in flat:
        lines.append("| " + " | ".join(_markdown_cell(row.get(n), floatfmt) for n in names)
                     + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- summaries
def _column_names(names: Any, argument: str, allow_empty: bool) -> list[str]:
    """`names` as a list of distinct strings; a ValueError naming `argument` otherwise."""
    if isinstance(names, str | bytes) or not isinstance(names, Iterable):
        raise ValueError(f"{argument} must be a sequence of column names (e.g. "
                         f"[\"config.method\"]), not {names!r}")
    names = list(names)
    if not allow_empty and not names:
        raise ValueError(f"{argument} must name at least one column; got an empty sequence")
    if not all(isinstance(name, str) for name in names):
        raise ValueError(f"{argument} must hold column names (strings); got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{argument} names a column twice: {names!r}")
    return names


def _summary_value(value: Any, column: str, index: int) -> float | None:
    """A value column's cell as a float (None stays None, a missing value)."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_ | int | float | np.integer | np.floating):
        return float(value)
    raise ValueError(f"values: column {column!r} must hold numbers (or None for missing); row "
                     f"{index} has {value!r}")


def mean_std(values: Iterable[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation over seeds, the spread every table here reports.

    None entries (missing measurements) are skipped. The std uses ``ddof=1`` and is 0.0 for
    one value; both are None when no value is left.
    """
    array = np.asarray([v for v in values if v is not None], dtype=float)
    if array.size == 0:
        return None, None
    mean = float(array.mean())
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return mean, std


def format_mean_std(mean: float | None, std: float | None) -> str:
    """``"0.953 ± 0.003"`` for a Markdown cell; empty when there is no mean."""
    return "" if mean is None else f"{mean:.3f} ± {std or 0.0:.3f}"


def aggregate(rows: Iterable[Any], by: Sequence[str], values: Sequence[str]
              ) -> list[dict[str, Any]]:
    """Mean and sample standard deviation of `values` per group of equal `by` columns.

    Parameters
    ----------
    rows : iterable of dict (or objects with ``to_dict()``)
        Flat or nested rows; nested dicts are addressed by their dotted names as in `flatten`
        (``"config.method"``), and lists (e.g. ``history``) are kept as JSON text.
    by : sequence of str
        Grouping columns. A row without one of them is grouped under None for it.
    values : sequence of str
        Numeric columns to summarise; None (or a missing column) is a missing value and is
        left out of that column's statistics.

    Returns
    -------
    list of dict
        One dict per group, in the order the groups are first seen: the `by` columns, then
        ``<value>_mean`` and ``<value>_std`` for each value column (sample standard deviation,
        ``ddof=1``; 0.0 when the group has one value; both None when it has none; NaN
        propagates), then ``n``, the number of rows in the group.

    Raises
    ------
    ValueError
        When `by` or `values` is not a sequence of distinct column names (one string is
        rejected, so ``by="method"`` is not read as five one-letter columns), when `by` is
        empty or shares a column with `values`, or when a value cell is not a number or None.

    Examples
    --------
    >>> rows = [{"m": "a", "acc": 0.9}, {"m": "a", "acc": 0.7}, {"m": "b", "acc": 0.5}]
    >>> [(g["m"], round(g["acc_mean"], 3), round(g["acc_std"], 3), g["n"])
    ...  for g in aggregate(rows, ["m"], ["acc"])]
    [('a', 0.8, 0.141, 2), ('b', 0.5, 0.0, 1)]
    """
    by = _column_names(by, "by", allow_empty=False)
    values = _column_names(values, "values", allow_empty=True)
    shared = sorted(set(by) & set(values))
    if shared:
        raise ValueError(f"by and values must not share columns; both name {shared}")
    if isinstance(rows, Mapping) or isinstance(rows, str | bytes) or \
            not isinstance(rows, Iterable):
        raise ValueError(f"rows must be an iterable of dicts (result rows); got "
                         f"{type(rows).__name__}")
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for index, row in enumerate(rows):
        flat = flatten(row, drop=())
        key = tuple(flat.get(name) for name in by)
        group = groups.setdefault(key, {"n": 0, **{name: [] for name in values}})
        group["n"] += 1
        for name in values:
            value = _summary_value(flat.get(name), name, index)
            if value is not None:
                group[name].append(value)
    summary = []
    for key, group in groups.items():
        record: dict[str, Any] = dict(zip(by, key, strict=True))
        for name in values:
            record[f"{name}_mean"], record[f"{name}_std"] = mean_std(group[name])
        record["n"] = group["n"]
        summary.append(record)
    return summary


def _objective(values: Any, argument: str) -> np.ndarray:
    """`values` as a finite 1-D float array; a ValueError naming `argument` otherwise."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{argument} must be a 1-D sequence of numbers; got {values!r}"
                         ) from error
    if array.ndim != 1:
        raise ValueError(f"{argument} must be 1-D (one value per point); got shape "
                         f"{array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{argument} must be finite (no NaN or inf); drop or fill those "
                         "points first")
    return array


def pareto_mask(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
                ) -> np.ndarray:
    """Which points are not dominated when both `x` and `y` are maximized.

    Point j dominates point i when ``x[j] >= x[i]`` and ``y[j] >= y[i]`` with at least one
    inequality strict. Equal points do not dominate each other, so duplicates of a front
    point are all on the front.

    Parameters
    ----------
    x, y : 1-D sequences of finite numbers, of the same length
        The two objectives, e.g. achieved sparsity and accuracy. Negate one to minimize it.

    Returns
    -------
    numpy.ndarray of bool
        ``mask[i]`` is True when no point dominates point i (the Pareto front); an empty mask
        for no points.

    Raises
    ------
    ValueError
        When `x` or `y` is not a 1-D sequence of finite numbers, or their lengths differ.

    Notes
    -----
    O(n log n): points are swept in order of decreasing x; a point is dominated when a point
    with the same x has a larger y, or when a point of strictly larger x has at least its y.

    Examples
    --------
    >>> pareto_mask([0.5, 0.8, 0.6, 0.8], [0.9, 0.7, 0.6, 0.7]).tolist()
    [True, True, False, True]
    """
    xs, ys = _objective(x, "x"), _objective(y, "y")
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same length; got {xs.size} and {ys.size}")
    mask = np.zeros(xs.size, dtype=bool)
    order = np.lexsort((-ys, -xs))  # by decreasing x, then decreasing y
    best_right = -np.inf  # the largest y among points of strictly larger x
    start = 0
    while start < order.size:
        stop = start
        while stop < order.size and xs[order[stop]] == xs[order[start]]:
            stop += 1
        tie = order[start:stop]
        top = ys[tie[0]]  # the largest y at this x
        if top > best_right:
            mask[tie] = ys[tie] == top
        best_right = max(best_right, top)
        start = stop
    return mask
