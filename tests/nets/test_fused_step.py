"""The fused s-step of Algorithm 1 (issue 13): the same update as the step it replaced, and the
``participation_every`` schedule.

`reference_step` is the update as `EquilibriumPruning` took it before the fusion (the
pseudo-gradient concatenated over the players, one projected step on the whole vector),
written out literally; the fused step must give the same participation and weights, bit for
bit, for a few steps on a tiny net, for each payoff and parameter group it covers and on a
LeNet with BatchNorm (whose benefit is read from the weights' gradients).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from nets import models
from nets.gates import GatedNetwork, attach_gates
from nets.loop import make_optimizer, train_step
from nets.training import EquilibriumPruning, PruningConfig


def _network(kind: str = "mlp") -> tuple[GatedNetwork, list[tuple[torch.Tensor, torch.Tensor]]]:
    generator = torch.Generator().manual_seed(3)
    if kind == "mlp":
        gated = attach_gates(models.mlp(12, (6, 5), 4, seed=1))
        inputs = torch.randn(5, 16, 12, generator=generator)
    else:
        gated = attach_gates(models.lenet5(1, 4, input_size=8, channels=(3, 4), hidden=(6,),
                                           batch_norm=True, seed=1), "all")
        inputs = torch.randn(5, 16, 1, 8, 8, generator=generator)
    labels = torch.randint(0, 4, (5, 16), generator=generator)
    gated.set_participation(0.2 + 0.7 * torch.rand(gated.n_players, generator=generator))
    gated.train()
    return gated, list(zip(inputs, labels, strict=True))


def reference_step(trainer: EquilibriumPruning, gated: GatedNetwork,
                   optimizer: torch.optim.Optimizer, inputs: torch.Tensor,
                   labels: torch.Tensor) -> None:
    """Algorithm 1's step before the fusion: dL/ds by autograd, the pseudo-gradient of all
    players concatenated, the theta step, then s <- clip(s + lr_s * gradient, 0, 1)."""
    gates = list(gated.gates())
    for gate in gates:
        gate.participation.requires_grad_(True)
        gate.participation.grad = None
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(gated(inputs), labels).backward()
    gradient = trainer.participation_gradient(gated)
    optimizer.step()
    with torch.no_grad():
        offset = 0
        for gate in gates:
            n = gate.participation.shape[0]
            step = trainer.config.participation_lr * gradient[offset:offset + n]
            gate.participation.add_(step).clamp_(0.0, 1.0)
            gate.participation.requires_grad_(False)
            gate.participation.grad = None
            offset += n


def _state(gated: GatedNetwork) -> list[torch.Tensor]:
    return [gated.get_participation(), *(p.detach().clone() for p in gated.parameters())]


@pytest.mark.parametrize(("kind", "options"), [
    ("mlp", dict(beta=0.05, gamma=0.02)),
    ("mlp", dict(alpha=0.7, beta=0.3, gamma=0.01)),
    ("mlp", dict(payoff="loss_descent", beta=0.1, gamma=0.05)),
    ("mlp", dict(beta=0.05, gamma=0.02, include_outgoing=True)),
    ("mlp", dict(beta=0.05, eta=0.2, overlap="parameters")),
    ("lenet", dict(beta=0.05, gamma=0.02)),
])
def test_the_fused_step_is_the_step_it_replaced_bit_for_bit(kind, options):
    config = PruningConfig(participation_lr=0.05, lr=0.01, **options)
    trainer = EquilibriumPruning(config)
    fused, batches = _network(kind)
    reference = copy.deepcopy(fused)
    fused_optimizer = make_optimizer(config, fused.parameters())
    reference_optimizer = make_optimizer(config, reference.parameters())
    for inputs, labels in batches:
        trainer.step(fused, fused_optimizer, inputs, labels)
        reference_step(trainer, reference, reference_optimizer, inputs, labels)
        for a, b in zip(_state(fused), _state(reference), strict=True):
            assert torch.equal(a, b)
    assert not any(gate.participation.requires_grad for gate in fused.gates())
    assert not torch.equal(fused.get_participation(), _network(kind)[0].get_participation())


def test_participation_every_1_is_the_default_and_0_is_refused():
    from nets.checks import PruningError

    assert PruningConfig().participation_every == 1
    with pytest.raises(PruningError, match="participation_every"):
        PruningConfig(participation_every=0)


def test_participation_every_k_takes_the_s_step_of_k_lr_s_on_every_kth_step():
    """k = 3: steps 1, 2 are plain theta steps (s unchanged, the gates need no gradient);
    step 3 is Algorithm 1's step with lr_s replaced by 3 lr_s; and so on."""
    k, lr_s = 3, 0.05
    lazy = EquilibriumPruning(PruningConfig(beta=0.05, gamma=0.02, participation_lr=lr_s,
                                            participation_every=k))
    exact = EquilibriumPruning(PruningConfig(beta=0.05, gamma=0.02, participation_lr=k * lr_s))
    a, batches = _network()
    b = copy.deepcopy(a)
    a_optimizer = make_optimizer(lazy.config, a.parameters())
    b_optimizer = make_optimizer(lazy.config, b.parameters())
    start = a.get_participation()
    for t, (inputs, labels) in enumerate(batches, start=1):
        before = a.get_participation()
        lazy.step(a, a_optimizer, inputs, labels)
        if t % k:
            train_step(b, b_optimizer, inputs, labels)  # a plain theta step
            assert torch.equal(a.get_participation(), before)
        else:
            exact.step(b, b_optimizer, inputs, labels)
            assert not torch.equal(a.get_participation(), before)
        for x, y in zip(_state(a), _state(b), strict=True):
            assert torch.equal(x, y)
    assert not torch.equal(a.get_participation(), start)


