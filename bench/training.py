"""Training benchmark: Algorithm 1 epoch time / plain training epoch time, same network, same data.

Equilibrium-driven pruning (Shah & Khan 2025, Algorithm 1) adds gates and a projected s-step to
every batch. The s-step is fused into the theta step's pass (`nets.training._StepHooks`: the
default payoff's benefit ``<dL/dtheta_i, theta_i>`` is read from the weights' gradients of the
same backward pass, so the gates need no gradient; the pseudo-gradient is its closed form and
the projected step one compiled loop per layer, `nets._fused`), so the target is an overhead of
at most 5% (ratio <= 1.05) in the default, exact mode. The bench also times the documented
approximation ``participation_every = K`` (the s-step on every K-th batch, step K lr_s).

All loops run on the same batches, the same network, one thread: the MLP of the target (the
paper's 784-512-256-10 on Fashion-MNIST when it is installed, else 64-512-256-10 on digits),
then a LeNet-5 with filters and neurons as players (no target; convolutions are where reading
the benefit from the weights, not from dL/ds over every activation, matters most). They are
interleaved in blocks of ``--block`` batches (plain, exact, every-K, then the next block in a
rotated order), so that machine noise hits all of them alike; a loop's epoch time is the sum of
its blocks, and each figure is the median over the repeats of the per-epoch ratio (the range of
the ratios is printed beside it).

Usage: ``python bench/training.py [--quick] [--repeats R] [--every K] [--block B] [--threads T]
[--clock {wall,cpu}] [--model {mlp,lenet,both}]`` (``--clock cpu`` times this process's CPU
time, steadier on a busy machine).
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
    parser.add_argument("--model", choices=("mlp", "lenet", "both"), default="both",
                        help="the network(s) timed (default both; the target is the MLP's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    repeats = args.repeats or (3 if args.quick else 5)
    name, train, inputs = dataset(args.quick)
    size = int(train[0][0].shape[-1])
    networks = {"mlp": (f"MLP {inputs}-512-256-10 (neurons)",
                        lambda: models.mlp(inputs, (512, 256), 10, seed=0), "neuron"),
                "lenet": (f"LeNet-5 on {size}x{size} (filters and neurons)",
                          lambda: models.lenet5(1, 10, input_size=size, seed=0), "all")}
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}"
          f", clock {args.clock}")
    print(f"data {name}: {len(train)} examples, batch 128, {repeats} epochs each interleaved "
          f"in blocks of {args.block} batches, medians")
    for network in ("mlp", "lenet") if args.model == "both" else (args.model,):
        label, build, level = networks[network]
        plain_times, game_times = measure(build, level, train, repeats, args.every,
                                          args.block, clock)
        report(label, plain_times, game_times, args.every, target=network == "mlp")


def measure(build: Callable[[], torch.nn.Module], level: str, train: TensorDataset,
            repeats: int, every: int, block: int, clock: Callable[[], float]
            ) -> tuple[list[float], dict[str, list[float]]]:
    """Epoch seconds of plain training and of Algorithm 1 (exact, every `every` batches) on
    networks made by `build` (players at `level`), `repeats` interleaved epochs each."""
    config = PruningConfig(beta=0.05, gamma=0.05, batch_size=128)
    modes = {"exact": config,
             f"every {every}": PruningConfig(beta=0.05, gamma=0.05, batch_size=128,
                                             participation_every=every)}
    loader = DataLoader(train, batch_size=config.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    batches = list(loader)  # the same batches for every loop, no loader time in the figures
    dense = build()
    dense_optimizer = make_optimizer(config, dense.parameters())
    loops: dict[str, Callable[[list], float]] = {
        "plain": lambda chunk: plain_steps(dense, dense_optimizer, chunk, clock)}
    for mode, mode_config in modes.items():
        trainer, gated = EquilibriumPruning(mode_config), attach_gates(build(), level)
        optimizer = make_optimizer(mode_config, gated.parameters())
        loops[mode] = (lambda chunk, trainer=trainer, gated=gated, optimizer=optimizer:
                       game_steps(trainer, gated, optimizer, chunk, clock))
    interleaved_epoch(loops, batches, block)  # warm-up (and numba's first call)
    times: dict[str, list[float]] = {loop: [] for loop in loops}
    for _ in range(repeats):
        for loop, seconds in interleaved_epoch(loops, batches, block).items():
            times[loop].append(seconds)
    return times.pop("plain"), times


def report(label: str, plain_times: list[float], game_times: dict[str, list[float]],
           every: int, target: bool) -> None:
    """The table of one network: each loop's median epoch and its ratio to plain training
    (the median of the per-epoch ratios, and their range); `target` marks the issue's
    figure, <= 1.05 for the exact mode."""
    print(f"\n{label}")
    print(f"{'loop':<44}{'epoch seconds':>14}{'ratio to plain':>16}{'range':>16}")
    print(f"{'plain training':<44}{statistics.median(plain_times):>14.3f}{1.0:>16.3f}")
    for mode, mode_times in game_times.items():
        ratios = [t / p for t, p in zip(mode_times, plain_times, strict=True)]
        ratio = statistics.median(ratios)
        name = "Algorithm 1, exact (participation_every=1)" if mode == "exact" else \
            f"s-step every {every} batches (approximate)"
        mark = f"  (target <= 1.05: {'yes' if ratio <= 1.05 else 'NO'})" \
            if target and mode == "exact" else ""
        spread = f"{min(ratios):.3f}-{max(ratios):.3f}"
        print(f"{name:<44}{statistics.median(mode_times):>14.3f}{ratio:>16.3f}"
              f"{spread:>16}{mark}")

if __name__ == "__main__":
    main()
