"""The Textual front end: a view over ``tui_backup.core`` that never runs backups itself."""
