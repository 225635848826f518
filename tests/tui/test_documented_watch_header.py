"""The header's watch indicator (docs/usage.md): green ``● live``, yellow ``● polling``,
red ``● home unreachable`` (with an error toast saying why), and back.

What the watcher reports is tests/core/test_documented_watch.py; here, what the
screen shows for each report the core sends.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Label
from tui_fixtures import AppFactory
from tui_helpers import until

from tui_backup.store.paths import Home
from tui_backup.tui.messages import WatchChanged


def _header_text(app) -> str:  # type: ignore[no-untyped-def]
    main = app.main_screen
    return " ".join(str(label.render()) for label in main.header.query(Label))


async def test_the_header_shows_live_polling_and_home_unreachable(
    seeded: Home, make_app: AppFactory, tmp_path: Path
) -> None:
    notes: list[str] = []
    app = make_app(seeded)
    real_notify = app.notify

    def notify(message: str, **kwargs: object) -> None:
        notes.append(str(message))
        real_notify(message, **kwargs)  # type: ignore[arg-type]

    app.notify = notify  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await until(pilot, lambda: app.main_screen is not None)
        for mode, shown in (("live", "● live"), ("polling", "● polling")):
            app.post_message(WatchChanged(mode, ""))
            await until(pilot, lambda shown=shown: shown in _header_text(app))
        assert not [n for n in notes if "unreachable" in n]
        app.post_message(WatchChanged("unreachable", f"cannot read {seeded.root}: gone"))
        await until(pilot, lambda: "● home unreachable" in _header_text(app))
        said = [n for n in notes if "unreachable" in n]
        assert said == [f"The home directory is unreachable: cannot read {seeded.root}: gone"]
        app.post_message(WatchChanged("polling", "the home is readable again"))
        await until(pilot, lambda: "● polling" in _header_text(app))
        assert "unreachable" not in _header_text(app)
