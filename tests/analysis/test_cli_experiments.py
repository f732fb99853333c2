"""The experiment commands of the CLI: train, sweep, reproduce."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from analysis import RunConfig, cli, load_results
from analysis.runner import build_model
from nets import load_model

TOY = ["--data", "digits", "--limit", "200", "--hidden", "16,8"]


def test_train_writes_a_certified_smaller_model_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--config", "demo", "--epochs", "2", *TOY, "--participation-lr", "0.2",
            "--out", str(out)]
    assert cli.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    s = np.array(summary["participation"])
    assert len(summary["history"]) == 2 and s.shape == (24,)
    assert summary["run_config"]["pruning"]["participation_lr"] == 0.2  # the flag overrides
    certificate = summary["certificate"]
    assert certificate["relative_nash_gap"] >= 0 and certificate["kkt_residual"] >= 0
    assert certificate["stability"] in ("stable", "unstable", "inconclusive")
    assert certificate["pruned"] == int((s < 0.01).sum())
    model = load_model(out / "pruned_model.pt")
    widths = [m.out_features for m in model if isinstance(m, torch.nn.Linear)][:-1]
    kept = [int((s[:16] >= 0.01).sum()), int((s[16:] >= 0.01).sum())]
    assert widths == [max(1, k) for k in kept]
    payload = torch.load(out / "pruned_model.pt", weights_only=True)  # no pickled code
    assert payload["state_dict"].keys() == model.state_dict().keys()
    assert (out / "training_dynamics.png").stat().st_size > 0
    # the summary line sets the pruned model beside the original (unpruned) one
    original = build_model(RunConfig(hidden=(16, 8)), (1, 8, 8), 10)
    original_params = sum(p.numel() for p in original.parameters())
    pruned_params = sum(int(torch.count_nonzero(p)) for p in model.parameters())
    assert summary["original"]["params"] == original_params
    assert summary["removed"]["params_total"] == sum(p.numel() for p in model.parameters())
    assert f"params {pruned_params} of the original {original_params};" in \
        capsys.readouterr().out
    assert cli.main(argv) == 0  # the checkpoint of the finished run: nothing is retrained
    assert "resumed from the checkpoint of epoch 2" in capsys.readouterr().out
    assert len(json.loads((out / "summary.json").read_text())["history"]) == 2


def test_train_saves_a_pruned_traced_model_that_loads_into_a_fresh_instance(tmp_path, capsys):
    from nets import data, evaluate, models

    out = tmp_path / "resnet"
    argv = ["train", "--model", "resnet_cifar", "--model-options", "depth=8,width=4",
            "--level", "filter", "--data", "digits", "--limit", "200", "--epochs", "2",
            "--participation-lr", "0.5", "--beta", "1.0", "--no-certify", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    call = summary["pruned_model"]["load"]
    assert f"load the pruned model with: {call}" in printed
    assert "model=nets.models.resnet_cifar(in_channels=1, num_classes=10, input_size=8, " \
           "depth=8, width=4)" in call
    assert torch.load(out / "pruned_model.pt", weights_only=True)["format"] == \
        "pruning-game/module"
    fresh = models.resnet_cifar(depth=8, width=4, in_channels=1, num_classes=10, input_size=8)
    loaded = load_model(out / "pruned_model.pt", model=fresh)
    params = sum(p.numel() for p in loaded.parameters())
    assert params == summary["removed"]["params_total"] < summary["original"]["params"]
    bundle = data.load("digits", limit=200)
    test = torch.utils.data.DataLoader(bundle.test, batch_size=512)
    assert evaluate(loaded, test, latency_repeats=0).accuracy == summary["accuracy_removed"]


@pytest.mark.parametrize("flags, words", [
    (["--model", "resnet_cifar"], ("level", "filter")),
    (["--model", "resnet18_like", "--hidden", "8"], ("hidden",)),
    (["--model", "vit"], ("patch",)),
    (["--model", "mlp_mixer", "--model-options", "width=3"], ("width", "mlp_mixer")),
    (["--model", "mlp", "--model-options", "depth=8"], ("model_options",)),
])
def test_train_refuses_a_model_it_cannot_run_in_one_line(tmp_path, capsys, flags, words):
    """Every --model choice runs (the test above, and the flat ones in the first test) or is
    refused before any training, in one line naming what to change."""
    try:
        status = cli.main(["train", *flags, "--data", "digits", "--limit", "50", "--epochs",
                           "1", "--out", str(tmp_path / "x")])
    except SystemExit as exit_:  # refused by the parser
        status = exit_.code
    assert status == 2
    captured = capsys.readouterr()
    assert "epoch" not in captured.out
    (line,) = captured.err.strip().splitlines()
    assert all(word in line for word in words), line


def test_train_rejects_bad_input_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--data", "nosuch"])
    assert exit_.value.code == 2
    assert "dataset must be one of" in capsys.readouterr().err.splitlines()[-1]


def test_expand_grid_is_a_cartesian_product_with_pruning_options():
    spec = {"base": {"method": "equilibrium", "pruning": {"gamma": 0.1}},
            "grid": {"seed": [0, 1, 2], "pruning.beta": [0.01, 0.1]}}
    configs = cli.expand_grid(spec)
    assert len(configs) == 6
    assert {(c["seed"], c["pruning"]["beta"]) for c in configs} == \
        {(s, b) for s in (0, 1, 2) for b in (0.01, 0.1)}
    assert all(c["pruning"]["gamma"] == 0.1 for c in configs)
    assert spec["base"]["pruning"] == {"gamma": 0.1}  # the input is not modified
    with pytest.raises(cli.CommandError, match="non-empty list"):
        cli.expand_grid({"grid": {"seed": []}})
    with pytest.raises(cli.CommandError, match="list of RunConfig"):
        cli.expand_grid({"configs": []})


def test_sweep_command_runs_a_grid_once(tmp_path, capsys):
    spec = {"base": {"dataset": "digits", "data_limit": 200, "hidden": [16, 8], "epochs": 1,
                     "method": "unit_norm", "sparsity": 0.5},
            "grid": {"seed": [0, 1]}}
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(spec))
    argv = ["sweep", str(path), "--out", str(tmp_path / "store"), "--workers", "1"]
    assert cli.main(argv) == 0
    assert "| unit_norm |" in capsys.readouterr().out
    rows = load_results(tmp_path / "store")
    assert sorted(r["config"]["seed"] for r in rows) == [0, 1]
    assert all(r["achieved_sparsity"] == pytest.approx(0.5, abs=0.05) for r in rows)
    lines = (tmp_path / "store" / "results.jsonl").read_text().count("\n")
    assert cli.main(argv) == 0  # resumed: nothing runs again
    assert (tmp_path / "store" / "results.jsonl").read_text().count("\n") == lines
    assert (tmp_path / "store" / "results.csv").read_text().count("\n") == 3


def test_sweep_command_one_diverging_run_fails_alone(tmp_path, capsys):
    """The other runs finish and are shown; the failure is one line naming errors.jsonl."""
    spec = {"base": {"dataset": "digits", "data_limit": 200, "hidden": [16, 8], "epochs": 2,
                     "method": "unit_norm", "sparsity": 0.5},
            "grid": {"lr": [1e-3, 1e6]}}
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(spec))
    argv = ["sweep", str(path), "--out", str(tmp_path / "store"), "--workers", "1"]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    err = [line for line in captured.err.strip().splitlines()
           if not line.startswith("sweep: ")]  # the progress lines (stderr is not a tty)
    assert len(err) == 1 and err[0].startswith("pruning-game sweep: error: ")
    assert "1 of 2 runs failed" in err[0] and "errors.jsonl" in err[0] and "lr" in err[0]
    assert "| unit_norm |" in captured.out  # the finished run is shown
    rows = load_results(tmp_path / "store")
    assert [r["config"]["lr"] for r in rows] == [1e-3]
    failures = [json.loads(line) for line in
                (tmp_path / "store" / "errors.jsonl").read_text().splitlines()]
    assert len(failures) == 1 and failures[0]["config"]["lr"] == 1e6


def test_sweep_command_bad_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    assert cli.main(["sweep", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not valid JSON" in err[0]


def test_reproduce_lists_studies_and_rejects_unknown(capsys):
    assert cli.main(["reproduce", "--help"]) == 0
    printed = capsys.readouterr().out
    assert all(study in printed for study in cli.STUDIES)
    assert cli.main(["reproduce", "nosuch"]) == 2
    assert "unknown study" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "sweep", "compare", "solve", "demo"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage: pruning-game" in capsys.readouterr().out
