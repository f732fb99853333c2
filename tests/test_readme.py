"""The README's examples run as written and print what they claim."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    first_block = re.search(r"```\n(.*?)```", text, flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ["make demo", "make test"]


def test_readme_equilibria_example_runs_and_certifies():
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(_python_blocks()[0], {})  # noqa: S102 - the README is ours
    first = output.getvalue().splitlines()[0]
    assert first == "True True"


def test_readme_nets_example_prunes_and_keeps_accuracy():
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(_python_blocks()[1], {})  # noqa: S102
    accuracy, below_epsilon = map(float, output.getvalue().split())
    assert 0.0 < below_epsilon < 1.0  # it prunes, and does not remove everything
    assert accuracy > 0.5  # of the pruned model; chance on the 10 digits is 0.1


def test_readme_nets_example_uses_a_preset_that_exists():
    from nets import PRESETS

    names = re.findall(r'preset\("([a-z_0-9]+)"\)', README.read_text())
    assert names and set(names) <= set(PRESETS)
