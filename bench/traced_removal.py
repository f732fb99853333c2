"""Removal on traced models: our `apply_participation(mode="remove")` against Torch-Pruning
itself pruning the same channel groups, on the models of `nets.models` (issue 12).

For each model, a seeded random half of the traced players (`nets.structure.trace_players`,
``level="all"``) is kept (a layer that would lose every player keeps one, ``on_empty=
"keep_strongest"``). The same groups are then pruned two ways:

- ours: ``apply_participation(gated, keep, mode="remove")`` (fold, then Torch-Pruning's
  ``Group.prune`` through `nets.structure.remove_players`, checked against the masked model);
- reference: `nets.structure.torch_pruning_reference`: a ``torch_pruning.DependencyGraph``
  built on a fresh copy of the dense model, and ``get_pruning_group(root, prune_out_channels,
  removed).prune()`` for every player layer's root module, as a Torch-Pruning user would write
  it.

The script checks that both give the same parameter count and the same outputs (keep = 1
folds nothing), then times dense, ours and the reference in the same rounds with the project's
one timer, `nets.evaluate.measure_latency` (``torch.utils.benchmark``, rotating order, medians),
one thread, batch 64. The figure is ``ours / reference`` latency (target 1.0: ours no slower)
and the measured speed-up of ours over dense.

Usage: ``python bench/traced_removal.py [--quick] [--repeats R]``.
"""

from __future__ import annotations

import argparse

import torch
import torch_pruning as tp

from nets import apply_participation, attach_gates
from nets.apply import keep_mask
from nets.evaluate import measure_latency
from nets.models import mlp_mixer, resnet18_like, resnet_cifar, vit
from nets.structure import torch_pruning_reference

MODELS = {
    "resnet_cifar(20, 16)": lambda: resnet_cifar(20, 16, seed=0),
    "resnet18_like(16)": lambda: resnet18_like(16, seed=0),
    "vit(dim 64, 4 heads)": lambda: vit(dim=64, num_heads=4, head_dim=16, mlp_hidden=128,
                                        seed=0),
    "mlp_mixer(dim 64)": lambda: mlp_mixer(dim=64, token_hidden=32, channel_hidden=128, seed=0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="5 rounds (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 5
    torch.set_num_threads(1)
    x = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    print(f"torch {torch.__version__}, torch-pruning {tp.__version__}, one thread, batch 64, "
          f"median of {args.repeats} rotating rounds")
    print(f"{'model':>22} {'players':>8} {'params dense':>13} {'ours':>9} {'ref':>9} "
          f"{'max |diff|':>10} {'ours ms':>8} {'ref ms':>8} {'ours/ref':>9} {'speed-up':>9}")
    for name, build in MODELS.items():
        model = build().eval()
        gated = attach_gates(model, "all", example_inputs=x[:1]).eval()
        s = (torch.rand(gated.n_players, generator=torch.Generator().manual_seed(1)) < 0.5)
        keep = keep_mask(gated, s.double(), 0.5, "keep_strongest")
        for layer in gated.layers:  # the reference prunes channels, not heads: keep every head
            if layer.kind == "heads":
                keep[layer.players] = True
        ours = apply_participation(gated, keep.double(), mode="remove").eval()
        ref = torch_pruning_reference(model, gated.structure, keep, x[:1])
        with torch.inference_mode():
            diff = float((ours(x) - ref(x)).abs().max())
        dense_s, ours_s, ref_s = measure_latency([model, ours, ref], x, repeats=args.repeats)
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        print(f"{name:>22} {gated.n_players:>8} {count(model):>13,} {count(ours):>9,} "
              f"{count(ref):>9,} {diff:>10.1e} {1e3 * ours_s:>8.2f} {1e3 * ref_s:>8.2f} "
              f"{ours_s / ref_s:>9.3f} {dense_s / ours_s:>8.2f}x")


if __name__ == "__main__":
    main()
