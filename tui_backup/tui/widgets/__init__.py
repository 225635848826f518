"""Reusable widgets of the main screen and the detail screens."""
