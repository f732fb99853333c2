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
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DROPPED", "SUMMARY_COLUMNS", "columns_of", "flatten", "to_csv", "to_markdown"]

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
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.",
                                     suffix=".tmp", delete=False, newline="",
                                     encoding="utf-8") as handle:
        try:
            writer = csv.writer(handle)
            writer.writerow(names)
            for row in flat:
                writer.writerow([_csv_cell(row.get(name)) for name in names])
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.close()
            os.unlink(handle.name)
            raise
    os.replace(handle.name, path)
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
