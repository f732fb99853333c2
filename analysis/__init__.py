"""Experiments on top of `nets` and `equilibria`: run configurations, sweeps (local processes or
a Dask cluster) returning `RunResult` s, tables (`to_frame`: results as a pandas DataFrame),
figures, the demo and the `pruning-game` command."""

from analysis.runner import RunConfig, RunConfigError, RunResult, run
from analysis.sweeps import load_results, sweep

__all__ = ["RunConfig", "RunConfigError", "RunResult", "load_results", "run", "sweep",
           "to_frame"]


def __getattr__(name: str):  # `to_frame` imports pandas, which a sweep's workers never need
    if name == "to_frame":
        from analysis.tables import to_frame

        return to_frame
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
