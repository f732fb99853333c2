"""Figures (matplotlib, headless): training dynamics and participation histograms.

- `training_dynamics`: the paper's Figure 1 (Shah & Khan 2025): test accuracy, sparsity, mean
  participation and active players against epoch, one curve per run.
- `participation_histogram`: the paper's Figure 2: the final participation of each run, with the
  pruning threshold epsilon as a dashed line.
- `pareto_front`: accuracy against sparsity per method (mean +- std over seeds, from
  `analysis.tables.aggregate`), the dense accuracy and the overall non-dominated points.
- `phase_diagram`: annotated heatmaps of summarised values over a grid of two parameters.
- `solver_convergence`: relative Nash gap against iteration per solver (semilog-y), the
  tolerance dashed.
- `stability_spectra`: eigenvalues of the Jacobian's free block in the complex plane, the
  imaginary axis (Re = 0) as the stability boundary.

Every function writes a PNG atomically (temporary file, then rename) and returns its path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.tables import pareto_mask  # noqa: E402
from equilibria.atomic import atomic_write  # noqa: E402

__all__ = ["pareto_front", "participation_histogram", "phase_diagram", "save_figure",
           "solver_convergence", "stability_spectra", "training_dynamics"]


def save_figure(figure: plt.Figure, path: str | os.PathLike) -> Path:
    """Write `figure` to `path` atomically and close it."""
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format=path.suffix[1:] or None, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def training_dynamics(histories: Mapping[str, Sequence[Mapping[str, object]]],
                      path: str | os.PathLike) -> Path:
    """Figure 1: accuracy, sparsity, mean participation and active players per epoch.

    Parameters
    ----------
    histories : mapping of run name -> sequence of epoch records (``EpochRecord.to_dict()``)
    path : where to write the PNG
    """
    panels = (("test_accuracy", "test accuracy"), ("sparsity", "sparsity (s < epsilon)"),
              ("mean_participation", "mean participation"), ("active", "active players"))
    figure, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for name, history in histories.items():
        epochs = [record["epoch"] for record in history]
        for axis, (key, label) in zip(axes.flat, panels, strict=True):
            if key == "active":
                values = [sum(record["active_per_layer"]) for record in history]
            else:
                values = [record[key] for record in history]
            axis.plot(epochs, values, marker=".", label=name)
            axis.set_ylabel(label)
    for axis in axes[1]:
        axis.set_xlabel("epoch")
    axes[0, 0].legend(fontsize="small")
    figure.suptitle("Equilibrium-driven pruning: training dynamics")
    return save_figure(figure, path)


def participation_histogram(participations: Mapping[str, np.ndarray], epsilon: float,
                            path: str | os.PathLike, bins: int = 40) -> Path:
    """Figure 2: histogram of the final participation per run, epsilon dashed."""
    figure, axes = plt.subplots(1, len(participations), figsize=(4 * len(participations), 3.2),
                                squeeze=False)
    for axis, (name, s) in zip(axes[0], participations.items(), strict=True):
        axis.hist(np.asarray(s), bins=np.linspace(0.0, 1.0, bins + 1), color="tab:blue")
        axis.axvline(epsilon, color="black", linestyle="--", label=f"epsilon = {epsilon:g}")
        axis.set_title(name, fontsize="small")
        axis.set_xlabel("final participation s")
        axis.set_yscale("log")
    axes[0, 0].set_ylabel("players")
    axes[0, 0].legend(fontsize="small")
    return save_figure(figure, path)


# ---------------------------------------------------------------------------- summaries
def _summary_rows(summary: object) -> list[Mapping[str, object]]:
    """`summary` (`analysis.tables.aggregate` output) as a non-empty list of mappings."""
    if isinstance(summary, Mapping) or isinstance(summary, str | bytes) or \
            not isinstance(summary, Sequence):
        raise ValueError(f"summary must be a list of dicts (analysis.tables.aggregate "
                         f"output); got {type(summary).__name__}")
    rows = list(summary)
    if not rows:
        raise ValueError("summary is empty: there is nothing to plot")
    if not all(isinstance(row, Mapping) for row in rows):
        raise ValueError("summary must hold dicts (analysis.tables.aggregate output)")
    return rows


def _require(rows: Sequence[Mapping[str, object]], column: str, argument: str) -> None:
    """A ValueError naming `argument` when some row lacks `column`."""
    missing = sum(column not in row for row in rows)
    if missing:
        known = sorted({key for row in rows for key in row})
        raise ValueError(f"{argument}: {missing} summary rows have no column {column!r}; "
                         f"columns: {known}")


def _number(value: object, default: float = np.nan) -> float:
    """A summary cell as a float (None is `default`)."""
    return default if value is None else float(value)


def pareto_front(summary: Sequence[Mapping[str, object]], path: str | os.PathLike, *,
                 dense_accuracy: float | None = None, x: str = "sparsity",
                 y: str = "accuracy", group: str = "method", title: str | None = None,
                 front_groups: Sequence[str] | None = None) -> Path:
    """Accuracy against sparsity per method, with the overall Pareto front.

    Parameters
    ----------
    summary : sequence of dict
        `analysis.tables.aggregate` output with columns ``<x>_mean``, ``<x>_std``,
        ``<y>_mean``, ``<y>_std`` (None std is drawn as 0) and `group`: one row per method
        and operating point (a target sparsity, a game setting), averaged over seeds.
    path : path
        Where to write the PNG.
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

    Returns
    -------
    Path
        `path`. The non-dominated mean points (`analysis.tables.pareto_mask`) are joined by a
        thin black step line: the boundary of the region they dominate.

    Raises
    ------
    ValueError
        For an empty summary, a missing column (the message names `x`, `y` or `group`), or
        when no point with finite means is left for the front.
    """
    rows = _summary_rows(summary)
    for column, argument in ((f"{x}_mean", "x"), (f"{y}_mean", "y"), (group, "group")):
        _require(rows, column, argument)
    if dense_accuracy is not None and not np.isfinite(_number(dense_accuracy)):
        raise ValueError(f"dense_accuracy must be a finite number or None; got "
                         f"{dense_accuracy!r}")
    figure, axis = plt.subplots(figsize=(8.5, 5.5))
    names = list(dict.fromkeys(str(row[group]) for row in rows))
    colors = plt.get_cmap("tab10").colors
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
    allowed = None if front_groups is None else {str(name) for name in front_groups}
    candidates = np.array([(_number(r[f"{x}_mean"]), _number(r[f"{y}_mean"])) for r in rows
                           if allowed is None or str(r[group]) in allowed], dtype=float)
    candidates = candidates.reshape(-1, 2)
    candidates = candidates[np.all(np.isfinite(candidates), axis=1)]
    if candidates.size == 0:
        plt.close(figure)
        raise ValueError("summary has no point with finite means for the Pareto front "
                         "(check front_groups and the x and y columns)")
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
    return save_figure(figure, path)


def _categories(values: Sequence[object]) -> list[object]:
    """Distinct values, numbers sorted ascending, anything else in first-seen order."""
    distinct = list(dict.fromkeys(values))
    if all(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
           for v in distinct):
        return sorted(distinct)
    return distinct


def phase_diagram(summary: Sequence[Mapping[str, object]], path: str | os.PathLike, *,
                  x: str = "beta", y: str = "gamma",
                  values: Sequence[str] = ("sparsity", "accuracy"),
                  title: str | None = None) -> Path:
    """One annotated heatmap per summarised value over a grid of two parameters.

    Parameters
    ----------
    summary : sequence of dict
        `analysis.tables.aggregate` output grouped by `x` and `y`, with ``<value>_mean``
        (and optionally ``<value>_std``) for each of `values`: one row per grid cell.
    path : path
        Where to write the PNG.
    x, y : str
        The grid parameters, on the horizontal and vertical axes. Their values are
        categorical ticks (numbers sorted, so a log-spaced grid with 0 is evenly spaced and
        0 keeps its own column); a missing cell is left blank.
    values : sequence of str
        The summarised columns, one panel each; every cell shows its mean over seeds (and
        ``± std`` when the std is positive).
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    ValueError
        For an empty summary or `values`, a missing column (the message names `x`, `y` or
        `values`), or two rows for the same cell.
    """
    rows = _summary_rows(summary)
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValueError(f"values must be a sequence of column names (e.g. ['sparsity']); "
                         f"got {values!r}")
    values = list(values)
    if not values:
        raise ValueError("values must name at least one summarised column")
    _require(rows, x, "x")
    _require(rows, y, "y")
    for value in values:
        _require(rows, f"{value}_mean", "values")
    columns, lines = _categories([r[x] for r in rows]), _categories([r[y] for r in rows])
    cells: dict[tuple[int, int], Mapping[str, object]] = {}
    for row in rows:
        cell = (lines.index(row[y]), columns.index(row[x]))
        if cell in cells:
            raise ValueError(f"summary has two rows for the cell {x}={row[x]!r}, "
                             f"{y}={row[y]!r}: aggregate by [{x!r}, {y!r}] first")
        cells[cell] = row
    n_cols = min(2, len(values))
    n_rows = -(-len(values) // n_cols)
    figure, axes = plt.subplots(n_rows, n_cols, squeeze=False, layout="constrained",
                                figsize=(n_cols * (0.9 * len(columns) + 2.2),
                                         n_rows * (0.6 * len(lines) + 1.4)))
    for axis in axes.flat[len(values):]:
        axis.set_visible(False)
    for axis, value in zip(axes.flat, values, strict=False):
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
    return save_figure(figure, path)


def _gap_history(name: object, result: object) -> np.ndarray:
    """The relative Nash gap per iteration of one solver run, validated."""
    history = getattr(result, "history", result)
    try:
        gaps = np.asarray(history, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"results[{name!r}] must be an EquilibriumResult or a 1-D array of "
                         f"relative Nash gaps; got {type(result).__name__}") from None
    if gaps.ndim != 1 or gaps.size == 0:
        raise ValueError(f"results[{name!r}] must hold a non-empty 1-D array of relative Nash "
                         f"gaps (one per iteration); got shape {gaps.shape}")
    if np.any(np.isnan(gaps)) or np.any(gaps < 0):
        raise ValueError(f"results[{name!r}] holds a NaN or negative gap; a Nash gap is >= 0")
    return gaps


def solver_convergence(results: Mapping[str, object], path: str | os.PathLike, *,
                       tol: float | None = None, title: str | None = None,
                       xscale: str = "linear") -> Path:
    """Relative Nash gap against iteration, one line per solver (semilog-y).

    The Nash gap ``max_i [U_i(BR_i(s), s_-i) - U_i(s)]`` (Shah & Khan 2025, Eq. 11, relative to
    the payoff scale; `equilibria.nash_gap`) is the certificate every solver stops on, so its
    history compares solvers on one scale.

    Parameters
    ----------
    results : mapping of solver name -> EquilibriumResult or 1-D array
        ``EquilibriumResult.history`` (index 0 is the starting profile) or the gaps themselves.
        Exact zeros are drawn at a floor one decade below the smallest positive gap (or `tol`).
    path : path
        Where to write the PNG.
    tol : float, optional
        The solvers' tolerance, drawn as a dashed horizontal line.
    title : str, optional
        Figure title.
    xscale : {"linear", "log"}, default "linear"
        "log" is symmetric-log (linear below 1) so that iteration 0 stays on the axis.

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    ValueError
        For an empty mapping, a history that is not a non-empty 1-D array of gaps >= 0, a
        non-positive `tol` or an unknown `xscale`.
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty mapping of solver name -> "
                         "EquilibriumResult (or 1-D array of relative Nash gaps)")
    if tol is not None and not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0 or None; got {tol!r}")
    if xscale not in ("linear", "log"):
        raise ValueError(f"xscale must be 'linear' or 'log'; got {xscale!r}")
    histories = {str(name): _gap_history(name, result) for name, result in results.items()}
    positive = [h[np.isfinite(h) & (h > 0)] for h in histories.values()]
    smallest = min([float(p.min()) for p in positive if p.size] + ([tol] if tol else []),
                   default=1e-16)
    floor = smallest / 10.0
    figure, axis = plt.subplots(figsize=(7, 4.2))
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
    return save_figure(figure, path)


