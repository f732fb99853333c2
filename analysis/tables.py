"""Tables of result rows as CSV (for pandas) and Markdown (for reports).

Rows are flat or nested dicts (`RunResult.to_dict`, `load_results` rows) or objects with a
``to_dict()`` method. Before tabulating, each row is flattened (`flatten`):

- nested dicts become dotted columns: ``config`` -> ``config.method``, ``config.seed``, ...,
  ``config.pruning.beta``;
- the columns named in ``drop`` (default `DROPPED`: the per-run series ``history`` and
  ``participation``, one entry per epoch or per player, and ``evaluation``, which a
  `RunResult` row holds besides its flat columns) are left out; pass ``drop=()`` to keep them;
- any other list or tuple (``config.hidden``, ``kept_per_layer``) becomes its compact JSON
  text, e.g. ``[128,64]``, in one cell.

Columns are the union of the rows' columns in first-seen order unless ``columns`` picks and
orders them (`SUMMARY_COLUMNS` is a readable choice for sweep results); a row without a
column gets an empty cell, a column that no row has is an error.

`to_frame` turns the rows into a pandas DataFrame of exactly these cells (one row per result,
one column per flattened name), and the table functions are written on it: `to_csv` is
``DataFrame.to_csv``, `aggregate` is a ``groupby``. The Markdown writer stays hand-written:
``DataFrame.to_markdown`` needs the optional package tabulate, which is not a dependency, and
pads and aligns cells its own way, where `to_markdown` keeps one space, escapes ``|`` and
right-aligns numeric columns.

Two pure helpers summarise rows before they are tabulated or plotted: `aggregate` (mean and
sample standard deviation per group, e.g. over seeds) and `pareto_mask` (the points no other
point beats on both of two objectives). `sweep_summary` is the per-run table ``pruning-game
sweep`` prints, its columns the fields the sweep varies (`swept_fields`).

A standard deviation is shown only where it exists: over one value it is None (an empty cell),
and `format_mean_std` then prints the mean alone, never ``± 0.000``.

Bad rows or column names raise `TableError` with a one-line message naming the argument.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from equilibria.atomic import atomic_write

__all__ = ["DROPPED", "SUMMARY_COLUMNS", "TableError", "aggregate", "columns_of", "flatten",
           "format_mean_std", "mean_std", "pareto_mask", "swept_fields", "sweep_summary",
           "to_csv", "to_frame", "to_markdown"]

#: Left out of tables by default: the per-run series, and a `RunResult` row's nested
#: ``evaluation`` (its measurements are the row's flat columns already).
DROPPED = ("history", "participation", "evaluation")
#: A compact selection of `RunResult` columns.
SUMMARY_COLUMNS = ("config.method", "config.sparsity", "config.granularity", "config.seed",
                   "config.tag", "achieved_sparsity", "accuracy", "params_nonzero",
                   "compression_ratio", "theoretical_speedup", "steps", "seconds")


class TableError(TypeError, ValueError):
    """Rows or column names a table function cannot use; the message names the argument.

    Both a TypeError (a row of the wrong type) and a ValueError (a bad value), so an
    ``except`` clause written for either catches it.
    """


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
            raise TableError(f"rows must be dicts or have a to_dict() method; got "
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


def _rows(rows: Any) -> Iterable[Any]:
    """`rows` if it is an iterable of rows (not one row, a string or None)."""
    if isinstance(rows, Mapping) or isinstance(rows, str | bytes) or \
            not isinstance(rows, Iterable):
        raise TableError(f"rows must be an iterable of dicts (result rows); got "
                         f"{type(rows).__name__}")
    return rows


def _table(rows: Iterable[Any], columns: Sequence[str] | None, drop: Sequence[str]
           ) -> tuple[list[str], list[dict[str, Any]]]:
    flat = [flatten(row, drop) for row in _rows(rows)]
    if columns is None:
        return columns_of(flat), flat
    names = _column_names(columns, "columns", allow_empty=True)
    known = set(columns_of(flat))
    unknown = [name for name in names if name not in known]
    if flat and unknown:
        hint = " (left out by drop; pass drop=())" if set(unknown) & set(drop) else ""
        raise TableError(f"columns: no row has {unknown}{hint}; the rows have "
                         f"{sorted(known)}")
    return names, flat


def _frame(names: Sequence[str], flat: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The flat rows as a DataFrame of `names`, every cell the Python value itself (object
    dtype: an int column with a missing cell stays ints, not floats; a missing cell is None)."""
    return pd.DataFrame([[row.get(name) for name in names] for row in flat],
                        columns=pd.Index(list(names), dtype=object), dtype=object)


