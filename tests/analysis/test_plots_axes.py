"""`analysis.plots` leaves matplotlib's global state alone, draws into a given ``ax`` and
returns the Figure, with or without a path."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis import plots
from analysis.plots import PlotError

ROOT = Path(__file__).resolve().parents[2]
RECORDS = [{"epoch": e, "test_accuracy": 0.5 + e / 10, "below_epsilon": e / 20,
            "mean_participation": 1 - e / 10, "active_per_layer": [4 - e, 3]} for e in (1, 2, 3)]
SUMMARY = [{"method": m, "beta": b, "gamma": g, "sparsity_mean": 0.2 + b + g,
            "sparsity_std": 0.01, "accuracy_mean": 0.9 - b, "accuracy_std": None, "n": 2}
           for m, b, g in (("a", 0.0, 0.0), ("a", 0.1, 0.0), ("b", 0.0, 0.1), ("b", 0.1, 0.1))]

#: Each plot function with arguments that draw `n` panels: (name, call(ax, path), n).
CASES: list[tuple[str, Callable[..., Figure], int]] = [
    ("training_dynamics", lambda ax, path: plots.training_dynamics(
        {"run": RECORDS, "other": RECORDS[:2]}, path, ax=ax), 4),
    ("participation_histogram", lambda ax, path: plots.participation_histogram(
        {"run": np.linspace(0, 1, 30)}, 0.01, path, ax=ax), 1),
    ("participation_histogram x2", lambda ax, path: plots.participation_histogram(
        {"a": np.linspace(0, 1, 30), "b": np.zeros(5)}, 0.01, path, ax=ax), 2),
    ("pareto_front", lambda ax, path: plots.pareto_front(SUMMARY, path, ax=ax), 1),
    ("phase_diagram", lambda ax, path: plots.phase_diagram(
        SUMMARY, path, values=("sparsity",), ax=ax), 1),
    ("solver_convergence", lambda ax, path: plots.solver_convergence(
        {"newton": np.array([1.0, 1e-3, 0.0])}, path, tol=1e-8, ax=ax), 1),
    ("stability_spectra", lambda ax, path: plots.stability_spectra(
        {"s": np.array([-1 + 1j, -1 - 1j]), "t": np.array([0.5])}, path, ax=ax), 2),
]
IDS = [name for name, _, _ in CASES]


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT)})
    return result.stdout.strip()


def test_importing_and_plotting_keep_the_backend_and_never_load_pyplot(tmp_path: Path) -> None:
    out = _run("import sys, matplotlib\n"
               "matplotlib.use('svg')\n"
               "from analysis import plots\n"
               "import numpy as np\n"
               f"plots.participation_histogram({{'a': np.ones(3)}}, 0.01, r'{tmp_path}/h.png')\n"
               "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    assert out == "svg False"
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(("name", "draw", "n"), CASES, ids=IDS)
def test_each_function_returns_its_figure_and_writes_it_when_given_a_path(
        name: str, draw: Callable[..., Figure], n: int, tmp_path: Path) -> None:
    figure = draw(None, None)
    assert isinstance(figure, Figure)
    assert sum(axis.get_visible() for axis in figure.axes if not _is_colorbar(axis)) == n
    assert list(tmp_path.iterdir()) == []
    path = tmp_path / f"{name}.svg"
    draw(None, path)
    assert path.read_text().lstrip().startswith("<?xml")  # the format the suffix names


@pytest.mark.parametrize(("name", "draw", "n"), CASES, ids=IDS)
def test_each_function_draws_into_the_given_axes_and_returns_their_figure(
        name: str, draw: Callable[..., Figure], n: int, tmp_path: Path) -> None:
    host = Figure()
    axes = host.subplots(1, n + 1)  # one more than needed: it must stay empty
    given = axes[0] if n == 1 else list(axes[:n])
    returned = draw(given, tmp_path / "drawn.png")
    assert returned is host
    assert all(_has_artists(axis) for axis in axes[:n])
    assert not _has_artists(axes[n])
    assert (tmp_path / "drawn.png").stat().st_size > 0


def test_a_subfigure_axes_returns_the_top_figure() -> None:
    host = Figure()
    axis = host.subfigures(1, 2)[1].subplots()
    assert plots.pareto_front(SUMMARY, ax=axis) is host


@pytest.mark.parametrize("ax", ["axes", 3, [None]], ids=["str", "int", "list-of-None"])
def test_an_ax_that_is_not_axes_is_refused(ax: object) -> None:
    with pytest.raises(PlotError, match="^ax must"):
        plots.pareto_front(SUMMARY, ax=ax)


def test_the_wrong_number_of_axes_is_refused() -> None:
    axes = Figure().subplots(1, 2)
    with pytest.raises(PlotError, match="ax: this figure has 4 panels"):
        plots.training_dynamics({"run": RECORDS}, ax=list(axes))
    with pytest.raises(PlotError, match="same figure"):
        plots.stability_spectra({"s": [-1.0], "t": [-2.0]},
                                ax=[axes[0], Figure().subplots()])


def test_save_figure_closes_pyplot_figures_only(tmp_path: Path) -> None:
    out = _run("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
               "from analysis.plots import save_figure\n"
               "figure, _ = plt.subplots()\n"
               f"path = save_figure(figure, r'{tmp_path}/p.png')\n"
               "print(plt.get_fignums(), path.name)")
    assert out == "[] p.png"


def _is_colorbar(axis: Axes) -> bool:
    return axis.get_label() == "<colorbar>"


def _has_artists(axis: Axes) -> bool:
    return bool(axis.lines or axis.patches or axis.collections or axis.images)
