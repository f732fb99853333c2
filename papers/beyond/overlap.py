"""Competition from parameter overlap against activation overlap: does it prune duplicates first?

The competition term of Shah & Khan (2025, Eq. 10), ``eta s_i sum_{j != i} s_j R_ij``, is the
paper's mechanism against redundancy. This study asks whether it removes redundant units
*first*, and whether it removes exactly one unit of each redundant pair, under the two overlap
measures of `equilibria.spec`:

- ``"parameters"``: ``R_ij = <theta_i, theta_j>`` (Eq. 10 literally; theta_i = incoming row and
  bias of hidden unit i);
- ``"activations"``: ``R_ij`` = the Pearson correlation of the units' ReLU activations over the
  batch (`nets.stats.collect`, ``overlap_measure="correlation"``, the library default);
- ``None`` (eta = 0): no competition, the control.

Setup (all else equal across the three): the synthetic teacher-student task
(`nets.data.load("synthetic")`, labels = argmax of a random ReLU teacher with ``teacher_hidden``
units; the teacher seed is the run's seed) and its student
(`nets.data.synthetic_teacher_student`) that computes the teacher exactly with ``duplicates``
teacher units planted twice (outgoing weights halved). As in tests/nets/test_duplicates.py the
student's logits are multiplied by ``--logit-scale`` (no prediction changes) so weight training
starts near a cross-entropy fixed point, and the game uses the first-order Taylor benefit
(Molchanov et al. 2017) with alpha = 10, beta = 0.1, lr_s = 0.05, Adam lr 3e-3, batch 64.
Exact duplicates receive bit-identical gradients, so from the paper's start s = 1 both members
of a pair stay tied forever (simultaneous projected-gradient steps, Eq. 17, preserve the
symmetry): the study runs every method from s = 1 (``jitter = 0``) and from
``s_i = 1 - jitter * u_i`` with ``u_i ~ U(0, 1)`` drawn per seed (the same start for every
method of a seed).

Measured per run: the step at which each unit first falls below epsilon (its *pruning order*;
units that never fall are ranked after, by final participation), the share of duplicate-pair
members among the first k units of that order (k = number of pairs; ties in expectation) against
the chance rate 2k / n, how many pairs lost exactly one / both / neither member, how many
non-duplicated units were pruned, whether the outcome is the ideal (exactly one member of each
pair and nothing else), and the test accuracy of the gated network (soft) and of the physically
smaller network (remove); the labels are the teacher's argmax, so accuracy is agreement with the
teacher. Measured per seed at initialization: whether each competition matrix ranks the planted
pairs as the most overlapping pairs (precision@k of the top-k off-diagonal entries, the rank of
the weakest planted pair, and the margin between the weakest planted pair and the strongest
other pair), for the parameter Gram matrix, the activation correlation and the plain
(uncentered) activation cosine.

Commands (numbers in papers/beyond/README.md, section (d)):

    python -m papers.beyond.overlap                      # full: 10 seeds, about 4 min, 1 thread
    python -m papers.beyond.overlap --quick --out /tmp/overlap   # toy size (CI, ~15 s)
    pruning-game reproduce overlap                       # the same as the first line

Written to ``--out`` (default ``results/beyond/overlap``), each file atomically:
``overlap.csv`` (one row per run), ``overlap_init.csv`` (one row per seed and overlap measure),
``overlap.png`` (participation trajectories coloured by duplicate / non-duplicate units, and the
pruned-first share, pair outcomes and accuracy per method). A Markdown summary is printed.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from analysis.arguments import (  # noqa: E402
    OneLineParser,
    add_device_argument,
    comma_floats,
    comma_seeds,
    out_dir,
    positive_int,
    quick_defaults,
)
from analysis.plots import save_figure  # noqa: E402
from analysis.tables import mean_std, to_csv, to_markdown  # noqa: E402
from equilibria.spec import PAYOFFS  # noqa: E402
from nets.data import DataBundle, load, synthetic_teacher_student  # noqa: E402
from nets.evaluate import accuracy_and_loss  # noqa: E402
from nets.gates import attach_gates  # noqa: E402
from nets.loop import Step  # noqa: E402
from nets.models import TeacherStudent  # noqa: E402
from nets.stats import collect  # noqa: E402
from nets.training import EquilibriumPruning, PruningConfig  # noqa: E402

__all__ = ["DEFAULT_ETAS", "DEFAULT_JITTERS", "MEASURES", "OVERLAP_GAME", "OVERLAP_TRAINING",
           "QUICK", "InitScore", "RecordingPruning", "RunRow", "Task", "competition_matrices",
           "expected_share_first", "fall_steps", "main", "method_label", "pair_outcomes",
           "pair_ranks", "score_matrix", "start_participation", "summarize", "train_method"]

#: Competition weights tried for both overlap measures. At the same eta a planted pair competes
#: ~3x more weakly under "parameters" (<theta_i, theta_i> = ||theta_i||^2 is 0.17-0.53 for the
#: teachers' Kaiming-uniform rows, seeds 0-9) than under "activations" (correlation 1).
DEFAULT_ETAS: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)
#: Start perturbations: 0 is the paper's s = 1; 0.05 breaks the tie of exact duplicates.
DEFAULT_JITTERS: tuple[float, ...] = (0.0, 0.05)
#: The game of tests/nets/test_duplicates.py (part (b)), shared by every method.
OVERLAP_GAME: dict[str, Any] = {"payoff": "taylor", "alpha": 10.0, "beta": 0.1, "gamma": 0.0,
                                "participation_lr": 0.05, "epsilon": 0.01}
#: The training of tests/nets/test_duplicates.py (part (b)), shared by every method.
OVERLAP_TRAINING: dict[str, Any] = {"optimizer": "adam", "lr": 3e-3, "batch_size": 64}
#: Overlap measures scored at initialization: (column name, how it is computed).
MEASURES: tuple[str, ...] = ("parameters", "activations", "activations_cosine")
#: Toy size of ``--quick``.
QUICK: dict[str, Any] = {"seeds": (0,), "etas": (3.0,), "jitters": (0.05,), "epochs": 1,
                         "n_samples": 600}


@dataclass(frozen=True)
class Task:
    """The teacher-student task and its planted student.

    Attributes
    ----------
    n_features, teacher_hidden, n_classes : int
        Teacher ``n_features -> teacher_hidden -> n_classes``.
    duplicates : int
        Teacher units planted twice in the student (k pairs; the student has
        ``teacher_hidden + duplicates`` hidden units).
    n_samples : int
        Examples of `nets.data.load("synthetic")`; a quarter is the test set.
    logit_scale : float
        Factor on the student's output layer (same predictions, larger margins).
    """

    n_features: int = 20
    teacher_hidden: int = 12
    n_classes: int = 4
    duplicates: int = 4
    n_samples: int = 2000
    logit_scale: float = 30.0

    def __post_init__(self) -> None:
        for name in ("n_features", "teacher_hidden", "n_classes", "duplicates", "n_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if self.duplicates > self.teacher_hidden:
            raise ValueError(f"duplicates={self.duplicates} must be at most teacher_hidden="
                             f"{self.teacher_hidden}")
        if not (math.isfinite(self.logit_scale) and self.logit_scale > 0):
            raise ValueError(f"logit_scale must be a finite number > 0; got {self.logit_scale}")

    @property
    def n_units(self) -> int:
        """Hidden units of the student (players)."""
        return self.teacher_hidden + self.duplicates

    def data(self, seed: int) -> DataBundle:
        """The synthetic data labelled by the teacher of `seed`."""
        return load("synthetic", seed=seed, n_samples=self.n_samples,
                    n_features=self.n_features, n_classes=self.n_classes,
                    teacher_hidden=self.teacher_hidden)

    def pair(self, seed: int) -> TeacherStudent:
        """The teacher of `seed` and its student with planted duplicates (logits scaled)."""
        pair = synthetic_teacher_student(self.n_features, self.n_classes,
                                         teacher_hidden=self.teacher_hidden,
                                         duplicates=self.duplicates, seed=seed)
        student = copy.deepcopy(pair.student)
        with torch.no_grad():
            student[2].weight.mul_(self.logit_scale)
            student[2].bias.mul_(self.logit_scale)
        return TeacherStudent(pair.teacher, student, pair.duplicate_pairs)


# ---------------------------------------------------------------------------- at initialization
@dataclass(frozen=True)
class InitScore:
    """How well one competition matrix singles out the planted pairs (at initialization).

    Attributes
    ----------
    seed : int
    measure : str
        One of `MEASURES`.
    k : int
        Planted pairs.
    n_pairs : int
        Off-diagonal unit pairs ``n (n - 1) / 2``.
    precision_at_k : float
        Share of planted pairs among the k largest off-diagonal entries (ties in expectation).
    worst_pair_rank : float
        Rank (1 = largest) of the weakest planted pair among all off-diagonal entries; k is
        ideal. Ties count at their mean rank.
    min_planted, max_other : float
        Smallest entry of a planted pair, largest entry of any other pair.
    margin : float
        ``min_planted - max_other``; > 0 iff every planted pair outranks every other pair.
    """

    seed: int
    measure: str
    k: int
    n_pairs: int
    precision_at_k: float
    worst_pair_rank: float
    min_planted: float
    max_other: float
    margin: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types."""
        from equilibria.plain import to_plain

        return to_plain(dataclasses.asdict(self))


