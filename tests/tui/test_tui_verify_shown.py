"""What a verify checked, as the details screen says it (issue 10 item 11).

restic's check reads pack files and cannot say how many bytes: the TUI must
say "N packs" and "bytes unknown", never "1 file" or "0 B".
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tui_fixtures import FIXED_NOW, AppFactory
from tui_helpers import until

from tui_backup.model.state import LastVerify
from tui_backup.store.paths import Home
from tui_backup.tui.screens.details import DetailsScreen, verify_line

RESTIC = LastVerify(
    time=FIXED_NOW - timedelta(minutes=5),
    outcome="ok",
    snapshots=1,
    files=12,
    bytes=0,
    method="restic check",
    unit="pack",
    bytes_known=False,
)


def test_a_restic_check_reads_packs_of_unknown_size() -> None:
    line = verify_line(RESTIC, FIXED_NOW)
    assert line == "last verify 5m ago: ok, 1 snapshot, 12 packs read, bytes unknown (restic check)"
    snapshot = replace(
        RESTIC,
        files=1204,
        bytes=12_400_000,
        method="manifest",
        snapshots=3,
        unit="file",
        bytes_known=True,
    )
    assert verify_line(snapshot, FIXED_NOW) == (
        "last verify 5m ago: ok, 3 snapshots, 1204 files read, 12.4 MB (manifest)"
    )


async def test_the_details_screen_shows_the_last_verify(seeded: Home, make_app: AppFactory) -> None:
    app = make_app(seeded)
    state = app.manager.states.read("docs")
    assert state is not None
    app.manager.states.write(replace(state, last_verify=RESTIC))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        main = app.main_screen
        assert main is not None
        await until(pilot, lambda: main.jobs.selected_name == "docs")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailsScreen))
        text = str(app.screen.query_one("#details-summary").render())
        assert "12 packs read, bytes unknown" in text, text
        assert "1 file" not in text and "0 B" not in text