def _eigenvalues(label: object, values: object) -> np.ndarray:
    """A validated 1-D complex array of eigenvalues."""
    try:
        array = np.asarray(values, dtype=complex)
    except (TypeError, ValueError):
        raise ValueError(f"spectra[{label!r}] must be a 1-D array of (complex) eigenvalues; "
                         f"got {type(values).__name__}") from None
    if array.ndim != 1:
        raise ValueError(f"spectra[{label!r}] must be a 1-D array of eigenvalues; got shape "
                         f"{array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"spectra[{label!r}] holds a non-finite eigenvalue")
    return array


def stability_spectra(spectra: Mapping[str, object], path: str | os.PathLike, *,
                      title: str | None = None) -> Path:
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
    path : path
        Where to write the PNG.
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    ValueError
        For an empty mapping (or empty panel) or eigenvalues that are not a finite 1-D array.
    """
    if not isinstance(spectra, Mapping) or not spectra:
        raise ValueError("spectra must be a non-empty mapping of label -> eigenvalues (or "
                         "label -> mapping of label -> eigenvalues)")
    panels: dict[str, dict[str, np.ndarray]] = {}
    for label, values in spectra.items():
        if isinstance(values, Mapping):
            if not values:
                raise ValueError(f"spectra[{label!r}] is an empty mapping; give at least one "
                                 "array of eigenvalues")
            panels[str(label)] = {str(k): _eigenvalues(f"{label}/{k}", v)
                                  for k, v in values.items()}
        else:
            panels[str(label)] = {str(label): _eigenvalues(label, values)}
    columns = min(len(panels), 3)
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.8 * rows),
                                squeeze=False)
    for axis, (panel, series) in zip(axes.flat, panels.items(), strict=False):
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
    for axis in list(axes.flat)[len(panels):]:
        axis.set_visible(False)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)
