"""Bad options are refused, never silently dropped or changed (issue 9, item 6).

API cases: `nets.compare.compare`, `nets.PruningConfig`, `nets.baselines.Budget`, the pruners'
options through `nets.baselines.get`, unstructured pruning on a model it cannot fully prune,
and `analysis.RunConfig`. Each must raise the project's typed error (`PruningError`, or
`RunConfigError` for a RunConfig) with a one-line message naming the argument. CLI cases:
``pruning-game compare`` must exit 2 with one line on stderr naming the option.
"""

from __future__ import annotations

import argparse
import math

import pytest
import torch
from torch import nn

from analysis import RunConfig, RunConfigError
from analysis.cli import main
from nets import PruningConfig, data
from nets.baselines import Budget, PruningError, get
from nets.compare import compare
from papers.pruning_as_a_game import reproduce

NAN, INF = math.nan, math.inf


@pytest.fixture(scope="module")
def tiny() -> data.DataBundle:
    return data.load("digits", limit=64)


def _one_line_naming(error: BaseException, name: str) -> None:
    message = str(error)
    assert "\n" not in message and message.strip(), message
    assert name in message, message


# ---------------------------------------------------------------------------- compare
COMPARE = [
    ("structured-only-method-unstructured", dict(methods=["unit_norm"],
                                                 granularity="unstructured"), "granularity"),
    ("unstructured-only-method-structured", dict(methods=["magnitude"]), "granularity"),
    ("unknown-schedule", dict(methods=["random"], schedule="iterativ"), "schedule"),
    ("unknown-schedule-all", dict(methods=None, schedule="iterativ"), "schedule"),
    ("method-without-schedule", dict(methods=["equilibrium"], schedule="iterative"),
     "schedule"),
    ("unknown-granularity", dict(methods=["random"], granularity="weights"), "granularity"),
    ("empty-methods", dict(methods=[]), "methods"),
    ("methods-a-string", dict(methods="random"), "methods"),
    ("repeated-method", dict(methods=["random", "random"]), "methods"),
    ("unknown-method", dict(methods=["nonexistent"]), "methods"),
    ("empty-sparsities", dict(methods=["random"], sparsities=()), "sparsities"),
    ("sparsity-one", dict(methods=["random"], sparsities=(1.0,)), "sparsities"),
    ("sparsity-negative", dict(methods=["random"], sparsities=(-0.1,)), "sparsities"),
    ("sparsity-nan", dict(methods=["random"], sparsities=(NAN,)), "sparsities"),
    ("sparsity-bool", dict(methods=["random"], sparsities=(True,)), "sparsities"),
    ("repeated-sparsity", dict(methods=["random"], sparsities=(0.5, 0.5)), "sparsities"),
    ("empty-seeds", dict(methods=["random"], seeds=()), "seeds"),
    ("seed-float", dict(methods=["random"], seeds=(1.5,)), "seeds"),
    ("seed-bool", dict(methods=["random"], seeds=(True,)), "seeds"),
    ("seed-string", dict(methods=["random"], seeds=("a",)), "seeds"),
    ("seed-negative", dict(methods=["random"], seeds=(-1,)), "seeds"),
    ("repeated-seed", dict(methods=["random"], seeds=(0, 0)), "seeds"),
    ("options-for-a-method-not-run", dict(methods=["random"], options={"magnitud": {}}),
     "options"),
    ("unknown-option", dict(methods=["random"], options={"random": {"colour": 1}}), "colour"),
    ("latency-repeats-negative", dict(methods=["random"], latency_repeats=-1),
     "latency_repeats"),
    ("budget-a-dict", dict(methods=["random"], budget={"epochs": 1}), "budget"),
    ("lottery-rewind-beyond-the-budget", dict(methods=["random", "lottery"]), "rewind_steps"),
    ("unstructured-on-unmaskable-weights",
     dict(methods=["magnitude"], granularity="unstructured",
          model_fn=lambda bundle, seed: _conv1d_model()), "granularity"),
]


@pytest.mark.parametrize(("kwargs", "name"), [c[1:] for c in COMPARE],
                         ids=[c[0] for c in COMPARE])
