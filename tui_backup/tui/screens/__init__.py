"""Screens: the main view, modals (editor, delete, quit, filters, help) and detail views."""
