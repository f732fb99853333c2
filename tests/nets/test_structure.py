"""Players of any model by tracing (nets.structure, Torch-Pruning): removal equals masking,
parameter and MAC counts shrink as the structure counts, the flat and traced paths agree, a
user-defined residual module works unchanged, and an LSTM is refused in one line."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nets import apply_participation, attach_gates, stats
from nets.apply import keep_mask
from nets.checks import PruningError
from nets.gates import TracedGatedNetwork
from nets.models import lenet5, mlp, mlp_mixer, resnet18_like, resnet_cifar, vit
from nets.structure import Structure, trace_players


class UserResidual(nn.Module):
    """A residual block, a concatenated branch and a depthwise conv, written as a user would."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.block = nn.Sequential(nn.Conv2d(6, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(),
                                   nn.Conv2d(5, 6, 3, padding=1), nn.BatchNorm2d(6))
        self.side = nn.Conv2d(6, 3, 1)
        self.depthwise = nn.Conv2d(9, 9, 3, padding=1, groups=9)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(9, 7),
                                  nn.ReLU(), nn.Linear(7, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.stem(x)))
        x = torch.relu(x + self.block(x))
        x = torch.cat([x, torch.relu(self.side(x))], dim=1)
        return self.head(torch.relu(self.depthwise(x)))


def user_residual(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return UserResidual()


MODELS: dict[str, Callable[[int], nn.Module]] = {
    "resnet_cifar": lambda seed: resnet_cifar(8, 4, input_size=8, seed=seed),
    "resnet18_like": lambda seed: resnet18_like(2, input_size=8, seed=seed),
    "vit": lambda seed: vit(input_size=8, patch=2, dim=16, depth=2, num_heads=3, head_dim=4,
                            mlp_hidden=12, seed=seed),
    "mlp_mixer": lambda seed: mlp_mixer(input_size=8, patch=2, dim=16, depth=2,
                                        token_hidden=8, channel_hidden=12, seed=seed),
    "user_residual": user_residual,
}

X = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def randomized(model: nn.Module, seed: int) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters (as after training)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.rand(n, generator=generator) * 2 - 1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(n, generator=generator) * 2 - 1)
    return model


