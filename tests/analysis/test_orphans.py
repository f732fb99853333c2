"""A sweep killed with SIGKILL leaves no process behind: its pool's workers exit with it
(`analysis.sweeps._exit_with_parent`) and multiprocessing's resource tracker follows once its
pipe closes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="process-tree checks and PR_SET_PDEATHSIG are Linux's")


def sleeping_run(config) -> dict:
    """A run that marks that it started (in the folder named by the tag) and then sleeps."""
    Path(config.tag, f"started-{os.getpid()}").touch()
    time.sleep(120)
    return {"key": config.key, "accuracy": 0.0}


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, exited but not reaped, counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("executor", ["default", "local_executor"])
def test_sigkill_of_a_sweep_leaves_no_worker_or_tracker_alive(tmp_path, executor):
    marks = tmp_path / "marks"
    marks.mkdir()
    pool = ("sweep(configs, sys.argv[1], max_workers=2, progress=False, run_fn=sleeping_run)"
            if executor == "default" else
            "with local_executor(2) as pool:\n"
            "    sweep(configs, sys.argv[1], executor=pool, progress=False, "
            "run_fn=sleeping_run)")
    script = ("import sys\n"
              "from analysis.runner import RunConfig\n"
              "from analysis.sweeps import local_executor, sweep\n"
              "from tests.analysis.test_orphans import sleeping_run\n"
              "if __name__ == '__main__':\n"
              f"    configs = [RunConfig(seed=i, epochs=1, tag={str(marks)!r}) "
              f"for i in range({WORKERS})]\n"
              + "".join(f"    {line}\n" for line in pool.splitlines()))
    process = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "out")], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    family: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while len(list(marks.iterdir())) < WORKERS and process.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert len(list(marks.iterdir())) == WORKERS, "the workers never started their runs"
        family = [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
        workers = {int(mark.name.split("-")[1]) for mark in marks.iterdir()}
        assert workers <= set(family)
        assert len(family) > WORKERS, "the resource tracker is among the children too"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in family) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [pid for pid in family if alive(pid)]
        assert not survivors, f"orphans left running: {survivors}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
        for pid in family:  # never leave them running when the test fails
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
