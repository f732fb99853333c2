"""The demo runs end to end at toy size and writes what it promises."""

from __future__ import annotations

import json

import torch

from analysis import cli


def test_demo_writes_figures_and_a_consistent_summary(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        code = cli.main(["demo", "--epochs", "2", "--players", "300", "--max-seconds", "0.3",
                         "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert {"participation_histogram.png", "summary.json", "training_dynamics.png"} <= set(names)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["history"]) == 2
    assert summary["removed"]["params_total"] <= summary["dense"]["params_total"]
    assert summary["final_nash_gap"] >= 0.0
    assert any(row["converged"] for row in summary["solvers"])
    printed = capsys.readouterr().out
    assert "relative Nash gap" in printed and "pruned units removed" in printed


def test_cli_without_a_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "demo" in capsys.readouterr().err
