"""Certification benchmark: certificate time / training time of ``pruning-game train``.

The certificate of a run (`analysis.train._certificate`) measures the final game on the
training set (unless the game in the loop already measured it), computes the Nash gap and
stability of s, and solves the game once from s (`equilibria.certify.first_equilibrium` under
`analysis.train.CERTIFICATE_BUDGET`); the distinct-equilibria search runs only with
``--distinct-equilibria``. The target is a certificate of at most a tenth of the training
time (ratio <= 0.1) for the demo (digits, 60 epochs) and for the paper's Fashion-MNIST MLP
784-512-256-10 (``--config l1_l2_combined``, 20 epochs).

Each run is one ``pruning-game train`` in a temporary folder; the times are those the run
writes to ``summary.json`` (``seconds.training``: `EquilibriumPruning.fit`;
``seconds.certificate``: the whole certificate; ``--clock cpu`` reads ``cpu_seconds``, this
process's CPU time, steadier on a busy machine), so both halves see the same machine. With
``--repeats R`` the runs are interleaved (demo, fashion, demo, ...) and each ratio is the
median of the per-run ratios.

Usage: ``python bench/certification.py [--quick] [--repeats R] [--distinct-equilibria]
[--clock {wall,cpu}]``
(``--quick``: the demo for 10 epochs, Fashion-MNIST limited to 6,000 examples for 2 epochs;
the ratio then compares the certificate with a much shorter training).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import tempfile
from pathlib import Path

import torch

from analysis.train import main as train


def runs(quick: bool) -> dict[str, list[str]]:
    """The ``pruning-game train`` arguments of each benchmarked run."""
    demo = ["--config", "demo", *(["--epochs", "10"] if quick else [])]
    fashion = ["--config", "l1_l2_combined", "--data", "fashion-mnist",
               *(["--limit", "6000", "--epochs", "2"] if quick else [])]
    return {"demo (digits)": demo, "Fashion-MNIST MLP 784-512-256-10": fashion}


def timed_run(argv: list[str], clock: str = "wall") -> dict[str, float]:
    """One run's ``seconds`` (or ``cpu_seconds``: training, certificate), its output
    silenced."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            status = train([*argv, "--out", str(out)])
        if status != 0:
            raise RuntimeError(f"pruning-game train {' '.join(argv)} exited {status}")
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    seconds = summary["seconds" if clock == "wall" else "cpu_seconds"]
    return {**seconds, "solver": summary["certificate"]["nearest_equilibrium_method"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (see the docstring)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each (default 1)")
    parser.add_argument("--distinct-equilibria", action="store_true",
                        help="time the certificate with the distinct-equilibria search too")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    extra = ["--distinct-equilibria"] if args.distinct_equilibria else []
    cases = runs(args.quick)
    seconds: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, argv in cases.items():
            seconds[name].append(timed_run([*argv, *extra], args.clock))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}"
          f"; {'quick runs' if args.quick else 'full runs'}, {args.repeats} each, medians, "
          f"clock {args.clock}"
          + ("; with the distinct-equilibria search" if extra else ""))
    print(f"{'run':<36}{'training s':>12}{'certificate s':>15}{'ratio':>8}  solved by")
    for name, rows in seconds.items():
        ratio = statistics.median(r["certificate"] / r["training"] for r in rows)
        print(f"{name:<36}{statistics.median(r['training'] for r in rows):>12.2f}"
              f"{statistics.median(r['certificate'] for r in rows):>15.2f}{ratio:>8.3f}  "
              f"{rows[-1]['solver']}  (target <= 0.1: {'yes' if ratio <= 0.1 else 'NO'})")


if __name__ == "__main__":
    main()