def to_frame(rows: Iterable[Any], columns: Sequence[str] | None = None, *,
             drop: Sequence[str] = DROPPED) -> pd.DataFrame:
    """The rows as a pandas DataFrame: one row per result, one column per flattened name.

    Parameters
    ----------
    rows : iterable of dict (or objects with ``to_dict()``)
        E.g. `analysis.sweep`'s `RunResult` s, `load_results` rows, `nets.compare` rows.
    columns : sequence of str, optional
        Columns and their order (flattened names); default all, in first-seen order. A
        column that no row has raises `TableError`.
    drop : sequence of str
        Columns left out when flattening (default `DROPPED`; ``drop=()`` keeps the per-epoch
        ``history`` and the ``participation`` as JSON text).

    Returns
    -------
    pandas.DataFrame
        The cells `to_csv` writes, with their Python types (object dtype; a missing cell is
        None). ``frame.infer_objects()`` gives numeric dtypes, e.g. for ``groupby``.

    Examples
    --------
    >>> frame = to_frame([{"config": {"method": "a"}, "accuracy": 0.9}])
    >>> list(frame.columns), frame.loc[0, "accuracy"]
    (['config.method', 'accuracy'], 0.9)
    """
    names, flat = _table(rows, columns, drop)
    return _frame(names, flat)


def to_csv(rows: Iterable[Any], path: str | os.PathLike, columns: Sequence[str] | None = None,
           *, drop: Sequence[str] = DROPPED) -> Path:
    """Write the rows as CSV, atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    rows : iterable of dict (or objects with ``to_dict()``)
    path : path
        Destination; its folder is created if needed.
    columns : sequence of str, optional
        Columns and their order (flattened names); default all, in first-seen order. A
        column that no row has raises `TableError` (a misspelt name is not an empty column).
    drop : sequence of str
        Columns left out when flattening (default `DROPPED`).

    Returns
    -------
    Path
        `path`; ``pandas.read_csv(path)`` reads it (None is an empty cell, floats keep full
        precision). Written by ``DataFrame.to_csv`` from `to_frame`.
    """
    frame = to_frame(rows, columns, drop=drop)
    path = Path(path)
    with atomic_write(path, newline="", encoding="utf-8") as handle:
        frame.to_csv(handle, index=False, na_rep="", lineterminator="\r\n")
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
        Columns and their order (flattened names); default all, in first-seen order. A
        column that no row has raises `TableError`.
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
    """`names` as a list of distinct strings; a TableError naming `argument` otherwise."""
    if isinstance(names, str | bytes) or not isinstance(names, Iterable):
        raise TableError(f"{argument} must be a sequence of column names (e.g. "
                         f"[\"config.method\"]), not {names!r}")
    names = list(names)
    if not allow_empty and not names:
        raise TableError(f"{argument} must name at least one column; got an empty sequence")
    if not all(isinstance(name, str) for name in names):
        raise TableError(f"{argument} must hold column names (strings); got {names!r}")
    if len(set(names)) != len(names):
        raise TableError(f"{argument} names a column twice: {names!r}")
    return names


