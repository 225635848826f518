"""The import graph as the architecture draws it (docs/architecture.md; issue 11).

import-linter checks the contracts in pyproject.toml (layers, engines that
never touch the store, engines independent of each other, front ends that
reach engines only through the core) on the real import graph, lazy imports
and ``TYPE_CHECKING`` imports included. The cycle test finds circles between
modules of one package (``core``, ``engines``, ``tui``...), which layer
contracts cannot see: a circle there is how an object graph quietly undoes a
clean package graph.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "tui_backup.model",
    "tui_backup.store",
    "tui_backup.engines",
    "tui_backup.core",
    "tui_backup.cli",
    "tui_backup.tui",
)


def test_the_import_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert lint_imports(no_cache=True, no_logo=True) == 0


def _cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """Strongly connected groups of more than one module inside ``package`` (Tarjan)."""
    inside = {m for m in graph.modules if m == package or m.startswith(package + ".")}
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & inside) for m in sorted(inside)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(inside):
        if node not in index:
            visit(node)
    return groups


@pytest.mark.parametrize("package", PACKAGES)
def test_no_circle_of_imports_inside_a_package(package: str) -> None:
    graph = grimp.build_graph("tui_backup", cache_dir=None)
    cycles = _cycles(graph, package)
    assert not cycles, f"import circles in {package}: {cycles}"


def test_the_checks_see_lazy_imports() -> None:
    """A function-level import counts (the layer rules would be hollow otherwise)."""
    graph = grimp.build_graph("tui_backup", cache_dir=None)
    # cli/entry.py imports cli.main only inside main(), to keep --version fast.
    assert graph.direct_import_exists(
        importer="tui_backup.cli.entry", imported="tui_backup.cli.main"
    )


def test_a_circle_is_found() -> None:
    graph = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph, "p") == [["p.a", "p.b", "p.c"]]
