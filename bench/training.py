"""Training benchmark: Algorithm 1 epoch time / plain training epoch time, same MLP, same data.

Equilibrium-driven pruning (Shah & Khan 2025, Algorithm 1) adds gates, the gradient with
respect to the participation, and a projected s-step to every batch. The s-step is fused into
the theta step's pass (`nets.training._StepHooks`: the backward pass fills dL/ds beside the
weights' gradients, the pseudo-gradient is its closed form and the projected step one compiled
loop per layer, `nets._fused`), so the target is an overhead of at most 5% (ratio <= 1.05) in
the default, exact mode. The bench also times the documented approximation
``participation_every = K`` (the s-step on every K-th batch, step K lr_s).

All loops run on the same batches, the same MLP (the paper's 784-512-256-10 on Fashion-MNIST
when it is installed, else 64-512-256-10 on digits), one thread. They are interleaved in
blocks of ``--block`` batches (plain, exact, every-K, then the next block in a rotated
order), so that machine noise hits all of them alike; a loop's epoch time is the sum of its
blocks, and each figure is the median over the repeats of the per-epoch ratio (the range of
the ratios is printed beside it).

Usage: ``python bench/training.py [--quick] [--repeats R] [--every K] [--block B]
[--threads T] [--clock {wall,cpu}]`` (``--clock cpu`` times this process's CPU time, steadier
on a busy machine).
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


def plain_steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                batches: list, clock: Callable[[], float]) -> float:
    """Plain training steps on `batches`; seconds."""
    start = clock()
    for inputs, labels in batches:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(inputs), labels).backward()
        optimizer.step()
    return clock() - start


def game_steps(trainer: EquilibriumPruning, gated, optimizer: torch.optim.Optimizer,
               batches: list, clock: Callable[[], float]) -> float:
    """Algorithm 1's steps (theta step + s-step per batch) on `batches`; seconds."""
    start = clock()
    for inputs, labels in batches:
        trainer.step(gated, optimizer, inputs, labels)
    return clock() - start


def interleaved_epoch(loops: dict[str, Callable[[list], float]], batches: list,
                      block: int) -> dict[str, float]:
    """One epoch of every loop, interleaved in blocks of `block` batches (the order rotates
    from block to block); each loop's seconds, summed over its blocks."""
    seconds = dict.fromkeys(loops, 0.0)
    names = list(loops)
    for k, first in enumerate(range(0, len(batches), block)):
        chunk = batches[first:first + block]
        for name in names[k % len(names):] + names[:k % len(names)]:
            seconds[name] += loops[name](chunk)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="epochs per loop (default 5)")
    parser.add_argument("--every", type=int, default=4,
                        help="K of the participation_every mode (default 4)")
    parser.add_argument("--block", type=int, default=10,
                        help="batches per interleaved block (default 10)")
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
    loops: dict[str, Callable[[list], float]] = {
        "plain": lambda chunk: plain_steps(dense, dense_optimizer, chunk, clock)}
    for mode, (trainer, gated, optimizer) in runs.items():
        loops[mode] = (lambda chunk, trainer=trainer, gated=gated, optimizer=optimizer:
                       game_steps(trainer, gated, optimizer, chunk, clock))
    interleaved_epoch(loops, batches, args.block)  # warm-up (and numba's first call)
    times: dict[str, list[float]] = {loop: [] for loop in loops}
    for _ in range(repeats):
        for loop, seconds in interleaved_epoch(loops, batches, args.block).items():
            times[loop].append(seconds)
    plain_times = times.pop("plain")
    game_times = times
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}"
          f", clock {args.clock}")
    print(f"data {name}: {len(train)} examples, batch {config.batch_size}, "
          f"MLP {inputs}-512-256-10, {repeats} epochs each interleaved in blocks of "
          f"{args.block} batches, medians")
    print(f"{'loop':<44}{'epoch seconds':>14}{'ratio to plain':>16}{'range':>16}")
    print(f"{'plain training':<44}{statistics.median(plain_times):>14.3f}{1.0:>16.3f}")
    for mode, mode_times in game_times.items():
        ratios = [t / p for t, p in zip(mode_times, plain_times, strict=True)]
        ratio = statistics.median(ratios)
        label = "Algorithm 1, exact (participation_every=1)" if mode == "exact" else \
            f"s-step every {args.every} batches (approximate)"
        target = f"  (target <= 1.05: {'yes' if ratio <= 1.05 else 'NO'})" \
            if mode == "exact" else ""
        spread = f"{min(ratios):.3f}-{max(ratios):.3f}"
        print(f"{label:<44}{statistics.median(mode_times):>14.3f}{ratio:>16.3f}"
              f"{spread:>16}{target}")


if __name__ == "__main__":
    main()
