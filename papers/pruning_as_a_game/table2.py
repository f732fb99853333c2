"""Table 1 configurations of Shah & Khan (2025) under two benefit readings, as one sweep.

Runs the four configurations of the paper's Table 1 (alpha = 1, lr_s = 0.001, 20 epochs,
batch 128, eta = 0) with the paper-literal benefit (Eq. 9 at the raw theta) and with the
loss-descent reading, plus a dense model on the same budget, through `analysis.sweep`
(resumable: rerun the same command to finish an interrupted sweep). Prints our Table 2 beside
the paper's.

    python papers/pruning_as_a_game/table2.py --data fashion-mnist --out results/table2
    python papers/pruning_as_a_game/table2.py --data mnist --root /path/to/mnist --out ...
"""

from __future__ import annotations

import argparse

from analysis import RunConfig, sweep
from nets import PAPER_CONFIGS

#: Table 2 of the paper (MNIST): test accuracy %, sparsity % (share of the 768 neurons with
#: s < 0.01). Printed beside our numbers, never used to tune anything.
PAPER_TABLE_2 = {"very_high_beta": (96.64, 0.00), "extreme_beta": (91.15, 95.18),
                 "l1_sparsity_strong": (89.57, 98.31), "l1_l2_combined": (91.54, 98.05)}
READINGS = ("paper", "loss_descent")


def configs(data: str, root: str | None, epochs: int, seed: int) -> list[RunConfig]:
    """The sweep: every Table 1 configuration under every reading, and the dense model."""
    common = dict(dataset=data, data_root=root, model="mlp", hidden=(512, 256), epochs=epochs,
                  batch_size=128, lr=1e-3, seed=seed)
    runs = [RunConfig(method="equilibrium", tag=f"{key}/{payoff}",
                      pruning={"payoff": payoff, "alpha": c.alpha, "beta": c.beta,
                               "gamma": c.gamma, "participation_lr": c.participation_lr,
                               "name": c.name}, **common)
            for payoff in READINGS for key, c in PAPER_CONFIGS.items()]
    return runs + [RunConfig(method="dense", tag="dense", **common)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--root", default=None)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/table2")
    args = parser.parse_args()
    rows = {r["config"]["tag"]: r for r in sweep(configs(args.data, args.root, args.epochs,
                                                         args.seed), args.out)}
    print(f"\n{'configuration':<22}{'reading':<14}{'accuracy':>9}{'sparsity':>10}"
          f"{'kept':>12}   paper (MNIST): accuracy, sparsity")
    for key, (accuracy, sparsity) in PAPER_TABLE_2.items():
        for payoff in READINGS:
            r = rows[f"{key}/{payoff}"]
            kept = "-".join(map(str, r["kept_per_layer"] or []))
            print(f"{key:<22}{payoff:<14}{100 * r['accuracy']:>8.2f}%"
                  f"{100 * r['achieved_sparsity']:>9.2f}%{kept:>12}   {accuracy:.2f}%, "
                  f"{sparsity:.2f}%")
    print(f"dense: {100 * rows['dense']['accuracy']:.2f}%")


if __name__ == "__main__":
    main()
