"""The pruning-game command line: compare and solve, and one-line errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis import cli
from equilibria import ParticipationGame, nash_gap


def _write_game(tmp_path, kind: str):
    rng = np.random.default_rng(0)
    n = 30
    theta = rng.standard_normal((n, 4)) / 2
    spec = {"benefit": rng.normal(0.5, 0.5, n).tolist(),
            "quadratic_cost": (theta**2).sum(1).tolist(), "linear_cost": 0.05}
    if kind == "json-dense":
        spec["competition"] = (0.1 * theta @ theta.T).tolist()
        path = tmp_path / "game.json"
        path.write_text(json.dumps(spec))
    elif kind == "json-lowrank":
        spec["competition"] = {"factors": theta.tolist(), "scale": 0.1}
        path = tmp_path / "game.json"
        path.write_text(json.dumps(spec))
    else:
        path = tmp_path / "game.npz"
        np.savez(path, benefit=np.array(spec["benefit"]),
                 quadratic_cost=np.array(spec["quadratic_cost"]), linear_cost=0.05,
                 factors=theta, scale=0.1)
    dense = ParticipationGame(spec["benefit"], spec["quadratic_cost"], 0.05,
                              0.1 * theta @ theta.T)
    return path, dense


@pytest.mark.parametrize("kind", ["json-dense", "json-lowrank", "npz"])
def test_solve_certifies_a_game_from_a_file(tmp_path, capsys, kind):
    path, dense = _write_game(tmp_path, kind)
    out = tmp_path / "result.json"
    assert cli.main(["solve", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "relative_nash_gap" in printed and "stability" in printed
    result = json.loads(out.read_text())
    assert result["converged"] and result["players"] == 30
    assert nash_gap(dense, np.array(result["profile"])) <= 1e-8


def test_compare_prints_a_table_and_writes_csv(tmp_path, capsys):
    out = tmp_path / "table.csv"
    code = cli.main(["compare", "--methods", "random,unit_norm", "--sparsities", "0.5",
                     "--epochs", "1", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| random |" in printed and "| unit_norm |" in printed and "| dense |" in printed
    assert out.read_text().count("\n") == 4  # header, dense, two methods


@pytest.mark.parametrize(("argv", "fragment"), [
    (["solve", "missing.json"], "no game file"),
    (["compare", "--methods", "nonsense", "--epochs", "1"], "unknown pruning method"),
    (["compare", "--sparsities", "half"], "--sparsities"),
    (["compare", "--data", "imagenet"], "imagenet"),
    (["solve", "game.txt"], ".json or .npz"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "game.txt").write_text("{}")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_a_game_with_nan_is_rejected_in_one_line(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"benefit": [1.0, float("nan")], "quadratic_cost": 1.0}))
    assert cli.main(["solve", str(path)]) == 2
    assert "NaN" in capsys.readouterr().err


def _solve_raising(monkeypatch, error: BaseException) -> None:
    def broken(_args):
        raise error

    monkeypatch.setattr(cli, "_solve", broken)


def test_an_unexpected_error_is_one_line_with_its_own_status(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PRUNING_GAME_DEBUG", raising=False)
    path, _ = _write_game(tmp_path, "json-dense")
    _solve_raising(monkeypatch, RuntimeError("first line\nsecond line"))
    assert cli.main(["solve", str(path)]) == cli.EXIT_INTERNAL != cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err.splitlines()
    assert err == ["pruning-game solve: internal error: RuntimeError: first line; second line "
                   "(please report)"]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(tmp_path, monkeypatch, how):
    path, _ = _write_game(tmp_path, "json-dense")
    _solve_raising(monkeypatch, RuntimeError("boom"))
    argv = ["solve", str(path)]
    if how == "flag":
        argv.append("--debug")
    else:
        monkeypatch.setenv("PRUNING_GAME_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(argv)


def test_ctrl_c_is_one_line_and_status_130(tmp_path, capsys, monkeypatch):
    path, _ = _write_game(tmp_path, "json-dense")
    _solve_raising(monkeypatch, KeyboardInterrupt())
    assert cli.main(["solve", str(path)]) == 130
    assert capsys.readouterr().err.splitlines() == ["pruning-game solve: interrupted"]


def test_a_multi_line_message_is_shown_whole_on_one_line(tmp_path, capsys, monkeypatch):
    path, _ = _write_game(tmp_path, "json-dense")
    _solve_raising(monkeypatch, ValueError("could not find X. Looked in:\n  /a\n  /b\nfix it"))
    assert cli.main(["solve", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "pruning-game solve: error: could not find X. Looked in: /a; /b; fix it"]


def test_out_is_checked_before_solving(tmp_path, capsys, monkeypatch):
    path, _ = _write_game(tmp_path, "json-dense")
    _solve_raising(monkeypatch, AssertionError("the solver must not run"))
    with pytest.raises(SystemExit) as exit_:  # a usage error of the parser
        cli.main(["solve", str(path), "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_sweep_checks_every_dataset_before_any_run(tmp_path, capsys, monkeypatch):
    import analysis

    def no_runs(*args, **kwargs):
        raise AssertionError("no run may start")

    monkeypatch.setattr(analysis, "sweep", no_runs)
    configs = [{"dataset": "digits", "epochs": 1, "method": "dense"},
               {"dataset": "fashion-mnist", "data_root": str(tmp_path / "none"), "epochs": 1,
                "method": "dense"}]
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(configs))
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "fashion-mnist" in err[0] and "; fix: " in err[0]
    assert str(tmp_path / "none" / "FashionMNIST" / "raw") in err[0]
    assert not (tmp_path / "store").exists()
