"""The headless layers never import Textual or rich (DESIGN.md principle 1).

In the style of harlequin's ``tests/unit_tests/test_import_hygiene.py``: each
module is imported in a fresh interpreter, so nothing another test imported
can hide an import, and each module's own imports are seen.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import tui_backup

HEADLESS = ("tui_backup.model", "tui_backup.store", "tui_backup.engines", "tui_backup.core")
FORBIDDEN = ("textual", "rich")


def headless_modules() -> list[str]:
    """Every package named in HEADLESS and every module found under it."""
    found: list[str] = []
    for info in pkgutil.walk_packages(tui_backup.__path__, prefix="tui_backup."):
        if info.name.startswith(HEADLESS) or info.name in HEADLESS:
            found.append(info.name)
    return sorted(set(found) | set(HEADLESS))


PROBE = """
import importlib, json, sys
failed = {}
for name in sys.argv[1:]:
    importlib.import_module(name)
    loaded = [m for m in %r if m in sys.modules]
    if loaded:
        failed[name] = loaded
        break
print(json.dumps(failed))
"""


def probe(modules: list[str]) -> dict[str, list[str]]:
    """Import ``modules`` in order in a fresh interpreter; the first that loads a
    forbidden package is reported with what it loaded."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE % (FORBIDDEN,), *modules],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_walk_finds_the_layers() -> None:
    modules = headless_modules()
    assert "tui_backup.store.jobs" in modules
    assert "tui_backup.model.job" in modules
    assert "tui_backup.core.manager" in modules
    assert not any(m.startswith(("tui_backup.tui", "tui_backup.cli")) for m in modules)


def test_the_probe_can_fail() -> None:
    assert probe(["tui_backup.model", "rich.console"]) == {"rich.console": ["rich"]}


@pytest.mark.parametrize("layer", HEADLESS)
def test_layer_does_not_import_textual_or_rich(layer: str) -> None:
    """One fresh interpreter per layer (not per module) keeps this fast; the first
    module whose import pulls in a forbidden package is named."""
    modules = [m for m in headless_modules() if m == layer or m.startswith(layer + ".")]
    assert modules
    assert probe(modules) == {}
