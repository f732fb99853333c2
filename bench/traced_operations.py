"""Issue 12's table of models x operations: every operation of the bridge on every nested model
of `nets.models` and on a user-defined residual module, on digits (8x8 images).

Operations, each run on a fresh seeded model (small sizes, so the table takes a minute or two):

- ``attach_gates`` (``level="all"``: every traced group of Linear and conv roots);
- ``collect``: `nets.stats.collect` with the overlap Grams and the Gauss-Newton curvature (in
  eval mode: the statistics of the deployed network, as the second-order solve takes them on
  BatchNorm networks);
- ``algorithm_1``: `nets.EquilibriumPruning` fit for one epoch (the paper's loop);
- ``solve_apply``: the ``equilibrium_solve`` pruner at 30% (Taylor game), and
  ``solve_second_order`` (second-order game, iterative);
- every structured baseline of `nets.baselines.REGISTRY` at 30% (one-shot, 2 epochs);
- ``soft``, ``mask``, ``fold`` and ``remove`` of `nets.apply_participation` on a random
  participation, with ``remove == mask`` checked on a batch (atol 1e-5) and the parameter count
  shrinking.

A cell is ``ok`` with its seconds, or the error's type and first words: nothing is hidden.

Usage: ``python bench/traced_operations.py [--quick]`` (``--quick``: two models, three
baselines).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import nn

from nets import EquilibriumPruning, PruningConfig, apply_participation, attach_gates, baselines
from nets import data as datasets
from nets.apply import keep_mask
from nets.baselines import Budget
from nets.models import mlp_mixer, resnet18_like, resnet_cifar, vit
from nets.stats import collect
from nets.structure import eval_mode


class UserResidual(nn.Module):
    """What a user writes: a conv stem, one residual block with BatchNorm, a pooled head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return self.head(torch.relu(x + y).mean(dim=(2, 3)))


def _user(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return UserResidual()


MODELS: dict[str, Callable[[int], nn.Module]] = {
    "resnet_cifar(8, 4)": lambda seed: resnet_cifar(8, 4, input_size=8, seed=seed),
    "resnet18_like(2)": lambda seed: resnet18_like(2, input_size=8, seed=seed),
    "vit": lambda seed: vit(input_size=8, patch=2, dim=16, depth=2, num_heads=2, head_dim=4,
                            mlp_hidden=16, seed=seed),
    "mlp_mixer": lambda seed: mlp_mixer(input_size=8, patch=2, dim=16, depth=2,
                                        token_hidden=8, channel_hidden=16, seed=seed),
    "user residual": _user,
}
STRUCTURED = sorted(name for name, cls in baselines.REGISTRY.items()
                    if "structured" in cls.granularities)


def operations(data: datasets.DataBundle, methods: list[str]
               ) -> dict[str, Callable[[nn.Module, torch.Tensor], None]]:
    """Name -> a function of (fresh model, example batch) that raises on failure."""
    budget = Budget(epochs=2, batch_size=48, level="all", rounds=2)
    batches = [(x, y) for x, y in torch.utils.data.DataLoader(data.train, batch_size=48)][:2]

    def gates(model: nn.Module, x: torch.Tensor) -> None:
        assert attach_gates(model, "all", example_inputs=x[:1]).n_players > 0

    def statistics(model: nn.Module, x: torch.Tensor) -> None:
        gated = attach_gates(model, "all", example_inputs=x[:1])
        with eval_mode(gated):  # the curvature needs examples that do not interact
            stats = collect(gated, batches, parameter_gram=True, activation_overlap=True,
                            curvature="gauss_newton")
        assert stats.curvature_factors.shape[0] == gated.n_players

    def algorithm_1(model: nn.Module, x: torch.Tensor) -> None:
        config = PruningConfig(epochs=1, batch_size=48, level="all", eta=0.1,
                               overlap="parameters")
        result = EquilibriumPruning(config).fit(model, data, progress=False)
        assert result.participation.shape == (result.gated.n_players,)

    def pruner(name: str, **options: object) -> Callable[[nn.Module, torch.Tensor], None]:
        def run(model: nn.Module, x: torch.Tensor) -> None:
            schedule = "iterative" if options.get("payoff") == "second_order" else "one_shot"
            outcome = baselines.get(name, **options).prune(
                model, data, 0.3, budget, granularity="structured", schedule=schedule)
            assert 0.2 <= outcome.achieved_sparsity <= 0.35, outcome.achieved_sparsity
            assert sum(p.numel() for p in outcome.model.parameters()) < \
                sum(p.numel() for p in model.parameters())
        return run

    def applied(mode: str) -> Callable[[nn.Module, torch.Tensor], None]:
        def run(model: nn.Module, x: torch.Tensor) -> None:
            gated = attach_gates(model, "all", example_inputs=x[:1]).eval()
            draw = torch.rand(gated.n_players, generator=torch.Generator().manual_seed(1))
            keep = keep_mask(gated, (draw > 0.5).double(), 0.5, "keep_strongest").double()
            out = apply_participation(gated, keep, mode=mode).eval()
            if mode == "remove":
                masked = apply_participation(gated, keep, mode="mask").eval()
                with torch.no_grad():
                    difference = float((out(x) - masked(x)).abs().max())
                assert difference <= 1e-5, f"remove != mask by {difference:.1e}"
                assert sum(p.numel() for p in out.parameters()) < \
                    sum(p.numel() for p in model.parameters())
        return run

    table: dict[str, Callable[[nn.Module, torch.Tensor], None]] = {
        "attach_gates": gates, "collect": statistics, "algorithm_1": algorithm_1,
        "solve_apply": pruner("equilibrium_solve"),
        "solve_second_order": pruner("equilibrium_solve", payoff="second_order")}
    for name in methods:
        options = {"rewind_steps": 0} if name == "lottery" else {}
        table[name] = pruner(name, **options)
    for mode in ("soft", "mask", "fold", "remove"):
        table[mode] = applied(mode)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two models, three baselines")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    data = datasets.load("digits", limit=96)
    x = torch.stack([data.test[i][0] for i in range(8)])
    models = dict(list(MODELS.items())[:2]) if args.quick else MODELS
    methods = [m for m in STRUCTURED if m not in ("equilibrium", "equilibrium_solve")]
    table = operations(data, methods[:3] if args.quick else methods)
    print(f"torch {torch.__version__}; digits (96 examples), level='all'; seconds per cell")
    print("| operation | " + " | ".join(models) + " |")
    print("|---" * (len(models) + 1) + "|")
    passed = total = 0
    for operation, function in table.items():
        cells = []
        for build in models.values():
            started = time.perf_counter()
            try:
                function(build(0), x)
                cells.append(f"ok {time.perf_counter() - started:.1f}")
                passed += 1
            except Exception as error:  # noqa: BLE001 (the table reports every failure)
                cells.append(f"{type(error).__name__}: {str(error)[:60]}")
            total += 1
        print(f"| {operation} | " + " | ".join(cells) + " |", flush=True)
    print(f"\n{passed} of {total} cells ok")


if __name__ == "__main__":
    main()
