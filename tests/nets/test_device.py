"""Any device (issue 12, item 5): `nets.device.resolve_device` and the ``device`` of every path.

The suite runs on the CPU: the CPU tests check the resolver, that ``device="cpu"`` is the
default's run exactly, and that models and checkpoints load through ``map_location``. The
tests marked to run only where CUDA exists train the same tiny run on the CPU and on the GPU
and check that it makes the same pruning decision, that statistics and evaluation agree and
that a model saved on the GPU loads on the CPU.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from analysis.runner import RunConfig, RunConfigError
from nets import EquilibriumPruning, PruningConfig, attach_gates, data, evaluate, models, stats
from nets.apply import load_model, save_model
from nets.baselines import Budget, get
from nets.checks import PruningError
from nets.device import DEVICES, available_devices, check_device_name, resolve_device
from nets.loop import TrainingConfig
from nets.plain import train_plain
from nets.training import CHECKPOINT_NAME
from tests.bad_input.conftest import assert_one_line

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _expected_auto() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


# ---------------------------------------------------------------------------- the resolver
def test_resolve_device_names_the_torch_device():
    assert resolve_device() == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto") == torch.device(_expected_auto())
    assert set(available_devices()) >= {"cpu", "auto"}
    assert set(available_devices()) <= set(DEVICES)


def test_auto_is_the_cpu_on_a_machine_without_an_accelerator(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert available_devices() == ("cpu", "auto")


@pytest.mark.parametrize("bad", ["tpu", "CPU", "", "cuda0", None, 0, ["cpu"]])
def test_an_unknown_device_is_one_line_naming_device_and_the_choices(bad: object):
    with pytest.raises(PruningError) as caught:
        resolve_device(bad)  # type: ignore[arg-type]
    assert_one_line(str(caught.value), "device", "'cpu'", "'cuda'", "'mps'", "'auto'")
    with pytest.raises(PruningError):
        check_device_name(bad)


@pytest.mark.parametrize("kind, fix", [("cuda", "torch.cuda.is_available() is False"),
                                       ("mps", "torch.backends.mps.is_available() is False")])
def test_an_unavailable_device_is_one_line_naming_the_fix(kind: str, fix: str,
                                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for device in (kind, torch.device(kind)):
        with pytest.raises(PruningError) as caught:
            resolve_device(device)
        assert_one_line(str(caught.value), f"device={kind!r}", fix, "('cpu', 'auto')")
    check_device_name(kind)  # the spelling alone is fine: a stored config still reads


def test_a_torch_device_of_another_type_is_refused():
    with pytest.raises(PruningError, match="device"):
        resolve_device(torch.device("meta"))


def test_every_configuration_checks_the_spelling_and_defaults_to_the_cpu():
    for kind in (TrainingConfig, PruningConfig, Budget):
        assert kind().device == "cpu"
        with pytest.raises(PruningError) as caught:
            kind(device="gpu")
        assert_one_line(str(caught.value), "device", "'cuda'")
    assert PruningConfig(device="cuda").device == "cuda"  # checked for availability at run time
    with pytest.raises(RunConfigError, match="device"):
        RunConfig(device="gpu")


# ---------------------------------------------------------------------------- run keys
def test_the_cpu_stays_out_of_keys_and_dicts_and_other_devices_are_in_them():
    default = RunConfig(method="equilibrium", epochs=2)
    assert "device" not in default.to_dict()
    assert RunConfig(method="equilibrium", epochs=2, device="cpu").key == default.key
    auto = RunConfig(method="equilibrium", epochs=2, device="auto")
    assert auto.device == _expected_auto()  # resolved once, so the key says what ran
    gpu = RunConfig(method="equilibrium", epochs=2, device="cuda")
    assert gpu.key != default.key and gpu.to_dict()["device"] == "cuda"
    assert RunConfig.from_dict(gpu.to_dict()) == gpu
    assert RunConfig.from_dict(default.to_dict()).device == "cpu"
    assert gpu.pruning_config().device == "cuda" and gpu.replace(method="l0").budget().device \
        == "cuda"
    assert "device" not in PruningConfig().to_dict()
    assert PruningConfig(device="mps").to_dict()["device"] == "mps"


# ---------------------------------------------------------------------------- CPU runs
@pytest.fixture(scope="module")
def tiny():
    """300 digits and a small MLP."""
    return data.load("digits", limit=300), models.mlp(64, (12,), 10, seed=0)


def _algorithm(tiny, **device):
    bundle, model = tiny
    config = PruningConfig(epochs=1, batch_size=64, beta=0.05, gamma=0.05,
                           participation_lr=0.05, **device)
    return EquilibriumPruning(config).fit(model, bundle, progress=False)


def test_a_tiny_run_on_device_cpu_is_the_default_run(tiny):
    default, on_cpu = _algorithm(tiny), _algorithm(tiny, device="cpu")
    np.testing.assert_array_equal(on_cpu.participation, default.participation)
    assert [r.test_accuracy for r in on_cpu.history] == \
        [r.test_accuracy for r in default.history]
    bundle, model = tiny
    plain = [train_plain(model, bundle, TrainingConfig(epochs=1, **d)) for d in ({}, {
        "device": "cpu"})]
    assert plain[0].train_loss == plain[1].train_loss
    budget = Budget(epochs=2, batch_size=64)
    kept = [get("taylor").prune(model, bundle, 0.5, dataclasses.replace(budget, **d))
            for d in ({}, {"device": "cpu"})]
    for a, b in zip(kept[0].model.parameters(), kept[1].model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_auto_on_this_machine_is_the_run_of_the_device_it_names(tiny):
    if _expected_auto() != "cpu":
        pytest.skip("auto names an accelerator here; the CUDA tests compare devices")
    np.testing.assert_array_equal(_algorithm(tiny, device="auto").participation,
                                  _algorithm(tiny).participation)


def test_a_saved_model_loads_through_map_location(tmp_path, tiny):
    _, model = tiny
    path = tmp_path / "model.pt"
    save_model(model, path)
    x = torch.randn(5, 64, generator=torch.Generator().manual_seed(1))
    for device in ("cpu", "auto", torch.device("cpu")):
        loaded = load_model(path, device=device)
        target = resolve_device(device)
        assert all(t.device == target for t in loaded.state_dict().values())
        torch.testing.assert_close(loaded.to("cpu")(x), model(x))
    with pytest.raises(PruningError) as caught:
        load_model(path, device="tpu")
    assert_one_line(str(caught.value), "device")


def test_a_checkpoint_resumes_on_another_device_setting(tmp_path, tiny):
    """A checkpoint is the same run whatever device wrote it (``map_location``): written with
    device="cpu", it resumes under device="auto" (here the CPU) to the uninterrupted run."""
    if _expected_auto() != "cpu":
        pytest.skip("auto names an accelerator here")
    bundle, model = tiny
    config = PruningConfig(epochs=2, batch_size=64, beta=0.05, gamma=0.05,
                           participation_lr=0.05)
    whole = EquilibriumPruning(config).fit(model, bundle, progress=False)

    def stop(record: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # interrupted after the first epoch's checkpoint
        EquilibriumPruning(config).fit(model, bundle, progress=False, checkpoint_dir=tmp_path,
                                       callback=stop)
    assert (tmp_path / CHECKPOINT_NAME).exists()
    resumed = EquilibriumPruning(dataclasses.replace(config, device="auto")).fit(
        model, bundle, progress=False, checkpoint_dir=tmp_path)
    assert resumed.resumed_from_epoch == 1
    np.testing.assert_allclose(resumed.participation, whole.participation, atol=1e-6)


def test_evaluation_and_statistics_follow_the_models_device(tiny):
    bundle, model = tiny
    loader = DataLoader(bundle.test, batch_size=64)
    assert evaluate(model, loader, latency_repeats=0).accuracy == \
        evaluate(model, loader, latency_repeats=0, device="cpu").accuracy
    with pytest.raises(ValueError, match="device"):
        evaluate(model, loader, latency_repeats=0, device="gpu")
    measured = stats.collect(attach_gates(model), loader, n_batches=1)
    assert isinstance(measured.dloss_ds, np.ndarray)


# ---------------------------------------------------------------------------- CPU and CUDA
@CUDA
def test_the_same_tiny_run_on_cpu_and_cuda_makes_the_same_pruning_decision(tiny):
    on_cpu, on_gpu = _algorithm(tiny), _algorithm(tiny, device="cuda")
    assert next(on_gpu.gated.parameters()).device.type == "cuda"
    assert isinstance(on_gpu.participation, np.ndarray)
    np.testing.assert_allclose(on_gpu.participation, on_cpu.participation, atol=1e-3)
    epsilon = on_cpu.config.epsilon
    clear = np.abs(on_cpu.participation - epsilon) > 1e-3  # rounding may tip a unit at epsilon
    np.testing.assert_array_equal((on_gpu.participation < epsilon)[clear],
                                  (on_cpu.participation < epsilon)[clear])
    widths = [[info.n_units for info in attach_gates(r.pruned()).layers]
              for r in (on_cpu, on_gpu)]
    assert widths[0] == widths[1]


@CUDA
def test_a_baseline_keeps_the_same_units_on_cpu_and_cuda(tiny):
    bundle, model = tiny
    budget = Budget(epochs=2, batch_size=64)
    kept = [get("unit_norm").prune(model, bundle, 0.5, dataclasses.replace(budget, device=d))
            .details["kept_per_layer"] for d in ("cpu", "cuda")]
    assert kept[0] == kept[1]


@CUDA
def test_statistics_and_evaluation_agree_on_cpu_and_cuda(tiny):
    bundle, model = tiny
    loader = DataLoader(bundle.test, batch_size=64)
    gated = attach_gates(model)
    on_cpu = stats.collect(gated, loader, n_batches=2)
    on_gpu = stats.collect(gated.to("cuda"), loader, n_batches=2)
    for name in ("dloss_ds", "grad_inner", "taylor", "sq_norms"):
        np.testing.assert_allclose(getattr(on_gpu, name), getattr(on_cpu, name), rtol=1e-4,
                                   atol=1e-6)
    gpu_model = models.mlp(64, (12,), 10, seed=0).to("cuda")
    assert evaluate(gpu_model, loader, latency_repeats=0).accuracy == pytest.approx(
        evaluate(model, loader, latency_repeats=0).accuracy, abs=1e-9)


@CUDA
def test_a_model_saved_on_cuda_loads_on_the_cpu(tmp_path):
    model = models.mlp(64, (12,), 10, seed=0).to("cuda")
    save_model(model, tmp_path / "gpu.pt")
    loaded = load_model(tmp_path / "gpu.pt")
    assert all(t.device.type == "cpu" for t in loaded.state_dict().values())
    x = torch.randn(3, 64)
    torch.testing.assert_close(loaded(x), model(x.to("cuda")).cpu(), rtol=1e-5, atol=1e-5)
