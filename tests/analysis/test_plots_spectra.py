"""`analysis.plots.solver_convergence` and `stability_spectra`: files written, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from analysis.plots import solver_convergence, stability_spectra
from equilibria import ParticipationGame, analyze_stability, solve

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


@pytest.fixture(scope="module")
def game() -> ParticipationGame:
    rng = np.random.default_rng(3)
    R = rng.uniform(-0.3, 0.3, (6, 6))
    return ParticipationGame(rng.uniform(-1, 2, 6), rng.uniform(0.5, 1.5, 6), 0.1,
                             0.5 * (R + R.T))


def test_solver_convergence_writes_png(game: ParticipationGame, tmp_path: Path) -> None:
    results = {"newton": solve(game, "newton", tol=1e-12),
               "projected_gradient": solve(game, "projected_gradient", tol=1e-12),
               "given as array": np.array([1.0, 0.1, 1e-3, 0.0])}
    path = tmp_path / "sub" / "conv.png"
    figure = solver_convergence(results, path, tol=1e-12, title="six players")
    assert isinstance(figure, Figure) and _is_png(path)
    assert len(figure.axes[0].get_lines()) == len(results) + 1  # one per solver, and tol
    solver_convergence(results, tmp_path / "conv_log.png", xscale="log")
    assert _is_png(tmp_path / "conv_log.png")
    assert not list(tmp_path.glob("**/*.tmp*"))  # written atomically, nothing left over


def test_stability_spectra_writes_png(game: ParticipationGame, tmp_path: Path) -> None:
    equilibrium = solve(game, "newton", tol=1e-12).profile
    report = analyze_stability(game, equilibrium)
    spectra = {"equilibrium": report.eigenvalues,
               "complex": np.array([-1 + 2j, -1 - 2j, 0.5 + 0j]),
               "two colours": {"at s": [-1.0, -2.0], "elsewhere": np.array([0.3, -0.1j])},
               "no free player": np.zeros(0, dtype=complex)}
    figure = stability_spectra(spectra, tmp_path / "spectra.png", title="test")
    assert _is_png(tmp_path / "spectra.png")
    assert sum(axis.get_visible() for axis in figure.axes) == len(spectra)


@pytest.mark.parametrize(("results", "kwargs", "match"), [
    ({}, {}, "non-empty mapping"),
    ([np.ones(3)], {}, "non-empty mapping"),
    ({"a": np.ones((2, 2))}, {}, r"results\['a'\].*1-D"),
    ({"a": np.array([])}, {}, r"results\['a'\].*non-empty"),
    ({"a": np.array([1.0, -0.5])}, {}, "negative"),
    ({"a": np.array([1.0, np.nan])}, {}, "NaN"),
    ({"a": "not gaps"}, {}, r"results\['a'\]"),
    ({"a": np.ones(3)}, {"tol": 0.0}, "tol"),
    ({"a": np.ones(3)}, {"tol": float("nan")}, "tol"),
    ({"a": np.ones(3)}, {"xscale": "loglog"}, "xscale"),
])
def test_solver_convergence_rejects_bad_input(results: object, kwargs: dict, match: str,
                                              tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=match):
        solver_convergence(results, tmp_path / "bad.png", **kwargs)
    assert not (tmp_path / "bad.png").exists()


@pytest.mark.parametrize(("spectra", "match"), [
    ({}, "non-empty mapping"),
    (np.ones(3), "non-empty mapping"),
    ({"a": np.ones((2, 2))}, r"spectra\['a'\].*1-D"),
    ({"a": np.array([1.0, np.inf])}, "non-finite"),
    ({"a": ["x", "y"]}, r"spectra\['a'\]"),
    ({"a": {}}, r"spectra\['a'\] is an empty mapping"),
    ({"a": {"b": np.ones((1, 2))}}, r"spectra\['a/b'\]"),
])
def test_stability_spectra_rejects_bad_input(spectra: object, match: str,
                                             tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=match):
        stability_spectra(spectra, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
