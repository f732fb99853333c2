"""Long work is never silent: `nets.progress` and every site that reports through it.

Under pytest stderr is captured, so it is not a terminal: exactly the log / nohup / CI case.
"""

from __future__ import annotations

import io
import logging
import re
import time

import pytest
import torch
from tqdm import tqdm

from analysis import RunConfig, sweep
from nets import EquilibriumPruning, PruningConfig, data, models
from nets.baselines import Budget
from nets.compare import compare
from nets.plain import train_plain
from nets.progress import LineProgress, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def digits() -> data.DataBundle:
    return data.load("digits", limit=200)


def tiny() -> torch.nn.Sequential:
    return models.mlp(64, (8,), 10, seed=0)


def lines(text: str, pattern: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(pattern, line)]


# ---------------------------------------------------------------------------- the helper
def test_a_non_terminal_gets_one_line_per_step_with_elapsed_and_eta() -> None:
    stream = io.StringIO()
    with progress_bar(3, "job", unit="epoch", stream=stream, heartbeat=None) as bar:
        assert isinstance(bar, LineProgress)
        for k in range(3):
            bar.set_postfix(acc=f"0.{k}")
            bar.update(1)
    written = stream.getvalue().splitlines()
    assert written[0].startswith("job: epoch 0/3, elapsed ")
    assert [line.split(",")[0] for line in written[1:]] == [
        "job: epoch 1/3", "job: epoch 2/3", "job: epoch 3/3"]
    assert all("eta" in line for line in written[1:3]) and "eta" not in written[3]
    assert written[1].endswith("(acc=0.0)") and written[3].endswith("(acc=0.2)")


def test_lines_also_go_to_the_pruning_game_logger(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="pruning_game"):
        with progress_bar(2, "logged", unit="run", stream=io.StringIO(), heartbeat=None) as bar:
            bar.update(2)
    messages = [r.getMessage() for r in caplog.records if r.name == "pruning_game"]
    assert [m.split(",")[0] for m in messages] == ["logged: run 0/2", "logged: run 2/2"]


def test_a_resumed_job_says_so_and_counts_the_eta_from_new_steps_only() -> None:
    stream = io.StringIO()
    with progress_bar(4, "again", unit="run", initial=2, stream=stream, heartbeat=None) as bar:
        bar.update(1)
    first, second = stream.getvalue().splitlines()
    assert first.startswith("again: run 2/4") and first.endswith("(resumed)")
    assert second.startswith("again: run 3/4") and "eta" in second


def test_a_terminal_gets_a_tqdm_bar_and_disabled_progress_writes_nothing() -> None:
    terminal = Terminal()
    bar = progress_bar(2, "bar", stream=terminal)
    assert isinstance(bar, tqdm) and not bar.disable
    bar.close()
    silent = io.StringIO()
    off = progress_bar(2, "off", enabled=False, stream=silent)
    off.set_postfix(x=1)
    off.update(2)
    off.close()
    assert silent.getvalue() == ""


def test_a_long_silence_gets_a_heartbeat_line_and_close_stops_it() -> None:
    stream = io.StringIO()
    bar = progress_bar(1, "slow", unit="run", stream=stream, heartbeat=0.02)
    deadline = time.monotonic() + 20.0
    while "still working" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    bar.close()
    beats = lines(stream.getvalue(), r"^slow: run 0/1, elapsed .*\(still working\)$")
    assert beats
    after = stream.getvalue()
    time.sleep(0.1)
    assert stream.getvalue() == after  # closed: nothing more


def test_an_error_inside_the_block_still_stops_the_heartbeat() -> None:
    with pytest.raises(RuntimeError), progress_bar(2, "x", stream=io.StringIO(),
                                                   heartbeat=0.01) as bar:
        raise RuntimeError("boom")
    assert bar._closed.is_set() and not bar._thread.is_alive()


# ---------------------------------------------------------------------------- the sites
def test_training_writes_a_line_per_epoch(digits: data.DataBundle,
                                          capsys: pytest.CaptureFixture) -> None:
    config = PruningConfig(name="tiny", epochs=2, batch_size=64)
    EquilibriumPruning(config).fit(tiny(), digits)
    err = capsys.readouterr().err
    assert [line.split(",")[0] for line in lines(err, r"^tiny: epoch [12]/2")] == [
        "tiny: epoch 1/2", "tiny: epoch 2/2"]
    assert re.search(r"^tiny: epoch 2/2, elapsed .*\(acc=0\.\d{3}, below_epsilon=", err, re.M)