def test_participation_every_counts_steps_across_epochs_in_fit(digits):
    """In `fit` the schedule runs over the whole run's steps: s moves on steps k, 2k, ...
    only, across the epoch boundary too."""
    k = 4
    small = (torch.utils.data.Subset(digits.train, range(6 * 32)), digits.test)
    config = PruningConfig(beta=0.05, gamma=0.05, participation_lr=0.05, epochs=2,
                           batch_size=32, participation_every=k)
    seen = []
    EquilibriumPruning(config).fit(models.mlp(64, (16, 8), 10, seed=0), small, progress=False,
                                   on_step=lambda step: seen.append(
                                       step.model.get_participation()))
    assert len(seen) >= 2 * k + 1
    previous = torch.ones_like(seen[0])
    for t, s in enumerate(seen, start=1):
        assert torch.equal(s, previous) == bool(t % k), f"step {t}"
        previous = s


def _backward_at_random_participation(kind: str, seed: int,
                                      dtype: torch.dtype) -> GatedNetwork:
    """A tiny gated net at a random s with dL/ds and the weights' gradients filled by one
    backward pass ("frozen": an MLP whose first layer's weights require no gradient;
    "lenet_bn": a LeNet with BatchNorm)."""
    generator = torch.Generator().manual_seed(seed)
    if kind in ("lenet", "lenet_bn"):
        gated = attach_gates(models.lenet5(1, 4, input_size=8, channels=(3, 4), hidden=(6,),
                                           batch_norm=kind == "lenet_bn", seed=seed), "all")
        inputs = torch.randn(16, 1, 8, 8, generator=generator)
    else:
        model = models.mlp(12, (9, 7), 4, seed=seed)
        if kind == "no_bias":
            model = torch.nn.Sequential(torch.nn.Linear(12, 9, bias=False), torch.nn.ReLU(),
                                        torch.nn.Linear(9, 4))
        gated = attach_gates(model)
        if kind == "frozen":
            gated.model[gated.layers[0].layer_index].weight.requires_grad_(False)
        inputs = torch.randn(16, 12, generator=generator)
    gated = gated.to(dtype)
    s = torch.rand(gated.n_players, generator=generator)
    s[:3] = torch.tensor([0.0, 1.0, 1e-7])  # the box's faces and a tiny participation
    gated.set_participation(s)
    for gate in gated.gates():
        gate.participation.requires_grad_(True)
    labels = torch.randint(0, 4, (16,), generator=generator)
    F.cross_entropy(gated(inputs.to(dtype)), labels).backward()
    return gated


