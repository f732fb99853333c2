"""papers.beyond.certificates: the quick study end to end (the certificate itself:
tests/equilibria/test_certify.py)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from equilibria import kkt_residual, nash_gap
from papers.beyond import certificates as study

CLASSES = {"stable", "unstable", "inconclusive"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certificates")
    assert study.main(["--quick", "--out", str(out)]) == 0
    return out


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "certificates.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_quick_run_writes_csv_and_figures(quick: Path) -> None:
    rows = _rows(quick)
    assert [r["config"] for r in rows] == list(study.study_configs())
    for row in rows:
        for column in ("nash_gap", "kkt_residual"):
            assert math.isfinite(float(row[column])) and float(row[column]) >= 0
        assert row["stability_at_s"] in CLASSES
        assert row["stability_at_nearest"] in CLASSES  # every quick game has one
        assert 0.0 <= float(row["jaccard"]) <= 1.0
        assert float(row["nearest_nash_gap"]) <= 1e-8
        assert row["is_equilibrium"] == str(float(row["nash_gap"]) <= study.EQUILIBRIUM_TOL)
        assert 0 <= int(row["stable_equilibria"]) <= int(row["distinct_equilibria"])
        assert 1 <= int(row["distinct_equilibria"])
        assert row["stability_at_newton"] in CLASSES | {"none"}
        assert int(row["starts_converged"]) <= int(row["starts"])
    for name in ("certificates_stability_spectra.png", "certificates_solver_convergence.png",
                 "certificates_solvers.csv"):
        assert (quick / name).stat().st_size > 0


def test_nearest_equilibrium_is_an_equilibrium_of_the_stored_game(quick: Path) -> None:
    """Property: the reported nearest equilibrium has relative Nash gap <= 1e-8 on the final
    game, and the reported gap and residual of s are those of the stored game."""
    rows = {r["config"]: r for r in _rows(quick)}
    for npz in sorted((quick / "runs").glob("*.npz")):
        game, s, _ = study.load_run_game(npz)
        record = json.loads(npz.with_suffix(".json").read_text())
        nearest = np.asarray(record["certificate"]["nearest_profile"])
        assert nash_gap(game, nearest) <= 1e-8
        assert float(np.abs(nearest - s).max()) == pytest.approx(
            record["row"]["nearest_distance"])
        row = rows[record["row"]["config"]]
        assert float(row["nash_gap"]) == pytest.approx(nash_gap(game, s), rel=1e-9)
        assert float(row["kkt_residual"]) == pytest.approx(
            kkt_residual(game, s, ord=np.inf), rel=1e-9)


def test_rerun_resumes_without_retraining(quick: Path) -> None:
    stamps = {p: p.stat().st_mtime_ns for p in (quick / "runs").iterdir()}
    assert study.main(["--quick", "--out", str(quick)]) == 0
    assert {p: p.stat().st_mtime_ns for p in (quick / "runs").iterdir()} == stamps


def test_help_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        study.main(["--help"])
    assert exit_info.value.code == 0 and "--quick" in capsys.readouterr().out
    for argv in (["--seeds", "a,b"], ["--seeds", "1,1"], ["--epochs", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            study.main(argv)
        assert exit_info.value.code == 2


def test_the_study_reexports_the_certificate_of_equilibria() -> None:
    from equilibria import certify

    assert study.certify is certify.certify and study.Certificate is certify.Certificate
    assert study.SolveBudget is certify.SolveBudget
