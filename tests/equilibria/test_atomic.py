"""Atomic writes: complete files only, no leftovers, the permissions of a plain open()."""

from __future__ import annotations

import csv
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from equilibria import atomic
from equilibria.atomic import atomic_write, atomic_write_json, atomic_write_text, current_umask


@pytest.fixture(params=[0o022, 0o027, 0o077, 0o002], ids=oct)
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_the_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with atomic_write(path) as handle:
        handle.write("hello\n")
        assert not path.exists()  # only the complete file ever appears
    assert path.read_text() == "hello\n"
    assert os.listdir(tmp_path) == ["out.txt"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_exception_keeps_the_previous_file_and_removes_the_temporary(
        tmp_path: Path, error: type[BaseException]) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(error), atomic_write(path) as handle:
        handle.write("new, but half")
        handle.flush()
        raise error("interrupted")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_replaces_an_existing_file_and_creates_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "out.txt"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    assert os.listdir(path.parent) == ["out.txt"]


def test_mode_equals_what_open_gives(tmp_path: Path, umask: int) -> None:
    reference = tmp_path / "plain.txt"
    with open(reference, "w") as handle:
        handle.write("x")
    written = atomic_write_text(tmp_path / "atomic.txt", "x")
    assert _mode(written) == _mode(reference) == 0o666 & ~umask


def test_overwriting_a_private_file_gives_the_umask_mode(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    path.chmod(0o600)
    with atomic_write(path, "wb") as handle:
        handle.write(b"new")
    assert _mode(path) == 0o666 & ~umask


def test_current_umask_does_not_change_it(umask: int) -> None:
    assert current_umask() == umask
    assert os.umask(umask) == umask


def test_current_umask_falls_back_without_proc(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path, umask: int) -> None:
    monkeypatch.setattr(atomic, "_STATUS", str(tmp_path / "missing"))
    assert current_umask() == umask
    assert os.umask(umask) == umask  # restored


def test_binary_mode_with_numpy_savez(tmp_path: Path) -> None:
    path = tmp_path / "arrays.npz"
    x = np.arange(12.0).reshape(3, 4)
    with atomic_write(path, "wb") as handle:
        np.savez(handle, x=x, names=np.array(["a", "b"]))
    with np.load(path) as data:
        np.testing.assert_array_equal(data["x"], x)
        assert data["names"].tolist() == ["a", "b"]
    assert os.listdir(tmp_path) == ["arrays.npz"]


def test_binary_mode_with_torch_save(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    payload = {"weight": torch.arange(6.0).reshape(2, 3), "epoch": 3}
    with atomic_write(path, "wb") as handle:
        torch.save(payload, handle)
    loaded = torch.load(path, weights_only=True)
    assert loaded["epoch"] == 3
    assert torch.equal(loaded["weight"], payload["weight"])


def test_open_kwargs_reach_open(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    with atomic_write(path, newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "value"])
        writer.writerow(["\u00b5", 1])
    assert path.read_bytes() == "name,value\r\n\u00b5,1\r\n".encode()


def test_json_and_text_helpers(tmp_path: Path) -> None:
    payload = {"b": [1, 2.5, None], "a": "x"}
    path = atomic_write_json(tmp_path / "out.json", payload, indent=2, sort_keys=True)
    assert path == tmp_path / "out.json"
    assert path.read_text() == json.dumps(payload, indent=2, sort_keys=True)
    text = atomic_write_text(str(tmp_path / "out.md"), "| a |\n")
    assert text.read_text() == "| a |\n"


def test_a_failing_json_payload_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "out.json", {"bad": object()})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("mode", ["r", "a", "ab", "x", "wx", "r+"])
def test_rejects_modes_that_do_not_truncate(tmp_path: Path, mode: str) -> None:
    with pytest.raises(ValueError, match="write mode"), atomic_write(tmp_path / "f", mode):
        pass
    assert os.listdir(tmp_path) == []


def test_a_bad_open_argument_leaves_no_temporary(tmp_path: Path) -> None:
    with pytest.raises(LookupError), atomic_write(tmp_path / "f", encoding="no-such-codec"):
        pass
    assert os.listdir(tmp_path) == []
