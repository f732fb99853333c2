"""`pruning-game reproduce paper --quick`: every table and figure, from runs that resume."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from analysis import cli, load_results
from papers.pruning_as_a_game import reproduce


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    assert cli.main(["reproduce", "paper", "--quick", "--out", str(out)]) == 0
    return out


def _csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_tables_and_figures_are_written(quick):
    for name in ("table1.md", "table2.md", "table2.csv", "section92.csv", "figure1_paper.png",
                 "figure2_paper.png", "figure1_loss_descent.png", "figure2_loss_descent.png"):
        assert (quick / name).stat().st_size > 0, name
    table = _csv(quick / "table2.csv")
    assert len(table) == 4 * 2 + 1  # Table 1 x two readings, and dense
    for row in table[:-1]:
        key = next(k for k, c in reproduce.PAPER_CONFIGS.items() if c.name == row["configuration"])
        assert float(row["paper_accuracy"]) == reproduce.PAPER_TABLE_2[key][0]
        assert 0 <= float(row["sparsity"]) <= 100 and 0 <= float(row["accuracy_removed"]) <= 100


def test_table2_sparsity_is_the_share_below_epsilon(quick):
    rows = load_results(quick / "runs")
    table = {(r["configuration"], r["reading"]): r for r in _csv(quick / "table2.csv")}
    for row in rows:
        config = row["config"]
        if config["method"] != "equilibrium" or config["tag"].startswith("l1_only"):
            continue
        s = np.asarray(row["participation"])
        name = config["pruning"]["name"]
        reading = config["pruning"].get("payoff", "paper")
        assert float(table[(name, reading)]["sparsity"]) == pytest.approx(100 * np.mean(s < 0.01))


def test_section92_probe_counts_exact_zeros(quick):
    rows = {(r["tag"], int(r["seed"])): r for r in _csv(quick / "section92.csv")}
    assert {"l1_only_0.01/paper", "l1_only_0.1/loss_descent"} <= {tag for tag, _ in rows}
    for row in rows.values():
        assert 0 <= float(row["exact_zero"]) <= float(row["below_epsilon"]) <= 1


def test_rerun_resumes_without_training(quick, capsys):
    lines = (quick / "runs" / "results.jsonl").read_text().count("\n")
    assert cli.main(["reproduce", "paper", "--quick", "--out", str(quick)]) == 0
    assert (quick / "runs" / "results.jsonl").read_text().count("\n") == lines
    assert "Table 2 on digits" in capsys.readouterr().out


def test_bad_reading_is_rejected(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["reproduce", "paper", "--readings", "literal"])
    assert exit_.value.code == 2
    assert "unknown ['literal']" in capsys.readouterr().err