def test_training_with_progress_false_is_silent(digits: data.DataBundle,
                                                capsys: pytest.CaptureFixture) -> None:
    EquilibriumPruning(PruningConfig(epochs=2, batch_size=64)).fit(tiny(), digits,
                                                                   progress=False)
    train_plain(tiny(), digits, PruningConfig(epochs=2, batch_size=64))
    assert capsys.readouterr().err == ""


def test_plain_training_can_report_its_epochs(digits: data.DataBundle,
                                              capsys: pytest.CaptureFixture) -> None:
    train_plain(tiny(), digits, PruningConfig(epochs=2, batch_size=64), progress=True)
    err = capsys.readouterr().err
    assert len(lines(err, r"^dense: epoch [12]/2, elapsed .*\(acc=")) == 2


def test_compare_writes_a_line_per_run(digits: data.DataBundle,
                                       capsys: pytest.CaptureFixture) -> None:
    rows = compare(["random"], sparsities=(0.5,), seeds=(0, 1), data=digits,
                   model_fn=lambda bundle, seed: models.mlp(64, (8,), 10, seed=seed),
                   budget=Budget(epochs=1))
    err = capsys.readouterr().err
    done = lines(err, r"^compare: run [1-4]/4")
    assert len(done) == len(rows) == 4
    assert "(dense, seed 0: acc=" in done[0] and "(random at 0.5, seed 1: acc=" in done[3]
    compare(["random"], sparsities=(0.5,), data=digits, budget=Budget(epochs=1),
            model_fn=lambda bundle, seed: models.mlp(64, (8,), 10, seed=seed), progress=False)
    assert capsys.readouterr().err == ""


def _fake_run(config: RunConfig) -> dict:
    from analysis.runner import RunResult
    from nets.evaluate import Evaluation

    evaluation = Evaluation(0.5, 1.0, 1, 1, 1, 1, 1.0, 1.0, None, 1)
    return RunResult(config.key, config.to_dict(), evaluation, achieved_sparsity=0.0,
                     params_total=1, macs_dense=1, steps=0, seconds=0.0).to_dict()


def test_sweep_writes_a_line_per_run_and_a_resumed_sweep_says_so(
        tmp_path, capsys: pytest.CaptureFixture) -> None:
    from concurrent.futures import ThreadPoolExecutor

    configs = [RunConfig(dataset="digits", seed=seed) for seed in range(3)]
    with ThreadPoolExecutor(1) as pool:
        sweep(configs[:2], tmp_path, pool, run_fn=_fake_run)
        first = capsys.readouterr().err
        sweep(configs, tmp_path, pool, run_fn=_fake_run)
        second = capsys.readouterr().err
        sweep(configs, tmp_path, pool, run_fn=_fake_run, progress=False)
        assert capsys.readouterr().err == ""
    assert len(lines(first, r"^sweep: run [12]/2, elapsed")) == 2
    assert lines(second, r"^sweep: run 2/3, .*\(resumed\)$")
    assert len(lines(second, r"^sweep: run 3/3, elapsed .*acc=0\.500")) == 1


def test_the_certificate_step_of_train_writes_a_line_per_step(
        digits: data.DataBundle, capsys: pytest.CaptureFixture) -> None:
    from analysis.train import _certificate

    trainer = EquilibriumPruning(PruningConfig(epochs=1, batch_size=64, beta=0.01))
    result = trainer.fit(tiny(), digits, progress=False)
    loader, _ = digits.loaders(512, seed=0)
    certificate = _certificate(trainer, result.gated, result.participation, loader)
    err = capsys.readouterr().err
    steps = lines(err, r"^certificate: step [0-3]/3, elapsed")
    assert [line.split(",")[0] for line in steps] == [f"certificate: step {k}/3"
                                                      for k in range(4)]
    assert f"stability: {certificate['stability']}" in steps[2]
