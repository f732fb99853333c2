"""The committed lock (requirements/lock.txt) pins every dependency inside pyproject's ranges."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
ROOT = Path(__file__).resolve().parents[1]


def _lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert match, f"lock line is not an exact pin: {line!r}"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        listed.extend(extra)
    return [Requirement(text) for text in listed]


@pytest.mark.parametrize("requirement", _requirements(), ids=str)
def test_every_declared_dependency_is_pinned_inside_its_range(requirement: Requirement) -> None:
    pins = _lock()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement.name} is in pyproject.toml but not in the lock: make lock"
    assert requirement.specifier.contains(pins[name], prereleases=True), (
        f"the lock pins {requirement.name}=={pins[name]}, outside pyproject's {requirement}")


def test_the_lock_pins_the_cpu_torch_the_makefile_installs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    torch = re.search(r"^TORCH := torch==(\S+)$", makefile, re.MULTILINE)
    assert torch, "the Makefile no longer names the torch it installs first"
    assert _lock()["torch"] == torch[1]


def test_the_lock_pins_the_build_tools_the_install_uses() -> None:
    pins = _lock()
    for tool in ("pip", "setuptools", "wheel"):
        assert tool in pins, f"{tool} is not pinned; make lock records it with --all"
