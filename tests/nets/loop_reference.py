"""The training runs whose numbers `test_loop.py` compares with `data/loop_reference.json`.

The JSON was written by ``python -m tests.nets.loop_reference`` at commit 5d8ad93, before the
training loops were merged into `nets.loop` (issue 10): every user of the loop must give the
same losses, accuracies and weights bit for bit under the same seeds. (Its epoch records'
``sparsity`` key was later renamed ``below_epsilon`` by hand, as `EpochRecord` was; the
numbers are untouched.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

REFERENCE = Path(__file__).parent / "data" / "loop_reference.json"


def _weights(model: torch.nn.Module) -> list[float]:
    """Per-parameter sums of the final weights (any change of RNG order moves them)."""
    return [float(p.detach().double().sum()) for p in model.parameters()]


def _bundle():
    from nets import data

    return data.load("digits", limit=400)


def plain_runs() -> dict[str, Any]:
    from nets import models
    from nets.plain import train_plain
    from nets.training import PruningConfig

    bundle = _bundle()
    runs = {}
    for name, options in {"adam": {}, "sgd": {"optimizer": "sgd", "lr": 0.05},
                          "adamw": {"optimizer": "adamw", "weight_decay": 0.01}}.items():
        config = PruningConfig(epochs=2, batch_size=64, seed=1, **options)
        result = train_plain(models.mlp(64, (16, 8), 10, seed=0), bundle, config)
        runs[name] = {"train_loss": list(result.train_loss),
                      "test_accuracy": list(result.test_accuracy),
                      "weights": _weights(result.model)}
    return runs


def equilibrium_runs() -> dict[str, Any]:
    from nets import models
    from nets.training import EquilibriumPruning, PruningConfig

    bundle = _bundle()
    cases = {"paper": dict(beta=0.05, gamma=0.02, participation_lr=0.05),
             "sequential": dict(beta=0.05, gamma=0.02, participation_lr=0.05,
                                s_update="sequential", optimizer="sgd", lr=0.05),
             "activations": dict(payoff="loss_descent", beta=0.01, gamma=0.01, eta=0.1,
                                 overlap="activations", participation_lr=0.02)}
    runs = {}
    for name, options in cases.items():
        config = PruningConfig(epochs=2, batch_size=64, seed=2, **options)
        result = EquilibriumPruning(config).fit(models.mlp(64, (16, 8), 10, seed=0), bundle,
                                               progress=False)
        runs[name] = {"history": [{k: v for k, v in r.to_dict().items() if k != "seconds"}
                                  for r in result.history],
                      "participation": [float(v) for v in result.participation],
                      "weights": _weights(result.gated)}
    return runs


def baseline_runs() -> dict[str, Any]:
    from nets import models, presets
    from nets.baselines import Budget, get

    bundle = _bundle()
    budget = Budget(epochs=3, batch_size=64, lr=1e-2, seed=1, rounds=2)
    cases = {"unit_norm": ("unit_norm", {}, 0.5, "structured", "one_shot"),
             "unit_norm_progressive": ("unit_norm", {}, 0.5, "structured", "progressive"),
             "magnitude": ("magnitude", {}, 0.5, "unstructured", "iterative"),
             "random": ("random", {}, 0.3, "structured", "one_shot"),
             "l0": ("l0", {"strength": 0.05}, None, "structured", "one_shot"),
             "l0_target": ("l0", {}, 0.4, "structured", "one_shot"),
             "slimming": ("slimming", {"strength": 1e-2, "threshold": 0.3}, None,
                          "structured", "one_shot"),
             "slimming_target": ("slimming", {}, 0.4, "structured", "one_shot"),
             "lottery": ("lottery", {"rewind_steps": 2}, 0.5, "unstructured", "iterative"),
             "lottery_units": ("lottery", {"rewind_steps": 0}, 0.3, "structured", "one_shot"),
             "synflow": ("synflow", {"iterations": 5}, 0.5, "structured", "at_init"),
             "snip": ("snip", {}, 0.5, "structured", "at_init"),
             # the demo's game by name: recorded when it was the pruner's default (the
             # default is now the paper-literal PruningConfig, nets/baselines/equilibrium.py)
             "equilibrium": ("equilibrium", {"config": presets.EQUILIBRIUM}, None,
                             "structured", "one_shot")}
    runs = {}
    for name, (method, options, sparsity, granularity, schedule) in cases.items():
        outcome = get(method, **options).prune(models.mlp(64, (16, 8), 10, seed=0), bundle,
                                               sparsity, budget, granularity=granularity,
                                               schedule=schedule)
        runs[name] = {"achieved_sparsity": outcome.achieved_sparsity, "steps": outcome.steps,
                      "weights": _weights(outcome.model)}
    return runs


def all_runs() -> dict[str, Any]:
    """Every reference run: plain, Algorithm 1 and the baselines."""
    return {"plain": plain_runs(), "equilibrium": equilibrium_runs(),
            "baselines": baseline_runs()}


if __name__ == "__main__":
    REFERENCE.write_text(json.dumps(all_runs(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {REFERENCE}")
