"""The ResNet study (issue 12, item 6): its plan, and ``main --quick`` end to end (every
output, certified gaps, our removal equal to Torch-Pruning's, resuming without training)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from analysis.sweeps import RESULTS_NAME
from papers.beyond import resnet
from papers.beyond.winning import STRUCTURED_BASELINES


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_plan_has_every_arm_at_every_target_with_one_budget() -> None:
    runs = resnet.configs()
    per_seed = 1 + len(resnet.SPARSITIES) * (len(STRUCTURED_BASELINES) + len(resnet.ARMS))
    assert len(runs) == 3 * per_seed
    assert len({r.key for r in runs}) == len(runs)
    assert {(r.epochs, r.batch_size, r.lr, r.data_limit, r.model, r.level) for r in runs} == \
        {(resnet.EPOCHS, 128, 1e-3, resnet.LIMIT, "resnet_cifar", "filter")}
    assert {dict(r.model_options)["depth"] for r in runs} == {20}
    with pytest.raises(ValueError, match="magic"):
        resnet.configs(methods=("magic",))


def test_quick_run_writes_every_output_and_resumes(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "resnet"
    assert resnet.main(["--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| target | method |" in printed and "ours / Torch-Pruning" in printed
    runs = read_csv(out / "runs.csv")
    assert len(runs) == 1 + len(resnet.QUICK["methods"]) + len(resnet.ARMS)
    latency = read_csv(out / "latency.csv")
    assert latency and all(r["params_ours"] == r["params_reference"] for r in latency)
    pruned = [r for r in runs if r["point"] != "dense"]
    assert all(float(r["theoretical_speedup"]) > 1.0 and r["measured_speedup"]
               for r in pruned)
    certificates = read_csv(out / "certificates.csv")
    assert len(certificates) == 3  # the three equilibrium_solve arms
    assert all(float(r["nash_gap"]) <= 1e-6 for r in certificates)
    for name in ("pareto.csv", "front.csv", "summary.csv"):
        assert read_csv(out / name), name
    assert (out / "resnet.png").stat().st_size > 1000
    store = out / RESULTS_NAME
    lines = store.read_text().count("\n")
    assert resnet.main(["--quick", "--out", str(out)]) == 0
    assert store.read_text().count("\n") == lines  # resumed: nothing ran again
    assert f"timing 0 architectures (3 rounds each; {len(latency)} reused" in \
        capsys.readouterr().out
    assert read_csv(out / "latency.csv") == latency
