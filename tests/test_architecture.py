"""The package import graph has no cycle, and the layers import one way (docs/design.md, "Layout").

Layers: papers -> analysis -> nets -> equilibria (bench measures nets and equilibria).

The graph is built from the source with `ast`, never by importing: one node per module of
`PACKAGES` (a package is its ``__init__``), one edge per import statement anywhere in the module
-- at module level and inside functions, since a function-level import closes a circle the
moment it runs. How edges are read:

- ``from pkg import name`` where ``pkg/__init__.py`` re-exports ``name`` from one of its own
  submodules (``from pkg.sub import name``) is an edge to ``pkg.sub``, the module that defines
  it, followed through chains of re-exports; a package ``__init__`` re-exporting its own
  submodules is how a package shows its public names, not a circle. A name the ``__init__``
  defines itself, ``import pkg`` and ``from pkg import submodule`` are edges to what they name.
- Imports under ``if TYPE_CHECKING:`` never run: they count for the layer rules, not for
  cycles.
- Imports by string (``importlib.import_module``) are not edges; the only ones from analysis
  into papers are the CLI's ``reproduce`` table (`analysis.cli.STUDIES`), checked separately.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("equilibria", "nets", "analysis", "papers", "bench")
#: What each package may not import (a prefix of a module name).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "equilibria": ("nets", "analysis", "papers", "bench", "torch"),
    "nets": ("analysis", "papers", "bench"),
    "analysis": ("papers", "bench"),
    "papers": ("bench",),
}
#: Cycles outside equilibria found when this test was written (issue 10), for their owners to
#: break; each is listed as the sorted tuple of its modules. Never add an equilibria cycle here.
KNOWN_CYCLES: frozenset[tuple[str, ...]] = frozenset()


@dataclass(frozen=True)
class Import:
    """One import statement: the module holding it, what it names, whether it ever runs."""

    source: str
    target: str
    names: tuple[str, ...]
    type_checking: bool


def module_files() -> dict[str, Path]:
    """Every module of `PACKAGES` by dotted name (``pkg/__init__.py`` is ``pkg``)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, type_checking: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        inside = type_checking or (isinstance(child, ast.If) and _is_type_checking(child.test))
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for grandchild in child.body:
                yield grandchild, True
                yield from _walk(grandchild, True)
            for grandchild in child.orelse:
                yield grandchild, type_checking
                yield from _walk(grandchild, type_checking)
            continue
        yield child, inside
        yield from _walk(child, inside)


def imports(name: str, path: Path) -> list[Import]:
    """The import statements of module `name` (absolute names; relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node, type_checking in _walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, (), type_checking) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join([*base, target] if target else base)
            found.append(Import(name, target, tuple(a.name for a in node.names), type_checking))
    return found


def _reexports(modules: dict[str, Path],
               statements: dict[str, list[Import]]) -> dict[tuple[str, str], str]:
    """(package, name) -> the submodule of that package a package ``__init__`` takes it from."""
    table = {}
    for name, path in modules.items():
        if path.name != "__init__.py":
            continue
        for statement in statements[name]:
            if statement.target.startswith(name + ".") and not statement.type_checking:
                for imported in statement.names:
                    table[(name, imported)] = statement.target
    return table


def _defining_module(package: str, name: str, reexports: dict[tuple[str, str], str]) -> str:
    seen = set()
    while (package, name) in reexports and (package, name) not in seen:
        seen.add((package, name))
        package = reexports[(package, name)]
    return package


def import_graph(*, runtime_only: bool) -> nx.DiGraph:
    """Module -> module edges inside the project (see the module docstring for the rules)."""
    modules = module_files()
    statements = {name: imports(name, path) for name, path in modules.items()}
    reexports = _reexports(modules, statements)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, found in statements.items():
        for statement in found:
            if runtime_only and statement.type_checking:
                continue
            for target in _targets(statement, modules, reexports):
                if target != name:
                    graph.add_edge(name, target)
    return graph


def _targets(statement: Import, modules: dict[str, Path],
             reexports: dict[tuple[str, str], str]) -> Iterator[str]:
    target = statement.target
    if not statement.names:  # import a.b.c
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target:
            yield target
        return
    for imported in statement.names:
        if f"{target}.{imported}" in modules:
            yield f"{target}.{imported}"
        elif target in modules:
            yield _defining_module(target, imported, reexports)


def external_imports() -> dict[str, set[str]]:
    """The top-level names (project or third party) each project module imports."""
    return {name: {statement.target.split(".")[0] for statement in imports(name, path)}
            for name, path in module_files().items()}


def project_cycles() -> set[tuple[str, ...]]:
    """Every elementary cycle of the runtime import graph, as the sorted tuple of its modules."""
    return {tuple(sorted(cycle)) for cycle in nx.simple_cycles(import_graph(runtime_only=True))}


# ---------------------------------------------------------------------------- tests
def test_the_graph_sees_the_whole_project():
    graph = import_graph(runtime_only=True)
    assert {"equilibria", "equilibria.certify", "equilibria.io", "nets", "analysis.cli",
            "papers.beyond.certificates", "equilibria.solvers.components"} <= set(graph)
    # the rules above at work: the study takes `certify` from where it is defined, and the
    # component solver no longer closes a circle with equilibria.graphs
    assert graph.has_edge("papers.beyond.certificates", "equilibria.certify")
    assert graph.has_edge("equilibria.solvers.components", "equilibria.graphs")
    assert not graph.has_edge("equilibria.graphs", "equilibria.solvers")


def test_equilibria_has_no_import_cycle():
    graph = import_graph(runtime_only=True)
    inside = graph.subgraph(n for n in graph if n.split(".")[0] == "equilibria")
    assert nx.is_directed_acyclic_graph(inside), sorted(nx.simple_cycles(inside))
    assert not [cycle for cycle in project_cycles() if any(m.startswith("equilibria")
                                                            for m in cycle)]


@pytest.mark.xfail(bool(KNOWN_CYCLES), strict=True,
                   reason="cycles outside equilibria reported to their owners (KNOWN_CYCLES)")
def test_the_project_has_no_import_cycle():
    assert project_cycles() == set()


def test_known_cycles_are_exactly_the_cycles_outside_equilibria():
    assert project_cycles() == set(KNOWN_CYCLES)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_rules(package):
    """Each layer imports only the layers below it (TYPE_CHECKING imports too)."""
    graph = import_graph(runtime_only=False)
    broken = sorted((source, target) for source, target in graph.edges
                    if source.split(".")[0] == package
                    and target.split(".")[0] in FORBIDDEN[package])
    assert broken == []
    outside = {name: found for name, found in external_imports().items()
               if name.split(".")[0] == package}
    third_party = sorted((name, top) for name, found in outside.items() for top in found
                         if top in FORBIDDEN[package] and top not in PACKAGES)
    assert third_party == []


def test_analysis_reaches_papers_only_through_the_reproduce_table():
    """The CLI runs studies by module name (`analysis.cli.STUDIES`); those names exist, and no
    other string in analysis names a papers module."""
    from analysis.cli import STUDIES

    modules = module_files()
    assert set(STUDIES.values()) <= set(modules)
    named = set()
    for name, path in modules.items():
        if name.split(".")[0] != "analysis":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith("papers.") and " " not in node.value:
                named.add((name, node.value))
    assert {value for _, value in named} <= set(STUDIES.values())
    assert {name for name, _ in named} <= {"analysis.cli"}
