"""`RunConfig` identity and validation, and `run` on tiny configurations of every kind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.runner import RunConfig, RunResult, run
from nets import PAPER_CONFIGS

ROOT = Path(__file__).resolve().parents[2]


def configs() -> list[RunConfig]:
    """A spread of valid configs (every kind of field set)."""
    return [
        RunConfig(),
        RunConfig(method="equilibrium", pruning={"beta": 0.05, "gamma": 0.05}, epochs=2,
                  hidden=(32,), tag="a"),
        RunConfig(method="magnitude", sparsity=0.5, granularity="unstructured",
                  schedule="iterative", data_limit=300, lr=0.01, seed=3),
        RunConfig(method="random", sparsity=0.7, pruning={"scope": "layer"}, model="lenet5",
                  level="all", optimizer="sgd"),
        RunConfig(dataset="synthetic", method="l0", pruning={"strength": 0.1}),
        RunConfig(dataset="fashion-mnist", data_root="/nonexistent/ünïcode", method="dense",
                  pruning={"weight_decay": 1e-4}),
    ]


# ---------------------------------------------------------------------------- identity
def test_equal_configs_have_equal_keys_and_are_hashable():
    for a, b in zip(configs(), configs(), strict=True):
        assert a is not b and a == b and a.key == b.key and hash(a) == hash(b)
    assert len(set(configs())) == len(configs())
    assert len({c.key for c in configs()}) == len(configs())


def test_key_is_16_hex_digits():
    for config in configs():
        assert len(config.key) == 16 and int(config.key, 16) >= 0


def test_equivalent_spellings_of_a_config_share_one_key():
    base = RunConfig(method="equilibrium", pruning={"beta": 0.05, "gamma": 0.1}, epochs=2,
                     hidden=(32, 16), lr=0.01, sparsity=0.5)
    same = [
        RunConfig(method="equilibrium", pruning={"gamma": 0.1, "beta": 0.05}, epochs=2,
                  hidden=[32, 16], lr=0.01, sparsity=0.5),
        RunConfig(method="equilibrium", pruning=(("gamma", 0.1), ("beta", 0.05)), epochs=2,
                  hidden=(np.int64(32), 16), lr=0.01, sparsity=0.5),
        # entries equal to PruningConfig's defaults do not change the config
        RunConfig(method="equilibrium", pruning={"beta": 0.05, "gamma": 0.1, "eta": 0,
                                                 "alpha": 1.0}, epochs=2, hidden=(32, 16),
                  lr=0.01, sparsity=0.5),
    ]
    for other in same:
        assert other == base and other.key == base.key
    assert RunConfig(lr=1).key == RunConfig(lr=1.0).key


@pytest.mark.parametrize("change", [
    {"dataset": "synthetic"}, {"data_root": "/data"}, {"data_limit": 100},
    {"model": "lenet5"}, {"hidden": (32,)}, {"method": "dense", "pruning": {}},
    {"pruning": {"beta": 0.1}}, {"sparsity": 0.5}, {"epochs": 3}, {"batch_size": 64},
    {"lr": 0.01}, {"optimizer": "sgd"}, {"level": "all"}, {"rounds": 4}, {"seed": 1},
    {"tag": "repeat-2"}, {"model": "vit"},
])
def test_a_changed_field_changes_the_key(change):
    base = RunConfig(method="equilibrium", pruning={"beta": 0.05}, epochs=2)
    changed = base.replace(**change)
    assert changed != base and changed.key != base.key


@pytest.mark.parametrize("config", configs(), ids=lambda c: c.method)
def test_to_dict_from_dict_round_trip_keeps_the_key(config):
    record = config.to_dict()
    assert json.loads(json.dumps(record)) == record  # JSON-ready
    again = RunConfig.from_dict(json.loads(json.dumps(record)))
    assert again == config and again.key == config.key and again.to_dict() == record


def test_key_is_the_same_in_another_python_process():
    """The key hashes canonical JSON with SHA-256, never ``hash()``: a fresh interpreter with
    another hash seed computes the same keys."""
    records = [c.to_dict() for c in configs()]
    script = ("import json, sys\n"
              "from analysis.runner import RunConfig\n"
              "records = json.loads(sys.stdin.read())\n"
              "print(json.dumps([RunConfig.from_dict(r).key for r in records]))\n")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    completed = subprocess.run([sys.executable, "-c", script], input=json.dumps(records),
                               capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
                               check=True)
    assert json.loads(completed.stdout) == [c.key for c in configs()]


def test_a_pruning_config_contributes_its_game_fields():
    paper = PAPER_CONFIGS["l1_l2_combined"]
    config = RunConfig(method="equilibrium", pruning=paper, epochs=2)
    options = config.options
    assert options["beta"] == paper.beta and options["gamma"] == paper.gamma
    assert "epochs" not in options
    built = config.pruning_config()
    assert (built.beta, built.gamma, built.epochs, built.name) == (0.05, 0.05, 2, paper.name)


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize("fields, field", [
    ({"dataset": "cifar"}, "dataset"),
    ({"data_limit": 0}, "data_limit"),
    ({"model": "resnet"}, "model"),
    ({"hidden": ()}, "hidden"),
    ({"hidden": (32, -1)}, "hidden"),
    ({"hidden": "32"}, "hidden"),
    ({"method": "magic"}, "method"),
    ({"method": "magnitude"}, "sparsity"),  # a target is required
    ({"method": "random", "sparsity": 1.0}, "sparsity"),
    ({"sparsity": 0.5}, "sparsity"),  # dense prunes nothing
    ({"method": "magnitude", "sparsity": 0.5}, "granularity"),  # unstructured only
    ({"method": "random", "sparsity": 0.5, "schedule": "at_init"}, "schedule"),
    ({"granularity": "blocks"}, "granularity"),
    ({"method": "equilibrium", "schedule": "iterative"}, "schedule"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"lr": -1.0}, "lr"),
    ({"lr": float("nan")}, "lr"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"method": "random", "sparsity": 0.5, "optimizer": "adamw"}, "optimizer"),
    ({"level": "layer"}, "level"),
    ({"level": "filter"}, "level"),  # an MLP has no filters
    ({"seed": -1}, "seed"),
    ({"seed": True}, "seed"),
    ({"tag": 3}, "tag"),
    ({"method": "equilibrium", "pruning": {"epochs": 3}}, "RunConfig.epochs"),
    ({"method": "equilibrium", "pruning": {"betta": 0.1}}, "betta"),
    ({"method": "equilibrium", "pruning": {"beta": -1.0}}, "beta"),
    ({"method": "equilibrium", "pruning": {"beta": [0.1]}}, "beta"),
    ({"method": "equilibrium", "pruning": {"eta": 0.1}}, "overlap"),
    ({"pruning": {"beta": 0.1}}, "beta"),  # dense takes optimizer fields only
    ({"method": "random", "sparsity": 0.5, "pruning": {"scope": "everywhere"}}, "scope"),
    ({"method": "random", "sparsity": 0.5, "pruning": {"colour": 1}}, "colour"),
    ({"model": "lenet5", "dataset": "synthetic"}, "lenet5"),
    ({"model": "resnet_cifar", "dataset": "synthetic"}, "resnet_cifar"),
    ({"model": "resnet_cifar"}, "level"),  # its only Linear is the output layer
    ({"model": "resnet_cifar", "level": "filter", "hidden": (16,)}, "hidden"),
    ({"model": "resnet_cifar", "level": "filter", "model_options": {"depht": 8}}, "depht"),
    ({"model": "resnet_cifar", "level": "filter", "model_options": {"seed": 1}}, "seed"),
    ({"model": "vit", "model_options": {"dim": [8]}}, "dim"),
    ({"model_options": {"width": 8}}, "model_options"),  # the MLP's widths are in hidden
])
def test_invalid_fields_raise_a_value_error_naming_them(fields, field):
    with pytest.raises(ValueError, match=field):
        RunConfig(**fields)


def test_model_options_are_sorted_pairs_and_stay_out_of_the_key_when_empty():
    traced = RunConfig(model="resnet_cifar", level="filter",
                       model_options={"width": 8, "depth": 8})
    assert traced.model_options == (("depth", 8), ("width", 8))
    assert traced.key == RunConfig.from_dict(traced.to_dict()).key
    assert traced.key != traced.replace(model_options={"depth": 8}).key
    assert "model_options" not in RunConfig().to_dict()
    assert "model_options" not in traced.replace(model_options={}).to_dict()


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="colour"):
        RunConfig.from_dict({**RunConfig().to_dict(), "colour": "red"})
    with pytest.raises(TypeError, match="mapping"):
        RunConfig.from_dict([("epochs", 1)])


def test_configs_are_frozen():
    with pytest.raises(AttributeError):
        RunConfig().epochs = 3


# ---------------------------------------------------------------------------- run
def tiny(**fields) -> RunConfig:
    return RunConfig(**{"hidden": (32,), "epochs": 2, "lr": 0.01, **fields})


def check_common(result: RunResult, config: RunConfig) -> dict:
    record = result.to_dict()
    assert json.loads(json.dumps(record)) == record
    assert result.key == config.key and result.config == config.to_dict()
    assert 0.5 < result.accuracy <= 1.0, "two epochs at lr 0.01 learn the digits"
    assert np.isfinite(result.loss) and result.loss > 0
    assert result.params_total == 64 * 32 + 32 + 32 * 10 + 10
    assert result.macs_dense == 64 * 32 + 32 * 10
    assert 0 < result.params_nonzero <= result.params_total
    assert 0 < result.macs_remaining <= result.macs_dense
    assert result.compression_ratio == pytest.approx(result.params_total
                                                     / result.params_nonzero)
    assert result.theoretical_speedup == pytest.approx(result.macs_dense
                                                       / result.macs_remaining)
    assert result.steps == config.epochs * int(np.ceil(1347 / config.batch_size))
    assert result.seconds > 0
    return record


def test_run_dense():
    config = tiny()
    result = run(config)
    check_common(result, config)
    assert result.achieved_sparsity == 0.0 and result.compression_ratio == 1.0
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert result.participation is None and result.kept_per_layer == [32]


def test_run_equilibrium_with_emergent_and_target_sparsity():
    config = tiny(method="equilibrium", pruning={"payoff": "loss_descent", "beta": 0.01,
                                                 "gamma": 0.05, "participation_lr": 1.0})
    result = run(config)
    check_common(result, config)
    assert len(result.history) == 2 and result.history[-1]["epoch"] == 2
    assert len(result.participation) == 32
    assert all(0.0 <= s <= 1.0 for s in result.participation)
    assert result.mean_participation == pytest.approx(np.mean(result.participation))
    below = float(np.mean(np.array(result.participation) < 0.01))
    assert result.below_epsilon == pytest.approx(below)
    kept = result.kept_per_layer[0]
    assert 0 < below < 1 and kept == round(32 * (1 - below)), "some units are pruned"
    assert result.achieved_sparsity == pytest.approx(1 - kept / 32)

    target = run(config.replace(sparsity=0.5))
    assert target.kept_per_layer == [16] and target.achieved_sparsity == 0.5
    assert target.params_nonzero < target.params_total


def test_run_baseline_and_determinism():
    config = tiny(method="random", sparsity=0.5, pruning={"seed": 1})
    first = run(config)
    check_common(first, config)
    assert first.achieved_sparsity == 0.5 and first.kept_per_layer == [16]
    assert first.history == [] and first.participation is None
    assert first.compression_ratio > 1.5
    again = run(config)
    strip = lambda r: {k: v for k, v in r.to_dict().items() if k != "seconds"}  # noqa: E731
    assert strip(again) == strip(first)


def test_run_lenet5_unstructured():
    config = RunConfig(model="lenet5", hidden=(16,), method="magnitude", sparsity=0.6,
                       granularity="unstructured", epochs=1, data_limit=200)
    result = run(config)
    assert 0.0 <= result.accuracy <= 1.0
    assert result.achieved_sparsity == pytest.approx(0.6, abs=0.01)
    assert result.theoretical_speedup > 1.0 and result.kept_per_layer == [16]


def test_run_rejects_a_dict():
    with pytest.raises(TypeError, match="RunConfig"):
        run(RunConfig().to_dict())


def test_result_from_dict_round_trip():
    result = run(tiny(epochs=1))
    assert RunResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_result_embeds_its_evaluation_and_keeps_the_flat_store_columns():
    result = run(tiny(method="random", sparsity=0.5, epochs=1))
    assert result.evaluation.accuracy == result.accuracy
    assert result.evaluation.compression_ratio == result.compression_ratio
    assert result.evaluation.params_total < result.params_total, "the pruned model's own"
    record = result.to_dict()
    assert list(record) == ["key", "config", "accuracy", "loss", "achieved_sparsity",
                            "params_total", "params_nonzero", "macs_dense", "macs_remaining",
                            "compression_ratio", "theoretical_speedup", "steps", "seconds",
                            "history", "participation", "mean_participation",
                            "below_epsilon", "kept_per_layer", "evaluation"]
    assert record["evaluation"] == result.evaluation.to_dict()
    old = {k: v for k, v in record.items() if k != "evaluation"}  # a row from before
    back = RunResult.from_dict(old)
    assert back.to_dict()["accuracy"] == record["accuracy"]
    assert {k: v for k, v in back.to_dict().items() if k != "evaluation"} == old
    assert back.evaluation.params_total is None and back.evaluation.n_examples is None
    with pytest.raises(TypeError, match="accuracy"):
        RunResult.from_dict({k: v for k, v in old.items() if k != "accuracy"})


@pytest.mark.parametrize("model, options, level", [
    ("resnet_cifar", {"depth": 8, "width": 4}, "filter"),
    ("vit", {"patch": 4, "dim": 16, "depth": 1, "num_heads": 2, "head_dim": 4,
             "mlp_hidden": 16}, "neuron"),
    ("mlp_mixer", {"patch": 4, "dim": 16, "depth": 1, "token_hidden": 4,
                   "channel_hidden": 16}, "all"),
])
def test_run_a_traced_model_removes_its_players(model, options, level):
    config = RunConfig(model=model, model_options=options, level=level, method="taylor",
                       sparsity=0.5, epochs=1, data_limit=200)
    result = run(config)
    dense = run(config.replace(method="dense", sparsity=None))
    assert sum(result.kept_per_layer) < sum(dense.kept_per_layer)
    assert result.achieved_sparsity == pytest.approx(
        1 - sum(result.kept_per_layer) / sum(dense.kept_per_layer))
    assert 0.4 <= result.achieved_sparsity <= 0.6
    assert result.params_nonzero < result.params_total == dense.params_total
    assert result.macs_remaining < result.macs_dense and result.theoretical_speedup > 1.0


def test_a_traced_model_option_the_builder_refuses_is_a_run_config_error():
    from analysis.runner import RunConfigError
    config = RunConfig(model="vit", model_options={"patch": 3}, data_limit=50, epochs=1)
    with pytest.raises(RunConfigError, match="patch"):
        run(config)  # 8x8 digits are not cut into 3x3 patches
