"""The scale symmetry s_i theta_i (issue 11, item 5): PruningConfig.scale "effective" and
"normalized"."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nets import attach_gates, data, models
from nets.checks import PruningError
from nets.presets import DEMO
from nets.training import (
    EquilibriumPruning,
    PruningConfig,
    _StepHooks,
    check_normalizable,
    effective_cost,
    normalize_units,
)


@pytest.fixture(scope="module")
def bundle():
    return data.load("digits", limit=300)


def _gated(seed: int, widths=(12, 8), activation: str = "relu"):
    gated = attach_gates(models.mlp(64, widths, 10, seed=seed, activation=activation))
    rng = np.random.default_rng(seed)
    gated.set_participation(rng.uniform(0.0, 1.0, gated.n_players))
    return gated


def _incoming_norms(gated) -> torch.Tensor:
    return torch.cat([gated.unit_parameters(k, False).detach().norm(dim=1)
                      for k in range(len(gated.layers))])


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), widths=st.lists(st.integers(1, 9), min_size=1, max_size=3),
       scale=st.floats(0.01, 100.0), activation=st.sampled_from(["relu", "leaky_relu"]))
def test_normalizing_keeps_the_function_and_makes_every_incoming_norm_one(seed, widths, scale,
                                                                          activation):
    gated = _gated(seed, tuple(widths), activation)
    with torch.no_grad():  # units of every scale, as training leaves them
        for info in gated.layers:
            gated.model[info.layer_index].weight.mul_(scale)
    x = torch.randn(17, 64, generator=torch.Generator().manual_seed(seed))
    before = gated(x).detach().double()
    normalize_units(gated)
    assert torch.allclose(gated(x).detach().double(), before, rtol=1e-4, atol=1e-5)
    assert torch.allclose(_incoming_norms(gated), torch.ones(gated.n_players), atol=1e-5)


def test_training_with_normalized_units_keeps_them_at_unit_norm(bundle):
    config = dataclasses.replace(DEMO, epochs=2, batch_size=64, scale="normalized")
    result = EquilibriumPruning(config).fit(models.mlp(64, (16, 8), 10, seed=0), bundle,
                                            progress=False)
    assert torch.allclose(_incoming_norms(result.gated), torch.ones(24), atol=1e-5)
    game = EquilibriumPruning(config).batch_game(result.gated, *bundle.train[:64])
    assert np.allclose(game.quadratic_cost, config.beta, rtol=1e-4)  # q_i = beta ||theta_i||^2


@pytest.mark.parametrize("model", [
    lambda: models.mlp(64, (8,), 10, activation="tanh"),
    lambda: models.lenet5(1, 10, input_size=8, channels=(3, 4), hidden=(10,)),
])
def test_normalized_refuses_what_it_does_not_support(model):
    level = "filter" if isinstance(model()[0], torch.nn.Conv2d) else "neuron"
    gated = attach_gates(model(), level)
    with pytest.raises(NotImplementedError, match="scale='normalized'"):
        check_normalizable(gated)
    with pytest.raises(NotImplementedError, match="scale='normalized'"):
        normalize_units(gated)


def test_the_effective_cost_is_the_games_l2_cost(bundle):
    """beta sum_i ||s_i theta_i||^2 = sum_i q_i s_i^2 of the batch's game (Eq. 10)."""
    config = PruningConfig(beta=0.3, scale="effective")
    gated = _gated(4)
    game = EquilibriumPruning(config).batch_game(gated, *bundle.train[:32])
    s = gated.get_participation().double().numpy()
    assert config.beta * float(effective_cost(gated, False).detach()) == pytest.approx(
        float(np.sum(game.quadratic_cost * s * s)), rel=1e-5)


@pytest.mark.parametrize("options", [dict(payoff="loss_descent"),
                                     dict(payoff="paper", include_outgoing=True)])
def test_the_effective_cost_decays_theta_by_2_beta_s_squared_and_leaves_the_s_step(bundle,
                                                                                  options):
    inputs, labels = bundle.train[:32]
    seen = {}
    for scale in ("none", "effective"):
        config = PruningConfig(beta=0.3, scale=scale, **options)
        gated = _gated(5)
        hooks = _StepHooks(EquilibriumPruning(config), gated)
        hooks.before_batch(inputs, labels)
        loss = hooks.loss(gated, torch.nn.functional.cross_entropy(gated(inputs), labels))
        loss.backward()
        hooks.after_backward(inputs, labels)
        first = gated.model[gated.layers[0].layer_index]
        seen[scale] = (first.weight.grad.clone(), first.weight.detach().clone(),
                       hooks.gradient.clone(), float(loss.detach()))
    s = _gated(5).get_participation()[:12]
    (g0, w, ds0, loss0), (g1, _, ds1, loss1) = seen["none"], seen["effective"]
    decay = 2 * 0.3 * (s * s).unsqueeze(1) * w
    assert torch.allclose(g1 - g0, decay, atol=1e-6)
    assert torch.equal(ds0, ds1) and loss0 == loss1


def test_scale_none_is_the_default_and_unknown_scales_are_refused():
    assert PruningConfig().scale == "none"
    with pytest.raises(PruningError, match="scale"):
        PruningConfig(scale="balanced")