def test_compare_refuses(tiny, kwargs, name):
    kwargs = {"budget": Budget(epochs=1), "sparsities": (0.5,), **kwargs}
    methods = kwargs.pop("methods")
    with pytest.raises(PruningError) as caught:
        compare(methods, data=tiny, progress=False, **kwargs)
    _one_line_naming(caught.value, name)


# ---------------------------------------------------------------------------- PruningConfig
PRUNING_CONFIG = [
    ("epsilon-zero", dict(epsilon=0.0), "epsilon"),
    ("epsilon-one", dict(epsilon=1.0), "epsilon"),
    ("epsilon-negative", dict(epsilon=-0.01), "epsilon"),
    ("epsilon-nan", dict(epsilon=NAN), "epsilon"),
    ("epsilon-bool", dict(epsilon=True), "epsilon"),
    ("beta-bool", dict(beta=True), "beta"),
    ("beta-negative", dict(beta=-0.1), "beta"),
    ("gamma-negative", dict(gamma=-1.0), "gamma"),
    ("eta-negative", dict(eta=-0.5, overlap="parameters"), "eta"),
    ("eta-without-overlap", dict(eta=0.1), "eta"),
    ("alpha-nan", dict(alpha=NAN), "alpha"),
    ("participation-lr-inf", dict(participation_lr=INF), "participation_lr"),
    ("participation-lr-negative", dict(participation_lr=-1e-3), "participation_lr"),
    ("lr-negative", dict(lr=-1e-3), "lr"),
    ("lr-bool", dict(lr=False), "lr"),
    ("momentum-one", dict(momentum=1.0), "momentum"),
    ("weight-decay-negative", dict(weight_decay=-1.0), "weight_decay"),
    ("epochs-bool", dict(epochs=True), "epochs"),
    ("batch-size-float", dict(batch_size=1.5), "batch_size"),
    ("seed-negative", dict(seed=-1), "seed"),
    ("include-outgoing-string", dict(include_outgoing="yes"), "include_outgoing"),
    ("unknown-payoff", dict(payoff="tayl"), "payoff"),
    ("unknown-level", dict(level="neurons"), "level"),
]


@pytest.mark.parametrize(("kwargs", "name"), [c[1:] for c in PRUNING_CONFIG],
                         ids=[c[0] for c in PRUNING_CONFIG])
def test_pruning_config_refuses(kwargs, name):
    with pytest.raises(PruningError) as caught:
        PruningConfig(**kwargs)
    _one_line_naming(caught.value, name)


# ---------------------------------------------------------------------------- Budget
BUDGET = [
    ("epochs-bool", dict(epochs=True), "epochs"),
    ("epochs-zero", dict(epochs=0), "epochs"),
    ("batch-size-float", dict(batch_size=2.0), "batch_size"),
    ("rounds-bool", dict(rounds=False), "rounds"),
    ("lr-bool", dict(lr=True), "lr"),
    ("lr-nan", dict(lr=NAN), "lr"),
    ("lr-negative", dict(lr=-1.0), "lr"),
    ("seed-negative", dict(seed=-1), "seed"),
    ("seed-float", dict(seed=1.5), "seed"),
    ("unknown-optimizer", dict(optimizer="adamw"), "optimizer"),
    ("unknown-level", dict(level="neurons"), "level"),
]


@pytest.mark.parametrize(("kwargs", "name"), [c[1:] for c in BUDGET],
                         ids=[c[0] for c in BUDGET])
def test_budget_refuses(kwargs, name):
    with pytest.raises(PruningError) as caught:
        Budget(**kwargs)
    _one_line_naming(caught.value, name)


# ---------------------------------------------------------------------------- pruner options
PRUNERS = [
    ("random-seed-bool", "random", dict(seed=True), "seed"),
    ("random-seed-negative", "random", dict(seed=-1), "seed"),
    ("random-unknown-scope", "random", dict(scope="everywhere"), "scope"),
    ("unit-norm-p-nan", "unit_norm", dict(p=NAN), "p"),
    ("unit-norm-p-zero", "unit_norm", dict(p=0), "p"),
    ("grasp-temperature-bool", "grasp", dict(temperature=True), "temperature"),
    ("synflow-iterations-zero", "synflow", dict(iterations=0), "iterations"),
    ("obd-samples-float", "obd", dict(samples=1.5), "samples"),
    ("obd-seed-string", "obd", dict(seed="a"), "seed"),
    ("lottery-rewind-bool", "lottery", dict(rewind_steps=True), "rewind_steps"),
    ("l0-strength-negative", "l0", dict(strength=-1.0), "strength"),
    ("l0-droprate-one", "l0", dict(droprate_init=1.0), "droprate_init"),
    ("slimming-threshold-inf", "slimming", dict(threshold=INF), "threshold"),
    ("magnitude-unknown-option", "magnitude", dict(colour=1), "colour"),
    ("equilibrium-config-a-dict", "equilibrium", dict(config={"beta": 1.0}), "config"),
    ("activation-unknown-statistic", "activation", dict(statistic="median"), "statistic"),
]


