"""The core: job manager, scheduler, coordination. Knows nothing of Textual."""
