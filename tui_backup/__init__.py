"""tui-backup: a keyboard-driven terminal backup manager."""

__version__ = "0.1.0"