def _assert_the_step_moves_s_as_add_then_clamp(trainer: EquilibriumPruning, units,
                                                compiled: list[torch.Tensor]) -> None:
    """With the step in the same loop (lr 0.3), the compiled call gives the same
    pseudo-gradient `compiled` and moves s as ``add_`` then ``clamp_`` move it."""
    lr = 0.3
    expected = [unit.gate.participation.detach().clone().add_(lr * part).clamp_(0.0, 1.0)
                for unit, part in zip(units, compiled, strict=True)]
    stepped = trainer._compiled_gradients(units, lr)
    for unit, ours, theirs, want in zip(units, stepped, compiled, expected, strict=True):
        assert torch.equal(ours, theirs)
        assert torch.equal(unit.gate.participation.detach(), want)


def _torch_formula(trainer: EquilibriumPruning, units, monkeypatch) -> list[torch.Tensor]:
    """`_closed_form_gradients` by the torch operations alone."""
    with monkeypatch.context() as patch:
        patch.setattr(trainer, "_compiled_gradients", lambda units: None)
        return trainer._closed_form_gradients(units)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("kind", "options"), [
    ("mlp", dict(payoff="loss_descent", alpha=1.3, beta=0.1, gamma=0.05)),
    ("no_bias", dict(payoff="loss_descent", beta=0.2, gamma=0.0)),
    ("lenet", dict(payoff="loss_descent", beta=0.05, gamma=0.02)),
    ("frozen", dict(beta=0.05, gamma=0.02)),
    ("frozen", dict(alpha=0.7, beta=0.3, gamma=0.01)),
])
def test_the_compiled_pseudo_gradient_from_ds_is_the_torch_formula_bit_for_bit(
        kind, options, dtype, monkeypatch):
    """`nets._fused.pseudo_gradient` (and `pseudo_gradient_and_step`), which reads dL/ds
    (payoff "loss_descent", and "paper" on a layer whose weights are frozen), against the
    torch formula, on real dL/ds at random participations (with s = 0, 1 and a tiny one),
    three seeds each."""
    from nets.training import _reads_weights, _units

    trainer = EquilibriumPruning(PruningConfig(**options))
    for seed in range(3):
        gated = _backward_at_random_participation(kind, seed, dtype)
        units = _units(gated)
        assert trainer._closed_form(units)
        assert (kind == "frozen") == any(_reads_weights(u, trainer.config.payoff)
                                         for u in units)
        compiled = trainer._compiled_gradients(units)
        assert compiled is not None
        reference = _torch_formula(trainer, units, monkeypatch)
        for unit, ours, theirs in zip(units, compiled, reference, strict=True):
            assert ours.dtype == dtype
            if not _reads_weights(unit, trainer.config.payoff):
                assert torch.equal(ours, theirs)
        _assert_the_step_moves_s_as_add_then_clamp(trainer, units, compiled)


