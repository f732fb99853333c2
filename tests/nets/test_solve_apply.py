"""The certified-equilibrium pruner ("equilibrium_solve"): on the baseline contract, every
pruned network certified, removal equal to masking, targets reached through the price."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from equilibria.certify import EQUILIBRIUM_TOL
from equilibria.spec import PAYOFFS, SECOND_ORDER_PAYOFFS
from nets import attach_gates, models
from nets.apply import apply_participation
from nets.baselines import REGISTRY, Budget, PruningError, get
from nets.baselines.base import scoring_batches
from nets.baselines.game import SolveApplyPruner
from nets.compare import compare

BUDGET = Budget(epochs=2, batch_size=256, rounds=2)
PLAYERS = 16 + 8


def _mlp(seed: int = 0):
    return models.mlp(64, (16, 8), 10, seed=seed)


def assert_certified(outcome, rounds: int = 1) -> None:
    certificates = outcome.details["certificates"]
    assert len(certificates) == rounds
    for record in certificates:
        assert record["nash_gap"] <= EQUILIBRIUM_TOL
        assert record["certificate"]["nash_gap"] == record["nash_gap"]
        assert record["fold_error"] <= 1e-4
        assert record["starts"] == 4 and record["distinct_equilibria"] >= 1
        assert record["uniqueness"] in ("unique", "one_found", "several")
        assert record["stability"] in ("stable", "unstable", "inconclusive")


def test_registered_with_the_contract_of_the_other_methods():
    assert REGISTRY["equilibrium_solve"] is SolveApplyPruner
    assert SolveApplyPruner.emergent and SolveApplyPruner.schedules == ("one_shot", "iterative")
    import nets.baselines.game as module

    assert '``"equilibrium"``' in module.__doc__ and "Algorithm 1" in module.__doc__


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_a_structured_target_is_reached_at_a_certified_equilibrium(digits, scope):
    outcome = get("equilibrium_solve", scope=scope).prune(_mlp(), digits, 0.5, BUDGET)
    assert abs(outcome.achieved_sparsity - 0.5) <= 1 / PLAYERS + 1e-9
    assert outcome.target_sparsity == 0.5 and outcome.schedule == "one_shot"
    assert_certified(outcome)
    assert all(k >= 1 for k in outcome.details["kept_per_layer"])
    # the same training budget, and the same train / fine-tune split, as a one-shot baseline
    baseline = get("taylor").prune(_mlp(), digits, 0.5, BUDGET)
    assert outcome.steps == baseline.steps == 2 * math.ceil(len(digits.train) / 256)
    assert torch.all(torch.isfinite(outcome.model(digits.test.tensors[0][:4])))


def test_emergent_mode_removes_what_the_equilibrium_puts_below_epsilon(digits):
    outcome = get("equilibrium_solve", gamma=0.002).prune(_mlp(), digits, None, BUDGET)
    assert outcome.target_sparsity is None
    assert_certified(outcome)
    record = outcome.details["certificates"][0]
    assert record["target"] is None
    assert outcome.achieved_sparsity == pytest.approx(record["removed"] / PLAYERS)
    assert record["certificate"]["pruned_at_s"] == record["removed"] + record["floored"]


def test_the_iterative_variant_certifies_every_round(digits):
    outcome = get("equilibrium_solve").prune(_mlp(), digits, 0.5, BUDGET, schedule="iterative")
    assert outcome.details["rounds"] == 2
    assert_certified(outcome, rounds=2)
    assert abs(outcome.achieved_sparsity - 0.5) <= 1 / PLAYERS + 1e-9
    first, second = outcome.details["certificates"]
    assert second["players"] == first["players"] - first["removed"]


def test_removal_equals_masking_and_soft_gating_at_the_equilibrium(digits):
    """The pruned network is the gated one at the equilibrium: removed units at s = 0 are
    deleted, the others' s folded into the weights."""
    pruner = get("equilibrium_solve", eta=0.01, beta=1e-3)
    model = _mlp()
    batches = scoring_batches(digits.train, BUDGET)
    gated = attach_gates(model)
    game, layer = pruner.game_of(gated, batches)
    decision = pruner.decide(game, layer, 0.5)
    s = torch.as_tensor(decision.participation, dtype=torch.float64)
    removed = apply_participation(gated, s, mode="remove", threshold=1e-7)
    masked = apply_participation(gated, s, mode="mask", threshold=1e-7)
    soft = apply_participation(gated, s, mode="soft")
    x = digits.test.tensors[0][:64]
    with torch.no_grad():
        torch.testing.assert_close(removed(x), masked(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(removed(x), soft(x), rtol=1e-5, atol=1e-6)
    assert attach_gates(removed).n_players == PLAYERS - int(decision.removed.sum())
    assert np.all(decision.participation[decision.removed] == 0.0)


def test_the_default_game_removes_the_units_of_lowest_taylor_importance(digits):
    """Taylor benefit, L1 price only: player i is at zero exactly when gamma >= b_i, so the
    smallest price zeroing k players removes the k lowest Taylor scores."""
    pruner = get("equilibrium_solve")
    gated = attach_gates(_mlp(1))
    game, layer = pruner.game_of(gated, scoring_batches(digits.train, BUDGET))
    decision = pruner.decide(game, layer, 0.25)
    kth = np.sort(game.benefit)[round(0.25 * PLAYERS) - 1]
    assert np.array_equal(decision.removed, game.benefit <= kth)  # ties at zero go together
    assert np.all(decision.participation[~decision.removed] == 1.0)


@pytest.mark.parametrize("payoff", PAYOFFS + SECOND_ORDER_PAYOFFS)
def test_every_payoff_gives_a_certified_pruning(digits, payoff):
    outcome = get("equilibrium_solve", payoff=payoff, beta=1e-3).prune(
        _mlp(), digits, 0.5, Budget(epochs=1, batch_size=256))
    assert_certified(outcome)
    # a payoff with negative benefits can put more than the target at zero at price 0
    assert outcome.achieved_sparsity >= 0.5 - 1 / PLAYERS - 1e-9


@pytest.mark.parametrize("curvature", ["gauss_newton", "fisher"])
def test_the_second_order_game_is_monotone_so_its_equilibrium_is_unique(digits, curvature):
    """Damped curvature (damping > 0) makes the priced game monotone (second-order.md): the
    pruning decision is the game's one equilibrium, and the certificate says so."""
    outcome = get("equilibrium_solve", payoff="second_order", curvature=curvature).prune(
        _mlp(), digits, 0.5, Budget(epochs=1, batch_size=256))
    assert_certified(outcome)
    record = outcome.details["certificates"][0]
    assert record["monotone"] is True and record["uniqueness"] == "unique"
    assert record["distinct_equilibria"] == 1
    assert abs(outcome.achieved_sparsity - 0.5) <= 1 / PLAYERS + 1e-9


@pytest.mark.parametrize("payoff", SECOND_ORDER_PAYOFFS)
def test_second_order_readings_refuse_a_competition_weight(payoff):
    with pytest.raises(PruningError, match="eta must be 0"):
        get("equilibrium_solve", payoff=payoff, eta=0.1)


@pytest.mark.parametrize("overlap", ["parameters", "activations"])
def test_competition_gives_a_certified_pruning(digits, overlap):
    outcome = get("equilibrium_solve", overlap=overlap, eta=0.01, beta=1e-3).prune(
        _mlp(), digits, 0.5, Budget(epochs=1, batch_size=256))
    assert_certified(outcome)
    record = outcome.details["certificates"][0]
    assert record["reached"] and record["removed"] >= round(0.5 * PLAYERS)


def test_compare_and_run_accept_the_method(digits):
    from analysis.runner import RunConfig, run

    rows = compare(["equilibrium_solve"], sparsities=(0.5,), data=digits,
                   budget=Budget(epochs=1, batch_size=256), progress=False)
    assert [r.method for r in rows] == ["dense", "equilibrium_solve"]
    assert abs(rows[1].achieved_sparsity - 0.5) <= 1 / PLAYERS + 1e-9
    config = RunConfig(method="equilibrium_solve", sparsity=0.5, hidden=(16, 8), epochs=1,
                       batch_size=256, data_limit=400,
                       pruning={"scope": "layer",
                                "stats_options": '{"taylor_mode": "batch"}'})
    assert RunConfig.from_dict(config.to_dict()).key == config.key
    result = run(config)
    assert abs(result.achieved_sparsity - 0.5) <= 1 / PLAYERS + 1e-9
    emergent = RunConfig(method="equilibrium_solve", sparsity=None, hidden=(16, 8), epochs=1,
                         data_limit=400, pruning={"gamma": 0.01})
    assert 0.0 <= run(emergent).achieved_sparsity < 1.0


def test_keyword_options_accept_dicts_pairs_and_json():
    as_dict = get("equilibrium_solve", stats_options={"taylor_mode": "batch", "n": 1})
    as_pairs = get("equilibrium_solve", stats_options=[["n", 1], ["taylor_mode", "batch"]])
    as_json = get("equilibrium_solve", stats_options='{"taylor_mode": "batch", "n": 1}')
    assert as_dict.stats_options == as_pairs.stats_options == as_json.stats_options == \
        (("n", 1), ("taylor_mode", "batch"))


@pytest.mark.parametrize("options, name", [
    ({"payoff": "nope"}, "payoff"), ({"min_keep": 0}, "min_keep"), ({"starts": 2}, "starts"),
    ({"gamma": -1.0}, "gamma"), ({"scope": "all"}, "scope"),
    ({"game_options": {"eta": 1.0}}, "game_options"), ({"stats_options": 3}, "stats_options"),
    ({"stats_options": "[1]"}, "stats_options"), ({"stats_options": "{"}, "stats_options"),
])
def test_bad_options_are_named(options, name):
    with pytest.raises(PruningError, match=name):
        get("equilibrium_solve", **options)


def test_unoffered_requests_are_refused(digits):
    with pytest.raises(PruningError, match="granularity"):
        get("equilibrium_solve").prune(_mlp(), digits, 0.5, BUDGET, granularity="unstructured")
    with pytest.raises(PruningError, match="schedule"):
        get("equilibrium_solve").prune(_mlp(), digits, 0.5, BUDGET, schedule="progressive")
