"""The one training loop (`nets.loop`): its users give the numbers of the old loops, and call
their hooks in order."""

from __future__ import annotations

import json

import pytest
import torch

from nets import models
from nets.divergence import DivergenceMonitor
from nets.loop import Hooks, TrainingConfig, epoch_seed, make_optimizer, train
from tests.nets import loop_reference

REFERENCE = json.loads(loop_reference.REFERENCE.read_text(encoding="utf-8"))


def test_plain_training_gives_the_numbers_of_the_old_loop():
    assert loop_reference.plain_runs() == REFERENCE["plain"]


def test_algorithm_1_gives_the_numbers_of_the_old_loop():
    assert loop_reference.equilibrium_runs() == REFERENCE["equilibrium"]


def test_every_baseline_gives_the_numbers_of_the_old_loop():
    assert loop_reference.baseline_runs() == REFERENCE["baselines"]


def test_the_per_step_callback_of_fit_sees_s_after_every_step_as_the_old_override_did():
    from nets import data
    from nets.training import EquilibriumPruning, PruningConfig

    sums, losses = [], []

    def record(step):
        sums.append(float(step.model.get_participation().double().sum()))
        losses.append(step.loss)

    config = PruningConfig(epochs=2, batch_size=64, seed=2, beta=0.05, gamma=0.02,
                           participation_lr=0.05)
    EquilibriumPruning(config).fit(models.mlp(64, (16, 8), 10, seed=0),
                                   data.load("digits", limit=400), progress=False,
                                   on_step=record)
    assert {"participation_sums": sums, "losses": losses} == REFERENCE["steps"]


class Recorder(Hooks):
    """Every hook appends its name (``loss`` also adds nothing to the loss)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start_epoch(self, epoch):
        self.calls.append(f"start_epoch {epoch}")

    def before_batch(self, inputs, labels):
        self.calls.append("before_batch")

    def loss(self, model, loss):
        self.calls.append("loss")
        return loss

    def after_backward(self, inputs, labels):
        self.calls.append("after_backward")

    def after_step(self, inputs, labels):
        self.calls.append("after_step")

    def end_epoch(self, epoch, train_loss):
        self.calls.append(f"end_epoch {epoch}")

    def after_epoch(self, epoch):
        self.calls.append(f"after_epoch {epoch}")


BATCH = ["before_batch", "loss", "after_backward", "after_step", "on_step"]


def _tiny_set(n: int = 20):
    generator = torch.Generator().manual_seed(0)
    return torch.utils.data.TensorDataset(torch.rand(n, 64, generator=generator),
                                          torch.randint(0, 10, (n,), generator=generator))


def test_the_loop_calls_the_hooks_in_order():
    hooks = Recorder()
    model = models.mlp(64, (8,), 10, seed=0)
    config = TrainingConfig(epochs=2, batch_size=10)
    losses = train(model, _tiny_set(), config, make_optimizer(config, model.parameters()),
                   range(3, 5), monitor=DivergenceMonitor(config.lr), hooks=hooks,
                   on_step=lambda step: hooks.calls.append("on_step"))
    assert len(losses) == 2
    epoch = lambda e: [f"start_epoch {e}", *BATCH * 2, f"end_epoch {e}", f"after_epoch {e}"]  # noqa: E731
    assert hooks.calls == epoch(3) + epoch(4)


def test_algorithm_1_and_the_baselines_act_at_their_hooks(monkeypatch):
    """Every user of the loop goes through `train_step`, so the hook order is the loop's;
    here each user's hooks are spied on."""
    from nets import baselines, loop
    from nets.plain import train_plain
    from nets.training import EquilibriumPruning, PruningConfig

    seen: list[tuple[str, str]] = []
    original = loop.train_step

    wrapped_hooks: set[int] = set()

    def spy(model, optimizer, inputs, labels, hooks=None, monitor=None):
        hooks = hooks if hooks is not None else loop.Hooks()
        if id(hooks) in wrapped_hooks:
            return original(model, optimizer, inputs, labels, hooks, monitor)
        wrapped_hooks.add(id(hooks))
        for name in ("before_batch", "loss", "after_backward", "after_step"):
            method = getattr(hooks, name)

            def wrapped(*args, _method=method, _name=name):
                seen.append((type(hooks).__name__, _name))
                return _method(*args)

            monkeypatch.setattr(hooks, name, wrapped, raising=False)
        return original(model, optimizer, inputs, labels, hooks, monitor)

    monkeypatch.setattr(loop, "train_step", spy)
    pair = (_tiny_set(), _tiny_set(10))
    config = PruningConfig(epochs=1, batch_size=10, beta=0.05)
    train_plain(models.mlp(64, (8,), 10, seed=0), pair, config)
    EquilibriumPruning(config).fit(models.mlp(64, (8,), 10, seed=0), pair, progress=False)
    baselines.get("l0").prune(models.mlp(64, (8,), 10, seed=0), pair, None,
                              baselines.Budget(epochs=1, batch_size=10))
    names = [name for _, name in seen]
    assert names == ["before_batch", "loss", "after_backward", "after_step"] * (len(seen) // 4)
    assert {kind for kind, _ in seen} == {"_Evaluate", "_AlgorithmHooks", "_BaselineHooks"}


def test_epoch_seed_is_the_formula_every_loop_used():
    assert epoch_seed(3, 2) == 3 * 1_000_003 + 2


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"optimizer": "rmsprop"}, {"lr": -1.0},
                                 {"momentum": 1.0}, {"seed": -1}])
def test_training_config_refuses_bad_fields_naming_them(bad):
    from nets.checks import PruningError

    with pytest.raises(PruningError, match=next(iter(bad))):
        TrainingConfig(**bad)
