"""papers.beyond.overlap: the quick study end to end, and what is true of the competition
matrices of the planted student.

What the deterministic tests rely on:

- Parameter overlap, R_ij = <theta_i, theta_j> (Shah & Khan 2025, Eq. 10): a planted copy c of
  unit i has theta_c = theta_i, so R_ic = ||theta_i||^2, while for any other unit j
  R_ij <= ||theta_i|| ||theta_j|| (Cauchy-Schwarz). Hence R_ic >= R_ij whenever
  ||theta_j|| <= ||theta_i||: a theorem, checked on several teachers. It does not make every
  planted pair the largest entry in general (a long theta_j nearly parallel to theta_i could
  beat it), but on the default teacher of seed 0 it does (measured: weakest planted pair 0.295,
  strongest other pair 0.221), which the precision test pins down.
- Activation correlation: exactly 1 for a planted pair (identical activations), so the pairs are
  the top entries whenever no two distinct teacher units are perfectly correlated.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from nets.gates import attach_gates
from papers.beyond import overlap

QUICK_METHODS = {"none", "parameters eta=3", "activations eta=3"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("overlap")
    assert overlap.main(["--quick", "--out", str(out)]) == 0
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_quick_run_writes_a_row_per_method_and_seed(quick_run: Path) -> None:
    rows = read_csv(quick_run / "overlap.csv")
    assert {(r["method"], r["seed"], r["jitter"]) for r in rows} == {
        (m, "0", "0.05") for m in QUICK_METHODS}
    for r in rows:
        n, k = int(r["n_units"]), int(r["k"])
        assert (n, k) == (16, 4)
        for name in ("share_first_k", "chance_share", "first_pruned_is_member", "accuracy",
                     "accuracy_soft"):
            value = float(r[name])
            assert math.isfinite(value) and 0.0 <= value <= 1.0, (name, value)
        assert float(r["chance_share"]) == pytest.approx(2 * k / n)
        assert int(r["split"]) + int(r["both"]) + int(r["neither"]) == k
        assert int(r["n_pruned"]) == int(r["pair_members_pruned"]) + int(r["other_pruned"])
        assert int(r["pair_members_pruned"]) == int(r["split"]) + 2 * int(r["both"])
        assert r["ideal"] in ("True", "False")
        if int(r["n_pruned"]) == 0:
            assert r["pruned_precision"] == ""
        else:
            assert 0.0 <= float(r["pruned_precision"]) <= 1.0
    control = next(r for r in rows if r["method"] == "none")
    assert int(control["n_pruned"]) == 0  # eta = 0 and gamma = 0: nothing is pushed to 0


def test_quick_run_scores_the_three_matrices_and_draws_the_figure(quick_run: Path) -> None:
    scores = read_csv(quick_run / "overlap_init.csv")
    assert [s["measure"] for s in scores] == list(overlap.MEASURES)
    for s in scores:
        assert 0.0 <= float(s["precision_at_k"]) <= 1.0
        assert float(s["worst_pair_rank"]) >= int(s["k"])
    figure = quick_run / "overlap.png"
    assert figure.stat().st_size > 10_000
    assert not list(quick_run.glob("*.tmp"))  # atomic writes leave no temporaries


def test_parameter_overlap_ranks_the_planted_pairs_on_top_for_seed_0() -> None:
    task = overlap.Task(n_samples=400)
    bundle, pair = task.data(0), task.pair(0)
    matrices = overlap.competition_matrices(pair, *bundle.train.tensors)
    gram = matrices["parameters"]
    score = overlap.score_matrix(gram, pair.duplicate_pairs, measure="parameters")
    assert score.precision_at_k == 1.0 and score.worst_pair_rank == 4.0
    assert score.margin > 0.05  # measured 0.295 - 0.221 = 0.074
    rng = np.random.default_rng(0)
    planted = {frozenset(p) for p in pair.duplicate_pairs}
    others = [(i, j) for i in range(16) for j in range(i + 1, 16)
              if frozenset((i, j)) not in planted]
    for i, c in pair.duplicate_pairs:  # any planted pair above a random non-pair
        a, b = others[rng.integers(len(others))]
        assert gram[i, c] > gram[a, b]
    correlation = matrices["activations"]
    for i, c in pair.duplicate_pairs:
        assert correlation[i, c] == pytest.approx(1.0, abs=1e-9)
    assert overlap.score_matrix(correlation, pair.duplicate_pairs).margin > 0


@pytest.mark.parametrize("seed", range(4))
def test_planted_pair_outcompetes_every_shorter_unit_cauchy_schwarz(seed: int) -> None:
    pair = overlap.Task().pair(seed)
    theta = attach_gates(pair.student).unit_parameters(0, False).detach().double().numpy()
    gram = theta @ theta.T
    norms = np.linalg.norm(theta, axis=1)
    for i, c in pair.duplicate_pairs:
        assert gram[i, c] == pytest.approx(norms[i] ** 2)
        for j in range(theta.shape[0]):
            if j not in (i, c) and norms[j] <= norms[i]:
                assert gram[i, c] >= gram[i, j] - 1e-12


def test_expected_share_resolves_ties_in_expectation() -> None:
    members = np.array([True, True, False, False])
    # Order 0, 1, then the rest: both members first.
    assert overlap.expected_share_first(np.array([0, 1, 2, 3.0]), np.zeros(4), members, 2) == 1
    # Everything tied: the chance rate.
    assert overlap.expected_share_first(np.zeros(4), np.zeros(4), members, 2) == 0.5
    # Unit 2 first, then a three-way tie for one slot: 1 (unit 2 is no member) ... 2/3.
    share = overlap.expected_share_first(np.array([1, 1, 0, 1.0]), np.zeros(4), members, 2)
    assert share == pytest.approx((0 + 2 / 3) / 2)
    # The secondary key (final s) breaks ties of the primary (never fell: inf).
    inf = np.inf
    share = overlap.expected_share_first(np.array([inf, inf, inf, inf]),
                                         np.array([0.9, 0.2, 0.5, 1.0]), members, 1)
    assert share == 1.0
    with pytest.raises(ValueError, match="k must be"):
        overlap.expected_share_first(np.zeros(4), np.zeros(4), members, 5)


def test_fall_steps_and_pair_outcomes() -> None:
    trajectory = np.array([[1.0, 1.0, 1.0], [0.5, 0.005, 1.0], [0.0, 0.2, 1.0]])
    np.testing.assert_array_equal(overlap.fall_steps(trajectory, 0.01), [2, 1, np.inf])
    outcome = overlap.pair_outcomes(np.array([True, False, True, True, False]),
                                    [(0, 1), (2, 3)])
    assert (outcome.split, outcome.both, outcome.neither, outcome.other_pruned) == (1, 1, 0, 0)
    assert not outcome.ideal
    assert overlap.pair_outcomes(np.array([True, False, False, True, False]),
                                 [(0, 1), (2, 3)]).ideal


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match="jitter"):
        overlap.start_participation(4, 1.5, 0)
    with pytest.raises(ValueError, match="duplicates"):
        overlap.Task(teacher_hidden=2, duplicates=3)
    with pytest.raises(ValueError, match="overlap=None"):
        overlap.train_method(overlap.Task(), 0, None, 1.0, 0.0, epochs=1)