def competition_matrices(pair: TeacherStudent, inputs: torch.Tensor,
                         labels: torch.Tensor) -> dict[str, np.ndarray]:
    """The overlap matrices of the student's hidden units at s = 1 (Shah & Khan 2025, Eq. 10).

    Parameters
    ----------
    pair : TeacherStudent
        The planted student (`Task.pair`).
    inputs, labels : torch.Tensor
        One batch (the whole training set) for the activation overlaps.

    Returns
    -------
    dict of str -> ndarray (n, n)
        ``"parameters"``: ``<theta_i, theta_j>`` (incoming row and bias);
        ``"activations"``: correlation of the ReLU activations;
        ``"activations_cosine"``: their plain cosine (`nets.stats.collect`).
    """
    gated = attach_gates(pair.student)
    correlation = collect(gated, [(inputs, labels)], overlap_measure="correlation")
    cosine = collect(gated, [(inputs, labels)], parameter_gram=False,
                     overlap_measure="cosine")
    return {"parameters": np.asarray(correlation.parameter_gram[0], dtype=np.float64),
            "activations": np.asarray(correlation.activation_overlap[0], dtype=np.float64),
            "activations_cosine": np.asarray(cosine.activation_overlap[0], dtype=np.float64)}


def _check_square(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
        raise ValueError(f"matrix must be square of size >= 2; got shape {matrix.shape}")
    return matrix


def pair_ranks(matrix: np.ndarray, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """Rank (1 = largest, ties at their mean rank) of each planted pair's entry among all
    off-diagonal entries ``matrix[i, j]``, i < j, of a symmetric competition matrix.

    Raises
    ------
    ValueError
        When `matrix` is not square or a pair is not two distinct valid unit indices.
    """
    matrix = _check_square(matrix)
    n = matrix.shape[0]
    for i, j in pairs:
        if not (0 <= i < n and 0 <= j < n and i != j):
            raise ValueError(f"pairs must hold distinct unit indices in [0, {n}); got ({i}, {j})")
    upper = matrix[np.triu_indices(n, 1)]
    ranks = []
    for i, j in pairs:
        value = matrix[min(i, j), max(i, j)]
        above = np.sum(upper > value)
        tied = np.sum(upper == value)
        ranks.append(above + (tied + 1) / 2.0)
    return np.asarray(ranks, dtype=np.float64)


def score_matrix(matrix: np.ndarray, pairs: Sequence[tuple[int, int]], *, seed: int = 0,
                 measure: str = "parameters") -> InitScore:
    """Does `matrix` rank the planted `pairs` as the most competing pairs?

    The competition of Eq. 10 is largest where ``R_ij`` is largest, so the ideal competition
    matrix has the k planted pairs as its k largest off-diagonal entries.

    Parameters
    ----------
    matrix : ndarray (n, n)
        A symmetric competition (overlap) matrix.
    pairs : sequence of (int, int)
        The planted duplicate pairs.
    seed, measure
        Labels copied into the result.

    Returns
    -------
    InitScore
    """
    matrix = _check_square(matrix)
    n = matrix.shape[0]
    k = len(pairs)
    if k == 0:
        raise ValueError("pairs must hold at least one planted pair")
    rows, cols = np.triu_indices(n, 1)
    upper = matrix[rows, cols]
    planted = np.zeros(upper.size, dtype=bool)
    index = {(int(r), int(c)): position for position, (r, c) in enumerate(zip(rows, cols,
                                                                             strict=True))}
    for i, j in pairs:
        planted[index[(min(i, j), max(i, j))]] = True
    precision = expected_share_first(-upper, np.zeros_like(upper), planted, k)
    ranks = pair_ranks(matrix, pairs)
    min_planted = float(upper[planted].min())
    max_other = float(upper[~planted].max()) if (~planted).any() else -math.inf
    return InitScore(seed=seed, measure=measure, k=k, n_pairs=int(upper.size),
                     precision_at_k=precision, worst_pair_rank=float(ranks.max()),
                     min_planted=min_planted, max_other=max_other,
                     margin=min_planted - max_other)


# ---------------------------------------------------------------------------- orders and outcomes
def expected_share_first(primary: np.ndarray, secondary: np.ndarray, members: np.ndarray,
                         k: int) -> float:
    """Expected share of `members` among the first `k` items sorted by (primary, secondary).

    Items are ranked by `primary` ascending, ties broken by `secondary` ascending; items tied
    on both are in random order, so a tie group straddling position k contributes its members
    in proportion to the slots left (the expectation over uniformly random tie-breaking).

    Parameters
    ----------
    primary, secondary : ndarray (n,)
        Sort keys (e.g. the step a unit fell below epsilon, inf if never; its final s).
    members : ndarray of bool (n,)
        Which items count (e.g. members of a duplicate pair).
    k : int
        How many leading items, ``1 <= k <= n``.

    Returns
    -------
    float in [0, 1]
    """
    primary = np.asarray(primary, dtype=np.float64)
    secondary = np.asarray(secondary, dtype=np.float64)
    members = np.asarray(members, dtype=bool)
    n = primary.size
    if secondary.shape != (n,) or members.shape != (n,):
        raise ValueError(f"primary, secondary and members must have the same length; got "
                         f"{primary.shape}, {secondary.shape}, {members.shape}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in [1, {n}]; got {k!r}")
    keys = sorted({(a, b) for a, b in zip(primary.tolist(), secondary.tolist(), strict=True)})
    slots, total = float(k), 0.0
    for key in keys:
        group = (primary == key[0]) & (secondary == key[1])
        size, hits = int(group.sum()), int((group & members).sum())
        taken = min(slots, size)
        total += hits * taken / size
        slots -= taken
        if slots <= 0:
            break
    return total / k


def fall_steps(trajectory: np.ndarray, epsilon: float) -> np.ndarray:
    """The first step at which each unit's participation is below `epsilon` (inf if never).

    Parameters
    ----------
    trajectory : ndarray (steps, n)
        Participation after each s-step of Algorithm 1 (Shah & Khan 2025, Eq. 17); row 0 may be
        the start.
    epsilon : float
        The pruning threshold of Algorithm 1, step 3.

    Returns
    -------
    ndarray (n,) of float
    """
    trajectory = np.asarray(trajectory, dtype=np.float64)
    if trajectory.ndim != 2 or trajectory.shape[0] == 0:
        raise ValueError(f"trajectory must have shape (steps, n) with steps >= 1; got "
                         f"{trajectory.shape}")
    below = trajectory < epsilon
    return np.where(below.any(axis=0), below.argmax(axis=0), np.inf).astype(np.float64)


@dataclass(frozen=True)
class PairOutcome:
    """Which units a run pruned, relative to the planted pairs.

    Attributes
    ----------
    split, both, neither : int
        Pairs with exactly one / both / no member pruned.
    other_pruned : int
        Pruned units that are not members of a planted pair.
    ideal : bool
        Exactly one member of every pair pruned and nothing else.
    """

    split: int
    both: int
    neither: int
    other_pruned: int
    ideal: bool


def pair_outcomes(pruned: np.ndarray, pairs: Sequence[tuple[int, int]]) -> PairOutcome:
    """Count the pairs that lost one, both or neither member (`pruned` is a boolean mask)."""
    pruned = np.asarray(pruned, dtype=bool)
    counts = [int(pruned[i]) + int(pruned[j]) for i, j in pairs]
    members = np.zeros(pruned.size, dtype=bool)
    for i, j in pairs:
        members[[i, j]] = True
    other = int((pruned & ~members).sum())
    split = counts.count(1)
    return PairOutcome(split=split, both=counts.count(2), neither=counts.count(0),
                       other_pruned=other, ideal=split == len(pairs) and other == 0)


# ---------------------------------------------------------------------------- training
class RecordingPruning(EquilibriumPruning):
    """Algorithm 1 (`nets.EquilibriumPruning`) that also records s after every s-step.

    `EquilibriumPruning.fit` reports per-epoch summaries; the pruning order needs the
    participation after each step (one weight step, Eq. 16, then one projected s-step,
    Eq. 17), which `fit`'s per-step hook ``on_step`` sees: this subclass appends a copy of s
    to `trajectory` there. Training itself is unchanged.
    """

    def __init__(self, config: PruningConfig) -> None:
        super().__init__(config)
        self.trajectory: list[np.ndarray] = []

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        """`EquilibriumPruning.fit`, recording s after every step into `trajectory`."""
        def record(step: Step) -> None:
            self.trajectory.append(step.model.get_participation().double().numpy().copy())

        return super().fit(*args, on_step=record, **kwargs)


def start_participation(n_units: int, jitter: float, seed: int) -> np.ndarray:
    """``s_i = 1 - jitter * u_i`` with ``u_i ~ U(0, 1)`` from ``numpy.random.default_rng(seed)``
    (jitter = 0 is the paper's s = 1, Algorithm 1 step 1)."""
    if not (math.isfinite(jitter) and 0.0 <= jitter < 1.0):
        raise ValueError(f"jitter must lie in [0, 1); got {jitter!r}")
    return 1.0 - jitter * np.random.default_rng(seed).random(n_units)


def method_label(overlap: str | None, eta: float) -> str:
    """``"none"`` for eta = 0, else ``"<overlap> eta=<eta>"``."""
    return "none" if overlap is None else f"{overlap} eta={eta:g}"


@dataclass(frozen=True)
class RunRow:
    """One run of Algorithm 1 on the planted student (a row of ``overlap.csv``).

    Attributes
    ----------
    seed, overlap, eta, jitter, method : identity of the run (overlap "none" for eta = 0)
    n_units, k : int
        Players and planted pairs.
    n_pruned : int
        Units with final s < epsilon.
    pair_members_pruned, other_pruned : int
    split, both, neither : int
        Pairs with exactly one / both / no member pruned.
    ideal : bool
        Exactly one member of every pair pruned and nothing else.
    share_first_k : float
        Share of pair members among the first k units of the pruning order (fall step, then
        final s; ties in expectation).
    chance_share : float
        ``2k / n``: the same share for a uniformly random order.
    first_pruned_is_member : float
        Share of the first position of the order that is a pair member (1, 0 or a tie share).
    pruned_precision : float or None
        ``pair_members_pruned / n_pruned`` (None when nothing is pruned).
    mean_fall_step_members, mean_fall_step_others : float or None
        Mean fall step of the pruned pair members / other pruned units.
    both_fall_gap : float or None
        For the pairs that lost both members, the mean number of s-steps between the two
        members' falls (small: the pair fell together; None when no pair lost both).
    accuracy_soft, accuracy : float
        Test accuracy (= agreement with the teacher's argmax) of the gated network at its final
        s and of the network with the units below epsilon removed.
    steps, seconds : training steps and wall time.
    """

    seed: int
    overlap: str
    eta: float
    jitter: float
    method: str
    n_units: int
    k: int
    n_pruned: int
    pair_members_pruned: int
    other_pruned: int
    split: int
    both: int
    neither: int
    ideal: bool
    share_first_k: float
    chance_share: float
    first_pruned_is_member: float
    pruned_precision: float | None
    mean_fall_step_members: float | None
    mean_fall_step_others: float | None
    both_fall_gap: float | None
    accuracy_soft: float
    accuracy: float
    steps: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types."""
        from equilibria.plain import to_plain

        return to_plain(dataclasses.asdict(self))


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def train_method(task: Task, seed: int, overlap: str | None, eta: float, jitter: float, *,
            epochs: int, game: dict[str, Any] | None = None,
            bundle: DataBundle | None = None) -> tuple[RunRow, np.ndarray]:
    """Train the planted student of `seed` with Algorithm 1 under one competition.

    Parameters
    ----------
    task : Task
    seed : int
        Teacher, data, start jitter and batch order.
    overlap : {"parameters", "activations", None}
        Competition source (None: eta must be 0).
    eta : float
        Competition weight (Eq. 10).
    jitter : float
        Start perturbation (`start_participation`).
    epochs : int
    game : dict, optional
        `PruningConfig` fields over `OVERLAP_GAME` and `OVERLAP_TRAINING` (the default).
    bundle : DataBundle, optional
        ``task.data(seed)``, when already loaded.

    Returns
    -------
    (RunRow, ndarray (steps + 1, n))
        The row and the participation trajectory (row 0 is the start).
    """
    if (overlap is None) != (eta == 0):
        raise ValueError(f"overlap=None goes with eta=0 and an overlap with eta != 0; got "
                         f"overlap={overlap!r}, eta={eta}")
    started = time.perf_counter()
    bundle = task.data(seed) if bundle is None else bundle
    pair = task.pair(seed)
    fields = {**OVERLAP_GAME, **OVERLAP_TRAINING, **(game or {})}
    config = PruningConfig(name=method_label(overlap, eta), **fields, overlap=overlap,
                           eta=float(eta), epochs=epochs, seed=seed)
    gated = attach_gates(pair.student)
    start = start_participation(gated.n_players, jitter, seed)
    gated.set_participation(torch.as_tensor(start, dtype=torch.float32))
    algorithm = RecordingPruning(config)
    result = algorithm.fit(gated, bundle, progress=False)
    trajectory = np.vstack([start[None, :]] + algorithm.trajectory)
    s = result.participation
    pruned = s < config.epsilon
    members = np.zeros(s.size, dtype=bool)
    for i, j in pair.duplicate_pairs:
        members[[i, j]] = True
    falls = fall_steps(trajectory, config.epsilon)
    k = len(pair.duplicate_pairs)
    outcome = pair_outcomes(pruned, pair.duplicate_pairs)
    loader = DataLoader(bundle.test, batch_size=1000)
    accuracy_soft = accuracy_and_loss(result.gated, loader)[0]
    accuracy = accuracy_and_loss(result.pruned("remove"), loader)[0]
    n_pruned = int(pruned.sum())
    gaps = np.asarray([abs(falls[i] - falls[j]) for i, j in pair.duplicate_pairs
                       if pruned[i] and pruned[j]], dtype=np.float64)
    row = RunRow(
        seed=seed, overlap=overlap or "none", eta=float(eta), jitter=float(jitter),
        method=method_label(overlap, eta), n_units=int(s.size), k=k, n_pruned=n_pruned,
        pair_members_pruned=int((pruned & members).sum()), other_pruned=outcome.other_pruned,
        split=outcome.split, both=outcome.both, neither=outcome.neither, ideal=outcome.ideal,
        share_first_k=expected_share_first(falls, s, members, k),
        chance_share=2 * k / s.size,
        first_pruned_is_member=expected_share_first(falls, s, members, 1),
        pruned_precision=(float((pruned & members).sum() / n_pruned) if n_pruned else None),
        mean_fall_step_members=_mean_or_none(falls[pruned & members & np.isfinite(falls)]),
        mean_fall_step_others=_mean_or_none(falls[pruned & ~members & np.isfinite(falls)]),
        both_fall_gap=_mean_or_none(gaps),
        accuracy_soft=float(accuracy_soft), accuracy=float(accuracy),
        steps=len(algorithm.trajectory), seconds=time.perf_counter() - started)
    return row, trajectory


# ---------------------------------------------------------------------------- summary
def _mean_sd(values: Sequence[float | None]) -> tuple[float, float]:
    mean, std = mean_std(values)
    return (math.nan, math.nan) if mean is None else (mean, std)


def summarize(rows: Sequence[RunRow]) -> list[dict[str, Any]]:
    """Per (jitter, method): means over seeds (and the sample sd of the key shares).

    Returns
    -------
    list of dict
        ``jitter, method, seeds, n_pruned, share_first_k (+ _sd), chance_share,
        first_is_member, split, both, both_fall_gap, neither, other_pruned, ideal_runs,
        accuracy (+ _sd), accuracy_drop_vs_none``; the last is the mean over seeds of the
        control's accuracy minus this method's (positive = lost); ``both_fall_gap`` is the mean
        over the runs that lost a whole pair.
    """
    control = {(r.seed, r.jitter): r.accuracy for r in rows if r.overlap == "none"}
    groups: dict[tuple[float, str], list[RunRow]] = {}
    for r in rows:
        groups.setdefault((r.jitter, r.method), []).append(r)
    table = []
    for (jitter, method), group in groups.items():
        share, share_sd = _mean_sd([r.share_first_k for r in group])
        accuracy, accuracy_sd = _mean_sd([r.accuracy for r in group])
        drops = [control[(r.seed, r.jitter)] - r.accuracy for r in group
                 if (r.seed, r.jitter) in control]
        table.append({
            "jitter": jitter, "method": method, "seeds": len(group),
            "n_pruned": _mean_sd([r.n_pruned for r in group])[0],
            "share_first_k": share, "share_first_k_sd": share_sd,
            "chance_share": group[0].chance_share,
            "first_is_member": _mean_sd([r.first_pruned_is_member for r in group])[0],
            "split": _mean_sd([r.split for r in group])[0],
            "both": _mean_sd([r.both for r in group])[0],
            "both_fall_gap": _mean_sd([r.both_fall_gap for r in group])[0],
            "neither": _mean_sd([r.neither for r in group])[0],
            "other_pruned": _mean_sd([r.other_pruned for r in group])[0],
            "ideal_runs": f"{sum(r.ideal for r in group)}/{len(group)}",
            "accuracy": accuracy, "accuracy_sd": accuracy_sd,
            "accuracy_drop_vs_none": _mean_sd(drops)[0] if drops else None})
    return table


def summarize_init(scores: Sequence[InitScore]) -> list[dict[str, Any]]:
    """Per overlap measure: mean precision@k, worst rank and margin over seeds, and the number
    of seeds whose planted pairs all outrank every other pair (margin > 0)."""
    table = []
    for measure in dict.fromkeys(s.measure for s in scores):
        group = [s for s in scores if s.measure == measure]
        table.append({
            "measure": measure, "seeds": len(group),
            "precision_at_k": _mean_sd([s.precision_at_k for s in group])[0],
            "worst_pair_rank": _mean_sd([s.worst_pair_rank for s in group])[0],
            "k": group[0].k,
            "min_planted": _mean_sd([s.min_planted for s in group])[0],
            "max_other": _mean_sd([s.max_other for s in group])[0],
            "seeds_all_pairs_on_top": f"{sum(s.margin > 0 for s in group)}/{len(group)}"})
    return table


# ---------------------------------------------------------------------------- figure
def overlap_figure(rows: Sequence[RunRow], trajectories: dict[str, np.ndarray],
                   pairs: Sequence[tuple[int, int]], epsilon: float, title: str,
                   path: str | Path) -> Path:
    """Top: participation trajectories of one seed per method, one warm colour per planted
    pair (original solid, copy dashed), the other units in blue. Bottom: share of pair members
    among the first k pruned (chance dashed), pair outcomes, and accuracy after removal, per
    method and jitter (means over seeds, bars = sample sd)."""
    figure = plt.figure(figsize=(15, 8.5))
    grid = figure.add_gridspec(2, max(3, len(trajectories)))
    colours = ("tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
    pair_of = {unit: p for p, both in enumerate(pairs) for unit in both}
    originals = {i for i, _ in pairs}
    for column, (name, trajectory) in enumerate(trajectories.items()):
        axis = figure.add_subplot(grid[0, column])
        for unit in range(trajectory.shape[1]):
            if unit in pair_of:
                axis.plot(trajectory[:, unit], color=colours[pair_of[unit] % len(colours)],
                          lw=1.3, ls="-" if unit in originals else "--")
            else:
                axis.plot(trajectory[:, unit], color="tab:blue", lw=0.8, alpha=0.6)
        axis.axhline(epsilon, color="k", ls=":", lw=0.8)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("s-step")
        axis.set_ylim(-0.03, 1.03)
        if column == 0:
            axis.set_ylabel("participation s_i (warm colours: planted pairs,\n"
                            "original solid, copy dashed; blue: other units)")
    table = summarize(rows)
    jitters = sorted({r["jitter"] for r in table})
    methods = list(dict.fromkeys(r["method"] for r in table))
    width = 0.8 / max(len(jitters), 1)
    x = np.arange(len(methods))
    lookup = {(r["jitter"], r["method"]): r for r in table}
    panels = (("share_first_k", "pair members among first k pruned"),
              ("outcomes", "pairs: split (solid) / both pruned (hatched)"),
              ("accuracy", "test accuracy after removal"))
    for column, (key, label) in enumerate(panels):
        axis = figure.add_subplot(grid[1, column])
        for offset, jitter in enumerate(jitters):
            position = x + (offset - (len(jitters) - 1) / 2) * width
            found = [lookup.get((jitter, m)) for m in methods]
            colour = f"C{offset + 2}"
            if key == "outcomes":
                split = [f["split"] if f else np.nan for f in found]
                both = [f["both"] if f else np.nan for f in found]
                axis.bar(position, split, width, color=colour, label=f"jitter {jitter:g}")
                axis.bar(position, both, width, bottom=split, color=colour, alpha=0.45,
                         hatch="//")
            else:
                means = [f[key] if f else np.nan for f in found]
                sds = [f[f"{key}_sd"] if f else np.nan for f in found]
                axis.bar(position, means, width, yerr=sds, color=colour, capsize=2,
                         label=f"jitter {jitter:g}")
        if key == "share_first_k":
            axis.axhline(rows[0].chance_share, color="k", ls="--", lw=1, label="chance 2k/n")
            axis.set_ylim(0, 1.05)
        if key == "outcomes":
            axis.axhline(rows[0].k, color="k", ls=":", lw=1, label="k pairs")
        if key == "accuracy":
            low = min(r.accuracy for r in rows)
            axis.set_ylim(max(0.0, low - 0.05), 1.0)
        axis.set_xticks(x)
        axis.set_xticklabels(methods, rotation=45, ha="right", fontsize=8)
        axis.set_title(label, fontsize=9)
        axis.legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


# ---------------------------------------------------------------------------- command line
def parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="pruning-game reproduce overlap",
        description="Competition from parameter overlap against activation overlap on the "
                    "teacher-student net with planted duplicate units: does it prune "
                    "duplicates first?")
    parser.add_argument("--seeds", type=comma_seeds, default=tuple(range(10)),
                        help="comma-separated teacher/data seeds (default 0,1,...,9)")
    parser.add_argument("--epochs", type=positive_int, default=5,
                        help="training epochs (default 5)")
    parser.add_argument("--etas", type=comma_floats, default=DEFAULT_ETAS,
                        help="comma-separated competition weights for both overlaps (default "
                             "1,3,10,30)")
    parser.add_argument("--jitters", type=comma_floats, default=DEFAULT_JITTERS,
                        help="comma-separated start perturbations of s (default 0,0.05)")
    parser.add_argument("--teacher-hidden", type=int, default=Task.teacher_hidden)
    parser.add_argument("--duplicates", type=int, default=Task.duplicates)
    parser.add_argument("--n-samples", type=int, default=Task.n_samples)
    parser.add_argument("--logit-scale", type=float, default=Task.logit_scale)
    parser.add_argument("--payoff", choices=PAYOFFS, default=OVERLAP_GAME["payoff"])
    parser.add_argument("--alpha", type=float, default=OVERLAP_GAME["alpha"])
    parser.add_argument("--beta", type=float, default=OVERLAP_GAME["beta"])
    parser.add_argument("--participation-lr", type=float, default=OVERLAP_GAME["participation_lr"])
    parser.add_argument("--figure-eta", type=float, default=None,
                        help="eta of the trajectory panels (default: the second eta, or the "
                             "only one)")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="torch threads (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="toy size (1 seed, eta 3, jitter 0.05, 1 epoch, 600 examples; "
                             "options given beside it are kept)")
    parser.add_argument("--out", type=out_dir, default="results/beyond/overlap",
                        help="output folder (checked before any run; default %(default)s)")
    add_device_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the study, write ``overlap.csv``, ``overlap_init.csv`` and ``overlap.png`` to
    ``--out`` and print the Markdown summary."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.quick:
        quick_defaults(cli, args, QUICK, ("seeds", "etas", "jitters", "epochs", "n_samples"))
    if any(eta <= 0 for eta in args.etas):
        cli.error(f"argument --etas: must be > 0 (eta = 0 is the 'none' control, always "
                     f"run); got {','.join(map(str, args.etas))}")
    task = Task(teacher_hidden=args.teacher_hidden, duplicates=args.duplicates,
                n_samples=args.n_samples, logit_scale=args.logit_scale)
    game = {"payoff": args.payoff, "alpha": args.alpha, "beta": args.beta,
            "participation_lr": args.participation_lr, "device": args.device}
    methods: list[tuple[str | None, float]] = [(None, 0.0)] + [
        (overlap, float(eta)) for overlap in ("parameters", "activations") for eta in args.etas]
    figure_eta = args.figure_eta if args.figure_eta is not None else \
        args.etas[min(1, len(args.etas) - 1)]
    figure_jitter = max(args.jitters)
    out = Path(args.out)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    rows: list[RunRow] = []
    scores: list[InitScore] = []
    trajectories: dict[str, np.ndarray] = {}
    try:
        for seed in args.seeds:
            bundle = task.data(seed)
            pair = task.pair(seed)
            inputs, labels = bundle.train.tensors
            for measure, matrix in competition_matrices(pair, inputs, labels).items():
                scores.append(score_matrix(matrix, pair.duplicate_pairs, seed=seed,
                                           measure=measure))
            for jitter in args.jitters:
                for overlap, eta in methods:
                    row, trajectory = train_method(task, seed, overlap, eta, jitter,
                                                   epochs=args.epochs, game=game,
                                                   bundle=bundle)
                    rows.append(row)
                    if seed == args.seeds[0] and jitter == figure_jitter and \
                            eta in (0.0, figure_eta):
                        trajectories[f"seed {seed}, jitter {jitter:g}: {row.method}"] = \
                            trajectory
                    print(f"seed {seed} jitter {jitter:g} {row.method:<22} pruned "
                          f"{row.n_pruned:>2} (pair members {row.pair_members_pruned}, split "
                          f"{row.split}, both {row.both}) share {row.share_first_k:.2f} "
                          f"acc {row.accuracy:.3f}", file=sys.stderr)
    finally:
        torch.set_num_threads(threads)
    elapsed = time.perf_counter() - started
    to_csv(rows, out / "overlap.csv")
    to_csv(scores, out / "overlap_init.csv")
    pairs = task.pair(args.seeds[0]).duplicate_pairs
    title = (f"Planted duplicates: {task.teacher_hidden} teacher units + {task.duplicates} "
             f"copies, {len(args.seeds)} seed(s), {args.epochs} epoch(s), payoff "
             f"{args.payoff}")
    overlap_figure(rows, trajectories, pairs, OVERLAP_GAME["epsilon"], title, out / "overlap.png")
    print(f"## Competition from parameter overlap against activation overlap\n\n"
          f"{len(rows)} runs, {len(args.seeds)} seeds, {args.epochs} epochs, "
          f"{elapsed:.0f} s. Student: {task.n_units} units, k = {task.duplicates} planted "
          f"pairs; chance share 2k/n = {2 * task.duplicates / task.n_units:.2f}.\n")
    print("### At initialization: do the competition matrices rank the planted pairs on top?\n")
    print(to_markdown(summarize_init(scores), floatfmt=".3g"))
    print("\n### After training (means over seeds)\n")
    print(to_markdown(summarize(rows), floatfmt=".3g"))
    print(f"\nWrote {out / 'overlap.csv'}, {out / 'overlap_init.csv'}, {out / 'overlap.png'}")
    return 0


if __name__ == "__main__":
    from analysis.guard import run_guarded

    raise SystemExit(run_guarded("pruning-game reproduce overlap", main))
