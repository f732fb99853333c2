"""Where a run computes: the one resolver of the ``device`` every path of `nets` takes.

Every training, statistics, pruning and evaluation path takes a ``device``: the
`nets.loop.TrainingConfig` field (so `nets.PruningConfig` and `nets.baselines.Budget` have it
too), `nets.stats.collect`, `nets.evaluate.evaluate`, `nets.apply.load_model`. Its values are
the names in `DEVICES`:

- ``"cpu"`` (the default everywhere, so results are those of a CPU-only run);
- ``"cuda"``: the current CUDA device (choose another GPU with ``CUDA_VISIBLE_DEVICES``);
- ``"mps"``: Apple's Metal backend;
- ``"auto"``: CUDA if available, else MPS if available, else the CPU.

`resolve_device` turns a name (or a ``torch.device``) into the ``torch.device`` to use, and
refuses an unknown or unavailable one with one line naming ``device`` and the choices that
work on this machine. `check_device_name` checks the spelling only, without asking torch
what the machine has, so a configuration written on a GPU machine still reads on a CPU one;
availability is checked when a run starts (and by the command lines when they parse
``--device``).

Results on a GPU are not bitwise those on the CPU (other kernels, other summation orders); the
game side (`equilibria`, numpy) always receives host arrays, so only the torch computations
move. torch's own ``torch.accelerator`` API is not used for ``"auto"`` because it also
reports backends (XPU, custom PrivateUse1 devices) that the rest of the project has not been
run on; the order here is the documented one.
"""

from __future__ import annotations

from typing import Any

import torch

from nets.checks import PruningError

__all__ = ["DEVICES", "available_devices", "check_device_name", "resolve_device"]

#: The ``device`` names every path accepts (`resolve_device`).
DEVICES = ("cpu", "cuda", "mps", "auto")


def _cuda_available() -> bool:
    return bool(torch.cuda.is_available())


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and bool(backend.is_available())


def available_devices() -> tuple[str, ...]:
    """The names of `DEVICES` that `resolve_device` accepts on this machine, in that order
    (``"cpu"`` and ``"auto"`` always; ``"cuda"`` and ``"mps"`` when torch finds them)."""
    present = {"cpu": True, "cuda": _cuda_available(), "mps": _mps_available(), "auto": True}
    return tuple(name for name in DEVICES if present[name])


def check_device_name(device: Any, name: str = "device") -> str:
    """`device` if it is one of `DEVICES`, else a one-line `PruningError` naming `name`.

    Only the spelling is checked (whether this machine has the device is `resolve_device`'s
    question), so a stored configuration naming ``"cuda"`` reads anywhere.
    """
    if not isinstance(device, str) or device not in DEVICES:
        raise PruningError(f"{name} must be one of {DEVICES}; got {device!r}")
    return device


def _unavailable(kind: str, name: str) -> PruningError:
    fix = {"cuda": "torch.cuda.is_available() is False: a CPU-only torch build or no "
                   "visible GPU",
           "mps": "torch.backends.mps.is_available() is False: not an Apple-silicon Mac or "
                  "an older macOS"}[kind]
    return PruningError(f"{name}={kind!r} is not available here ({fix}); available: "
                        f"{available_devices()}")


def resolve_device(device: str | torch.device = "cpu", *, name: str = "device"
                   ) -> torch.device:
    """The ``torch.device`` a run uses for `device`.

    Parameters
    ----------
    device : {"cpu", "cuda", "mps", "auto"} or torch.device, default "cpu"
        ``"auto"`` is CUDA if available, else MPS if available, else the CPU. A
        ``torch.device`` of type cpu, cuda or mps is accepted as it is (a CUDA index must
        exist).
    name : str, default "device"
        The argument's name, for the message.

    Returns
    -------
    torch.device

    Raises
    ------
    nets.checks.PruningError
        (a ValueError) For an unknown name, or a device this machine does not have; one line
        naming `name` and the choices available here.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        kind = device.type
        if kind not in ("cpu", "cuda", "mps"):
            raise PruningError(f"{name} must be one of {DEVICES} or a torch.device of type "
                               f"cpu, cuda or mps; got {device!r}")
        if kind == "cuda" and _cuda_available() and device.index is not None \
                and device.index >= torch.cuda.device_count():
            raise PruningError(f"{name}={str(device)!r}: this machine has "
                               f"{torch.cuda.device_count()} CUDA devices; choose an index "
                               "below that")
        resolved = device
    else:
        kind = check_device_name(device, name)
        if kind == "auto":
            kind = "cuda" if _cuda_available() else "mps" if _mps_available() else "cpu"
        resolved = torch.device(kind)
    if (kind == "cuda" and not _cuda_available()) or (kind == "mps" and not _mps_available()):
        raise _unavailable(kind, name)
    return resolved