@pytest.mark.parametrize(("method", "kwargs", "name"), [c[1:] for c in PRUNERS],
                         ids=[c[0] for c in PRUNERS])
def test_pruner_options_refused(method, kwargs, name):
    with pytest.raises(PruningError) as caught:
        get(method, **kwargs)
    _one_line_naming(caught.value, name)


def _conv1d_model() -> nn.Sequential:
    """Its Conv1d holds weights no unstructured pruner here can mask."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Unflatten(1, (1, 64)), nn.Conv1d(1, 4, 5), nn.ReLU(),
                         nn.Flatten(), nn.Linear(240, 8), nn.ReLU(), nn.Linear(8, 10))


PRUNE = [
    ("magnitude-conv1d-unstructured", "magnitude", {}, "unstructured", 0.5, "granularity"),
    ("lottery-conv1d-unstructured", "lottery", {"rewind_steps": 0}, "unstructured", 0.5,
     "granularity"),
    ("synflow-conv1d-at-init", "synflow", {"iterations": 2}, "unstructured", 0.5,
     "granularity"),
    ("sparsity-bool", "random", {}, "structured", True, "sparsity"),
    ("sparsity-one", "random", {}, "structured", 1.0, "sparsity"),
]


@pytest.mark.parametrize(("method", "options", "granularity", "sparsity", "name"),
                         [c[1:] for c in PRUNE], ids=[c[0] for c in PRUNE])
def test_prune_refuses(tiny, method, options, granularity, sparsity, name):
    model = _conv1d_model() if granularity == "unstructured" else \
        nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))
    schedule = "at_init" if method == "synflow" else "one_shot"
    with pytest.raises(PruningError) as caught:
        get(method, **options).prune(model, tiny, sparsity, Budget(epochs=1),
                                     granularity=granularity, schedule=schedule)
    _one_line_naming(caught.value, name)


def test_participation_gradient_refuses_taylor_without_the_batch(tiny):
    from nets import EquilibriumPruning, attach_gates

    gated = attach_gates(nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(),
                                       nn.Linear(8, 10)))
    with pytest.raises(PruningError) as caught:
        EquilibriumPruning(PruningConfig(payoff="taylor")).participation_gradient(gated)
    _one_line_naming(caught.value, "inputs and labels")


# ---------------------------------------------------------------------------- RunConfig
RUN_CONFIG = [
    ("equilibrium-epsilon-zero", dict(method="equilibrium", pruning={"epsilon": 0}),
     "epsilon"),
    ("equilibrium-epsilon-above-one", dict(method="equilibrium", pruning={"epsilon": 1.5}),
     "epsilon"),
    ("equilibrium-beta-bool", dict(method="equilibrium", pruning={"beta": True}), "beta"),
    ("equilibrium-participation-lr-negative",
     dict(method="equilibrium", pruning={"participation_lr": -1.0}), "participation_lr"),
    ("lr-bool", dict(lr=True), "lr"),
    ("lr-nan", dict(lr=NAN), "lr"),
    ("epochs-bool", dict(epochs=True), "epochs"),
    ("seed-negative", dict(seed=-1), "seed"),
    ("seed-float", dict(seed=1.5), "seed"),
    ("data-limit-bool", dict(data_limit=True), "data_limit"),
    ("sparsity-bool", dict(method="random", sparsity=True), "sparsity"),
    ("unknown-schedule", dict(method="random", sparsity=0.5, schedule="iterativ"),
     "schedule"),
    ("method-without-granularity", dict(method="magnitude", sparsity=0.5), "granularity"),
    ("random-seed-bool", dict(method="random", sparsity=0.5, pruning={"seed": True}), "seed"),
    ("unit-norm-p-negative", dict(method="unit_norm", sparsity=0.5, pruning={"p": -1.0}),
     "p"),
]


@pytest.mark.parametrize(("kwargs", "name"), [c[1:] for c in RUN_CONFIG],
                         ids=[c[0] for c in RUN_CONFIG])
def test_run_config_refuses(kwargs, name):
    with pytest.raises(RunConfigError) as caught:
        RunConfig(**kwargs)
    _one_line_naming(caught.value, name)


# ---------------------------------------------------------------------------- CLI
CLI = [
    ("empty-methods", ["--methods", ""], "methods"),
    ("method-without-granularity", ["--methods", "magnitude"], "granularity"),
    ("unknown-schedule", ["--schedule", "iterativ"], "schedule"),
    ("method-without-schedule", ["--methods", "equilibrium", "--schedule", "iterative"],
     "schedule"),
    ("seed-float", ["--seeds", "1.5"], "seeds"),
    ("seed-negative", ["--seeds=-1"], "seeds"),
    ("repeated-seed", ["--seeds", "0,0"], "seeds"),
    ("empty-seeds", ["--seeds", ","], "seeds"),
    ("sparsity-one", ["--methods", "random", "--sparsities", "1"], "sparsities"),
    ("repeated-sparsity", ["--methods", "random", "--sparsities", "0.5,0.5"], "sparsities"),
    ("repeated-method", ["--methods", "random,random"], "methods"),
    ("lottery-rewind-beyond-the-budget", ["--methods", "random,lottery"], "rewind_steps"),
]


@pytest.mark.parametrize(("argv", "name"), [c[1:] for c in CLI], ids=[c[0] for c in CLI])
def test_compare_cli_refuses(capsys, argv, name):
    code = main(["compare", "--epochs", "1", "--limit", "64", *argv])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("pruning-game compare: error:"), lines
    assert name in lines[0], lines[0]
    assert captured.out == ""


def test_compare_refuses_before_any_training(tiny):
    """A run that would fail late (lottery's rewind step beyond a 1-epoch budget) is refused
    before the dense reference or any earlier method trains: one model is built, to check."""
    built = []

    def model_fn(bundle, seed):
        built.append(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))

    with pytest.raises(PruningError, match="rewind_steps"):
        compare(["random", "lottery"], sparsities=(0.5,), data=tiny, model_fn=model_fn,
                budget=Budget(epochs=1), progress=False)
    assert built == [0]


# ---------------------------------------------------------------------------- honoured options
def test_compare_all_names_what_it_skips_and_what_falls_back(tiny, caplog):
    """Only "all" may leave methods out or change their schedule, and it says so."""
    from nets.compare import _methods

    runnable, schedules, notes = _methods("all", "structured", "iterative")
    assert "magnitude" not in runnable and "equilibrium" in runnable
    assert schedules["equilibrium"] == "one_shot" and schedules["random"] == "iterative"
    assert any("magnitude" in note for note in notes)
    assert any("equilibrium" in note and "one_shot" in note for note in notes)
    with caplog.at_level("WARNING", logger="nets.compare"):
        with pytest.raises(PruningError):  # a bad seed: nothing is logged before the error
            compare("all", seeds=(-1,), data=tiny, progress=False)
    assert caplog.records == []


@pytest.mark.parametrize("argv", [["--quick", "--data", "synthetic"],
                                  ["--data", "synthetic", "--quick", "--limit", "90"]],
                         ids=["data", "data-and-limit"])
def test_reproduce_quick_keeps_the_data_asked_for(argv):
    args = reproduce.quick_arguments(reproduce.parser().parse_args(argv))
    assert isinstance(args, argparse.Namespace)
    runs = reproduce.configs(args)
    assert runs and {r.dataset for r in runs} == {"synthetic"}
    expected = 90 if "--limit" in argv else reproduce.QUICK["limit"]
    assert {r.data_limit for r in runs} == {expected}
    assert {r.epochs for r in runs} == {reproduce.QUICK["epochs"]}


def test_reproduce_quick_alone_is_the_toy_run():
    args = reproduce.quick_arguments(reproduce.parser().parse_args(["--quick"]))
    runs = reproduce.configs(args)
    assert {r.dataset for r in runs} == {"digits"}
    assert {r.hidden for r in runs} == {reproduce.QUICK["hidden"]}
