"""`nets.evaluate.evaluate` on any nn.Module: the models of `nets.models` traced, gated and
physically pruned (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nets import apply_participation, attach_gates, evaluate
from tests.nets.test_structure import MODELS, X


def _macs(model: torch.nn.Module) -> int:
    # FlopCounterMode counts 2 FLOPs a multiply-add of every matmul and convolution.
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model.eval()(X[:1])
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("name", sorted(MODELS))
def test_evaluate_counts_any_model_and_its_removal(name):
    model = MODELS[name](0).eval()
    labels = torch.zeros(X.shape[0], dtype=torch.long)
    dense = evaluate(model, [(X, labels)], latency_repeats=0)
    assert dense.params_total == sum(p.numel() for p in model.parameters())
    assert dense.params_nonzero == sum(int(p.count_nonzero()) for p in model.parameters())
    if name not in ("vit",):  # attention's q k^T and attention-times-v are not Linear modules
        assert dense.macs_dense == _macs(model)
    gated = attach_gates(model, "all", example_inputs=X)
    rng = np.random.default_rng(0)
    s = (rng.random(gated.n_players) < 0.6).astype(float)
    removed = apply_participation(gated, s, mode="remove", on_empty="keep_strongest").eval()
    pruned = evaluate(removed, [(X, labels)], reference=model, latency_repeats=0)
    assert pruned.params_total == sum(p.numel() for p in removed.parameters())
    assert pruned.params_total < dense.params_total
    assert pruned.macs_dense < dense.macs_dense
    assert pruned.compression_ratio > 1.0 and pruned.theoretical_speedup > 1.0
    gated_eval = evaluate(apply_participation(gated, s, mode="soft"), [(X, labels)],
                          latency_repeats=0)
    assert gated_eval.accuracy == pytest.approx(pruned.accuracy)
    assert gated_eval.params_nonzero < gated_eval.params_total  # the zero players folded in


def test_evaluate_refuses_what_is_not_a_module():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        evaluate("resnet", [(X, torch.zeros(6, dtype=torch.long))])
