"""Persistence: locked atomic YAML files and the SQLite history; no UI here."""
