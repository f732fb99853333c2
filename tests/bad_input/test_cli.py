"""Bad input to every `pruning-game` command: exit status 2, one line naming the argument.

Each case runs ``analysis.cli.main`` on a command line that must be refused, and checks that

- the exit status is 2 (returned, or ``SystemExit(2)`` from the argument parser);
- stderr is exactly one non-empty line, with no traceback, naming the argument at fault;
- nothing was written to the ``--out`` the command line gives (an existing file keeps its
  bytes, an existing folder stays empty, a new path is not created).

Every case fails before any training, except the resume cases, which need one tiny finished
run (digits, 60 examples, widths 8,4, one epoch, no certificate) made once per module.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from analysis import cli

TINY_TRAIN = ["--data", "digits", "--limit", "60", "--hidden", "8,4", "--epochs", "1",
              "--no-certify"]


@dataclass(frozen=True)
class Case:
    """A command line (``{tmp}``, ``{unwritable}``, ``{port}`` are filled in) and what the
    error must name."""

    argv: tuple[str, ...]
    names: str
    out: str | None = None  # the --out of this command line, checked to be left untouched


def case(argv: str, names: str, out: str | None = None) -> Case:
    return Case(tuple(argv.split()), names, out)


CASES: dict[str, Case] = {
    # ---------------------------------------------------------------- train
    "train-out-is-a-file": case("train --out {tmp}/file.txt", "--out", "{tmp}/file.txt"),
    "train-out-under-a-file": case("train --out {tmp}/file.txt/run", "--out",
                                   "{tmp}/file.txt"),
    "train-out-unwritable": case("train --out {unwritable}/run", "--out", "{unwritable}/run"),
    "train-epochs-zero": case("train --epochs 0 --out {tmp}/new", "--epochs", "{tmp}/new"),
    "train-epochs-not-a-number": case("train --epochs two --out {tmp}/new", "--epochs",
                                      "{tmp}/new"),
    "train-lr-negative": case("train --lr -1 --out {tmp}/new", "--lr", "{tmp}/new"),
    "train-lr-nan": case("train --lr nan --out {tmp}/new", "--lr", "{tmp}/new"),
    "train-limit-zero": case("train --limit 0 --out {tmp}/new", "--limit", "{tmp}/new"),
    "train-seed-negative": case("train --seed -1 --out {tmp}/new", "--seed", "{tmp}/new"),
    "train-hidden-not-integers": case("train --hidden 16,x --out {tmp}/new", "--hidden",
                                      "{tmp}/new"),
    "train-unknown-config": case("train --config nosuch --out {tmp}/new", "--config",
                                 "{tmp}/new"),
    "train-unknown-model": case("train --model resnet --out {tmp}/new", "--model", "{tmp}/new"),
    "train-mnist-missing": case("train --data mnist --root {tmp}/empty --out {tmp}/new",
                                "--data", "{tmp}/new"),
    "train-fashion-mnist-missing": case(
        "train --data fashion-mnist --root {tmp}/empty --out {tmp}/new", "--data", "{tmp}/new"),
    "train-mnist-damaged": case("train --data mnist --root {tmp}/damaged --out {tmp}/new",
                                "--data", "{tmp}/new"),
    "train-unknown-flag": case("train --bogus 1 --out {tmp}/new", "--bogus", "{tmp}/new"),
    # ---------------------------------------------------------------- compare
    "compare-out-is-a-folder": case("compare --epochs 1 --out {tmp}/folder", "--out",
                                    "{tmp}/folder"),
    "compare-out-under-a-file": case("compare --epochs 1 --out {tmp}/file.txt/t.csv", "--out",
                                     "{tmp}/file.txt"),
    "compare-out-unwritable": case("compare --epochs 1 --out {unwritable}/t.csv", "--out",
                                   "{unwritable}/t.csv"),
    "compare-mnist-missing": case("compare --data mnist --root {tmp}/empty --out {tmp}/t.csv",
                                  "--data", "{tmp}/t.csv"),
    "compare-unknown-dataset": case("compare --data imagenet --out {tmp}/t.csv", "--data",
                                    "{tmp}/t.csv"),
    "compare-limit-zero": case("compare --limit 0 --out {tmp}/t.csv", "--limit", "{tmp}/t.csv"),
    "compare-epochs-not-a-number": case("compare --epochs abc --out {tmp}/t.csv", "--epochs",
                                        "{tmp}/t.csv"),
    "compare-unknown-granularity": case("compare --granularity blocks --out {tmp}/t.csv",
                                        "--granularity", "{tmp}/t.csv"),
    "compare-unknown-flag": case("compare --bogus --out {tmp}/t.csv", "--bogus", "{tmp}/t.csv"),
    # ---------------------------------------------------------------- sweep
    "sweep-out-is-a-file": case("sweep {tmp}/configs.json --out {tmp}/file.txt", "--out",
                                "{tmp}/file.txt"),
    "sweep-out-unwritable": case("sweep {tmp}/configs.json --out {unwritable}/store", "--out",
                                 "{unwritable}/store"),
    "sweep-configs-missing": case("sweep {tmp}/missing.json --out {tmp}/store", "configs file",
                                  "{tmp}/store"),
    "sweep-configs-truncated": case("sweep {tmp}/truncated.json --out {tmp}/store",
                                    "configs file", "{tmp}/store"),
    "sweep-configs-a-folder": case("sweep {tmp}/folder --out {tmp}/store", "configs file",
                                   "{tmp}/store"),
    "sweep-config-unknown-field": case("sweep {tmp}/unknown-field.json --out {tmp}/store",
                                       "config 0", "{tmp}/store"),
    "sweep-mnist-missing": case("sweep {tmp}/mnist.json --out {tmp}/store", "mnist.json",
                                "{tmp}/store"),
    "sweep-workers-zero": case("sweep {tmp}/configs.json --workers 0 --out {tmp}/store",
                               "--workers", "{tmp}/store"),
    "sweep-dask-no-scheduler": case(
        "sweep {tmp}/configs.json --dask tcp://127.0.0.1:{port} --dask-timeout 1 "
        "--out {tmp}/store", "--dask", "{tmp}/store"),
    "sweep-dask-timeout-zero": case(
        "sweep {tmp}/configs.json --dask tcp://127.0.0.1:1 --dask-timeout 0 --out {tmp}/store",
        "--dask-timeout", "{tmp}/store"),
    # ---------------------------------------------------------------- solve
    "solve-out-is-a-folder": case("solve {tmp}/game.json --out {tmp}/folder", "--out",
                                  "{tmp}/folder"),
    "solve-out-under-a-file": case("solve {tmp}/game.json --out {tmp}/file.txt/r.json",
                                   "--out", "{tmp}/file.txt"),
    "solve-out-unwritable": case("solve {tmp}/game.json --out {unwritable}/r.json", "--out",
                                 "{unwritable}/r.json"),
    "solve-npz-truncated": case("solve {tmp}/truncated.npz --out {tmp}/r.json", "game file",
                                "{tmp}/r.json"),
    "solve-npz-not-a-zip": case("solve {tmp}/garbage.npz --out {tmp}/r.json", "game file",
                                "{tmp}/r.json"),
    "solve-npz-corrupt-member": case("solve {tmp}/corrupt-member.npz --out {tmp}/r.json",
                                     "game file", "{tmp}/r.json"),
    "solve-json-truncated": case("solve {tmp}/truncated.json --out {tmp}/r.json", "game file",
                                 "{tmp}/r.json"),
    "solve-json-binary": case("solve {tmp}/binary.json --out {tmp}/r.json", "game file",
                              "{tmp}/r.json"),
    "solve-json-a-folder": case("solve {tmp}/folder.json --out {tmp}/r.json", "game file",
                                "{tmp}/r.json"),
    "solve-json-lowrank-without-factors": case("solve {tmp}/no-factors.json --out {tmp}/r.json",
                                               "factors", "{tmp}/r.json"),
    "solve-json-benefit-not-numbers": case("solve {tmp}/words.json --out {tmp}/r.json",
                                           "benefit", "{tmp}/r.json"),
    "solve-game-missing": case("solve {tmp}/missing.json --out {tmp}/r.json", "game file",
                               "{tmp}/r.json"),
    "solve-tol-zero": case("solve {tmp}/game.json --tol 0 --out {tmp}/r.json", "--tol",
                           "{tmp}/r.json"),
    "solve-max-iter-negative": case("solve {tmp}/game.json --max-iter -5 --out {tmp}/r.json",
                                    "--max-iter", "{tmp}/r.json"),
    "solve-unknown-method": case("solve {tmp}/game.json --method nosuch --out {tmp}/r.json",
                                 "method", "{tmp}/r.json"),
    # ---------------------------------------------------------------- equilibria
    "equilibria-too-many-players": case("equilibria {tmp}/full.npz --out {tmp}/r.json",
                                        "--max-players 15", "{tmp}/r.json"),
    "equilibria-unknown-solver": case(
        "equilibria {tmp}/game.json --basins newton,nosuch --out {tmp}/r.json", "--basins",
        "{tmp}/r.json"),
    "equilibria-starts-zero": case("equilibria {tmp}/game.json --starts 0 --out {tmp}/r.json",
                                   "--starts", "{tmp}/r.json"),
    "equilibria-seed-negative": case("equilibria {tmp}/game.json --seed -1 --out {tmp}/r.json",
                                     "--seed", "{tmp}/r.json"),
    "equilibria-max-players-zero": case(
        "equilibria {tmp}/game.json --max-players 0 --out {tmp}/r.json", "--max-players",
        "{tmp}/r.json"),
    "equilibria-out-is-a-folder": case("equilibria {tmp}/game.json --out {tmp}/folder",
                                       "--out", "{tmp}/folder"),
    "equilibria-game-missing": case("equilibria {tmp}/missing.json --out {tmp}/r.json",
                                    "game file", "{tmp}/r.json"),
    "equilibria-npz-truncated": case("equilibria {tmp}/truncated.npz --out {tmp}/r.json",
                                     "game file", "{tmp}/r.json"),
    # ---------------------------------------------------------------- reproduce
    "reproduce-paper-out-is-a-file": case("reproduce paper --quick --out {tmp}/file.txt",
                                          "--out", "{tmp}/file.txt"),
    "reproduce-paper-mnist-missing": case(
        "reproduce paper --data mnist --root {tmp}/empty --out {tmp}/new", "--data",
        "{tmp}/new"),
    "reproduce-paper-epochs-zero": case("reproduce paper --epochs 0 --out {tmp}/new",
                                        "--epochs", "{tmp}/new"),
    "reproduce-pareto-out-is-a-file": case("reproduce pareto --quick --out {tmp}/file.txt",
                                           "--out", "{tmp}/file.txt"),
    "reproduce-phase-mnist-missing": case(
        "reproduce phase --data mnist --root {tmp}/empty --out {tmp}/new", "--data",
        "{tmp}/new"),
    "reproduce-certificates-out-under-a-file": case(
        "reproduce certificates --quick --out {tmp}/file.txt/c", "--out", "{tmp}/file.txt"),
    "reproduce-certificates-mnist-missing": case(
        "reproduce certificates --data mnist --root {tmp}/empty --out {tmp}/new", "--data",
        "{tmp}/new"),
    "reproduce-filters-mnist-missing": case(
        "reproduce filters --data mnist --root {tmp}/empty --out {tmp}/new", "--data",
        "{tmp}/new"),
    "reproduce-overlap-out-unwritable": case("reproduce overlap --quick --out {unwritable}/o",
                                             "--out", "{unwritable}/o"),
    "reproduce-unknown-study": case("reproduce nosuch", "study"),
    # ---------------------------------------------------------------- demo and top level
    "demo-out-is-a-file": case("demo --out {tmp}/file.txt", "--out", "{tmp}/file.txt"),
    "demo-out-unwritable": case("demo --out {unwritable}/demo", "--out", "{unwritable}/demo"),
    "demo-epochs-zero": case("demo --epochs 0 --out {tmp}/new", "--epochs", "{tmp}/new"),
    "unknown-command": case("nosuch", "COMMAND"),
}

RESUME_CASES: dict[str, tuple[list[str], str]] = {
    "other-limit": (["--limit", "70"], "data_limit"),
    "other-widths": (["--hidden", "8,2"], "hidden"),
    "other-data": (["--data", "synthetic"], "dataset"),
    "other-seed": (["--seed", "1"], "seed"),
    "other-game-option": (["--beta", "0.5"], "pruning.beta"),
}


def _unwritable_folder() -> str:
    """A folder this process cannot create files in, or skip the test."""
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        folder = Path(tempfile.mkdtemp(prefix="pruning-game-readonly-"))
        folder.chmod(0o555)
        return str(folder)
    try:  # root passes permission checks; /sys refuses new files even to root
        handle, probe = tempfile.mkstemp(dir="/sys")
    except OSError:
        return "/sys"
    os.close(handle)
    os.unlink(probe)
    pytest.skip("no folder is unwritable for this process")


def _free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return int(listener.getsockname()[1])


def _write_inputs(tmp: Path) -> None:
    """The files the cases name, all in ``tmp``."""
    (tmp / "file.txt").write_text("keep me\n")
    (tmp / "folder").mkdir()
    (tmp / "folder.json").mkdir()
    (tmp / "empty").mkdir()
    damaged = tmp / "damaged"
    damaged.mkdir()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (damaged / stem).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")  # 9 declared, 3
    (tmp / "game.json").write_text(json.dumps({"benefit": [1.0, 0.5, 0.2],
                                               "quadratic_cost": 1.0}))
    (tmp / "no-factors.json").write_text(json.dumps({"benefit": [1.0, 0.5],
                                                     "competition": {"scale": 0.1}}))
    (tmp / "words.json").write_text(json.dumps({"benefit": ["a", "b"]}))
    (tmp / "truncated.json").write_text('{"benefit": [1.0, 0.5')
    (tmp / "binary.json").write_bytes(b"\xff\xfe\x00\x81")
    np.savez(tmp / "full.npz", benefit=np.linspace(0, 1, 200), quadratic_cost=np.ones(200))
    content = (tmp / "full.npz").read_bytes()
    (tmp / "truncated.npz").write_bytes(content[: len(content) // 2])
    (tmp / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip archive")
    with zipfile.ZipFile(tmp / "corrupt-member.npz", "w") as archive:
        archive.writestr("benefit.npy", b"\x93NUMPY this header is broken")
    sweep = {"dataset": "digits", "data_limit": 50, "hidden": [8, 4], "epochs": 1,
             "method": "unit_norm", "sparsity": 0.5}
    (tmp / "configs.json").write_text(json.dumps([sweep]))
    (tmp / "unknown-field.json").write_text(json.dumps([{**sweep, "nosuch": 1}]))
    (tmp / "mnist.json").write_text(json.dumps([{**sweep, "dataset": "mnist",
                                                 "data_root": str(tmp / "empty")}]))


def _snapshot(path: Path) -> object:
    """What is at ``path``: None, a file's bytes, or a folder's sorted listing."""
    if path.is_file():
        return path.read_bytes()
    if path.is_dir():
        return sorted(str(p.relative_to(path)) for p in path.rglob("*"))
    return None


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def _assert_refused(code: int, err: str, names: str) -> None:
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].strip(), err
    assert "Traceback" not in err and "internal error" not in err
    assert lines[0].startswith("pruning-game"), err
    assert names in lines[0], err


@pytest.mark.parametrize("name", list(CASES))
def test_bad_command_line_is_refused_in_one_line(name: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    spec = CASES[name]
    monkeypatch.chdir(tmp_path)
    _write_inputs(tmp_path)
    if "dask" in name:
        pytest.importorskip("distributed")
    fill = {"tmp": str(tmp_path), "port": str(_free_port())}
    if any("{unwritable}" in arg for arg in spec.argv):
        fill["unwritable"] = _unwritable_folder()
    argv = [arg.format(**fill) for arg in spec.argv]
    out = Path(spec.out.format(**fill)) if spec.out else None
    before = _snapshot(out) if out else None
    code, err = _run(argv, capsys)
    _assert_refused(code, err, spec.names)
    if out is not None:
        assert _snapshot(out) == before, f"{out} was written to"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny finished `train` run, the folder later command lines try to resume."""
    out = tmp_path_factory.mktemp("resume") / "run"
    assert cli.main(["train", *TINY_TRAIN, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("name", list(RESUME_CASES))
def test_resuming_a_different_run_is_refused(name: str, finished_run: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    changes, field = RESUME_CASES[name]
    before = _snapshot(finished_run)
    stamps = {p: p.stat().st_mtime_ns for p in finished_run.rglob("*")}
    capsys.readouterr()
    code, err = _run(["train", *TINY_TRAIN, *changes, "--out", str(finished_run)], capsys)
    _assert_refused(code, err, "--out")
    assert field in err
    assert _snapshot(finished_run) == before
    assert {p: p.stat().st_mtime_ns for p in finished_run.rglob("*")} == stamps


def test_a_checkpoint_without_its_record_is_refused(finished_run: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "old"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "checkpoint.pt").write_bytes(
        (finished_run / "checkpoint" / "checkpoint.pt").read_bytes())
    before = _snapshot(out)
    capsys.readouterr()
    code, err = _run(["train", *TINY_TRAIN, "--out", str(out)], capsys)
    _assert_refused(code, err, "--out")
    assert _snapshot(out) == before
