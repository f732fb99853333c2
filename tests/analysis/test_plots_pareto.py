"""`aggregate` and `pareto_mask` (analysis.tables), `pareto_front` and `phase_diagram`
(analysis.plots): properties, figures written, and errors that name the bad argument."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from analysis.plots import pareto_front, phase_diagram
from analysis.tables import (
    TableError,
    aggregate,
    format_mean_std,
    pareto_mask,
    sweep_summary,
    swept_fields,
    to_markdown,
)

BOUNDED = settings(max_examples=60, deadline=None, derandomize=True)


# ---------------------------------------------------------------------------- aggregate
groups_and_values = st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 1),
                                       st.floats(-1e3, 1e3, allow_nan=False)),
                             min_size=1, max_size=30)


@seed(20251222)
@BOUNDED
@given(groups_and_values)
def test_aggregate_matches_numpy_per_group(items: list[tuple[str, int, float]]) -> None:
    rows = [{"method": m, "seed": s, "accuracy": v} for m, s, v in items]
    summary = aggregate(rows, ["method"], ["accuracy"])
    assert [r["method"] for r in summary] == list(dict.fromkeys(m for m, _, _ in items))
    assert sum(r["n"] for r in summary) == len(rows)
    for record in summary:
        values = np.array([v for m, _, v in items if m == record["method"]])
        assert record["n"] == values.size
        assert record["accuracy_mean"] == pytest.approx(values.mean(), abs=1e-9)
        if values.size > 1:
            assert record["accuracy_std"] == pytest.approx(values.std(ddof=1), abs=1e-9)
            assert record["accuracy_std"] >= 0.0
        else:  # undefined for one value: None, so that tables print the mean alone
            assert record["accuracy_std"] is None
        assert min(values) - 1e-9 <= record["accuracy_mean"] <= max(values) + 1e-9


@seed(20251223)
@BOUNDED
@given(st.floats(-100, 100, allow_nan=False), st.integers(2, 6))
def test_aggregate_of_constant_values_has_zero_std(value: float, n: int) -> None:
    [record] = aggregate([{"g": 1, "x": value}] * n, ["g"], ["x"])
    assert record["x_mean"] == pytest.approx(value)
    assert record["x_std"] == pytest.approx(0.0, abs=1e-9)
    assert record["n"] == n


def test_aggregate_groups_by_several_and_nested_columns() -> None:
    rows = [{"config": {"method": "a", "seed": 0}, "tag": "t", "accuracy": 0.9, "extra": None},
            {"config": {"method": "a", "seed": 1}, "tag": "t", "accuracy": 0.7, "extra": None},
            {"config": {"method": "b", "seed": 0}, "tag": "u", "accuracy": 0.5, "extra": 2}]
    summary = aggregate(rows, ["config.method", "tag"], ["accuracy", "extra"])
    assert [(r["config.method"], r["tag"], r["n"]) for r in summary] == [("a", "t", 2),
                                                                       ("b", "u", 1)]
    assert list(summary[0]) == ["config.method", "tag", "accuracy_mean", "accuracy_std",
                                "extra_mean", "extra_std", "n"]
    assert summary[0]["accuracy_mean"] == pytest.approx(0.8)
    assert summary[0]["accuracy_std"] == pytest.approx(math.sqrt(0.02))
    assert summary[0]["extra_mean"] is None and summary[0]["extra_std"] is None
    assert summary[1]["extra_mean"] == 2.0 and summary[1]["extra_std"] is None


def test_aggregate_skips_missing_values_and_groups_missing_keys_under_none() -> None:
    rows = [{"m": "a", "x": 1.0}, {"m": "a", "x": None}, {"m": "a"}, {"x": 4.0}]
    first, second = aggregate(rows, ["m"], ["x"])
    assert (first["m"], first["n"], first["x_mean"], first["x_std"]) == ("a", 3, 1.0, None)
    assert (second["m"], second["n"], second["x_mean"]) == (None, 1, 4.0)


def test_aggregate_of_no_rows_is_empty() -> None:
    assert aggregate([], ["m"], ["x"]) == []


@pytest.mark.parametrize(("by", "values", "argument"), [
    ("method", ["x"], "by"), ([], ["x"], "by"), (["m", "m"], ["x"], "by"), ([1], ["x"], "by"),
    (["m"], "x", "values"), (["m"], ["x", "x"], "values"), (["m"], ["m"], "by and values"),
])
def test_aggregate_rejects_bad_columns_naming_the_argument(by, values, argument) -> None:
    with pytest.raises(ValueError, match=argument):
        aggregate([{"m": "a", "x": 1.0}], by, values)


def test_aggregate_rejects_non_numeric_values_and_bad_rows() -> None:
    with pytest.raises(ValueError, match="values: column 'x'"):
        aggregate([{"m": "a", "x": "high"}], ["m"], ["x"])
    with pytest.raises(ValueError, match="rows"):
        aggregate({"m": "a"}, ["m"], ["x"])


# ---------------------------------------------------------------------------- one-run tables
def test_a_one_run_table_prints_means_without_a_spread() -> None:
    rows = [{"method": m, "seed": 0, "accuracy": a} for m, a in (("a", 0.9), ("b", 0.8))]
    summary = aggregate(rows, ["method"], ["accuracy"])
    cells = [format_mean_std(r["accuracy_mean"], r["accuracy_std"]) for r in summary]
    assert cells == ["0.900", "0.800"]
    table = to_markdown([{"method": r["method"], "accuracy": c}
                         for r, c in zip(summary, cells, strict=True)])
    assert "±" not in table and "0.900" in table


def test_a_spread_is_printed_where_there_are_several_runs() -> None:
    rows = [{"method": "a", "seed": s, "accuracy": a} for s, a in enumerate((0.9, 0.7, 0.8))]
    rows.append({"method": "b", "seed": 0, "accuracy": 0.5})
    first, second = aggregate(rows, ["method"], ["accuracy"])
    assert format_mean_std(first["accuracy_mean"], first["accuracy_std"]) == "0.800 ± 0.100"
    assert format_mean_std(second["accuracy_mean"], second["accuracy_std"]) == "0.500"
    assert format_mean_std(0.5, 0.0, n=1) == "0.500"  # mean_std gives 0.0 for one value
    assert format_mean_std(0.5, 0.0, n=2) == "0.500 ± 0.000"  # a real zero spread
    assert format_mean_std(None, None) == ""


# ---------------------------------------------------------------------------- sweep summary
def sweep_rows() -> list[dict]:
    return [{"key": f"k{i}", "config": {"method": "random", "seed": seed, "lr": 1e-3,
                                        "hidden": [16, 8], "sparsity": 0.5,
                                        "pruning": {"beta": beta, "gamma": 0.0}},
             "achieved_sparsity": 0.5, "accuracy": 0.9 - beta, "compression_ratio": 2.0,
             "seconds": 1.5, "history": [1, 2]}
            for i, (seed, beta) in enumerate((s, b) for b in (0.0, 0.1) for s in (0, 1))]


def test_swept_fields_are_the_config_fields_that_vary() -> None:
    rows = sweep_rows()
    assert swept_fields(rows) == ["seed", "pruning.beta"]
    rows[0]["config"]["hidden"] = [32]
    assert swept_fields(rows) == ["seed", "hidden", "pruning.beta"]
    assert swept_fields(rows[:1]) == [] and swept_fields([]) == []


def test_sweep_summary_shows_the_swept_fields_as_columns() -> None:
    rows = sweep_rows()
    summary = sweep_summary(rows)
    assert [list(r) for r in summary] == [["method", "seed", "pruning.beta",
                                           "achieved sparsity", "accuracy", "compression",
                                           "seconds"]] * 4
    assert [(r["seed"], r["pruning.beta"], r["accuracy"]) for r in summary] == [
        (row["config"]["seed"], row["config"]["pruning"]["beta"], row["accuracy"])
        for row in rows]
    header = to_markdown(summary).splitlines()[0]
    assert header == ("| method | seed | pruning.beta | achieved sparsity | accuracy | "
                      "compression | seconds |")


def test_sweep_summary_of_one_config_and_of_none() -> None:
    [only] = sweep_summary(sweep_rows()[:1])
    assert list(only) == ["method", "achieved sparsity", "accuracy", "compression", "seconds"]
    assert sweep_summary([]) == []


@pytest.mark.parametrize(("rows", "match"), [
    (None, "rows must be an iterable"), ({"config": {}}, "rows must be an iterable"),
    ([{"accuracy": 0.9}], r"rows\[0\] has no 'config'"), ([3], "rows must be dicts"),
], ids=["None", "one-row", "no-config", "not-a-row"])
def test_sweep_summary_rejects_what_is_not_sweep_rows(rows: object, match: str) -> None:
    with pytest.raises(TableError, match=match):
        sweep_summary(rows)


def test_to_markdown_refuses_a_column_no_row_has() -> None:
    rows = [{"a": 1, "history": [1]}]
    with pytest.raises(TableError, match=r"columns: no row has \['b'\]"):
        to_markdown(rows, ["a", "b"])
    with pytest.raises(TableError, match="drop=()"):
        to_markdown(rows, ["history"])
    assert to_markdown(rows, ["history"], drop=()).splitlines()[2] == "| [1] |"
    assert to_markdown([], ["a"]).startswith("| a |")  # no rows: the header alone


# ---------------------------------------------------------------------------- pareto_mask
def brute_force_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """O(n^2) reference: i is dominated when some j is >= on both and > on one."""
    mask = np.ones(x.size, dtype=bool)
    for i in range(x.size):
        for j in range(x.size):
            if x[j] >= x[i] and y[j] >= y[i] and (x[j] > x[i] or y[j] > y[i]):
                mask[i] = False
    return mask


# small integer grids make ties (equal x, equal y, duplicates) frequent
points = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=25) | \
    st.lists(st.tuples(st.floats(-1, 1, allow_nan=False), st.floats(-1, 1, allow_nan=False)),
             max_size=25)


@seed(20251224)
@settings(max_examples=200, deadline=None, derandomize=True)
@given(points)
def test_pareto_mask_matches_brute_force(pairs: list[tuple[float, float]]) -> None:
    x = np.array([p[0] for p in pairs], dtype=float)
    y = np.array([p[1] for p in pairs], dtype=float)
    mask = pareto_mask(x, y)
    assert mask.dtype == bool and mask.shape == x.shape
    np.testing.assert_array_equal(mask, brute_force_front(x, y))
    if pairs:
        assert mask.any()  # a finite set always has a non-dominated point
        best = np.argmax(x + y)  # the maximizer of any positive weighting is on the front
        assert mask[best]


def test_pareto_mask_keeps_equal_points_and_drops_dominated_ones() -> None:
    mask = pareto_mask([0.5, 0.5, 0.4, 0.9, 0.9], [0.9, 0.9, 0.9, 0.1, 0.05])
    assert mask.tolist() == [True, True, False, True, False]
    assert pareto_mask([], []).tolist() == []


@pytest.mark.parametrize(("x", "y", "argument"), [
    ([0.1, 0.2], [0.3], "same length"), ([[0.1]], [0.2], "x must be 1-D"),
    ([0.1], [math.nan], "y must be finite"), (["a"], [0.1], "x must be"),
    ([math.inf], [0.1], "x must be finite"),
])
def test_pareto_mask_rejects_bad_input(x, y, argument) -> None:
    with pytest.raises(ValueError, match=argument):
        pareto_mask(x, y)


# ---------------------------------------------------------------------------- figures
def pareto_summary() -> list[dict]:
    rng = np.random.default_rng(0)
    rows = [{"method": method, "point": f"{target:g}", "seed": s,
             "sparsity": target + 0.01 * rng.standard_normal(),
             "accuracy": 0.95 - slope * target + 0.01 * rng.standard_normal()}
            for method, slope in (("a", 0.1), ("b", 0.3), ("c (unstructured)", 0.05))
            for target in (0.5, 0.8, 0.9) for s in range(3)]
    return aggregate(rows, ["method", "point"], ["sparsity", "accuracy"])


def test_pareto_front_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "pareto.png"
    figure = pareto_front(pareto_summary(), path, dense_accuracy=0.97, title="test",
                          front_groups=["a", "b"])
    assert isinstance(figure, Figure) and figure.axes[0].get_title() == "test"
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_front_draws_one_seed_summaries_with_none_std(tmp_path: Path) -> None:
    summary = [{"method": "a", "sparsity_mean": 0.5, "sparsity_std": None,
                "accuracy_mean": 0.9, "accuracy_std": None, "n": 1}]
    pareto_front(summary, tmp_path / "one.png")
    assert (tmp_path / "one.png").stat().st_size > 1000


def test_pareto_front_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="summary is empty"):
        pareto_front([], tmp_path / "x.png")
    with pytest.raises(ValueError, match="x: .*'density_mean'"):
        pareto_front(pareto_summary(), tmp_path / "x.png", x="density")
    with pytest.raises(ValueError, match="group: .*'family'"):
        pareto_front(pareto_summary(), tmp_path / "x.png", group="family")
    with pytest.raises(ValueError, match="dense_accuracy"):
        pareto_front(pareto_summary(), tmp_path / "x.png", dense_accuracy=math.nan)
    with pytest.raises(ValueError, match="front_groups"):
        pareto_front(pareto_summary(), tmp_path / "x.png", front_groups=["nobody"])
    assert not (tmp_path / "x.png").exists()


def phase_summary() -> list[dict]:
    rows = [{"beta": beta, "gamma": gamma, "seed": s, "sparsity": min(0.99, 3 * gamma + s / 10),
             "accuracy": 0.9 - beta}
            for beta in (0.0, 0.01, 0.1) for gamma in (0.0, 0.03, 0.3) for s in range(2)]
    return aggregate(rows, ["beta", "gamma"], ["sparsity", "accuracy"])


def test_phase_diagram_writes_a_png(tmp_path: Path) -> None:
    phase_diagram(phase_summary(), tmp_path / "phase.png", title="test")
    assert (tmp_path / "phase.png").stat().st_size > 1000
    three = phase_diagram(phase_summary()[:-1], tmp_path / "three.png",
                          values=("sparsity", "accuracy", "sparsity"))  # a missing cell
    assert (tmp_path / "three.png").stat().st_size > 1000
    assert sum(axis.get_visible() and axis.get_images() != [] for axis in three.axes) == 3


def test_phase_diagram_rejects_bad_input(tmp_path: Path) -> None:
    summary = phase_summary()
    with pytest.raises(ValueError, match="two rows for the cell"):
        phase_diagram(summary + summary[:1], tmp_path / "x.png")
    with pytest.raises(ValueError, match="values: .*'loss_mean'"):
        phase_diagram(summary, tmp_path / "x.png", values=("loss",))
    with pytest.raises(ValueError, match="x: .*'eta'"):
        phase_diagram(summary, tmp_path / "x.png", x="eta")
    with pytest.raises(ValueError, match="values must be a sequence"):
        phase_diagram(summary, tmp_path / "x.png", values="sparsity")
    with pytest.raises(ValueError, match="values must name"):
        phase_diagram(summary, tmp_path / "x.png", values=())
    with pytest.raises(ValueError, match="summary must be"):
        phase_diagram({"beta": 0.0}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
