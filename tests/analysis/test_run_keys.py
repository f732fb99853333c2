"""`RunConfig.key` stays what it was before the training fields moved to `nets.loop`
(issue 10): a resumable sweep finds its old results only under the same keys.

``data/run_keys.json`` holds the records and keys of `CONFIGS` computed at commit 5d8ad93,
before the redesign; ``data/train_flag_keys.json`` the keys of the runs some
``pruning-game train`` command lines asked for then (its flags are now generated from the
fields of `nets.PruningConfig`).
"""

from __future__ import annotations

import json
from pathlib import Path

from analysis.runner import RunConfig
from nets import PAPER_CONFIGS
from nets.loop import TrainingConfig

OLD = json.loads((Path(__file__).parent / "data" / "run_keys.json").read_text(encoding="utf-8"))

CONFIGS = [
    RunConfig(),
    RunConfig(method="dense", pruning={"weight_decay": 0.01}, epochs=3, seed=2),
    RunConfig(method="equilibrium", pruning={"beta": 0.05, "gamma": 0.05}, epochs=2),
    RunConfig(method="equilibrium", pruning=PAPER_CONFIGS["extreme_beta"], epochs=20,
              hidden=(512, 256)),
    RunConfig(method="equilibrium", pruning={"payoff": "loss_descent", "eta": 0.1,
                                             "overlap": "activations", "participation_lr": 0.02,
                                             "beta": 0.01, "gamma": 0.01, "momentum": 0.5},
              sparsity=0.5, optimizer="sgd", lr=0.05, level="all", tag="t"),
    RunConfig(method="l0", pruning={"strength": 0.05}, epochs=4, batch_size=64),
    RunConfig(method="slimming", pruning={"scope": "layer"}, sparsity=0.4, rounds=2),
    RunConfig(method="lottery", sparsity=0.8, granularity="unstructured", schedule="iterative",
              dataset="synthetic", data_limit=500),
    RunConfig(method="synflow", sparsity=0.5, schedule="at_init", model="lenet5", hidden=(60, 40),
              level="filter"),
    RunConfig(method="random", sparsity=0.3, pruning={"seed": 4}, seed=7),
]


def test_the_same_run_has_the_key_it_had_before_the_redesign():
    assert [c.key for c in CONFIGS] == [entry["key"] for entry in OLD]
    assert [c.to_dict() for c in CONFIGS] == [entry["config"] for entry in OLD]


def test_old_records_read_back_to_their_old_keys():
    for entry in OLD:
        assert RunConfig.from_dict(entry["config"]).key == entry["key"]


def test_the_training_config_of_a_run_takes_weight_decay_and_momentum_from_its_options():
    config = RunConfig(method="dense", pruning={"weight_decay": 0.01, "momentum": 0.5},
                       epochs=3, optimizer="sgd", lr=0.05, seed=2)
    assert config.training == TrainingConfig(epochs=3, batch_size=128, optimizer="sgd",
                                             lr=0.05, weight_decay=0.01, momentum=0.5, seed=2)
    assert config.pruning_config().training == config.training
    baseline = RunConfig(method="l0", epochs=4)
    assert baseline.budget().training == baseline.training == TrainingConfig(epochs=4)


def test_train_command_lines_ask_for_the_runs_they_asked_for_before():
    from analysis.train import _run_config, parser

    cases = json.loads((Path(__file__).parent / "data" / "train_flag_keys.json").read_text(
        encoding="utf-8"))
    for case in cases:
        assert _run_config(parser().parse_args(case["argv"])).key == case["key"], case["argv"]


def test_train_has_a_flag_for_every_game_and_training_field():
    from analysis.runner import GAME_FIELDS, SHARED_FIELDS
    from analysis.train import parser

    flags = {a.dest for a in parser()._actions}
    assert set(GAME_FIELDS) - {"name"} <= flags and set(SHARED_FIELDS) <= flags