def random_keep(gated: TracedGatedNetwork, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    draw = torch.rand(gated.n_players, generator=generator).double()
    return keep_mask(gated, (draw > 0.5).double(), 0.5, "keep_strongest")


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def kept_fractions(structure: Structure, keep: torch.Tensor, model: nn.Module
                   ) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Per module, the kept share of output and input channels, and per attention module the
    kept share of heads, counted from the structure alone."""
    removed_out: dict[str, int] = {}
    removed_in: dict[str, int] = {}
    heads: dict[str, float] = {}
    for layer in structure.layers:
        gone = [i for i in range(layer.n_units) if not bool(keep[layer.offset + i])]
        for member in layer.members:
            count = sum(len(member.indices[i]) for i in gone)
            table = removed_out if member.role == "out" else removed_in
            table[member.module] = table.get(member.module, 0) + count
        if layer.attention is not None:
            heads[layer.attention] = 1 - len(gone) / layer.n_units
    out, inp = {}, {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            n_out, n_in = module.out_features, module.in_features
        elif isinstance(module, nn.Conv2d):
            n_out, n_in = module.out_channels, module.in_channels
        elif isinstance(module, nn.BatchNorm2d):
            n_out = n_in = module.num_features
        else:
            continue
        out[name] = 1 - removed_out.get(name, 0) / n_out
        inp[name] = 1 - removed_in.get(name, 0) / n_in
        if isinstance(module, nn.Conv2d) and module.groups > 1:
            inp[name] = 1.0  # a depthwise conv: one input channel per output channel
    return out, inp, heads


def expected_parameters(model: nn.Module, structure: Structure, keep: torch.Tensor) -> float:
    out, inp, _ = kept_fractions(structure, keep, model)
    total = 0.0
    for name, module in model.named_modules():
        for pname, parameter in module.named_parameters(recurse=False):
            if name in out and pname == "weight" and parameter.dim() > 1:
                total += parameter.numel() * out[name] * inp[name]
            elif name in out:
                total += parameter.numel() * out[name]
            else:
                total += parameter.numel()
    return total


def flops_by_module(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    prefix = type(model).__name__
    counts = {}
    for name, ops in counter.get_flop_counts().items():
        if name == prefix or name.startswith(prefix + "."):
            counts[name[len(prefix) + 1:]] = sum(ops.values())
    return counts


def expected_flops(model: nn.Module, structure: Structure, keep: torch.Tensor,
                   x: torch.Tensor) -> float:
    """Every Linear/conv's FLOPs scaled by its kept output and input shares, plus each
    attention's own matmuls scaled by its kept heads."""
    counts = flops_by_module(model, x)
    out, inp, heads = kept_fractions(structure, keep, model)
    total = 0.0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            total += counts.get(name, 0) * out[name] * inp[name]
        if name in heads:
            children = sum(counts.get(f"{name}.{c}", 0)
                           for c in ("q_proj", "k_proj", "v_proj", "out_proj"))
            total += (counts[name] - children) * heads[name]
    return total


@pytest.mark.parametrize("name", sorted(MODELS))
def test_removal_equals_masking_and_counts_shrink_as_counted(name: str) -> None:
    model = randomized(MODELS[name](0), 1).eval()
    gated = attach_gates(model, "all", example_inputs=X[:1]).eval()
    assert isinstance(gated, TracedGatedNetwork)
    for seed in range(2):
        keep = random_keep(gated, seed)
        assert not bool(keep.all())
        s = keep.double()
        masked = apply_participation(gated, s, mode="mask").eval()
        removed = apply_participation(gated, s, mode="remove").eval()
        assert type(removed) is type(model)
        with torch.no_grad():
            torch.testing.assert_close(removed(X), masked(X), atol=1e-5, rtol=0)
        assert n_parameters(removed) == pytest.approx(
            expected_parameters(model, gated.structure, keep), abs=1e-6)
        assert n_parameters(removed) < n_parameters(model)
        expected = expected_flops(model, gated.structure, keep, X[:1])
        assert flops_by_module(removed, X[:1])[""] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fold_equals_soft_and_the_user_model_is_untouched(name: str) -> None:
    model = randomized(MODELS[name](0), 2).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gated = attach_gates(model, "all", example_inputs=X[:1]).eval()
    s = torch.rand(gated.n_players, generator=torch.Generator().manual_seed(3)).double()
    folded = apply_participation(gated, s, mode="fold").eval()
    soft = apply_participation(gated, s, mode="soft").eval()
    with torch.no_grad():
        torch.testing.assert_close(folded(X), soft(X), atol=1e-5, rtol=0)
        torch.testing.assert_close(model(X), apply_participation(gated, mode="fold")(X))
    assert not model._forward_hooks and not folded._forward_hooks
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


def test_heads_are_players_and_their_removal_lowers_num_heads() -> None:
    model = MODELS["vit"](0).eval()
    gated = attach_gates(model, "neuron", example_inputs=X[:1])
    kinds = [(layer.kind, layer.n_units) for layer in gated.layers]
    assert kinds == [("heads", 3), ("linear", 12)] * 2
    s = torch.ones(gated.n_players, dtype=torch.float64)
    s[1] = 0.0  # head 1 of block 0
    removed = apply_participation(gated, s, mode="remove")
    assert removed.blocks[0].attn.num_heads == 2
    assert removed.blocks[0].attn.q_proj.out_features == 8
    assert removed.blocks[1].attn.num_heads == 3


def test_embedding_width_is_not_a_player_and_says_why() -> None:
    structure = trace_players(MODELS["mlp_mixer"](0), X[:1])
    assert all(layer.kind == "linear" for layer in structure.layers)
    assert structure.skipped and "LayerNorm" in structure.skipped[0][1]
    assert structure.ignored == ("head",)
    assert structure.to_dict()["level"] == "all"


@pytest.mark.parametrize("build, x, level", [
    (lambda: mlp(64, (9, 7), 4, seed=0), torch.randn(5, 1, 8, 8), "neuron"),
    (lambda: lenet5(input_size=8, channels=(3, 4), hidden=(6,), batch_norm=True, seed=0),
     torch.randn(5, 1, 8, 8), "all"),
])
def test_traced_and_flat_paths_agree(build: Callable[[], nn.Sequential], x: torch.Tensor,
                                     level: str) -> None:
    model = randomized(build(), 4).eval()
    flat = attach_gates(model, level).eval()
    traced = attach_gates(model, level, example_inputs=x[:1], traced=True).eval()
    assert [(l.n_units, l.kind) for l in flat.layers] == \
        [(l.n_units, l.kind) for l in traced.layers]
    for k in range(len(flat.layers)):
        for outgoing in (False, True):
            torch.testing.assert_close(traced.unit_parameters(k, outgoing),
                                       flat.unit_parameters(k, outgoing))
    keep = random_keep(traced, 5).double()
    removed_flat = apply_participation(flat, keep, mode="remove").eval()
    removed_traced = apply_participation(traced, keep, mode="remove").eval()
    assert [p.shape for p in removed_flat.parameters()] == \
        [p.shape for p in removed_traced.parameters()]
    with torch.no_grad():
        torch.testing.assert_close(removed_traced(x), removed_flat(x), atol=1e-6, rtol=0)
    labels = torch.arange(5) % 4
    a = stats.collect(flat, [(x, labels)], activation_overlap=False)
    b = stats.collect(traced, [(x, labels)], activation_overlap=False)
    for field in ("dloss_ds", "grad_inner", "taylor", "sq_norms"):
        np.testing.assert_allclose(getattr(b, field), getattr(a, field), atol=1e-7)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_collect_on_traced_models(name: str) -> None:
    gated = attach_gates(MODELS[name](0), "all", example_inputs=X[:1]).eval()
    labels = torch.arange(6) % 3
    batch = stats.collect(gated, [(X, labels)], taylor_mode="batch", curvature="fisher")
    s = gated.get_participation().double().numpy()
    assert batch.dloss_ds.shape == (gated.n_players,)
    # sum over sites of a_i dL/da_i is s_i dL/ds_i (the gate computes a = s x at each site)
    np.testing.assert_allclose(batch.taylor, np.abs(s * batch.dloss_ds), rtol=1e-5,
                               atol=1e-9)
    assert [o.shape for o in batch.activation_overlap] == \
        [(layer.n_units, layer.n_units) for layer in gated.layers]
    factors = batch.curvature_factors
    assert factors.shape[0] == gated.n_players
    gauss_newton = stats.collect(gated, [(X, labels)], curvature="gauss_newton")
    assert gauss_newton.curvature_factors.shape[0] == gated.n_players
    if all(len(layer.sites) == 1 for layer in gated.layers):  # each group read by one layer
        grams = stats.collect(gated, [(X, labels)], reconstruction=True).reconstruction_gram
        assert [g.shape for g in grams] == [(layer.n_units,) * 2 for layer in gated.layers]
        return
    with pytest.raises(NotImplementedError, match="reconstruction"):  # a residual stage
        stats.collect(gated, [(X, labels)], reconstruction=True)


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.rnn = nn.LSTM(6, 5, batch_first=True)
        self.out = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.rnn(torch.relu(self.fc(x)))
        return self.out(hidden[:, -1])


def test_lstm_is_refused_in_one_line_naming_the_fix() -> None:
    torch.manual_seed(0)
    model = Recurrent()
    x = torch.randn(3, 7, 4)
    with pytest.raises(PruningError, match=r"'rnn' is a LSTM.*ignored_layers=\['rnn'\]") as info:
        attach_gates(model, "all", example_inputs=x[:1])
    assert "\n" not in str(info.value)
    gated = attach_gates(model, "all", example_inputs=x[:1], ignored_layers=["rnn"]).eval()
    assert [layer.name for layer in gated.layers] == ["fc"]
    s = torch.ones(gated.n_players, dtype=torch.float64)
    s[[1, 3]] = 0.0
    removed = apply_participation(gated, s, mode="remove").eval()
    assert removed.rnn.input_size == 4
    with torch.no_grad():
        torch.testing.assert_close(removed(x), apply_participation(gated, s, mode="mask")(x),
                                   atol=1e-6, rtol=0)


def test_a_branch_keeps_one_channel() -> None:
    gated = attach_gates(MODELS["user_residual"](0), "all", example_inputs=X[:1])
    layer = next(layer for layer in gated.layers if layer.partial_members())
    s = torch.ones(gated.n_players, dtype=torch.float64)
    owners = dict(layer.partial_members())["side"]
    s[[layer.offset + i for i in owners]] = 0.0
    with pytest.raises(ValueError, match="every output channel of side"):
        apply_participation(gated, s, mode="remove")
    removed = apply_participation(gated, s, mode="remove", on_empty="keep_strongest")
    assert removed.side.out_channels == 1


def test_other_refusals_name_the_argument() -> None:
    class WithTorchAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = nn.MultiheadAttention(4, 2, batch_first=True)
            self.out = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.attention(x, x, x)[0].mean(dim=1))

    with pytest.raises(PruningError, match=r"MultiheadAttention.*ignored_layers=\['attention'\]"):
        trace_players(WithTorchAttention(), torch.zeros(1, 3, 4))
    model = MODELS["resnet_cifar"](0)
    with pytest.raises(PruningError, match="ignored_layers names 'nope'"):
        trace_players(model, X[:1], ignored_layers=["nope"])
    with pytest.raises(PruningError, match="level='neuron' finds no players"):
        trace_players(model, X[:1], level="neuron")
    model.train()
    structure = trace_players(model, X[:1], ignored_layers=["layers.1"])
    assert model.training and all(m.training for m in model.modules())
    assert not any(layer.name.startswith("layers.1.conv1") for layer in structure.layers)
