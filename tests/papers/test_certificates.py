"""papers.beyond.certificates: the quick study end to end, and its certificates as properties."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equilibria import ParticipationGame, kkt_residual, nash_gap
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
        game, s, _ = study.load_game(npz)
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


def _random_game(seed: int, n: int, symmetric: bool, strength: float) -> ParticipationGame:
    rng = np.random.default_rng(seed)
    R = rng.uniform(-1.0, 1.0, (n, n)) * strength
    if symmetric:
        R = 0.5 * (R + R.T)
    return ParticipationGame(rng.uniform(-1.0, 2.0, n), rng.uniform(0.2, 1.0, n),
                             rng.uniform(0.0, 0.3, n), R)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 8), symmetric=st.booleans(),
       strength=st.sampled_from([0.0, 0.2, 1.0, 3.0]))
def test_certify_properties(seed: int, n: int, symmetric: bool, strength: float) -> None:
    game = _random_game(seed, n, symmetric, strength)
    s = np.random.default_rng(seed + 1).uniform(0.0, 1.0, n)
    certificate = study.certify(game, s, seed=seed,
                                budget=study.Budget(max_iter=1000, newton_max_iter=50,
                                                    random_starts=1))
    assert certificate.nash_gap >= 0 and certificate.kkt_residual >= 0
    assert certificate.is_equilibrium == (certificate.nash_gap <= study.EQUILIBRIUM_TOL)
    assert certificate.stability_at_s in CLASSES
    if certificate.nearest_profile is not None:
        assert nash_gap(game, certificate.nearest_profile) <= 1e-8
        assert 0.0 <= certificate.jaccard <= 1.0
        assert certificate.stability_at_nearest in CLASSES
        assert certificate.distinct_equilibria >= 1
    if certificate.monotone:  # Rosen: a unique equilibrium, so every start finds the same one
        assert certificate.distinct_equilibria <= 1
    back = study.Certificate.from_dict(json.loads(json.dumps(certificate.to_dict())))
    assert back.to_row().keys() == certificate.to_row().keys()
    assert back.nash_gap == certificate.nash_gap
    np.testing.assert_allclose(back.eigenvalues_at_s, certificate.eigenvalues_at_s)


def test_jaccard_and_distinct_profiles() -> None:
    assert study.jaccard(np.array([True, False]), np.array([False, False])) == 0.0
    assert study.jaccard(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    assert study.jaccard(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="same shape"):
        study.jaccard(np.zeros(2, bool), np.zeros(3, bool))
    profiles = [np.zeros(3), np.full(3, 5e-5), np.ones(3)]
    assert len(study.distinct_profiles(profiles)) == 2
    with pytest.raises(ValueError, match="tol"):
        study.distinct_profiles(profiles, tol=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        study.Budget(max_iter=0)
    with pytest.raises(TypeError, match="game"):
        study.certify(object(), np.zeros(2))  # type: ignore[arg-type]
