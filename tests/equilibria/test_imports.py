"""The equilibria core never imports torch, nets or analysis (docs/design.md, Layout)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_equilibria_never_imports_torch():
    code = ("import sys, equilibria, equilibria.finite, equilibria.graphs, equilibria.spec, "
            "equilibria.certify, equilibria.io, equilibria.solvers.components, equilibria.testing; "
            "bad = [m for m in ('torch', 'nets', 'analysis') if m in sys.modules]; "
            "print(','.join(bad))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True)
    assert completed.stdout.strip() == ""
