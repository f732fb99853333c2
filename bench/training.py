"""Training benchmark: Algorithm 1 epoch time / plain training epoch time, same MLP, same data.

Equilibrium-driven pruning (Shah & Khan 2025, Algorithm 1) adds gates, the gradient with
respect to the participation, and a projected s-step to every batch. The s-step is fused into
the theta step's pass (`nets.training._StepHooks`: the backward pass fills dL/ds beside the
weights' gradients, the pseudo-gradient is its closed form, one ``torch._foreach_*`` call per
operation over all layers), so the target is an overhead of at most 5% (ratio <= 1.05) in
the default, exact mode. The bench also times the documented approximation
``participation_every = K`` (the s-step on every K-th batch, step K lr_s).

All loops run on the same batches, the same MLP (the paper's 784-512-256-10 on Fashion-MNIST
when it is installed, else 64-512-256-10 on digits), one thread, interleaved epochs (plain,
exact, every-K, plain, ...) so that machine noise hits all of them; each figure is the median
of the per-repeat ratios.

Usage: ``python bench/training.py [--quick] [--repeats R] [--every K] [--threads T]
[--clock {wall,cpu}]`` (``--clock cpu`` times this process's CPU time, steadier on a busy
machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from nets import EquilibriumPruning, PruningConfig, attach_gates, data, models
from nets.loop import make_optimizer


def dataset(quick: bool) -> tuple[str, TensorDataset, int]:
    """Fashion-MNIST (12,800 examples; 2,560 with --quick) if installed, else digits."""
    try:
        bundle = data.load("fashion-mnist", limit=2_560 if quick else 12_800)
        return "fashion-mnist", bundle.train, 784
    except FileNotFoundError:
        bundle = data.load("digits")
        return "digits", bundle.train, 64


def plain_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                batches: list, clock: Callable[[], float]) -> float:
    """One epoch of plain training; seconds."""
    start = clock()
    for inputs, labels in batches:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(inputs), labels).backward()
        optimizer.step()
    return clock() - start


def game_epoch(trainer: EquilibriumPruning, gated, optimizer: torch.optim.Optimizer,
               batches: list, clock: Callable[[], float]) -> float:
    """One epoch of Algorithm 1's steps (theta step + s-step per batch); seconds."""
    start = clock()
    for inputs, labels in batches:
        trainer.step(gated, optimizer, inputs, labels)
    return clock() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="epochs per loop (default 5)")
    parser.add_argument("--every", type=int, default=4,
                        help="K of the participation_every mode (default 4)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    repeats = args.repeats or (3 if args.quick else 5)
    name, train, inputs = dataset(args.quick)
    config = PruningConfig(beta=0.05, gamma=0.05, batch_size=128)
    modes = {"exact": config,
             f"every {args.every}": PruningConfig(beta=0.05, gamma=0.05, batch_size=128,
                                                  participation_every=args.every)}
    loader = DataLoader(train, batch_size=config.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    batches = list(loader)  # the same batches for every loop, no loader time in the figures
    dense = models.mlp(inputs, (512, 256), 10, seed=0)
    dense_optimizer = make_optimizer(config, dense.parameters())
    runs = {}
    for mode, mode_config in modes.items():
        gated = attach_gates(models.mlp(inputs, (512, 256), 10, seed=0))
        runs[mode] = (EquilibriumPruning(mode_config), gated,
                      make_optimizer(mode_config, gated.parameters()))
    plain_epoch(dense, dense_optimizer, batches, clock)  # warm-up
    for trainer, gated, optimizer in runs.values():
        game_epoch(trainer, gated, optimizer, batches, clock)
    plain_times: list[float] = []
    game_times: dict[str, list[float]] = {mode: [] for mode in runs}
    for _ in range(repeats):
        plain_times.append(plain_epoch(dense, dense_optimizer, batches, clock))
        for mode, (trainer, gated, optimizer) in runs.items():
            game_times[mode].append(game_epoch(trainer, gated, optimizer, batches, clock))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}"
          f", clock {args.clock}")
    print(f"data {name}: {len(train)} examples, batch {config.batch_size}, "
          f"MLP {inputs}-512-256-10, {repeats} interleaved epochs each, medians")
    print(f"{'loop':<44}{'epoch seconds':>14}{'ratio to plain':>16}")
    print(f"{'plain training':<44}{statistics.median(plain_times):>14.3f}{1.0:>16.3f}")
    for mode, times in game_times.items():
        ratio = statistics.median(t / p for t, p in zip(times, plain_times, strict=True))
        label = "Algorithm 1, exact (participation_every=1)" if mode == "exact" else \
            f"s-step every {args.every} batches (approximate)"
        target = f"  (target <= 1.05: {'yes' if ratio <= 1.05 else 'NO'})" \
            if mode == "exact" else ""
        print(f"{label:<44}{statistics.median(times):>14.3f}{ratio:>16.3f}{target}")


if __name__ == "__main__":
    main()
