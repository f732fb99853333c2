"""Figures (matplotlib, headless): training dynamics and participation histograms.

- `training_dynamics`: the paper's Figure 1 (Shah & Khan 2025): test accuracy, share of players
  below epsilon, mean participation and active players against epoch, one curve per run.
- `participation_histogram`: the paper's Figure 2: the final participation of each run, with the
  pruning threshold epsilon as a dashed line.
- `pareto_front`: accuracy against sparsity per method (mean +- std over seeds, from
  `analysis.tables.aggregate`), the dense accuracy and the overall non-dominated points.
- `phase_diagram`: annotated heatmaps of summarised values over a grid of two parameters.
- `solver_convergence`: relative Nash gap against iteration per solver (semilog-y), the
  tolerance dashed.
- `stability_spectra`: eigenvalues of the Jacobian's free block in the complex plane, the
  imaginary axis (Re = 0) as the stability boundary.

Every function returns the `matplotlib.figure.Figure` it drew and, when given a `path`, also
writes it there atomically (temporary file, then rename) in the format the suffix names. With
``ax=`` it draws into the given Axes (one, or a sequence of one per panel) and returns their
figure, leaving its layout and title alone.

Headless and side-effect free: this module never imports ``matplotlib.pyplot`` nor selects a
backend. Figures are ``matplotlib.figure.Figure`` objects created directly; ``Figure.savefig``
renders them with the canvas of the file's format (Agg for PNG), so importing this module in a
notebook or a GUI application changes nothing there.

Bad input raises `PlotError` (a ValueError) with a one-line message naming the argument.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.tables import pareto_mask
from equilibria.atomic import atomic_write

__all__ = ["PlotError", "pareto_front", "participation_histogram", "phase_diagram",
           "save_figure", "solver_convergence", "stability_spectra", "training_dynamics"]


class PlotError(ValueError):
    """A plot was asked of data or options it cannot draw; the message names the argument."""


def _write(figure: Figure, path: str | os.PathLike) -> Path:
    """Write `figure` to `path` atomically, in the format its suffix names (PNG by default)."""
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format=path.suffix[1:] or "png", dpi=120, bbox_inches="tight")
    return path


def save_figure(figure: Figure, path: str | os.PathLike) -> Path:
    """Write `figure` to `path` atomically and return `path`.

    A figure made by ``matplotlib.pyplot`` (``plt.subplots``) is closed afterwards, so scripts
    that draw many do not accumulate them; pyplot is not imported when it is not in use.
    """
    written = _write(figure, path)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None and getattr(figure, "number", None) is not None:
        pyplot.close(figure)
    return written


def _root(axis: Axes) -> Figure:
    """The top-level Figure an Axes belongs to (through any SubFigure)."""
    figure = axis.figure
    while not isinstance(figure, Figure):
        figure = figure.figure
    return figure


def _axes(ax: object, n: int, what: str, *, grid: tuple[int, int],
          figsize: tuple[float, float], **subplots: object) -> tuple[Figure, list[Axes], bool]:
    """The `n` Axes to draw into, their figure, and whether the figure is ours.

    `ax` None: a new Figure with a `grid` of subplots (the ones past `n` hidden). Otherwise one
    Axes (for n = 1) or a sequence (or array) of exactly `n` Axes of one figure.
    """
    if ax is None:
        figure = Figure(figsize=figsize, layout=subplots.pop("layout", None))
        axes = list(figure.subplots(*grid, squeeze=False, **subplots).flat)
        for extra in axes[n:]:
            extra.set_visible(False)
        return figure, axes[:n], True
    if isinstance(ax, Axes):
        given = [ax]
    elif isinstance(ax, Sequence | np.ndarray) and not isinstance(ax, str | bytes):
        given = list(np.ravel(np.asarray(ax, dtype=object)))
    else:
        raise PlotError(f"ax must be a matplotlib Axes or a sequence of {n} Axes (one per "
                        f"{what}), or None for a new figure; got {type(ax).__name__}")
    if not all(isinstance(axis, Axes) for axis in given):
        raise PlotError(f"ax must hold matplotlib Axes only; got "
                        f"{sorted({type(axis).__name__ for axis in given})}")
    if len(given) != n:
        raise PlotError(f"ax: this figure has {n} panels (one per {what}); pass {n} Axes, "
                        f"e.g. figure.subplots(1, {n}), or ax=None; got {len(given)}")
    figures = {id(_root(axis)) for axis in given}
    if len(figures) != 1:
        raise PlotError("ax: every Axes must belong to the same figure")
    return _root(given[0]), given, False


def _finish(figure: Figure, path: str | os.PathLike | None) -> Figure:
    """Write `figure` to `path` when one is given; return the figure."""
    if path is not None:
        _write(figure, path)
    return figure


def _history_rows(histories: object) -> dict[str, list[Mapping[str, object]]]:
    """`histories` as a non-empty dict of run name -> non-empty list of epoch records."""
    if not isinstance(histories, Mapping) or not histories:
        raise PlotError("histories must be a non-empty mapping of run name -> epoch records "
                        f"(EpochRecord.to_dict()); got {_describe(histories)}")
    needed = ("epoch", "test_accuracy", "below_epsilon", "mean_participation",
              "active_per_layer")
    runs = {}
    for name, history in histories.items():
        if isinstance(history, Mapping | str | bytes) or not isinstance(history, Sequence) \
                or not history or not all(isinstance(r, Mapping) for r in history):
            raise PlotError(f"histories[{name!r}] must be a non-empty list of epoch records "
                            f"(dicts); got {_describe(history)}")
        missing = sorted({key for record in history for key in needed if key not in record})
        if missing:
            raise PlotError(f"histories[{name!r}]: epoch records have no {missing}; pass "
                            "EpochRecord.to_dict() rows")
        runs[str(name)] = list(history)
    return runs


def _describe(value: object) -> str:
    """A short description of a bad argument for an error message."""
    if isinstance(value, Mapping | Sequence) and not isinstance(value, str | bytes):
        return f"an empty {type(value).__name__}" if len(value) == 0 \
            else type(value).__name__
    return type(value).__name__


def training_dynamics(histories: Mapping[str, Sequence[Mapping[str, object]]],
                      path: str | os.PathLike | None = None, *,
                      ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Figure 1: accuracy, share below epsilon, mean participation and active players per epoch.

    Parameters
    ----------
    histories : mapping of run name -> sequence of epoch records (``EpochRecord.to_dict()``)
    path : path, optional
        Where to write the figure (PNG unless the suffix names another format).
    ax : sequence of 4 Axes, optional
        Draw the four panels (accuracy, share below epsilon, mean participation, active
        players) there.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    PlotError
        For empty `histories`, records without the fields above, or a wrong `ax`.
    """
    runs = _history_rows(histories)
    panels = (("test_accuracy", "test accuracy"), ("below_epsilon", "share below epsilon"),
              ("mean_participation", "mean participation"), ("active", "active players"))
    figure, axes, own = _axes(ax, 4, "quantity", grid=(2, 2), figsize=(10, 7), sharex=True)
    for name, history in runs.items():
        epochs = [record["epoch"] for record in history]
        for axis, (key, label) in zip(axes, panels, strict=True):
            if key == "active":
                values = [sum(record["active_per_layer"]) for record in history]
            else:
                values = [record[key] for record in history]
            axis.plot(epochs, values, marker=".", label=name)
            axis.set_ylabel(label)
    for axis in axes[2:]:
        axis.set_xlabel("epoch")
    axes[0].legend(fontsize="small")
    if own:
        figure.suptitle("Equilibrium-driven pruning: training dynamics")
    return _finish(figure, path)


