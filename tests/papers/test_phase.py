"""`papers.beyond.phase`: the grid it builds, and ``main --quick`` end to end (CSVs, figure,
resuming without re-running)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from analysis.sweeps import RESULTS_NAME
from papers.beyond import phase


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_default_grid_is_at_least_5_by_5_with_zero_and_two_seeds() -> None:
    assert len(phase.BETAS) >= 5 and len(phase.GAMMAS) >= 5
    assert 0.0 in phase.BETAS and 0.0 in phase.GAMMAS
    for axis in (phase.BETAS, phase.GAMMAS):
        positive = [v for v in axis if v > 0]
        assert positive == sorted(positive)
        ratios = [b / a for a, b in zip(positive, positive[1:], strict=False)]
        assert all(2.5 <= r <= 3.5 for r in ratios)  # half-decade steps: log-spaced
    runs = phase.configs()
    assert len(runs) == 2 * len(phase.BETAS) * len(phase.GAMMAS)
    assert len({c.key for c in runs}) == len(runs)
    assert all(c.method == "equilibrium" and c.sparsity is None for c in runs)
    assert {c.options.get("beta", 0.0) for c in runs} == set(phase.BETAS)


def test_configs_reject_empty_axes() -> None:
    with pytest.raises(ValueError, match="gammas must not be empty"):
        phase.configs(gammas=())


def test_quick_run_writes_tables_and_figure_and_resumes(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    out = tmp_path / "phase"
    assert phase.main(["--quick", "--out", str(out)]) == 0
    assert "| beta | gamma |" in capsys.readouterr().out
    quick = phase.QUICK
    cells = {(b, g) for b in quick["betas"] for g in quick["gammas"]}
    summary = read_csv(out / "phase.csv")
    assert {(float(r["beta"]), float(r["gamma"])) for r in summary} == cells
    for row in summary:
        assert row["n"] == "1"
        for name in phase.VALUES:
            assert math.isfinite(float(row[f"{name}_mean"]))
            assert row[f"{name}_std"] == ""  # undefined for one seed
        assert 0.0 <= float(row["sparsity_mean"]) <= 1.0
    assert len(read_csv(out / "runs.csv")) == len(cells)
    assert (out / "phase.png").stat().st_size > 1000
    lines = (out / RESULTS_NAME).read_text().count("\n")
    assert lines == len(cells)

    assert phase.main(["--quick", "--out", str(out)]) == 0  # resumes: nothing to run
    assert (out / RESULTS_NAME).read_text().count("\n") == lines


def test_help_exits_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        phase.main(["--help"])
    assert exit_info.value.code == 0
    assert "--quick" in capsys.readouterr().out