def _exact_pseudo_gradient(unit, config) -> tuple[torch.Tensor, torch.Tensor]:
    """Payoff "paper" from the weights in float64 (Eq. 9), and a bound on the rounding error
    of any summation order in the layer's dtype: ``2 (m + 2) u`` times the sum of the
    magnitudes of the terms (m the fan-in, u the unit roundoff; Higham 2002, Eq. 3.5)."""
    layer, s = unit.layer, unit.gate.participation.detach().double()
    weight = layer.weight.detach().double().reshape(layer.weight.shape[0], -1)
    grad = layer.weight.grad.double().reshape(weight.shape)
    products, squares = grad * weight, weight * weight
    if layer.bias is not None:
        bias, bias_grad = layer.bias.detach().double(), layer.bias.grad.double()
        products = torch.cat([products, (bias_grad * bias)[:, None]], dim=1)
        squares = torch.cat([squares, (bias * bias)[:, None]], dim=1)
    benefit = config.alpha * products.sum(dim=1)
    cost = 2.0 * config.beta * squares.sum(dim=1) * s
    exact = benefit - cost - config.gamma
    unit_roundoff = torch.finfo(layer.weight.dtype).eps / 2
    bound = 2 * (products.shape[1] + 2) * unit_roundoff * (
        config.alpha * products.abs().sum(dim=1) + cost + config.gamma)
    return exact, bound


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("kind", "options"), [
    ("mlp", dict(beta=0.05, gamma=0.02)),
    ("mlp", dict(alpha=0.7, beta=0.3, gamma=0.01)),
    ("no_bias", dict(beta=0.2, gamma=0.0)),
    ("lenet", dict(beta=0.05, gamma=0.02)),
    ("lenet_bn", dict(beta=0.05, gamma=0.02)),
])
def test_the_compiled_pseudo_gradient_from_the_weights_is_eq_9_to_rounding(
        kind, options, dtype, monkeypatch):
    """`nets._fused.weights_pseudo_gradient` (payoff "paper": ``alpha <dL/dtheta_i,
    theta_i>`` read from the weights' gradients, its norm in the same pass) and the torch
    formula both equal the float64 value within the rounding bound of their sums, the
    compiled one gives the same bits on every call, and its step moves s as add_ then clamp_
    move it, three seeds each."""
    from nets.training import _reads_weights, _units

    trainer = EquilibriumPruning(PruningConfig(**options))
    for seed in range(3):
        gated = _backward_at_random_participation(kind, seed, dtype)
        units = _units(gated)
        assert trainer._closed_form(units)
        assert all(_reads_weights(unit, "paper") for unit in units)
        compiled = trainer._compiled_gradients(units)
        assert compiled is not None
        again = trainer._compiled_gradients(units)
        reference = _torch_formula(trainer, units, monkeypatch)
        for unit, ours, same, theirs in zip(units, compiled, again, reference, strict=True):
            assert ours.dtype == dtype and torch.equal(ours, same)
            exact, bound = _exact_pseudo_gradient(unit, trainer.config)
            assert torch.all((ours.double() - exact).abs() <= bound)
            assert torch.all((theirs.double() - exact).abs() <= bound)
        _assert_the_step_moves_s_as_add_then_clamp(trainer, units, compiled)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_compiled_projected_step_is_add_then_clamp_bit_for_bit(dtype):
    """`nets._fused.projected_step` (through `_s_step_layers`) against
    ``s.add_(lr * g).clamp_(0, 1)``: steps that leave the box on both sides, a NaN gradient
    (NaN stays NaN, as in torch.clamp), and the version counter moves as after add_."""
    from nets.training import _units

    generator = torch.Generator().manual_seed(5)
    gated = attach_gates(models.mlp(12, (9, 7), 4, seed=0)).to(dtype)
    for trial in range(3):
        gated.set_participation(torch.rand(gated.n_players, generator=generator))
        gradient = 40 * torch.randn(gated.n_players, generator=generator, dtype=dtype)
        gradient[4] = float("nan")
        lr = [0.001, 0.013, 0.1][trial]
        expected = [gate.participation.clone().add_(lr * part).clamp_(0.0, 1.0) for gate, part
                    in zip(gated.gates(), torch.split(gradient, [9, 7]), strict=True)]
        versions = [gate.participation._version for gate in gated.gates()]
        EquilibriumPruning._s_step_layers(_units(gated), torch.split(gradient, [9, 7]), lr)
        for gate, want, version in zip(gated.gates(), expected, versions, strict=True):
            nan = torch.isnan(want)
            assert torch.equal(torch.isnan(gate.participation), nan)
            assert torch.equal(gate.participation[~nan], want[~nan])
            assert gate.participation._version > version
        s = gated.get_participation()
        assert torch.isnan(s[4]) and float(s.nan_to_num(0.5).min()) >= 0.0
        assert float(s.nan_to_num(0.5).max()) <= 1.0


