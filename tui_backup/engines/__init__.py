"""Backup engines. They only emit events; see :mod:`tui_backup.engines.api`."""
