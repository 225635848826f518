"""Process exit codes, the same for every command (docs/cli.md)."""

OK = 0
FAILED = 1
"""The operation was attempted and failed."""
USAGE = 2
"""Bad usage or invalid input; nothing was written."""
ALREADY_RUNNING = 3
INTERRUPTED = 130
"""Stopped by Ctrl-C (SIGINT), cleanly."""
