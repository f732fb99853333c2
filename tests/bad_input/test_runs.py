"""Bad input around runs and sweeps (issue 9, items 5 and 7): each case raises a typed error
with a one-line message naming the argument, before any run starts; a learning rate that
diverges stops the run with `TrainingDivergedError` naming ``lr``.

API cases: `analysis.sweep` (its own arguments), `analysis.RunConfig` / `nets.PruningConfig` /
`nets.baselines.Budget` training fields, `analysis.sweeps.local_executor`, and diverging
learning rates through every training loop (`nets.train_plain`, `nets.EquilibriumPruning`,
a baseline, `analysis.run`). CLI case: ``pruning-game train --lr 1e6`` exits 2 with one line.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from analysis.cli import main
from analysis.runner import RunConfig, run
from analysis.sweeps import local_executor, sweep
from nets import data, models
from nets.baselines import Budget, PruningError, get
from nets.divergence import TrainingDivergedError
from nets.plain import train_plain
from nets.training import EquilibriumPruning, PruningConfig
from tests.bad_input.conftest import error_line

TINY = {"hidden": (16,), "epochs": 1, "data_limit": 200}


def one_line_naming(error: BaseException, name: str) -> None:
    message = str(error)
    assert message.strip() and "\n" not in message, message
    assert name in message, message


def never_run(config):  # pragma: no cover - a bad argument must stop the sweep before
    raise AssertionError("a run started despite a bad argument")


# ---------------------------------------------------------------------------- sweep
def sweep_cases(tmp_path):
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder\n")
    good = [RunConfig(**TINY)]
    return {
        "configs-a-single-config": (dict(configs=RunConfig(**TINY)), TypeError, "configs"),
        "configs-a-dict": (dict(configs=RunConfig(**TINY).to_dict()), TypeError, "configs"),
        "configs-a-string": (dict(configs="configs.json"), TypeError, "configs"),
        "configs-a-number": (dict(configs=3), TypeError, "configs"),
        "configs-holding-strings": (dict(configs=["epochs=1"]), TypeError, "configs"),
        "config-with-unknown-field": (dict(configs=[{"epochs": 1, "colour": "red"}]),
                                      ValueError, "colour"),
        "config-with-bad-lr": (dict(configs=[{"lr": 0}]), ValueError, "lr"),
        "out-dir-a-file": (dict(configs=good, out_dir=a_file), ValueError, "out_dir"),
        "out-dir-inside-a-file": (dict(configs=good, out_dir=a_file / "sub"), ValueError,
                                  "out_dir"),
        "out-dir-none": (dict(configs=good, out_dir=None), TypeError, "out_dir"),
        "out-dir-empty": (dict(configs=good, out_dir=""), TypeError, "out_dir"),
        "max-workers-zero": (dict(configs=good, max_workers=0), ValueError, "max_workers"),
        "max-workers-bool": (dict(configs=good, max_workers=True), ValueError, "max_workers"),
        "max-workers-float": (dict(configs=good, max_workers=2.0), ValueError, "max_workers"),
        "on-error-unknown": (dict(configs=good, on_error="ignore"), ValueError, "on_error"),
        "on-error-not-a-string": (dict(configs=good, on_error=None), ValueError, "on_error"),
        "executor-not-an-executor": (dict(configs=good, executor=object()), TypeError,
                                     "executor"),
        "run-fn-not-callable": (dict(configs=good, run_fn="analysis.run"), TypeError,
                                "run_fn"),
    }


SWEEP_IDS = [
    "configs-a-single-config", "configs-a-dict", "configs-a-string", "configs-a-number",
    "configs-holding-strings", "config-with-unknown-field", "config-with-bad-lr",
    "out-dir-a-file", "out-dir-inside-a-file", "out-dir-none", "out-dir-empty",
    "max-workers-zero", "max-workers-bool", "max-workers-float", "on-error-unknown",
    "on-error-not-a-string", "executor-not-an-executor", "run-fn-not-callable"]


@pytest.mark.parametrize("case", SWEEP_IDS)
def test_sweep_refuses_before_any_run(tmp_path, case):
    cases = sweep_cases(tmp_path)
    assert set(cases) == set(SWEEP_IDS)
    kwargs, kind, name = cases[case]
    arguments = {"out_dir": tmp_path / "out", "run_fn": never_run, "progress": False,
                 **kwargs}
    if "executor" not in arguments:
        arguments["executor"] = ThreadPoolExecutor(max_workers=1)
    try:
        with pytest.raises(kind) as raised:
            sweep(**arguments)
    finally:
        if hasattr(arguments["executor"], "shutdown"):
            arguments["executor"].shutdown()
    one_line_naming(raised.value, name)
    assert not (tmp_path / "out" / "results.jsonl").exists()


# ---------------------------------------------------------------------------- training fields
TRAINING_FIELDS = [
    ("runconfig-lr-zero", RunConfig, dict(lr=0.0), ValueError, "lr"),
    ("runconfig-lr-negative", RunConfig, dict(lr=-1e-3), ValueError, "lr"),
    ("runconfig-lr-inf", RunConfig, dict(lr=math.inf), ValueError, "lr"),
    ("runconfig-lr-string", RunConfig, dict(lr="0.01"), ValueError, "lr"),
    ("runconfig-epochs-zero", RunConfig, dict(epochs=0), ValueError, "epochs"),
    ("runconfig-epochs-negative", RunConfig, dict(epochs=-1), ValueError, "epochs"),
    ("runconfig-epochs-float", RunConfig, dict(epochs=1.5), ValueError, "epochs"),
    ("runconfig-batch-size-zero", RunConfig, dict(batch_size=0), ValueError, "batch_size"),
    ("runconfig-batch-size-negative", RunConfig, dict(batch_size=-8), ValueError,
     "batch_size"),
    ("runconfig-rounds-zero", RunConfig, dict(method="random", sparsity=0.5, rounds=0),
     ValueError, "rounds"),
    ("runconfig-from-dict-unknown-field", RunConfig.from_dict, dict(record={"epoch": 3}),
     ValueError, "epoch"),
    ("budget-lr-zero", Budget, dict(lr=0.0), PruningError, "lr"),
    ("budget-epochs-negative", Budget, dict(epochs=-2), PruningError, "epochs"),
    ("budget-batch-size-zero", Budget, dict(batch_size=0), PruningError, "batch_size"),
    ("pruningconfig-lr-negative", PruningConfig, dict(lr=-0.1), ValueError, "lr"),
    ("pruningconfig-epochs-zero", PruningConfig, dict(epochs=0), ValueError, "epochs"),
    ("pruningconfig-batch-size-zero", PruningConfig, dict(batch_size=0), ValueError,
     "batch_size"),
    ("local-executor-workers-negative", "local_executor", dict(workers=-1), ValueError,
     "workers"),
    ("local-executor-threads-zero", "local_executor", dict(workers=0, threads=0), ValueError,
     "threads"),
]


@pytest.mark.parametrize(("factory", "kwargs", "kind", "name"),
                         [c[1:] for c in TRAINING_FIELDS], ids=[c[0] for c in TRAINING_FIELDS])
def test_training_fields_are_refused(factory, kwargs, kind, name):
    with pytest.raises(kind) as raised:
        if factory == "local_executor":
            with local_executor(**kwargs):
                pass
        else:
            factory(**kwargs)
    one_line_naming(raised.value, name)


# ---------------------------------------------------------------------------- divergence
@pytest.fixture(scope="module")
def small() -> data.DataBundle:
    return data.load("digits", limit=200)


def diverge_dense(bundle):
    train_plain(models.mlp(64, (16,), 10, seed=0), bundle, PruningConfig(epochs=1, lr=1e6))


def diverge_equilibrium(bundle):
    EquilibriumPruning(PruningConfig(epochs=1, lr=1e6, beta=0.05)).fit(
        models.mlp(64, (16,), 10, seed=0), bundle, progress=False)


def diverge_baseline(bundle):
    get("random").prune(models.mlp(64, (16,), 10, seed=0), bundle, 0.5,
                        Budget(epochs=2, lr=1e6))


def diverge_sgd(bundle):
    train_plain(models.mlp(64, (16,), 10, seed=0), bundle,
                PruningConfig(epochs=1, lr=1e4, optimizer="sgd"))


@pytest.mark.parametrize("train", [diverge_dense, diverge_equilibrium, diverge_baseline,
                                   diverge_sgd], ids=["dense", "equilibrium", "baseline",
                                                      "dense-sgd"])
def test_a_diverging_lr_stops_training_naming_lr(small, train):
    with pytest.raises(TrainingDivergedError) as raised:
        train(small)
    one_line_naming(raised.value, "lr=")
    assert "lower the learning rate" in str(raised.value)


@pytest.mark.parametrize("method, sparsity", [("dense", None), ("equilibrium", None),
                                              ("random", 0.5)])
def test_a_diverging_run_config_stops_naming_lr(method, sparsity):
    config = RunConfig(method=method, sparsity=sparsity, lr=1e6, **TINY)
    with pytest.raises(TrainingDivergedError) as raised:
        run(config)
    one_line_naming(raised.value, "lr=1e+06")


def test_cli_train_with_a_diverging_lr_is_one_line_and_exit_2(tmp_path, capsys):
    status = main(["train", "--lr", "1e6", "--limit", "200", "--epochs", "1", "--hidden",
                   "16", "--no-certify", "--out", str(tmp_path / "run")])
    line = error_line(capsys.readouterr().err, "pruning-game train")
    assert status == 2 and "lr=1e+06" in line
