"""The home directory and job-file text, as the front ends (CLI, TUI) see them.

The front ends talk only to the core (docs/architecture.md, "Layers"); these names are
the store's, offered here so that a CLI or TUI module never imports the store.
"""

from __future__ import annotations

from tui_backup.store.paths import HOME_ENV, Home
from tui_backup.store.yamlio import dumps as yaml_text

__all__ = ["HOME_ENV", "Home", "yaml_text"]
