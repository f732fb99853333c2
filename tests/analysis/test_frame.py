"""`to_frame`: results as a pandas DataFrame, the cells `to_csv` writes; and `aggregate`
(written on pandas' groupby) against a groupby of the frame."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis import to_frame
from analysis.runner import RunConfig, RunResult
from analysis.tables import TableError, aggregate, to_csv
from nets.evaluate import Evaluation


def result(seed: int, method: str = "random", accuracy: float = 0.5) -> RunResult:
    config = RunConfig(method=method, sparsity=None if method == "dense" else 0.5, seed=seed,
                       epochs=1)
    evaluation = Evaluation(accuracy=accuracy, loss=1.0, params_total=5, params_nonzero=5,
                            macs_dense=5, macs_remaining=5, compression_ratio=math.inf,
                            theoretical_speedup=2.0, latency_ms=None, n_examples=100)
    return RunResult(key=config.key, config=config.to_dict(), evaluation=evaluation,
                     achieved_sparsity=0.0 if method == "dense" else 0.5, params_total=10,
                     macs_dense=10, steps=3, seconds=0.1, history=[{"epoch": 1}],
                     kept_per_layer=[64, 32])


def test_to_frame_has_one_row_per_result_and_the_flattened_columns():
    results = [result(0), result(1, accuracy=0.7), result(0, "dense", 0.9)]
    frame = to_frame(results)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 3
    assert list(frame.columns[:3]) == ["key", "config.dataset", "config.data_root"]
    assert not {"history", "participation", "evaluation.accuracy"} & set(frame.columns)
    assert frame.loc[1, "accuracy"] == 0.7 and frame.loc[2, "config.sparsity"] is None
    assert frame.loc[0, "kept_per_layer"] == "[64,32]"
    assert frame.loc[0, "compression_ratio"] == math.inf
    assert list(to_frame(results, ["config.method", "accuracy"]).columns) == \
        ["config.method", "accuracy"]
    assert "history" in to_frame(results, drop=()).columns
    assert to_frame([]).empty
    with pytest.raises(TableError, match="no row has"):
        to_frame(results, ["accuracyy"])


def test_to_frame_is_what_to_csv_writes(tmp_path):
    results = [result(0), result(1, accuracy=0.7), result(0, "dense", 0.9)]
    written = pd.read_csv(to_csv(results, tmp_path / "r.csv"))
    frame = to_frame(results).infer_objects()
    assert list(written.columns) == list(frame.columns)
    for name in ("accuracy", "params_nonzero", "config.seed", "compression_ratio"):
        assert written[name].tolist() == frame[name].tolist()


def test_aggregate_equals_a_groupby_of_the_frame():
    results = [result(s, m, a) for s, m, a in
               [(0, "random", 0.5), (1, "random", 0.7), (2, "random", 0.6),
                (0, "dense", 0.9), (1, "dense", 0.8)]]
    summary = aggregate(results, ["config.method"], ["accuracy"])
    grouped = to_frame(results).infer_objects().groupby("config.method", sort=False)["accuracy"]
    assert [r["config.method"] for r in summary] == list(grouped.groups)
    assert [r["accuracy_mean"] for r in summary] == pytest.approx(grouped.mean().tolist())
    assert [r["accuracy_std"] for r in summary] == pytest.approx(grouped.std().tolist())
    assert [r["n"] for r in summary] == grouped.size().tolist()


def test_aggregate_keeps_nan_and_skips_none():
    rows = [{"m": "a", "x": math.nan}, {"m": "a", "x": 1.0}, {"m": "b", "x": None},
            {"m": "b", "x": 2.0}]
    first, second = aggregate(rows, ["m"], ["x"])
    assert math.isnan(first["x_mean"]) and math.isnan(first["x_std"]) and first["n"] == 2
    assert (second["x_mean"], second["x_std"], second["n"]) == (2.0, None, 2)
