"""Pure pieces of the TUI: formatting, card cells, themes, the editor's form mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.style import Style
from tui_fixtures import FIXED_NOW

from tui_backup.core.views import JobView
from tui_backup.model.job import parse_job
from tui_backup.model.progress import Progress
from tui_backup.model.state import JobState
from tui_backup.model.status import Status
from tui_backup.tui.formatting import human_bytes, human_duration, shorten_path
from tui_backup.tui.job_form import FormValues, from_spec, split_commands, to_mapping, widget_for
from tui_backup.tui.themes import load_themes, next_theme, parse_theme
from tui_backup.tui.widgets.job_cells import status_cell, widths_for
from tui_backup.tui.widgets.job_table import matches


def test_human_units() -> None:
    assert human_bytes(0) == "0 B"
    assert human_bytes(1_234_000) == "1.2 MB"
    assert human_duration(3) == "3s"
    assert human_duration(245) == "4m 05s"
    assert human_duration(None) == "—"


@pytest.mark.parametrize("width", [8, 12, 20, 40])
def test_shorten_path_fits_and_keeps_the_end(width: int) -> None:
    out = shorten_path("/srv/projects/site/static/images", width)
    assert len(out) <= width
    assert out.endswith("images") or width < 10


def _view(status: Status, progress: Progress | None = None) -> JobView:
    spec = parse_job({"name": "web", "sources": ["/srv/www"], "destination": "/bk/web"})
    return JobView(spec, JobState("web", status, progress=progress))


def test_running_card_shows_bar_and_counters() -> None:
    progress = Progress("copy", 300, 120, 9_800_000, 4_100_000, rate=2e6, eta_seconds=12)
    text = status_cell(_view(Status.RUNNING, progress), 30, FIXED_NOW, lambda _: Style())
    first, second = text.plain.split("\n")
    assert first.startswith("running") and first.endswith("41%")
    assert len(first) <= 30
    assert "120/300 files" in second and "4.1/9.8 MB" in second


def test_widths_use_the_whole_row() -> None:
    w = widths_for(72)
    assert w.job + w.status + w.when == 72


def test_filter_matches_name_and_status() -> None:
    view = _view(Status.FAILED)
    assert matches(view, "failed")
    assert matches(view, "we failed")
    assert not matches(view, "running")
    assert not matches(view, "photos")
    assert matches(view, "fail")  # a status typed in part already narrows the list
    assert matches(view, "we fa")
    assert not matches(view, "run")


def test_builtin_themes_load_and_cycle() -> None:
    loaded = load_themes(None)
    assert loaded.problems == ()
    assert loaded.names[0] == "backup-dark"
    assert {"backup-dark", "backup-light", "backup-contrast"} <= set(loaded.names)
    assert next_theme(loaded.names, loaded.names[-1]) == "backup-dark"


def test_bad_user_theme_is_reported_not_applied(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\nprimary: '#zzz'\nbogus: 1\n")
    (tmp_path / "notyaml.yaml").write_text("name: [unclosed\n")
    (tmp_path / "mine.yaml").write_text("name: mine\nprimary: '#336699'\n")
    loaded = load_themes(tmp_path)
    assert "mine" in loaded.names and "broken" not in loaded.names
    text = "\n".join(loaded.problems)
    assert "primary: '#zzz' is not a colour" in text
    assert "bogus: unknown field" in text
    assert "notyaml.yaml: cannot be read" in text


def test_theme_status_colours_default_from_roles() -> None:
    theme, problems = parse_theme({"name": "x", "primary": "#123456", "error": "red"}, "x")
    assert not problems and theme is not None
    assert theme.variables["status-failed"] == "red"


def test_form_round_trip_and_field_mapping(tmp_path: Path) -> None:
    spec = parse_job(
        {
            "name": "web",
            "sources": ["/srv/a", "/srv/b,c", '/srv/"q"'],
            "destination": "/bk/web",
            "schedule": "0 2 * * *",
            "retention": {"keep_daily": 7, "keep_within_daily": "1m", "keep_within": "2d"},
            "hooks": {"on_failure": [["curl", "-fsS", "https://x/fail"], ["sh", "-c", "a; b"]]},
            "env": {"A": "1 2"},
        }
    )
    values, extra = from_spec(spec)
    assert extra == {}  # every retention rule has a box in the form
    assert values.text["keep_within_daily"] == "1m"
    data, problems = to_mapping(values, spec.version, extra)
    assert problems == []
    assert parse_job(data) == spec
    assert widget_for("retention.keep_daily") == "keep_daily"
    assert widget_for("sources[1]") == "sources"
    assert widget_for("hooks.before[0]") == "hooks_before"


def test_form_bad_numbers_go_to_parse_job() -> None:
    values = FormValues(text={"name": "x", "keep_daily": "seven", "env": "NOEQUALS"})
    data, problems = to_mapping(values, 0, {})
    assert data["retention"] == {"keep_daily": "seven"}
    assert problems[0].field == "env"


def test_split_commands() -> None:
    assert split_commands("curl -fsS 'https://x/y z' ; sh -c 'a; b'") == [
        ["curl", "-fsS", "https://x/y z"],
        ["sh", "-c", "a; b"],
    ]


def test_pane_borders_are_visible_in_every_builtin_theme() -> None:
    """The unfocused panes' border was $panel: 'transparent' (invisible) in backup-contrast."""
    loaded = load_themes(None)
    for theme in loaded.themes:
        border = theme.variables.get("pane-border")
        assert border and border != "transparent", theme.name
        assert border != theme.background, theme.name


def test_a_run_that_just_ended_reads_just_now() -> None:
    """The demo showed "last just now · 1s · 401 B"."""
    from datetime import timedelta

    from tui_backup.model.state import LastResult

    start = FIXED_NOW - timedelta(seconds=2)
    view = _view(Status.SUCCEEDED)
    state = JobState(
        "web",
        Status.SUCCEEDED,
        last_result=LastResult(Status.SUCCEEDED, start, FIXED_NOW, files=8, bytes=401),
    )
    text = status_cell(JobView(view.spec, state), 30, FIXED_NOW, lambda _: Style())
    assert text.plain.split("\n")[1] == "just now · 2s · 401 B"
