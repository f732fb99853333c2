"""`EquilibriumPruning.participation_gradient` is the pseudo-gradient of the batch's game.

For every benefit reading (`equilibria.spec.PAYOFFS`), overlap source (`OVERLAPS`, None
included), competition weight (0 and > 0) and parameter group (incoming only, or with the
outgoing weights), on an MLP and on a small LeNet-5 with BatchNorm whose players are filters and
neurons, the torch fast path (or its routing to the game) must give
``batch_game(gated, x, y).pseudo_gradient(s)``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from equilibria.spec import OVERLAPS, PAYOFFS
from nets import models
from nets.baselines import PruningError
from nets.gates import GatedNetwork, attach_gates
from nets.training import EquilibriumPruning, PruningConfig

CASES = [(payoff, overlap, eta, outgoing)
         for payoff, overlap, eta, outgoing in itertools.product(PAYOFFS, OVERLAPS, (0.0, 0.3),
                                                                  (False, True))
         if not (overlap is None and eta != 0.0)]


def _case_id(case: tuple) -> str:
    payoff, overlap, eta, outgoing = case
    return f"{payoff}-{overlap}-eta{eta:g}-{'out' if outgoing else 'in'}"


def _network(kind: str, include_outgoing: bool) -> tuple[GatedNetwork, torch.Tensor,
                                                          torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    if kind == "mlp":
        model = models.mlp(12, (6, 5), 4, seed=1)
        inputs = torch.randn(24, 12, generator=generator)
        level = "neuron"
    else:
        model = models.lenet5(1, 4, input_size=8, channels=(3, 4), hidden=(6,),
                              batch_norm=True, seed=1)
        inputs = torch.randn(24, 1, 8, 8, generator=generator)
        level = "all"
    labels = torch.randint(0, 4, (24,), generator=generator)
    gated = attach_gates(model, level, include_outgoing=include_outgoing)
    gated.set_participation(0.1 + 0.8 * torch.rand(gated.n_players, generator=generator))
    gated.train()
    return gated, inputs, labels


def _after_backward(gated: GatedNetwork, inputs: torch.Tensor, labels: torch.Tensor) -> None:
    """What the training step does before asking for the s-gradient."""
    for gate in gated.gates():
        gate.participation.requires_grad_(True)
        gate.participation.grad = None
    gated.zero_grad(set_to_none=True)
    F.cross_entropy(gated(inputs), labels).backward()


@pytest.mark.parametrize("kind", ["mlp", "lenet5_bn"])
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_equals_the_batch_games_pseudo_gradient(kind: str, case: tuple) -> None:
    payoff, overlap, eta, outgoing = case
    config = PruningConfig(payoff=payoff, overlap=overlap, eta=eta, include_outgoing=outgoing,
                           alpha=1.3, beta=0.1, gamma=0.01)
    trainer = EquilibriumPruning(config)
    gated, inputs, labels = _network(kind, outgoing)
    _after_backward(gated, inputs, labels)
    fast = trainer.participation_gradient(gated, inputs, labels).double().numpy()
    for gate in gated.gates():
        gate.participation.requires_grad_(False)
        gate.participation.grad = None
    s = gated.get_participation().double().numpy()
    exact = trainer.batch_game(gated, inputs, labels).pseudo_gradient(s)
    assert fast.shape == exact.shape == (gated.n_players,)
    assert np.all(np.isfinite(exact)) and np.max(np.abs(exact)) > 0
    np.testing.assert_allclose(fast, exact, rtol=1e-5, atol=1e-6 * np.max(np.abs(exact)))


@pytest.mark.parametrize(("payoff", "overlap", "eta"),
                         [("taylor", None, 0.0), ("paper", "activations", 0.3),
                          ("loss_descent", "activations", 0.3)])
def test_refuses_without_the_batch_when_activations_are_needed(payoff: str, overlap: str,
                                                                eta: float) -> None:
    trainer = EquilibriumPruning(PruningConfig(payoff=payoff, overlap=overlap, eta=eta))
    gated, inputs, labels = _network("mlp", False)
    _after_backward(gated, inputs, labels)
    with pytest.raises(PruningError, match="inputs and labels"):
        trainer.participation_gradient(gated)


def test_activation_overlap_at_eta_zero_needs_no_batch() -> None:
    """With eta = 0 the overlap source plays no part: the fast path serves it."""
    trainer = EquilibriumPruning(PruningConfig(overlap="activations", eta=0.0))
    gated, inputs, labels = _network("mlp", False)
    _after_backward(gated, inputs, labels)
    with_batch = trainer.participation_gradient(gated, inputs, labels)
    assert torch.equal(trainer.participation_gradient(gated), with_batch)
