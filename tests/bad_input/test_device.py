"""A bad ``--device`` (issue 12, item 5): every command that trains or evaluates refuses it when
the command line is parsed, with exit status 2 and one line naming ``--device``, before any
work (nothing is written to ``--out``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from analysis import cli
from analysis.arguments import OneLineParser, add_device_argument

#: Every command line that trains or evaluates, with an --out under {tmp} where it takes one.
COMMANDS = {
    "train": "train --out {tmp}/new",
    "compare": "compare --out {tmp}/new.csv",
    "sweep": "sweep {tmp}/configs.json --out {tmp}/new",
    **{f"reproduce {study}": f"reproduce {study} --out {{tmp}}/new"
       for study in ("paper", "pareto", "phase", "certificates", "overlap", "filters",
                     "winning")},
}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return int(code), capsys.readouterr().err


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], *names: str) -> str:
    code, err = _run(argv, capsys)
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("pruning-game"), err
    assert "Traceback" not in err and "internal error" not in err
    for name in names:
        assert name in lines[0], err
    return lines[0]


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "configs.json").write_text(json.dumps([{"dataset": "digits", "epochs": 1,
                                                        "method": "dense"}]))
    return tmp_path


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("device", ["gpu", "cuda:0"])
def test_an_unknown_device_is_refused_in_one_line(command: str, device: str, tmp: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    argv = COMMANDS[command].format(tmp=tmp).split() + ["--device", device]
    line = _refused(argv, capsys, "--device", "'cpu'", "'auto'")
    assert f"(see pruning-game {command} --help)" in line
    assert not (tmp / "new").exists() and not (tmp / "new.csv").exists()


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_device_this_machine_lacks_is_refused_in_one_line(
        command: str, tmp: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = COMMANDS[command].format(tmp=tmp).split() + ["--device", "cuda"]
    _refused(argv, capsys, "--device", "torch.cuda.is_available() is False")
    assert not (tmp / "new").exists()


def test_a_sweep_config_naming_a_missing_device_is_refused_before_any_run(
        tmp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    configs = tmp / "mps.json"
    configs.write_text(json.dumps([{"dataset": "digits", "epochs": 1, "method": "dense",
                                    "device": "mps"}]))
    _refused(["sweep", str(configs), "--out", str(tmp / "new")], capsys, "device", "mps")
    assert not (tmp / "new").exists()
    configs.write_text(json.dumps([{"dataset": "digits", "method": "dense", "device": "tpu"}]))
    _refused(["sweep", str(configs), "--out", str(tmp / "new")], capsys, "config 0", "device")


def test_the_shared_helper_defaults_to_the_cpu() -> None:
    parser = OneLineParser(prog="p")
    add_device_argument(parser)
    assert parser.parse_args([]).device == "cpu"
    assert parser.parse_args(["--device", "auto"]).device == "auto"
