"""papers.beyond.filters: the quick study end to end (in this process, ``--workers 0``), its
resumability, and the pieces it is built from."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from analysis.sweeps import RESULTS_NAME, local_executor
from papers.beyond import filters

#: (label, point) of the quick study: dense, the emergent game at gamma 0.2, the ranked game at
#: 0.5, and random and taylor at the matched sparsity and at 0.5.
QUICK_POINTS = {("dense", "dense"), (filters.EMERGENT, "gamma=0.2"), (filters.RANKED, "0.5"),
                ("random", "matched"), ("random", "0.5"), ("taylor", "matched"),
                ("taylor", "0.5")}
DENSE_FILTERS = (6, 16)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("filters")
    assert filters.main(["--quick", "--workers", "0", "--out", str(out)]) == 0
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_quick_run_has_a_row_per_method_and_point(quick_run: Path) -> None:
    rows = read_csv(quick_run / "filters.csv")
    assert {(r["label"], r["point"]) for r in rows} == QUICK_POINTS
    assert {r["seed"] for r in rows} == {"0"}
    assert len(rows) == len(QUICK_POINTS)


def test_quick_rows_are_finite_and_consistent(quick_run: Path) -> None:
    rows = read_csv(quick_run / "filters.csv")
    numeric = ("filter_sparsity", "accuracy", "params", "params_total", "macs", "macs_dense",
               "param_ratio", "theoretical_speedup", "latency_ms", "latency_dense_ms",
               "measured_speedup")
    for r in rows:
        for name in numeric:
            assert math.isfinite(float(r[name])), (r["label"], r["point"], name, r[name])
        sparsity = float(r["filter_sparsity"])
        assert 0.0 <= sparsity < 1.0 and 0.0 <= float(r["accuracy"]) <= 1.0
        kept = (int(r["kept_conv1"]), int(r["kept_conv2"]))
        assert all(1 <= k <= d for k, d in zip(kept, DENSE_FILTERS, strict=True))
        assert int(r["filters_kept"]) == sum(kept)
        assert sparsity == pytest.approx(1 - sum(kept) / sum(DENSE_FILTERS))
        assert float(r["latency_ms"]) > 0 and float(r["latency_dense_ms"]) > 0
        if sparsity > 0:  # physically smaller: fewer filters, parameters and MACs
            assert sum(kept) < sum(DENSE_FILTERS)
            assert int(r["params"]) < int(r["params_total"])
            assert int(r["macs"]) < int(r["macs_dense"])
            assert float(r["theoretical_speedup"]) > 1
        if r["point"] == "0.5":
            assert int(r["filters_kept"]) == 11
    dense = next(r for r in rows if r["label"] == "dense")
    assert int(dense["params"]) == int(dense["params_total"])
    assert float(dense["measured_speedup"]) == 1.0
    matched = {r["filter_sparsity"] for r in rows if r["point"] in ("matched", "gamma=0.2")}
    assert len(matched) == 1  # the baselines removed as many filters as the game did


def test_quick_outputs_summary_and_figure(quick_run: Path) -> None:
    summary = read_csv(quick_run / "filters_summary.csv")
    assert {(r["method"], r["point"]) for r in summary} == QUICK_POINTS
    assert (quick_run / "filters.png").stat().st_size > 10_000
    assert not list(quick_run.glob("*.tmp"))


def test_rerun_resumes_without_training_again(quick_run: Path) -> None:
    store = quick_run / RESULTS_NAME
    before = store.read_text()
    assert len(before.splitlines()) == len(QUICK_POINTS)
    assert filters.main(["--quick", "--workers", "0", "--out", str(quick_run)]) == 0
    assert store.read_text() == before
    keys = [json.loads(line)["key"] for line in before.splitlines()]
    assert len(set(keys)) == len(keys)


def test_latency_table_times_every_architecture() -> None:
    table = filters.latency_table([(6, 16), (3, 4), (6, 16)], (1, 8, 8), 10, batch=8,
                                  repeats=3, warmup=1)
    assert set(table) == {(6, 16), (3, 4)}
    assert all(value > 0 for value in table.values())


def test_only_structured_baselines_are_accepted() -> None:
    with pytest.raises(ValueError, match="structured baselines"):
        filters.baseline_configs({0: 0.5}, methods=("magnitude",))
    configs = filters.baseline_configs({0: 0.5, 1: 0.25}, methods=("taylor",),
                                       sparsities=(0.75,))
    assert [(c.seed, c.tag, c.sparsity, c.level, c.model) for c in configs] == [
        (0, "taylor|matched", 0.5, "filter", "lenet5"), (0, "taylor|0.75", 0.75, "filter",
                                                         "lenet5"),
        (1, "taylor|matched", 0.25, "filter", "lenet5"), (1, "taylor|0.75", 0.75, "filter",
                                                          "lenet5")]
    with pytest.raises(ValueError, match="workers"):
        with local_executor(-1):
            pass
