"""Every exception (and warning) class the project defines survives a trip through a process
pool: a worker raising it gives the parent the same type, message and attributes, so one
failing run can never break a pool (``BrokenProcessPool``) and hide its message.

The classes are discovered by importing every module of the four packages, so a new class is
covered without editing this file.
"""

from __future__ import annotations

import importlib
import inspect
import multiprocessing
import pkgutil
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

PACKAGES = ("equilibria", "nets", "analysis", "papers")
MESSAGE = "a representative message: lr=0.5 is too high; lower it"


def project_exception_classes() -> dict[str, type[BaseException]]:
    """Every BaseException subclass defined in a module of `PACKAGES`, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names = [package_name] + [info.name for info in pkgutil.walk_packages(
            package.__path__, prefix=f"{package_name}.")]
        for name in names:
            try:
                module = importlib.import_module(name)
            except ImportError as error:  # an optional extra (e.g. dask) that is not here
                if name.split(".")[0] in str(error):
                    raise
                continue
            for _, obj in inspect.getmembers(module, inspect.isclass):
                if issubclass(obj, BaseException) and obj.__module__ == name:
                    found[f"{name}.{obj.__qualname__}"] = obj
    return found


def example_attributes(cls: type[BaseException]) -> dict[str, Any]:
    """Keyword arguments that fill a class's attributes with representative values."""
    from analysis.sweeps import RunError, SweepError
    from nets.divergence import TrainingDivergedError
    from nets.training import EpochRecord

    if issubclass(cls, TrainingDivergedError):
        record = EpochRecord(epoch=1, train_loss=2.3, test_accuracy=0.5, test_loss=2.1,
                             below_epsilon=0.25, mean_participation=0.75, active_per_layer=(3, 2),
                             nash_gap=0.01, seconds=0.1)
        return {"history": (record,), "lr": 0.5, "epoch": 1, "step": 3}
    if issubclass(cls, SweepError):
        return {"failures": [{"key": "abc", "type": "ValueError", "message": "m"}], "total": 4}
    if issubclass(cls, RunError):
        return {"error_type": "module.Unpicklable", "traceback_text": "Traceback ...\n"}
    return {}


def make(cls: type[BaseException]) -> BaseException:
    return cls(MESSAGE, **example_attributes(cls))


def raise_it(error: BaseException) -> None:
    """The worker: raise what it was sent."""
    raise error


def state(error: BaseException) -> tuple:
    return type(error), str(error), error.args, vars(error)


CLASSES = project_exception_classes()


def test_discovery_finds_the_known_classes():
    names = {name.rsplit(".", 1)[-1] for name in CLASSES}
    assert {"InvalidGameError", "InvalidProfileError", "UnknownMethodError",
            "DegenerateGameWarning", "TrainingDivergedError", "PruningError",
            "DatasetNotFoundError", "DatasetFormatError", "CommandError", "SweepError",
            "SweepLockedError", "RunError"} <= names


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("spawn")) as executor:
        yield executor


@pytest.mark.parametrize("cls", list(CLASSES.values()), ids=list(CLASSES))
def test_each_exception_comes_back_from_a_process_pool_unchanged(cls, pool):
    error = make(cls)
    assert str(error) == MESSAGE
    back = pool.submit(raise_it, error).exception(timeout=120)
    assert state(back) == state(error)
    for name, value in example_attributes(cls).items():
        assert getattr(back, name) == (tuple(value) if name == "history" else value)
