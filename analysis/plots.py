"""Figures (matplotlib, headless): training dynamics and participation histograms.

- `training_dynamics`: the paper's Figure 1 (Shah & Khan 2025): test accuracy, sparsity, mean
  participation and active players against epoch, one curve per run.
- `participation_histogram`: the paper's Figure 2: the final participation of each run, with the
  pruning threshold epsilon as a dashed line.

Every function writes a PNG atomically (temporary file, then rename) and returns its path.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["participation_histogram", "save_figure", "training_dynamics"]


def save_figure(figure: plt.Figure, path: str | os.PathLike) -> Path:
    """Write `figure` to `path` atomically and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=path.suffix, delete=False) as tmp:
        figure.savefig(tmp, dpi=120, bbox_inches="tight")
    os.replace(tmp.name, path)
    plt.close(figure)
    return path


def training_dynamics(histories: Mapping[str, Sequence[Mapping[str, object]]],
                      path: str | os.PathLike) -> Path:
    """Figure 1: accuracy, sparsity, mean participation and active players per epoch.

    Parameters
    ----------
    histories : mapping of run name -> sequence of epoch records (``EpochRecord.to_dict()``)
    path : where to write the PNG
    """
    panels = (("test_accuracy", "test accuracy"), ("sparsity", "sparsity (s < epsilon)"),
              ("mean_participation", "mean participation"), ("active", "active players"))
    figure, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for name, history in histories.items():
        epochs = [record["epoch"] for record in history]
        for axis, (key, label) in zip(axes.flat, panels, strict=True):
            if key == "active":
                values = [sum(record["active_per_layer"]) for record in history]
            else:
                values = [record[key] for record in history]
            axis.plot(epochs, values, marker=".", label=name)
            axis.set_ylabel(label)
    for axis in axes[1]:
        axis.set_xlabel("epoch")
    axes[0, 0].legend(fontsize="small")
    figure.suptitle("Equilibrium-driven pruning: training dynamics")
    return save_figure(figure, path)


def participation_histogram(participations: Mapping[str, np.ndarray], epsilon: float,
                            path: str | os.PathLike, bins: int = 40) -> Path:
    """Figure 2: histogram of the final participation per run, epsilon dashed."""
    figure, axes = plt.subplots(1, len(participations), figsize=(4 * len(participations), 3.2),
                                squeeze=False)
    for axis, (name, s) in zip(axes[0], participations.items(), strict=True):
        axis.hist(np.asarray(s), bins=np.linspace(0.0, 1.0, bins + 1), color="tab:blue")
        axis.axvline(epsilon, color="black", linestyle="--", label=f"epsilon = {epsilon:g}")
        axis.set_title(name, fontsize="small")
        axis.set_xlabel("final participation s")
        axis.set_yscale("log")
    axes[0, 0].set_ylabel("players")
    axes[0, 0].legend(fontsize="small")
    return save_figure(figure, path)