def _participations(participations: object) -> dict[str, np.ndarray]:
    """`participations` as a non-empty dict of run name -> finite 1-D array in [0, 1]."""
    if not isinstance(participations, Mapping) or not participations:
        raise PlotError("participations must be a non-empty mapping of run name -> final "
                        f"participation (1-D array); got {_describe(participations)}")
    arrays = {}
    for name, s in participations.items():
        try:
            array = np.asarray(s, dtype=float)
        except (TypeError, ValueError):
            raise PlotError(f"participations[{name!r}] must be a 1-D array of numbers; got "
                            f"{type(s).__name__}") from None
        if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
            raise PlotError(f"participations[{name!r}] must be a non-empty finite 1-D array; "
                            f"got shape {array.shape}")
        arrays[str(name)] = array
    return arrays


def participation_histogram(participations: Mapping[str, np.ndarray], epsilon: float,
                            path: str | os.PathLike | None = None, bins: int = 40, *,
                            ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Figure 2: histogram of the final participation per run, epsilon dashed.

    Parameters
    ----------
    participations : mapping of run name -> 1-D array of participations in [0, 1]
    epsilon : float
        The pruning threshold, drawn as a dashed vertical line.
    path : path, optional
        Where to write the figure.
    bins : int, default 40
        Equal bins over [0, 1].
    ax : Axes or sequence of Axes, optional
        One Axes per run to draw into.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    PlotError
        For empty or non-finite participations, a non-finite `epsilon`, `bins` < 1 or a
        wrong `ax`.
    """
    arrays = _participations(participations)
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float | np.floating) or \
            not np.isfinite(epsilon):
        raise PlotError(f"epsilon must be a finite number (the pruning threshold); got "
                        f"{epsilon!r}")
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise PlotError(f"bins must be an int >= 1; got {bins!r}")
    figure, axes, _ = _axes(ax, len(arrays), "run", grid=(1, len(arrays)),
                            figsize=(4 * len(arrays), 3.2))
    for axis, (name, s) in zip(axes, arrays.items(), strict=True):
        axis.hist(s, bins=np.linspace(0.0, 1.0, int(bins) + 1), color="tab:blue")
        axis.axvline(epsilon, color="black", linestyle="--", label=f"epsilon = {epsilon:g}")
        axis.set_title(name, fontsize="small")
        axis.set_xlabel("final participation s")
        axis.set_yscale("log")
    axes[0].set_ylabel("players")
    axes[0].legend(fontsize="small")
    return _finish(figure, path)


# ---------------------------------------------------------------------------- summaries
def _summary_rows(summary: object) -> list[Mapping[str, object]]:
    """`summary` (`analysis.tables.aggregate` output) as a non-empty list of mappings."""
    if isinstance(summary, Mapping) or isinstance(summary, str | bytes) or \
            not isinstance(summary, Sequence):
        raise PlotError(f"summary must be a list of dicts (analysis.tables.aggregate "
                        f"output); got {type(summary).__name__}")
    rows = list(summary)
    if not rows:
        raise PlotError("summary is empty: there is nothing to plot")
    if not all(isinstance(row, Mapping) for row in rows):
        raise PlotError("summary must hold dicts (analysis.tables.aggregate output)")
    return rows


def _require(rows: Sequence[Mapping[str, object]], column: str, argument: str) -> None:
    """A PlotError naming `argument` when some row lacks `column`."""
    missing = sum(column not in row for row in rows)
    if missing:
        known = sorted({key for row in rows for key in row})
        raise PlotError(f"{argument}: {missing} summary rows have no column {column!r}; "
                         f"columns: {known}")


def _number(value: object, default: float = np.nan) -> float:
    """A summary cell as a float (None is `default`)."""
    return default if value is None else float(value)


def pareto_front(summary: Sequence[Mapping[str, object]], path: str | os.PathLike | None = None,
                 *, dense_accuracy: float | None = None, x: str = "sparsity",
                 y: str = "accuracy", group: str = "method", title: str | None = None,
                 front_groups: Sequence[str] | None = None,
                 ax: Axes | None = None) -> Figure:
    """Accuracy against sparsity per method, with the overall Pareto front.

    Parameters
    ----------
    summary : sequence of dict
        `analysis.tables.aggregate` output with columns ``<x>_mean``, ``<x>_std``,
        ``<y>_mean``, ``<y>_std`` (None std is drawn as 0) and `group`: one row per method
        and operating point (a target sparsity, a game setting), averaged over seeds.
    path : path, optional
        Where to write the figure.
    dense_accuracy : float, optional
        Accuracy of the unpruned model, drawn as a horizontal dashed line.
    x, y : str
        The summarised columns on the horizontal and vertical axes; both are maximized.
    group : str
        The column naming the method: one line with error bars (standard deviation over seeds
        on both axes) per value, its points joined in order of increasing x.
    title : str, optional
        Figure title.
    front_groups : sequence of str, optional
        The groups whose points may enter the front (default: every group), e.g. to keep
        unstructured methods, whose sparsity counts weights rather than units, off it.
    ax : Axes, optional
        Draw there instead of in a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The non-dominated mean points (`analysis.tables.pareto_mask`) are joined by a thin
        black step line: the boundary of the region they dominate.

    Raises
    ------
    PlotError
        For an empty summary, a missing column (the message names `x`, `y` or `group`), a
        wrong `ax`, or when no point with finite means is left for the front.
    """
    rows = _summary_rows(summary)
    for column, argument in ((f"{x}_mean", "x"), (f"{y}_mean", "y"), (group, "group")):
        _require(rows, column, argument)
    if dense_accuracy is not None and not np.isfinite(_number(dense_accuracy)):
        raise PlotError(f"dense_accuracy must be a finite number or None; got "
                        f"{dense_accuracy!r}")
    allowed = None if front_groups is None else {str(name) for name in front_groups}
    candidates = np.array([(_number(r[f"{x}_mean"]), _number(r[f"{y}_mean"])) for r in rows
                           if allowed is None or str(r[group]) in allowed], dtype=float)
    candidates = candidates.reshape(-1, 2)
    candidates = candidates[np.all(np.isfinite(candidates), axis=1)]
    if candidates.size == 0:
        raise PlotError("summary has no point with finite means for the Pareto front "
                        "(check front_groups and the x and y columns)")
    figure, (axis,), _ = _axes(ax, 1, "plot", grid=(1, 1), figsize=(8.5, 5.5))
    names = list(dict.fromkeys(str(row[group]) for row in rows))
    colors = matplotlib.colormaps["tab10"].colors
    markers = "osD^v<>ph*XP"
    for index, name in enumerate(names):
        points = sorted(((_number(r[f"{x}_mean"]), _number(r[f"{y}_mean"]),
                          _number(r.get(f"{x}_std"), 0.0), _number(r.get(f"{y}_std"), 0.0))
                         for r in rows if str(r[group]) == name), key=lambda p: p[0])
        xs, ys, x_err, y_err = (np.asarray(column) for column in zip(*points, strict=True))
        axis.errorbar(xs, ys, xerr=x_err, yerr=y_err, color=colors[index % len(colors)],
                      linestyle=("-", "--", ":")[index // len(colors) % 3],
                      marker=markers[index % len(markers)], markersize=4, linewidth=1.2,
                      capsize=2, label=name)
    front = candidates[pareto_mask(candidates[:, 0], candidates[:, 1])]
    front = front[np.lexsort((-front[:, 1], front[:, 0]))]
    axis.step(front[:, 0], front[:, 1], where="pre", color="black", linewidth=0.8,
              label="Pareto front", zorder=5)
    if dense_accuracy is not None:
        axis.axhline(float(dense_accuracy), color="gray", linestyle="--", linewidth=1.0,
                     label=f"dense ({float(dense_accuracy):.3f})")
    axis.set_xlabel(f"{x} (mean ± std over seeds)")
    axis.set_ylabel(f"{y} (mean ± std over seeds)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    if title:
        axis.set_title(title)
    return _finish(figure, path)


def _categories(values: Sequence[object]) -> list[object]:
    """Distinct values, numbers sorted ascending, anything else in first-seen order."""
    distinct = list(dict.fromkeys(values))
    if all(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
           for v in distinct):
        return sorted(distinct)
    return distinct


def phase_diagram(summary: Sequence[Mapping[str, object]],
                  path: str | os.PathLike | None = None, *,
                  x: str = "beta", y: str = "gamma",
                  values: Sequence[str] = ("sparsity", "accuracy"),
                  title: str | None = None,
                  ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """One annotated heatmap per summarised value over a grid of two parameters.

    Parameters
    ----------
    summary : sequence of dict
        `analysis.tables.aggregate` output grouped by `x` and `y`, with ``<value>_mean``
        (and optionally ``<value>_std``) for each of `values`: one row per grid cell.
    path : path, optional
        Where to write the figure.
    x, y : str
        The grid parameters, on the horizontal and vertical axes. Their values are
        categorical ticks (numbers sorted, so a log-spaced grid with 0 is evenly spaced and
        0 keeps its own column); a missing cell is left blank.
    values : sequence of str
        The summarised columns, one panel each; every cell shows its mean over seeds (and
        ``± std`` when the std is positive).
    title : str, optional
        Figure title.
    ax : Axes or sequence of Axes, optional
        One Axes per value to draw into (each gets its colour bar).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    PlotError
        For an empty summary or `values`, a missing column (the message names `x`, `y` or
        `values`), two rows for the same cell, or a wrong `ax`.
    """
    rows = _summary_rows(summary)
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise PlotError(f"values must be a sequence of column names (e.g. ['sparsity']); "
                        f"got {values!r}")
    values = list(values)
    if not values:
        raise PlotError("values must name at least one summarised column")
    _require(rows, x, "x")
    _require(rows, y, "y")
    for value in values:
        _require(rows, f"{value}_mean", "values")
    columns, lines = _categories([r[x] for r in rows]), _categories([r[y] for r in rows])
    cells: dict[tuple[int, int], Mapping[str, object]] = {}
    for row in rows:
        cell = (lines.index(row[y]), columns.index(row[x]))
        if cell in cells:
            raise PlotError(f"summary has two rows for the cell {x}={row[x]!r}, "
                            f"{y}={row[y]!r}: aggregate by [{x!r}, {y!r}] first")
        cells[cell] = row
    n_cols = min(2, len(values))
    n_rows = -(-len(values) // n_cols)
    figure, axes, _ = _axes(ax, len(values), "value", grid=(n_rows, n_cols),
                            layout="constrained",
                            figsize=(n_cols * (0.9 * len(columns) + 2.2),
                                     n_rows * (0.6 * len(lines) + 1.4)))
    for axis, value in zip(axes, values, strict=True):
        means = np.full((len(lines), len(columns)), np.nan)
        stds = np.zeros_like(means)
        for (i, j), row in cells.items():
            means[i, j] = _number(row[f"{value}_mean"])
            stds[i, j] = _number(row.get(f"{value}_std"), 0.0)
        image = axis.imshow(np.ma.masked_invalid(means), origin="lower", cmap="viridis",
                            aspect="auto")
        figure.colorbar(image, ax=axis)
        finite = means[np.isfinite(means)]
        middle = 0.5 * (finite.min() + finite.max()) if finite.size else 0.0
        for (i, j), _ in cells.items():
            if not np.isfinite(means[i, j]):
                continue
            text = f"{means[i, j]:.2f}"
            if np.isfinite(stds[i, j]) and stds[i, j] > 0:
                text += f"\n±{stds[i, j]:.2f}"
            axis.text(j, i, text, ha="center", va="center", fontsize="x-small",
                      color="black" if means[i, j] > middle else "white")
        axis.set_xticks(range(len(columns)), [f"{v:g}" if isinstance(v, float) else str(v)
                                              for v in columns])
        axis.set_yticks(range(len(lines)), [f"{v:g}" if isinstance(v, float) else str(v)
                                            for v in lines])
        axis.set_xlabel(x)
        axis.set_ylabel(y)
        axis.set_title(f"{value} (mean over seeds)", fontsize="small")
    if title:
        figure.suptitle(title)
    return _finish(figure, path)


def _gap_history(name: object, result: object) -> np.ndarray:
    """The relative Nash gap per iteration of one solver run, validated."""
    history = getattr(result, "history", result)
    try:
        gaps = np.asarray(history, dtype=float)
    except (TypeError, ValueError):
        raise PlotError(f"results[{name!r}] must be an EquilibriumResult or a 1-D array of "
                        f"relative Nash gaps; got {type(result).__name__}") from None
    if gaps.ndim != 1 or gaps.size == 0:
        raise PlotError(f"results[{name!r}] must hold a non-empty 1-D array of relative Nash "
                        f"gaps (one per iteration); got shape {gaps.shape}")
    if np.any(np.isnan(gaps)) or np.any(gaps < 0):
        raise PlotError(f"results[{name!r}] holds a NaN or negative gap; a Nash gap is >= 0")
    return gaps


def solver_convergence(results: Mapping[str, object], path: str | os.PathLike | None = None,
                       *, tol: float | None = None, title: str | None = None,
                       xscale: str = "linear", ax: Axes | None = None) -> Figure:
    """Relative Nash gap against iteration, one line per solver (semilog-y).

    The Nash gap ``max_i [U_i(BR_i(s), s_-i) - U_i(s)]`` (Shah & Khan 2025, Eq. 11, relative to
    the payoff scale; `equilibria.nash_gap`) is the certificate every solver stops on, so its
    history compares solvers on one scale.

    Parameters
    ----------
    results : mapping of solver name -> EquilibriumResult or 1-D array
        ``EquilibriumResult.history`` (index 0 is the starting profile) or the gaps themselves.
        Exact zeros are drawn at a floor one decade below the smallest positive gap (or `tol`).
    path : path, optional
        Where to write the figure.
    tol : float, optional
        The solvers' tolerance, drawn as a dashed horizontal line.
    title : str, optional
        Figure title.
    xscale : {"linear", "log"}, default "linear"
        "log" is symmetric-log (linear below 1) so that iteration 0 stays on the axis.
    ax : Axes, optional
        Draw there instead of in a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    PlotError
        For an empty mapping, a history that is not a non-empty 1-D array of gaps >= 0, a
        non-positive `tol`, an unknown `xscale` or a wrong `ax`.
    """
    if not isinstance(results, Mapping) or not results:
        raise PlotError("results must be a non-empty mapping of solver name -> "
                        "EquilibriumResult (or 1-D array of relative Nash gaps)")
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, int | float)
                            or not (np.isfinite(tol) and tol > 0)):
        raise PlotError(f"tol must be a finite number > 0 or None; got {tol!r}")
    if xscale not in ("linear", "log"):
        raise PlotError(f"xscale must be 'linear' or 'log'; got {xscale!r}")
    histories = {str(name): _gap_history(name, result) for name, result in results.items()}
    positive = [h[np.isfinite(h) & (h > 0)] for h in histories.values()]
    smallest = min([float(p.min()) for p in positive if p.size] + ([tol] if tol else []),
                   default=1e-16)
    floor = smallest / 10.0
    figure, (axis,), _ = _axes(ax, 1, "plot", grid=(1, 1), figsize=(7, 4.2))
    for name, gaps in histories.items():
        marker = "." if gaps.size <= 60 else None
        axis.semilogy(np.arange(gaps.size), np.maximum(gaps, floor), marker=marker,
                      label=f"{name} ({gaps.size - 1} it., final {gaps[-1]:.1e})")
    if tol is not None:
        axis.axhline(tol, color="black", linestyle="--", label=f"tol = {tol:g}")
    if xscale == "log":
        axis.set_xscale("symlog", linthresh=1.0)
    axis.set_xlim(left=0)
    axis.set_xlabel("iteration")
    axis.set_ylabel("relative Nash gap")
    axis.legend(fontsize="x-small")
    axis.grid(True, which="major", alpha=0.3)
    if title:
        axis.set_title(title, fontsize="small")
    return _finish(figure, path)


def _eigenvalues(label: object, values: object) -> np.ndarray:
    """A validated 1-D complex array of eigenvalues."""
    try:
        array = np.asarray(values, dtype=complex)
    except (TypeError, ValueError):
        raise PlotError(f"spectra[{label!r}] must be a 1-D array of (complex) eigenvalues; "
                        f"got {type(values).__name__}") from None
    if array.ndim != 1:
        raise PlotError(f"spectra[{label!r}] must be a 1-D array of eigenvalues; got shape "
                        f"{array.shape}")
    if not np.all(np.isfinite(array)):
        raise PlotError(f"spectra[{label!r}] holds a non-finite eigenvalue")
    return array


def stability_spectra(spectra: Mapping[str, object], path: str | os.PathLike | None = None,
                      *, title: str | None = None,
                      ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Eigenvalues of the Jacobian's free block in the complex plane, Re = 0 as the boundary.

    A profile is locally asymptotically stable under the projected gradient flow (the paper's
    Eq. 17 in continuous time) when every eigenvalue of ``J_FF``, the free players' block of
    ``J = -2 diag(q) - R`` (Eq. 13/18), has a negative real part
    (`equilibria.analyze_stability`): points right of the imaginary axis are repelling
    directions, and the legend counts them.

    Parameters
    ----------
    spectra : mapping of label -> eigenvalues, or label -> mapping of label -> eigenvalues
        e.g. ``StabilityReport.eigenvalues``. A plain array gets its own panel; a nested
        mapping puts its arrays in one panel, one colour each (e.g. ``{"config A": {"at s":
        ..., "at the nearest equilibrium": ...}}``). An empty array (no free player) is
        allowed.
    path : path, optional
        Where to write the figure.
    title : str, optional
        Figure title.
    ax : Axes or sequence of Axes, optional
        One Axes per panel to draw into.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    PlotError
        For an empty mapping (or empty panel), eigenvalues that are not a finite 1-D array,
        or a wrong `ax`.
    """
    if not isinstance(spectra, Mapping) or not spectra:
        raise PlotError("spectra must be a non-empty mapping of label -> eigenvalues (or "
                        "label -> mapping of label -> eigenvalues)")
    panels: dict[str, dict[str, np.ndarray]] = {}
    for label, values in spectra.items():
        if isinstance(values, Mapping):
            if not values:
                raise PlotError(f"spectra[{label!r}] is an empty mapping; give at least one "
                                "array of eigenvalues")
            panels[str(label)] = {str(k): _eigenvalues(f"{label}/{k}", v)
                                  for k, v in values.items()}
        else:
            panels[str(label)] = {str(label): _eigenvalues(label, values)}
    columns = min(len(panels), 3)
    rows = -(-len(panels) // columns)
    figure, axes, own = _axes(ax, len(panels), "panel", grid=(rows, columns),
                              figsize=(4.6 * columns, 3.8 * rows))
    for axis, (panel, series) in zip(axes, panels.items(), strict=True):
        for k, (name, values) in enumerate(series.items()):
            marker = "oxs^v<>"[k % 7]
            unstable = int((values.real > 0).sum())
            label = f"{name}: {unstable} of {values.size} with Re > 0" if len(series) > 1 \
                else f"{unstable} of {values.size} with Re > 0"
            axis.scatter(values.real, values.imag, s=14, marker=marker, alpha=0.7,
                         label=label)
        axis.axvline(0.0, color="tab:red", linestyle="--", linewidth=1,
                     label="Re = 0 (stability boundary)")
        axis.axhline(0.0, color="grey", linewidth=0.5)
        axis.set_xlabel("Re(eigenvalue of J_FF)")
        axis.set_ylabel("Im")
        axis.set_title(panel, fontsize="small")
        axis.legend(fontsize="x-small")
    if title:
        figure.suptitle(title)
    if own:
        figure.tight_layout()
    return _finish(figure, path)