def _summary_value(value: Any, column: str, index: int) -> float | None:
    """A value column's cell as a float (None stays None, a missing value)."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_ | int | float | np.integer | np.floating):
        return float(value)
    raise TableError(f"values: column {column!r} must hold numbers (or None for missing); row "
                     f"{index} has {value!r}")


def mean_std(values: Iterable[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation over seeds, the spread every table here reports.

    None entries (missing measurements) are skipped. The std uses ``ddof=1`` and is 0.0 for
    one value (`aggregate` reports None there instead); both are None when no value is left.
    """
    array = np.asarray([v for v in values if v is not None], dtype=float)
    if array.size == 0:
        return None, None
    mean = float(array.mean())
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return mean, std


def format_mean_std(mean: float | None, std: float | None, n: int | None = None) -> str:
    """``"0.953 ± 0.003"`` for a Markdown cell; the mean alone without a spread.

    Parameters
    ----------
    mean, std : float or None
        E.g. ``<value>_mean`` and ``<value>_std`` of an `aggregate` row. No mean is an empty
        cell; no std (one value: `aggregate` gives None) is the mean alone, ``"0.953"``.
    n : int, optional
        The number of values; below 2 the mean is printed alone whatever `std` is, so a
        one-seed table never shows ``± 0.000``.
    """
    if mean is None:
        return ""
    if std is None or (n is not None and n < 2):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {std:.3f}"


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
        ``ddof=1``; None when the group has one value, for which it is undefined, so tables
        print the mean alone; both None when it has none; NaN propagates), then ``n``, the
        number of rows in the group.

    Raises
    ------
    TableError
        When `by` or `values` is not a sequence of distinct column names (one string is
        rejected, so ``by="method"`` is not read as five one-letter columns), when `by` is
        empty or shares a column with `values`, or when a value cell is not a number or None.

    Examples
    --------
    >>> rows = [{"m": "a", "acc": 0.9}, {"m": "a", "acc": 0.7}, {"m": "b", "acc": 0.5}]
    >>> [(g["m"], round(g["acc_mean"], 3), g["acc_std"] and round(g["acc_std"], 3), g["n"])
    ...  for g in aggregate(rows, ["m"], ["acc"])]
    [('a', 0.8, 0.141, 2), ('b', 0.5, None, 1)]
    """
    by = _column_names(by, "by", allow_empty=False)
    values = _column_names(values, "values", allow_empty=True)
    shared = sorted(set(by) & set(values))
    if shared:
        raise TableError(f"by and values must not share columns; both name {shared}")
    flat = [flatten(row, drop=()) for row in _rows(rows)]
    if not flat:
        return []
    cells = _frame([*by, *values], flat)
    numbers = pd.DataFrame({name: [_summary_value(v, name, index)
                                   for index, v in enumerate(cells[name])]
                            for name in values}, index=cells.index, dtype=object)
    # one group per distinct `by` tuple, numbered in the order first seen (None a value too)
    group = cells.groupby(list(by), sort=False, dropna=False).ngroup()
    first = group.drop_duplicates()
    summary = [{name: flat[row].get(name) for name in by} for row in first.index]
    for name in values:
        present = numbers[name].map(lambda v: v is not None).astype(bool)
        column = numbers.loc[present, name].astype(float).groupby(group[present])
        mean = column.mean(skipna=False)  # NaN propagates; None (missing) was left out
        std = column.std(ddof=1, skipna=False)
        count = column.size()
        for record, number in zip(summary, first.to_numpy(), strict=True):
            n = int(count.get(number, 0))
            record[f"{name}_mean"] = float(mean[number]) if n else None
            record[f"{name}_std"] = float(std[number]) if n > 1 else None
    sizes = group.value_counts()
    for record, number in zip(summary, first.to_numpy(), strict=True):
        record["n"] = int(sizes[number])
    return summary


def _config_of(row: Any, index: int) -> dict[str, Any]:
    """The flattened ``config`` of a sweep row (dotted names without the ``config.`` prefix)."""
    flat = flatten(row, drop=())
    config = {name.removeprefix("config."): value for name, value in flat.items()
              if name.startswith("config.")}
    if not config:
        raise TableError(f"rows[{index}] has no 'config' (a sweep result row, as "
                         "analysis.sweep returns and analysis.load_results reads)")
    return config


def swept_fields(rows: Iterable[Any]) -> list[str]:
    """The config fields whose value differs between the rows: what a sweep varies.

    Parameters
    ----------
    rows : iterable of dict (or objects with ``to_dict()``)
        Sweep result rows, each with a nested ``config`` (`RunConfig.to_dict`).

    Returns
    -------
    list of str
        Field names as a sweep grid spells them (``"seed"``, ``"pruning.beta"``,
        ``"hidden"``), in the config's order; a field missing from some rows counts as None
        there. Empty for fewer than two distinct configs.

    Raises
    ------
    TableError
        When `rows` is not an iterable of rows or a row has no ``config``.
    """
    configs = [_config_of(row, index) for index, row in enumerate(_rows(rows))]
    names = columns_of(configs)
    # each cell as its JSON text, so 1, 1.0 and True stay three values (pandas would merge them)
    texts = pd.DataFrame([[json.dumps(c.get(name), sort_keys=True, default=str) for name in names]
                          for c in configs], columns=pd.Index(names, dtype=object))
    distinct = texts.nunique()
    return [name for name in names if distinct[name] > 1]


#: Result columns of `sweep_summary`: its heading -> the row's field.
SWEEP_RESULTS = (("achieved sparsity", "achieved_sparsity"), ("accuracy", "accuracy"),
                 ("compression", "compression_ratio"), ("seconds", "seconds"))


def sweep_summary(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """One line per run of a sweep: the method, the fields the sweep varies, the results.

    Parameters
    ----------
    rows : iterable of dict (or objects with ``to_dict()``)
        Sweep result rows (`analysis.sweep`, `analysis.load_results`).

    Returns
    -------
    list of dict
        ``method``, then each of `swept_fields` (method excluded) under its grid name (e.g.
        ``pruning.beta``, ``seed``, ``sparsity`` for the target), then ``achieved sparsity``,
        ``accuracy``, ``compression`` and ``seconds``; ready for `to_markdown`. Empty for no
        rows.

    Raises
    ------
    TableError
        When `rows` is not an iterable of rows or a row has no ``config``.

    Examples
    --------
    >>> rows = [{"config": {"method": "random", "seed": s, "lr": 0.001}, "accuracy": 0.9,
    ...          "achieved_sparsity": 0.5, "compression_ratio": 2.0, "seconds": 1.0}
    ...         for s in (0, 1)]
    >>> [list(r) for r in sweep_summary(rows)][0]
    ['method', 'seed', 'achieved sparsity', 'accuracy', 'compression', 'seconds']
    """
    rows = list(_rows(rows))
    swept = [name for name in swept_fields(rows) if name != "method"]
    summary = []
    for index, row in enumerate(rows):
        config = _config_of(row, index)
        flat = flatten(row, drop=())
        record: dict[str, Any] = {"method": config.get("method")}
        record.update({name: config.get(name) for name in swept})
        record.update({heading: flat.get(field) for heading, field in SWEEP_RESULTS})
        summary.append(record)
    return summary


def _objective(values: Any, argument: str) -> np.ndarray:
    """`values` as a finite 1-D float array; a ValueError naming `argument` otherwise."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise TableError(f"{argument} must be a 1-D sequence of numbers; got {values!r}"
                         ) from error
    if array.ndim != 1:
        raise TableError(f"{argument} must be 1-D (one value per point); got shape "
                         f"{array.shape}")
    if not np.all(np.isfinite(array)):
        raise TableError(f"{argument} must be finite (no NaN or inf); drop or fill those "
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
    TableError
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
        raise TableError(f"x and y must have the same length; got {xs.size} and {ys.size}")
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
