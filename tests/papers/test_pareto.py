"""`papers.beyond.pareto`: the sweep it builds, and ``main --quick`` end to end (CSVs, figure,
resuming without re-running)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from analysis.sweeps import RESULTS_NAME
from nets.baselines import REGISTRY
from papers.beyond import pareto


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_default_configs_share_one_budget_and_cover_every_method() -> None:
    runs = pareto.configs()
    assert {(c.epochs, c.lr, c.batch_size, c.optimizer) for c in runs} == \
        {(pareto.DEFAULT_EPOCHS, 1e-3, 128, "adam")}
    assert {c.seed for c in runs} == {0, 1, 2}
    assert sum(c.method == "dense" for c in runs) == 3
    for method in REGISTRY:
        targets = {(c.seed, c.sparsity) for c in runs if c.method == method and c.sparsity}
        assert targets == {(s, t) for s in (0, 1, 2) for t in pareto.DEFAULT_SPARSITIES}
    emergent = [c for c in runs if c.method == "equilibrium" and c.sparsity is None]
    assert len(emergent) == 3 * len(pareto.GRID_BETAS) * len(pareto.GRID_GAMMAS)
    assert all(c.options["payoff"] == "loss_descent" and c.options["eta"] > 0
               and c.options["overlap"] == "activations" for c in emergent)
    assert [c.granularity for c in runs if c.method == "magnitude"][0] == "unstructured"
    assert len({c.key for c in runs}) == len(runs)


def test_configs_reject_unknown_methods_and_empty_lists() -> None:
    with pytest.raises(ValueError, match="methods: unknown"):
        pareto.configs(methods=["nope"])
    with pytest.raises(ValueError, match="sparsities must not be empty"):
        pareto.configs(sparsities=())


def test_labels_and_points() -> None:
    assert pareto.label({"method": "equilibrium", "sparsity": None,
                         "pruning": {"beta": 0.1}}) == "equilibrium (emergent, beta=0.1)"
    assert pareto.label({"method": "equilibrium", "sparsity": 0.5}) == "equilibrium (ranked)"
    assert pareto.label({"method": "magnitude", "sparsity": 0.5,
                         "granularity": "unstructured"}) == "magnitude (unstructured)"
    assert pareto.point({"method": "snip", "sparsity": 0.9}) == "0.9"
    assert pareto.point({"method": "equilibrium", "sparsity": None,
                         "pruning": {"gamma": 0.1}}) == "gamma=0.1"
    assert pareto.label({"method": "equilibrium", "sparsity": None,
                         "pruning": {"gamma": 0.1}}) == "equilibrium (emergent, beta=0)"


def test_help_exits_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        pareto.main(["--help"])
    assert exit_info.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_quick_run_writes_tables_and_figure_and_resumes(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    out = tmp_path / "pareto"
    assert pareto.main(["--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| method | point |" in printed
    runs = read_csv(out / "runs.csv")
    summary = read_csv(out / "pareto.csv")
    quick = pareto.QUICK
    expected = {"dense", "random", "magnitude (unstructured)", "equilibrium (ranked)",
                "equilibrium (emergent, beta=0.01)"}
    assert {r["method"] for r in runs} == expected == {r["method"] for r in summary}
    n_runs = (1 + len(quick["methods"]) * len(quick["sparsities"])
              + len(quick["betas"]) * len(quick["gammas"]))
    assert len(runs) == n_runs
    points = {(r["method"], r["point"]) for r in summary}
    assert {("random", "0.5"), ("random", "0.8"), ("equilibrium (emergent, beta=0.01)",
                                                   "gamma=0.1")} <= points
    for row in summary:
        assert row["n"] == "1"
        for column in ("sparsity_mean", "accuracy_mean"):
            assert math.isfinite(float(row[column]))
        assert row["sparsity_std"] == row["accuracy_std"] == ""  # undefined for one seed
        assert 0.0 <= float(row["accuracy_mean"]) <= 1.0
    png = out / "pareto.png"
    assert png.stat().st_size > 1000
    lines = (out / RESULTS_NAME).read_text().count("\n")
    assert lines == n_runs

    assert pareto.main(["--quick", "--out", str(out)]) == 0  # resumes: nothing to run
    assert (out / RESULTS_NAME).read_text().count("\n") == lines
