"""Each layer imports only the layers below it (DESIGN.md, "Layers").

Checked on the source, statically, so a lazy import inside a function counts
as much as one at the top: the front ends (``cli``, ``tui``) talk only to the
core; an engine only emits events and never touches the store or the core.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tui_backup

PACKAGE = Path(tui_backup.__file__).parent

ALLOWED: dict[str, set[str]] = {
    "model": {"model"},
    "store": {"model", "store"},
    "engines": {"model", "engines"},
    "core": {"model", "store", "engines", "core"},
    "cli": {"model", "core", "cli", "tui"},
    "tui": {"model", "core", "tui"},
}
TOP_LEVEL_OK = {"tui_backup", "tui_backup.__main__"}


def _layer_imports(path: Path) -> set[str]:
    """The ``tui_backup.<layer>`` names a module imports (absolute or relative)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                pytest.fail(f"{path}: use absolute imports (found a relative import)")
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "tui_backup" and len(parts) > 1 and parts[1] in ALLOWED:
                found.add(parts[1])
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for layer in ALLOWED:
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            out.append((layer, path))
    return out


@pytest.mark.parametrize(
    ("layer", "path"), _modules(), ids=lambda v: str(v).split("tui_backup/")[-1]
)
def test_layer_imports_only_what_it_may(layer: str, path: Path) -> None:
    crossed = _layer_imports(path) - ALLOWED[layer]
    assert not crossed, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(crossed)}"


def test_every_layer_has_modules() -> None:
    layers = {layer for layer, _ in _modules()}
    assert layers == set(ALLOWED)
