"""Training benchmark: Algorithm 1 epoch time / plain training epoch time, same MLP, same data.

Equilibrium-driven pruning (Shah & Khan 2025, Algorithm 1) adds gates, the gradient with
respect to the participation, and a projected s-step to every batch. With
``s_update="simultaneous"`` the s-step reuses the gradients of the theta step's
forward/backward pass, so the target is an overhead of at most 5% (ratio <= 1.05).

Both loops run on the same data order, the same MLP (the paper's 784-512-256-10 on
Fashion-MNIST when it is installed, else 64-512-256-10 on digits), one thread, interleaved
epochs (dense, game, dense, game, ...) so that machine noise hits both, median of repeats.

Usage: ``python bench/training.py [--quick] [--repeats K] [--threads T]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from nets import EquilibriumPruning, PruningConfig, attach_gates, data, models
from nets.loop import make_optimizer


def dataset(quick: bool) -> tuple[str, TensorDataset, int]:
    """Fashion-MNIST (12,800 examples) if installed, else digits."""
    try:
        bundle = data.load("fashion-mnist", limit=2_560 if quick else 12_800)
        return "fashion-mnist", bundle.train, 784
    except FileNotFoundError:
        bundle = data.load("digits")
        return "digits", bundle.train, 64


def plain_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                loader: DataLoader) -> float:
    """One epoch of plain training; seconds."""
    start = time.perf_counter()
    for inputs, labels in loader:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(inputs), labels).backward()
        optimizer.step()
    return time.perf_counter() - start


def game_epoch(trainer: EquilibriumPruning, gated, optimizer: torch.optim.Optimizer,
               loader: DataLoader) -> float:
    """One epoch of Algorithm 1's steps (theta step + s-step per batch); seconds."""
    start = time.perf_counter()
    for inputs, labels in loader:
        trainer.step(gated, optimizer, inputs, labels)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="epochs per loop (default 5)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    repeats = args.repeats or (2 if args.quick else 5)
    name, train, inputs = dataset(args.quick)
    config = PruningConfig(beta=0.05, gamma=0.05, batch_size=128)
    model = models.mlp(inputs, (512, 256), 10, seed=0)
    dense = models.mlp(inputs, (512, 256), 10, seed=0)
    gated = attach_gates(model)
    trainer = EquilibriumPruning(config)
    dense_optimizer = make_optimizer(config, dense.parameters())
    game_optimizer = make_optimizer(config, gated.parameters())
    loader = DataLoader(train, batch_size=config.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    plain_epoch(dense, dense_optimizer, loader)  # warm-up
    game_epoch(trainer, gated, game_optimizer, loader)
    plain_times, game_times = [], []
    for _ in range(repeats):
        plain_times.append(plain_epoch(dense, dense_optimizer, loader))
        game_times.append(game_epoch(trainer, gated, game_optimizer, loader))
    plain, game = statistics.median(plain_times), statistics.median(game_times)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
    print(f"data {name}: {len(train)} examples, batch {config.batch_size}, "
          f"MLP {inputs}-512-256-10, {repeats} interleaved epochs each, medians")
    print(f"{'loop':<34}{'epoch seconds':>14}")
    print(f"{'plain training':<34}{plain:>14.3f}")
    print(f"{'Algorithm 1 (theta step + s-step)':<34}{game:>14.3f}")
    ratio = game / plain
    print(f"ratio Algorithm 1 / plain: {ratio:.3f} (target <= 1.05: "
          f"{'yes' if ratio <= 1.05 else 'NO'})")


if __name__ == "__main__":
    main()
