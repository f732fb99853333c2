"""Bad input to the API a newcomer touches first: presets, evaluate, plots and tables.

Each case calls one public function with one wrong argument and asserts the project's typed
error, a one-line message, and the argument's name in it (issue 9, "no input breaks the
tools").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch.utils.data import TensorDataset

from analysis import plots, tables
from analysis.plots import PlotError
from analysis.tables import TableError
from equilibria.errors import UnknownMethodError
from nets import data, evaluate, models, preset
from nets.evaluate import EvaluationError, accuracy_and_loss


def _model() -> torch.nn.Sequential:
    return models.mlp(4, (3,), 2, seed=0)


def _dataset() -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(6, 4, generator=generator), torch.tensor([0, 1] * 3))


def _bundle() -> data.DataBundle:
    return data.load("digits", limit=20)


RECORDS = [{"epoch": 1, "test_accuracy": 0.5, "below_epsilon": 0.1, "mean_participation": 0.9,
            "active_per_layer": [3]}]
SUMMARY = [{"method": "a", "beta": 0.0, "gamma": 0.0, "sparsity_mean": 0.5, "sparsity_std": None,
            "accuracy_mean": 0.9, "accuracy_std": None, "n": 1}]
ROWS = [{"config": {"method": "random", "seed": 0}, "accuracy": 0.9}]


def _one_axes() -> Any:
    return Figure().subplots()


#: (id, call, error type, a regex the message must match: it names the argument).
CASES: list[tuple[str, Callable[[Path], Any], type[Exception], str]] = [
    # presets
    ("preset-misspelt", lambda p: preset("Demo"), UnknownMethodError, r"^preset name .*demo"),
    ("preset-dash", lambda p: preset("extreme-beta"), UnknownMethodError, r"^preset name"),
    ("preset-None", lambda p: preset(None), UnknownMethodError, r"^preset name"),
    # evaluate / accuracy_and_loss: the data argument
    ("evaluate-list-of-numbers", lambda p: evaluate(_model(), [1, 2, 3]), EvaluationError,
     r"^loader must yield"),
    ("evaluate-None", lambda p: evaluate(_model(), None), EvaluationError, r"^loader must be"),
    ("evaluate-model-as-data", lambda p: evaluate(_model(), _model()), EvaluationError,
     r"^loader must be .*the model"),
    ("evaluate-bundle", lambda p: evaluate(_model(), _bundle()), EvaluationError,
     r"^loader must be .*bundle\.test"),
    ("evaluate-list-of-examples", lambda p: evaluate(_model(), [(torch.ones(4), 1)]),
     EvaluationError, r"^loader must yield .*Dataset"),
    ("evaluate-empty-list", lambda p: evaluate(_model(), []), EvaluationError,
     r"^loader yielded no examples"),
    ("evaluate-tensor", lambda p: evaluate(_model(), torch.ones(3, 4)), EvaluationError,
     r"^loader must be"),
    ("evaluate-latency-batch", lambda p: evaluate(_model(), _dataset(), latency_batch=0),
     EvaluationError, r"^latency_batch"),
    ("accuracy-and-loss-str", lambda p: accuracy_and_loss(_model(), "digits"),
     EvaluationError, r"^loader must be"),
    ("accuracy-and-loss-dict", lambda p: accuracy_and_loss(_model(), {"x": _dataset()}),
     EvaluationError, r"^loader must be"),
    # plots (each given a path: nothing may be written)
    ("pareto-empty", lambda p: plots.pareto_front([], p / "f.png"), PlotError,
     r"^summary is empty"),
    ("pareto-unknown-column", lambda p: plots.pareto_front(SUMMARY, p / "f.png", x="density"),
     PlotError, r"^x: .*'density_mean'"),
    ("pareto-ax-str", lambda p: plots.pareto_front(SUMMARY, p / "f.png", ax="axes"),
     PlotError, r"^ax must"),
    ("pareto-ax-figure", lambda p: plots.pareto_front(SUMMARY, p / "f.png", ax=Figure()),
     PlotError, r"^ax must be a matplotlib Axes"),
    ("dynamics-empty", lambda p: plots.training_dynamics({}, p / "f.png"), PlotError,
     r"^histories must"),
    ("dynamics-missing-fields", lambda p: plots.training_dynamics({"run": [{"epoch": 1}]},
                                                                  p / "f.png"),
     PlotError, r"^histories\['run'\]: .*'below_epsilon'"),
    ("dynamics-one-ax-for-four", lambda p: plots.training_dynamics(
        {"run": RECORDS}, p / "f.png", ax=_one_axes()), PlotError,
     r"^ax: this figure has 4 panels"),
    ("histogram-empty", lambda p: plots.participation_histogram({}, 0.01, p / "f.png"),
     PlotError, r"^participations must"),
    ("histogram-nan", lambda p: plots.participation_histogram({"a": [0.1, math.nan]}, 0.01,
                                                              p / "f.png"),
     PlotError, r"^participations\['a'\]"),
    ("histogram-epsilon-str", lambda p: plots.participation_histogram({"a": [0.1]}, "0.01",
                                                                      p / "f.png"),
     PlotError, r"^epsilon"),
    ("histogram-bins-zero", lambda p: plots.participation_histogram({"a": [0.1]}, 0.01,
                                                                    p / "f.png", bins=0),
     PlotError, r"^bins"),
    ("phase-values-str", lambda p: plots.phase_diagram(SUMMARY, p / "f.png",
                                                       values="sparsity"),
     PlotError, r"^values must be a sequence"),
    ("convergence-empty", lambda p: plots.solver_convergence({}, p / "f.png"), PlotError,
     r"^results must"),
    ("convergence-tol-bool", lambda p: plots.solver_convergence({"a": [1.0]}, p / "f.png",
                                                                tol=True),
     PlotError, r"^tol"),
    ("spectra-nan", lambda p: plots.stability_spectra({"a": [np.nan]}, p / "f.png"),
     PlotError, r"^spectra\['a'\]"),
    # tables
    ("markdown-None", lambda p: tables.to_markdown(None), TableError, r"^rows must be"),
    ("markdown-columns-str", lambda p: tables.to_markdown(ROWS, "accuracy"), TableError,
     r"^columns must be a sequence"),
    ("markdown-unknown-column", lambda p: tables.to_markdown(ROWS, ["acuracy"]), TableError,
     r"^columns: no row has \['acuracy'\]"),
    ("csv-one-row", lambda p: tables.to_csv({"a": 1}, p / "t.csv"), TableError,
     r"^rows must be an iterable"),
    ("aggregate-by-str", lambda p: tables.aggregate(ROWS, "config.method", ["accuracy"]),
     TableError, r"^by must be a sequence"),
    ("aggregate-text-value", lambda p: tables.aggregate([{"m": "a", "x": "high"}], ["m"],
                                                        ["x"]),
     TableError, r"^values: column 'x'"),
    ("sweep-summary-no-config", lambda p: tables.sweep_summary([{"accuracy": 0.9}]),
     TableError, r"^rows\[0\] has no 'config'"),
    ("sweep-summary-None", lambda p: tables.sweep_summary(None), TableError, r"^rows must be"),
    ("swept-fields-str", lambda p: tables.swept_fields("runs"), TableError, r"^rows must be"),
    ("pareto-mask-lengths", lambda p: tables.pareto_mask([1.0, 2.0], [1.0]), TableError,
     r"^x and y must have the same length"),
    ("pareto-mask-nan", lambda p: tables.pareto_mask([math.nan], [1.0]), TableError,
     r"^x must be finite"),
]


@pytest.mark.parametrize(("call", "error", "match"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_api_input_raises_a_typed_one_line_error_naming_the_argument(
        call: Callable[[Path], Any], error: type[Exception], match: str,
        tmp_path: Path) -> None:
    with pytest.raises(error, match=match) as info:
        call(tmp_path)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    assert type(info.value).__module__.split(".")[0] in ("equilibria", "nets", "analysis")
    assert list(tmp_path.iterdir()) == []  # nothing written on the way to the error
