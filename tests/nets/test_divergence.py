"""Divergence is caught for every method by one monitor (`nets.divergence`), with a one-line
message naming the learning rate, and ordinary runs (including a pruning collapse) are not
stopped."""

from __future__ import annotations

import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nets import data, models
from nets.baselines import Budget, get
from nets.divergence import DivergenceMonitor, TrainingDivergedError
from nets.plain import train_plain
from nets.training import EquilibriumPruning, PruningConfig
from tests.bad_input.conftest import error_line

HUGE_LR = 1e6


@pytest.fixture(scope="module")
def small() -> data.DataBundle:
    return data.load("digits", limit=200)


def mlp():
    return models.mlp(64, (16,), 10, seed=0)


def check_message(error: TrainingDivergedError, lr: float) -> None:
    message = str(error)
    assert "\n" not in message
    assert f"lr={lr:g}" in message and "lower the learning rate" in message
    assert error.lr == lr


# ---------------------------------------------------------------------------- every method
def test_dense_training_with_a_huge_lr_stops(small):
    with pytest.raises(TrainingDivergedError) as raised:
        train_plain(mlp(), small, PruningConfig(epochs=2, lr=HUGE_LR))
    check_message(raised.value, HUGE_LR)
    assert raised.value.epoch == 0 and raised.value.step is not None


def test_equilibrium_pruning_with_a_huge_lr_stops_and_keeps_its_history(small):
    config = PruningConfig(epochs=2, lr=HUGE_LR, beta=0.05, gamma=0.05)
    with pytest.raises(TrainingDivergedError) as raised:
        EquilibriumPruning(config).fit(mlp(), small, progress=False)
    check_message(raised.value, HUGE_LR)
    assert "participation_lr" in str(raised.value)
    assert raised.value.history == (), "it diverged in the first epoch"


@pytest.mark.parametrize("method, sparsity, options", [
    pytest.param("random", 0.5, {"schedule": "one_shot"}, id="score-pruner-one-shot"),
    pytest.param("snip", 0.5, {"schedule": "at_init", "granularity": "unstructured"},
                 id="score-at-init"),
    pytest.param("lottery", 0.5, {"granularity": "unstructured", "rewind_steps": 1},
                 id="lottery-rewind"),
    pytest.param("slimming", None, {}, id="regularized-slimming"),
    pytest.param("l0", None, {}, id="regularized-l0"),
])
def test_each_kind_of_baseline_training_with_a_huge_lr_stops(small, method, sparsity, options):
    pruner = get(method, **({"rewind_steps": options["rewind_steps"]}
                            if "rewind_steps" in options else {}))
    kwargs = {"granularity": options.get("granularity", "structured"),
              "schedule": options.get("schedule", pruner.schedules[0])}
    with pytest.raises(TrainingDivergedError) as raised:
        pruner.prune(mlp(), small, sparsity, Budget(epochs=2, lr=HUGE_LR), **kwargs)
    check_message(raised.value, HUGE_LR)


def test_ordinary_settings_are_not_stopped(small):
    result = train_plain(mlp(), small, PruningConfig(epochs=3, lr=1e-2))
    assert len(result.train_loss) == 3
    assert all(math.isfinite(v) for v in result.train_loss)
    pruned = EquilibriumPruning(PruningConfig(epochs=2, lr=1e-2, beta=0.5)).fit(
        mlp(), small, progress=False)
    assert len(pruned.history) == 2


def test_the_error_pickles_with_its_attributes(small):
    config = PruningConfig(epochs=2, lr=HUGE_LR)
    with pytest.raises(TrainingDivergedError) as raised:
        EquilibriumPruning(config).fit(mlp(), small, progress=False)
    back = pickle.loads(pickle.dumps(raised.value))
    assert type(back) is TrainingDivergedError and str(back) == str(raised.value)
    assert (back.lr, back.epoch, back.step, back.history) == \
        (raised.value.lr, raised.value.epoch, raised.value.step, raised.value.history)


def test_the_cli_reports_a_diverging_train_as_one_line(tmp_path, capsys):
    from analysis.cli import main

    status = main(["train", "--lr", "1e6", "--limit", "200", "--epochs", "1", "--hidden", "16",
                   "--out", str(tmp_path / "run"), "--no-certify"])
    line = error_line(capsys.readouterr().err, "pruning-game train")
    assert status == 2 and line.startswith("pruning-game train: error: training diverged")
    assert "lr=1e+06" in line


# ---------------------------------------------------------------------------- the monitor
def logits_for(labels, correct: bool, n_classes: int = 10, scale: float = 1.0):
    """Logits that predict `labels` (correct) or the next class (wrong)."""
    import torch

    target = labels if correct else (labels + 1) % n_classes
    return torch.nn.functional.one_hot(target, n_classes).float() * scale


def run_epochs(monitor: DivergenceMonitor, accuracies: list[bool], loss: float) -> None:
    import torch

    labels = torch.arange(10)
    for correct in accuracies:
        monitor.batch(loss, logits_for(labels, correct), labels)
        monitor.end_epoch()


def test_the_loss_check_is_relative_to_the_start_with_a_floor():
    monitor = DivergenceMonitor(lr=0.1)
    monitor.batch(0.001)  # a fine-tuning start: nearly perfect
    monitor.batch(500.0)  # under 1000 x max(0.001, 1)
    with pytest.raises(TrainingDivergedError, match=r"more than 1000x its start"):
        monitor.batch(1001.0)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_a_non_finite_loss_stops_at_once(value):
    with pytest.raises(TrainingDivergedError, match=r"lr=0\.5") as raised:
        DivergenceMonitor(lr=0.5).batch(value)
    assert raised.value.step == 0


def test_accuracy_back_at_chance_after_learning_stops_dense_training():
    with pytest.raises(TrainingDivergedError, match="accuracy fell to 0.000") as raised:
        run_epochs(DivergenceMonitor(lr=0.3), [True, True, False], loss=2.0)
    assert raised.value.epoch == 2 and raised.value.step is None


def test_a_pruning_collapse_is_not_divergence_but_a_confidently_wrong_one_is():
    collapse = DivergenceMonitor(lr=0.3, may_collapse=True)
    run_epochs(collapse, [True, True, False, False], loss=math.log(10))  # the class prior
    assert collapse.epoch == 4
    with pytest.raises(TrainingDivergedError, match="chance level"):
        run_epochs(DivergenceMonitor(lr=0.3, may_collapse=True), [True, False],
                   loss=3 * math.log(10))


def test_never_above_chance_is_not_divergence():
    monitor = DivergenceMonitor(lr=1.0)
    run_epochs(monitor, [False] * 5, loss=50.0)
    assert monitor.epoch == 5


@settings(derandomize=True, max_examples=60, deadline=None)
@given(start=st.floats(1e-6, 1e3), ratios=st.lists(st.floats(0.0, 1.0), max_size=20))
def test_losses_within_the_growth_bound_never_stop(start, ratios):
    monitor = DivergenceMonitor(lr=1e-3)
    monitor.batch(start)
    bound = DivergenceMonitor.GROWTH * max(start, DivergenceMonitor.LOSS_FLOOR)
    for ratio in ratios:
        monitor.batch(ratio * bound)
    assert monitor.step == len(ratios) + 1
