"""Does physical removal of pruned units buy real speed? Masks versus removal on CPU.

Blalock et al. (2020, "What is the State of Neural Network Pruning?", MLSys) point out that
pruning papers often report parameter or FLOP counts but rarely measured speed, and that the
two can disagree badly: a pruning *mask* (``torch.nn.utils.prune``) keeps every weight in a
dense tensor and multiplies it by a 0/1 mask, so the network does exactly as much arithmetic as
before (plus the cost of applying the mask). Only *physically removing* the pruned units, i.e.
building smaller dense layers, turns a lower MAC count into lower latency.

This script measures that gap for the networks of this project. For each network and each
target share of removed hidden units (50%, 90%, 98%) it

1. draws a seeded random participation vector s (Shah & Khan 2025, Eq. 2) with every entry in
   [0.01, 1) and sets the lowest-s share of the players to 0, below the pruning threshold
   epsilon = 0.01 (Algorithm 1, step 3). Players are chosen globally over all player layers;
   a layer that would lose every unit keeps its strongest one (``on_empty="keep_strongest"``),
   so the reported ``removed`` count is the real one;
2. builds the physically smaller network, ``apply_participation(gated, s, mode="remove")``, and
   the masked one, ``to_torch_prune(gated, s)``, and checks that they compute the same outputs;
3. computes the theoretical speed-up: dense MACs / remaining MACs, with the per-example MAC
   counts of ``nets.evaluate.evaluate`` (Linear and Conv2d layers);
4. times forward passes of the dense, removed and masked models on the same input batch with
   the project's one latency timer, `nets.evaluate.measure_latency` (``torch.utils.benchmark``
   Timers under ``torch.inference_mode``, after warm-up passes). The three models are timed in
   the same rounds, in an order that rotates every round, so machine noise hits all of them
   alike. The measured speed-up of a model is median(dense time) / median(its
   time), taken within one run; ``ratio`` = measured / theoretical speed-up. The target is
   ratio >= 0.8 for removal; masks are expected near 1x speed, i.e. a low ratio.

Two effects keep measured speed-ups apart from the MAC ratio. Work that has no MACs (max
pooling, activations, flattening, the fixed cost of each PyTorch call) is not in the count, so
at high sparsity, when the remaining layers are tiny, it dominates and removal falls well short
of the theoretical speed-up. And such work can depend on the data: max pooling over channels
that a mask made all zero runs faster than over real activations on CPU, so a masked LeNet can
time somewhat faster than the dense one although it skips no multiplication.

Usage::

    python bench/removal.py [--quick] [--latency-repeats N] [--latency-batch B] [--seed S]
                            [--threads T] [--latency-warmup W] [--out PATH]

``--quick`` (CI smoke run) means 5 repeats, batch 32 and the MLP only. The latency flags are
spelled as in ``pruning-game reproduce filters`` and ``evaluate(latency_batch=,
latency_repeats=)``. Nothing is written unless
``--out PATH`` is given; the CSV is then written to a temporary file and moved into place with
``os.replace``. Latency depends on the machine, the thread count and the load of other
processes; compare ratios within one run, never across runs.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from equilibria.atomic import atomic_write
from nets.apply import apply_participation, plain_index, to_torch_prune
from nets.evaluate import evaluate, measure_latency
from nets.gates import GatedNetwork, attach_gates
from nets.models import lenet5, mlp

#: Pruning threshold epsilon of Algorithm 1 (units with s_i < epsilon are pruned).
THRESHOLD = 0.01

#: Target shares of player units removed.
FRACTIONS = (0.5, 0.9, 0.98)

#: The ratio measured / theoretical speed-up that removal should reach.
TARGET_RATIO = 0.8


@dataclass(frozen=True)
class Network:
    """A network to benchmark.

    Attributes
    ----------
    name : str
        Label printed in the table.
    build : callable
        ``build(seed)`` returns the dense ``nn.Sequential``.
    level : str
        Player level passed to `nets.gates.attach_gates`.
    input_shape : tuple of int
        Shape of one example, e.g. ``(1, 28, 28)``.
    """

    name: str
    build: Callable[[int], nn.Sequential]
    level: str
    input_shape: tuple[int, ...]


@dataclass(frozen=True)
class Row:
    """One line of the result table (one network at one target sparsity).

    Attributes
    ----------
    network, level : str
        Network label and player level.
    target : float
        Requested share of removed player units.
    removed, players : int
        Player units actually removed, and the number of players.
    macs_dense, macs_removed : int
        Multiply-accumulates per example of the dense and of the removed network.
    theoretical : float
        macs_dense / macs_removed.
    dense_ms, removed_ms, masked_ms : float
        Median forward-pass time of each model at the benchmark batch size, in milliseconds.
    removed_speedup, masked_speedup : float
        dense_ms / removed_ms and dense_ms / masked_ms.
    removed_ratio, masked_ratio : float
        Measured speed-up divided by the theoretical one.
    meets_target : bool
        removed_ratio >= `TARGET_RATIO`.
    max_abs_diff : float
        Largest absolute difference between the removed and masked models' outputs.
    """

    network: str
    level: str
    target: float
    removed: int
    players: int
    macs_dense: int
    macs_removed: int
    theoretical: float
    dense_ms: float
    removed_ms: float
    masked_ms: float
    removed_speedup: float
    masked_speedup: float
    removed_ratio: float
    masked_ratio: float
    meets_target: bool
    max_abs_diff: float


NETWORKS = (
    Network("mlp 784-512-256-10", lambda seed: mlp(784, (512, 256), 10, seed=seed),
            "neuron", (1, 28, 28)),
    Network("lenet5 28x28", lambda seed: lenet5(input_size=28, seed=seed),
            "filter", (1, 28, 28)),
)


def participation(n_players: int, fraction: float, seed: int) -> np.ndarray:
    """Seeded random participation vector whose lowest-s share is below the threshold.

    Parameters
    ----------
    n_players : int
        Length of the vector.
    fraction : float
        Share of players to prune, in [0, 1]; ``round(fraction * n_players)`` entries are set
        to 0 (below `THRESHOLD`).
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray of shape (n_players,)
        The other entries are uniform in [`THRESHOLD`, 1), so they are kept.
    """
    rng = np.random.default_rng(seed)
    s = rng.uniform(THRESHOLD, 1.0, size=n_players)
    n_pruned = round(fraction * n_players)
    s[np.argsort(s, kind="stable")[:n_pruned]] = 0.0
    return s


def macs_per_example(model: nn.Module, example: torch.Tensor) -> int:
    """Dense MACs per example of a plain model, as counted by `nets.evaluate.evaluate`.

    Parameters
    ----------
    model : nn.Sequential
    example : torch.Tensor
        One input batch; only its first example is used for counting.

    Returns
    -------
    int
    """
    labels = torch.zeros(1, dtype=torch.long)
    return evaluate(model, [(example[:1], labels)], latency_repeats=0).macs_dense


def time_models(models: Sequence[nn.Module], inputs: torch.Tensor, repeats: int,
                warmup: int) -> list[float]:
    """Median forward-pass time of each model, measured in interleaved rounds.

    `nets.evaluate.measure_latency` with ``order="rotate"``: round k times the models
    starting at index ``k mod len(models)``, so no model always runs first (right after
    another model evicted its weights from the cache).

    Parameters
    ----------
    models : sequence of nn.Module
        Models in eval mode, all taking ``inputs``.
    inputs : torch.Tensor
        The batch fed to every model.
    repeats : int
        Timed passes per model.
    warmup : int
        Untimed passes per model before timing.

    Returns
    -------
    list of float
        Median seconds per forward pass, one per model.
    """
    return measure_latency(models, inputs, repeats=repeats, warmup=warmup, order="rotate")


def benchmark(network: Network, fraction: float, *, batch: int, repeats: int, warmup: int,
              seed: int) -> Row:
    """Measure one network at one target share of removed units.

    Parameters
    ----------
    network : Network
    fraction : float
        Target share of player units removed.
    batch, repeats, warmup : int
        Batch size, timed passes and warm-up passes per model.
    seed : int
        Seeds the weights, the participation vector and the input batch.

    Returns
    -------
    Row
    """
    dense = network.build(seed).eval()
    gated: GatedNetwork = attach_gates(dense, network.level)
    s = participation(gated.n_players, fraction, seed)
    removed = apply_participation(gated, s, mode="remove", threshold=THRESHOLD,
                                  on_empty="keep_strongest").eval()
    masked = to_torch_prune(gated, s, threshold=THRESHOLD, on_empty="keep_strongest").eval()
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn((batch, *network.input_shape), generator=generator)
    with torch.inference_mode():
        diff = (removed(inputs) - masked(inputs)).abs().max().item()
    kept = sum(layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
               for layer in (removed[plain_index(gated, info.layer_index)]
                             for info in gated.layers))
    macs_dense = macs_per_example(dense, inputs)
    macs_removed = macs_per_example(removed, inputs)
    dense_s, removed_s, masked_s = time_models([dense, removed, masked], inputs, repeats, warmup)
    theoretical = macs_dense / macs_removed
    removed_speedup = dense_s / removed_s
    masked_speedup = dense_s / masked_s
    return Row(
        network=network.name, level=network.level, target=fraction,
        removed=gated.n_players - kept, players=gated.n_players,
        macs_dense=macs_dense, macs_removed=macs_removed, theoretical=theoretical,
        dense_ms=1000 * dense_s, removed_ms=1000 * removed_s, masked_ms=1000 * masked_s,
        removed_speedup=removed_speedup, masked_speedup=masked_speedup,
        removed_ratio=removed_speedup / theoretical, masked_ratio=masked_speedup / theoretical,
        meets_target=removed_speedup / theoretical >= TARGET_RATIO, max_abs_diff=diff)


COLUMNS = (
    ("network", "network", "<", "{}"),
    ("target", "target", ">", "{:.0%}"),
    ("removed", "removed", ">", "{}"),
    ("macs", "MACs dense->left", ">", "{}"),
    ("theoretical", "theory", ">", "{:.2f}x"),
    ("dense_ms", "dense ms", ">", "{:.3f}"),
    ("removed_ms", "remove ms", ">", "{:.3f}"),
    ("removed_speedup", "remove", ">", "{:.2f}x"),
    ("removed_ratio", "ratio", ">", "{:.2f}"),
    ("meets_target", ">=0.8?", "<", "{}"),
    ("masked_ms", "mask ms", ">", "{:.3f}"),
    ("masked_speedup", "mask", ">", "{:.2f}x"),
    ("masked_ratio", "ratio", ">", "{:.2f}"),
    ("max_abs_diff", "max|diff|", ">", "{:.1e}"),
)


def _cell(row: Row, key: str, spec: str) -> str:
    if key == "removed":
        return f"{row.removed}/{row.players}"
    if key == "macs":
        return f"{row.macs_dense:,}->{row.macs_removed:,}"
    if key == "meets_target":
        return "yes" if row.meets_target else "NO"
    return spec.format(getattr(row, key))


def format_table(rows: Sequence[Row]) -> str:
    """Render the rows as an aligned text table.

    Parameters
    ----------
    rows : sequence of Row

    Returns
    -------
    str
    """
    header = [title for _, title, _, _ in COLUMNS]
    body = [[_cell(row, key, spec) for key, _, _, spec in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(f"{cell:{align}{width}}" for cell, (_, _, align, _), width
                         in zip(cells, COLUMNS, widths, strict=True)).rstrip()

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


def write_csv(rows: Sequence[Row], path: Path) -> None:
    """Write the rows as CSV atomically (temporary file in the same folder, then os.replace).

    Parameters
    ----------
    rows : sequence of Row
    path : pathlib.Path
        Destination; its folder is created if missing.
    """
    with atomic_write(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Row)])
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; ``--quick`` fills in repeats 5, batch 32 and the MLP only.

    Parameters
    ----------
    argv : sequence of str, optional
        Defaults to ``sys.argv[1:]``.

    Returns
    -------
    argparse.Namespace
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: repeats 5, batch 32, MLP only")
    parser.add_argument("--latency-repeats", type=_positive_int, default=None,
                        help="timed passes per model (default 50; 5 with --quick)")
    parser.add_argument("--latency-batch", type=_positive_int, default=None,
                        help="batch size (default 256; 32 with --quick)")
    parser.add_argument("--latency-warmup", type=_positive_int, default=None,
                        help="warm-up passes per model (default 5; 2 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--threads", type=_positive_int, default=1,
                        help="torch intra-op threads (default 1, for stable numbers)")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as CSV")
    args = parser.parse_args(argv)
    args.latency_repeats = args.latency_repeats or (5 if args.quick else 50)
    args.latency_batch = args.latency_batch or (32 if args.quick else 256)
    args.latency_warmup = args.latency_warmup or (2 if args.quick else 5)
    if args.out is not None and not args.out.parent.is_dir():
        parser.error(f"--out: folder {str(args.out.parent)!r} does not exist")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table.

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        Exit status 0 (a missed target is reported, not an error).
    """
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()} (usable {affinity}), python {sys.version.split()[0]}")
    print(f"batch {args.latency_batch}, repeats {args.latency_repeats}, warm-up "
          f"{args.latency_warmup}, "
          f"seed {args.seed}, threshold {THRESHOLD}; speed-ups = median dense / median model "
          "(same run, same input)")
    networks = NETWORKS[:1] if args.quick else NETWORKS
    started = time.perf_counter()
    rows = [benchmark(network, fraction, batch=args.latency_batch,
                      repeats=args.latency_repeats, warmup=args.latency_warmup, seed=args.seed)
            for network in networks for fraction in FRACTIONS]
    print()
    print(format_table(rows))
    print()
    for row in rows:
        wanted = round(row.target * row.players)
        if row.removed != wanted:
            print(f"note: {row.network} at {row.target:.0%}: removing {wanted}/{row.players} "
                  "would empty a layer, so each emptied layer kept its strongest unit "
                  f"(on_empty='keep_strongest'): {row.removed}/{row.players} removed")
    met = sum(row.meets_target for row in rows)
    print(f"removal meets ratio >= {TARGET_RATIO} in {met}/{len(rows)} rows; "
          f"torch.nn.utils.prune masks: speed-up {min(r.masked_speedup for r in rows):.2f}x-"
          f"{max(r.masked_speedup for r in rows):.2f}x (masks skip no multiplication; above 1x "
          "only from data-dependent work such as max pooling over zeroed channels)")
    print(f"benchmark time {time.perf_counter() - started:.1f} s")
    if args.out is not None:
        write_csv(rows, args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