def test_fit_trains_to_the_same_bits_with_the_compiled_and_the_torch_s_step(digits,
                                                                          monkeypatch):
    """Algorithm 1 end to end (`fit`, two epochs on digits): the compiled s-step leaves the
    participation and the weights of the torch operations' s-step, bit for bit."""
    import nets.training

    small = (torch.utils.data.Subset(digits.train, range(8 * 32)), digits.test)
    config = PruningConfig(beta=0.05, gamma=0.05, participation_lr=0.05, epochs=2,
                           batch_size=32)

    def run():
        result = EquilibriumPruning(config).fit(models.mlp(64, (16, 8), 10, seed=0), small,
                                                progress=False)
        return [result.gated.get_participation(),
                *(p.detach().clone() for p in result.gated.parameters())]

    compiled = run()
    with monkeypatch.context() as patch:
        patch.setattr(nets.training.EquilibriumPruning, "_compiled_gradients",
                      lambda self, units, lr=None: None)
        patch.setattr(nets.training.EquilibriumPruning, "_compiled_step",
                      staticmethod(lambda participations, gradients, lr: False))
        reference = run()
    assert not torch.equal(compiled[0], torch.ones_like(compiled[0]))
    for a, b in zip(compiled, reference, strict=True):
        assert torch.equal(a, b)


def test_the_fused_step_follows_weights_changed_between_steps():
    """`_FusedStep` keeps numpy views of the network's tensors from step to step: a change of
    the weights in place (through ``.data`` too, which moves no version counter) or a
    replacement of their data between two steps still gives the step of `reference_step`,
    bit for bit, and a replaced tensor is seen (the views are made again)."""
    config = PruningConfig(participation_lr=0.05, lr=0.01, beta=0.05, gamma=0.02)
    trainer = EquilibriumPruning(config)
    fused, batches = _network()
    reference = copy.deepcopy(fused)
    fused_optimizer = make_optimizer(config, fused.parameters())
    reference_optimizer = make_optimizer(config, reference.parameters())
    changes = [lambda layer: None,
               lambda layer: layer.weight.data.mul_(1.5),  # in place, no version moved
               lambda layer: setattr(layer.weight, "data", layer.weight.data * 0.5),  # new data
               lambda layer: layer.bias.data.add_(0.25),
               lambda layer: None]
    first = [info.layer_index for info in fused.layers][0]
    for change, (inputs, labels) in zip(changes, batches, strict=True):
        for network in (fused, reference):
            change(network.model[first])
        trainer.step(fused, fused_optimizer, inputs, labels)
        reference_step(trainer, reference, reference_optimizer, inputs, labels)
        for a, b in zip(_state(fused), _state(reference), strict=True):
            assert torch.equal(a, b)
    hooks = trainer._hooks
    assert hooks.fused_step is not None and hooks.fused_step.ready()
    fused.model[first].weight.data = fused.model[first].weight.data.clone()
    assert not hooks.fused_step.ready()


def test_the_fused_step_reads_ds_on_a_layer_frozen_between_steps():
    """Payoff "paper" reads the benefit from the weights' gradients; once a layer's weights
    stop requiring gradients it is read from dL/ds instead (`_reads_weights`), the fused step
    is made again, and the steps still move s (the benefit is not read as zero)."""
    config = PruningConfig(participation_lr=0.05, lr=0.01, beta=0.05, gamma=0.02)
    trainer = EquilibriumPruning(config)
    gated, batches = _network()
    optimizer = make_optimizer(config, gated.parameters())
    trainer.step(gated, optimizer, *batches[0])
    fused = trainer._hooks.fused_step
    assert [layer.weights for layer in fused.layers] == [True, True]
    first = gated.model[gated.layers[0].layer_index]
    first.weight.requires_grad_(False)
    assert not fused.ready()
    reference = copy.deepcopy(gated)
    reference_optimizer = make_optimizer(config, reference.parameters())
    reference_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # (not shared)
    start = gated.get_participation()
    for inputs, labels in batches[1:]:
        trainer.step(gated, optimizer, inputs, labels)
        reference_step(trainer, reference, reference_optimizer, inputs, labels)
        for a, b in zip(_state(gated), _state(reference), strict=True):
            assert torch.equal(a, b)
    assert [layer.weights for layer in trainer._hooks.fused_step.layers] == [False, True]
    moved = gated.get_participation() != start
    assert moved[gated.layers[0].players].any() and moved[gated.layers[1].players].any()
