"""The job editor: every field of the job YAML, validated as you type.

Validation runs once typing pauses (``VALIDATE_AFTER``), not on every key: a
fast typist over a slow link is never kept waiting by the form. It is the
model's own ``parse_job`` (through ``job_form``), so the messages under each
field are the ones the CLI prints. Nothing is saved while
anything is invalid. The spec's ``version`` is kept from when the form opened:
if another process changes the job meanwhile, the form says so and saving is
refused by the store (optimistic concurrency) until the person chooses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static

from tui_backup.core.destinations import DestinationInUse
from tui_backup.core.errors import JobExists, VersionConflict
from tui_backup.core.manager import JobManager
from tui_backup.model import schedule as cron
from tui_backup.model.job import ENGINES, HOOK_STAGES, JobSpec, parse_job
from tui_backup.model.problems import Problem, ValidationError
from tui_backup.tui.actions import readable
from tui_backup.tui.bridge import PendingChanges
from tui_backup.tui.job_form import (
    TEXT_FIELDS,
    FormValues,
    from_spec,
    hidden_env,
    to_mapping,
    widget_for,
)
from tui_backup.tui.keymap import EDITOR_BINDINGS
from tui_backup.tui.messages import (
    ActionSucceeded,
    EditorConflict,
    EditorDestinationShared,
    EditorLoaded,
    EditorSaved,
    EditorSaveRefused,
)
from tui_backup.tui.screens.confirm import ConfirmScreen
from tui_backup.tui.widgets.header import AppHeader
from tui_backup.tui.widgets.path_suggester import PathSuggester

VALIDATE_AFTER = 0.15
"""Seconds of quiet after the last change before the form checks itself again."""

LABELS: dict[str, tuple[str, str]] = {
    "name": ("Name", "lower-case letters, digits, . _ -"),
    "description": ("Description", "optional"),
    "sources": ("Sources", 'absolute paths, comma-separated ("a,b" if one has a comma)'),
    "destination": ("Destination", "absolute path (rsync: user@host:path; restic: repo)"),
    "schedule": ("Schedule", "cron, e.g. 0 2 * * * or @daily; empty = manual"),
    "exclude": ("Exclude", "gitignore-style patterns, comma-separated"),
    "keep_last": ("last", ""),
    "keep_hourly": ("hourly", ""),
    "keep_daily": ("daily", ""),
    "keep_weekly": ("weekly", ""),
    "keep_monthly": ("monthly", ""),
    "keep_yearly": ("yearly", ""),
    "keep_within": ("all", ""),
    "keep_within_hourly": ("hourly", ""),
    "keep_within_daily": ("daily", ""),
    "keep_within_weekly": ("weekly", ""),
    "keep_within_monthly": ("monthly", ""),
    "keep_within_yearly": ("yearly", ""),
    "retries": ("Retries", "0-20, for transient failures"),
    "hook_timeout": ("Hook timeout", "seconds, default 300"),
    "max_age": ("Max age", "alert when no success for this long, e.g. 2d"),
    "env": ("Environment", "NAME=value pairs for hooks and engines; secrets show as ***"),
    "hooks_before": ("Before", "commands separated by ;"),
    "hooks_after": ("After", ""),
    "hooks_on_success": ("On success", ""),
    "hooks_on_failure": ("On failure", ""),
}
RETENTION_ROWS = (
    ("keep_last", "keep_hourly", "keep_daily"),
    ("keep_weekly", "keep_monthly", "keep_yearly"),
)
WITHIN_ROWS = (
    ("keep_within", "keep_within_hourly", "keep_within_daily"),
    ("keep_within_weekly", "keep_within_monthly", "keep_within_yearly"),
)

"""``keep_within*``: durations such as ``14d`` or ``1y2m``; ``all`` is plain ``keep_within``."""


PASSWORD_SOURCES = ("RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_PASSWORD")


def engine_needs(caps: Any, env: dict[str, str], name: str) -> list[str]:
    """What a job on an engine with ``caps`` needs that the form cannot check itself."""
    if caps is None:
        return []
    lines: list[str] = []
    if caps.encryption:
        have = any(env.get(k) for k in PASSWORD_SOURCES)
        lines.append(
            ("✓ password source set. " if have else "✗ needs a password: ")
            + "add RESTIC_PASSWORD_FILE=/path/to/file or RESTIC_PASSWORD_COMMAND='pass show "
            "backup' under Environment (the file or command, never the password itself)."
        )
    if caps.needs_init:
        lines.append(
            "The repository must exist before the first run: after saving you are offered "
            f"to create it (or run: tui-backup init {name})."
        )
    if caps.remote:
        lines.append(
            "Remote: SSH port, key or command go in the job file (ssh_port, ssh_identity, "
            f"ssh_command) or: tui-backup job edit {name} --ssh-port N."
        )
    return lines


class JobEditorScreen(ModalScreen[str | None]):
    """Create (``name`` None) or edit a job; closes with the saved job's name."""

    BINDINGS = EDITOR_BINDINGS

    def __init__(
        self,
        manager: JobManager,
        name: str | None,
        *,
        clock: Callable[[], datetime],
        spec: JobSpec | None = None,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.manager = manager
        self.job_name = name
        self.clock = clock
        self.base: JobSpec | None = spec
        self.problems: list[Problem] = []
        self.valid_spec: JobSpec | None = None
        self.conflict: JobSpec | None = None
        self.saving = False
        self._extra_retention: dict[str, Any] = {}
        """Retention rules the form has no box for; saved back unchanged."""
        self.touched: set[str] = set()
        """Fields the person changed; problems show there first, everywhere after a save try."""
        self.show_all = False
        self._loaded = name is None or spec is not None
        self._caps_key: tuple[str, str] | None = None
        self._caps: Any = None
        """The chosen engine's Capabilities for the typed destination (hints only)."""
        self._pending_check: Timer | None = None
        self.validate_after = VALIDATE_AFTER
        # The first field has the focus before the form accepts a key (typed ahead: ``n web``).
        self.AUTO_FOCUS = "#name" if self.creating else "#description"

    @property
    def creating(self) -> bool:
        return self.job_name is None

    @property
    def settled(self) -> bool:
        """True when what is shown was checked against what is typed (no check pending)."""
        return self._loaded and self._pending_check is None

    # -- layout ----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        title = "New job" if self.creating else f"Edit {self.job_name}"
        yield AppHeader()  # every screen shows the header (issue 10)
        with Vertical(classes="dialog", id="editor-dialog") as dialog:
            dialog.border_title = title
            dialog.border_subtitle = "ctrl+s save · escape cancel"
            yield Static("", id="conflict", classes="banner")
            yield Static("", id="general-errors", classes="field-error")
            with VerticalScroll(id="editor-form"):
                yield from self._row("name")
                yield from self._row("description")
                yield from self._row("sources", suggester=True)
                yield from self._row("destination", suggester=True)
                with Horizontal(classes="field-row"):
                    yield Label("Engine", classes="field-label")
                    yield Select(
                        [(e, e) for e in ENGINES], value="snapshot", allow_blank=False, id="engine"
                    )
                    yield Checkbox("enabled", True, id="enabled")
                yield Static("", id="engine-hint", classes="field-hint")
                yield from self._row("schedule")
                yield Static("", id="schedule-preview", classes="field-hint")
                with Horizontal(classes="field-row"):
                    yield Label("If missed", classes="field-label")
                    yield Select(
                        [("run once when back", "run"), ("skip", "skip")],
                        value="run",
                        allow_blank=False,
                        id="missed",
                    )
                yield from self._row("exclude")
                yield Label("Retention (restic forget rules; -1 = unlimited)", classes="group")
                for i, row in enumerate(RETENTION_ROWS):
                    with Horizontal(classes="field-row retention-row"):
                        yield Label("Keep" if i == 0 else "", classes="field-label")
                        for key in row:
                            yield Label(LABELS[key][0], classes="field-label small")
                            yield Input(id=key, classes="number", compact=True)
                for i, row in enumerate(WITHIN_ROWS):
                    with Horizontal(
                        classes="field-row retention-row", id="within-first" if i == 0 else None
                    ):
                        yield Label("Keep within" if i == 0 else "", classes="field-label")
                        for key in row:
                            yield Label(LABELS[key][0], classes="field-label small")
                            yield Input(id=key, classes="number", compact=True)
                yield Static(
                    "durations (y m d h) like 14d or 1y6m",
                    classes="field-hint",
                )
                yield from self._row("retries")
                yield from self._row("max_age")
                yield Label("Hooks (argv, no shell; use sh -c '…' for one)", classes="group")
                for stage in HOOK_STAGES:
                    yield from self._row(f"hooks_{stage}")
                yield from self._row("hook_timeout")
                yield from self._row("env")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Content("Save [ctrl+s]"), id="save", variant="primary")
                yield Button(Content("Cancel [esc]"), id="cancel")
        yield Footer()

    def _row(self, key: str, *, suggester: bool = False) -> Iterator[Any]:
        label, hint = LABELS[key]
        with Horizontal(classes="field-row"):
            yield Label(label, classes="field-label")
            yield Input(
                id=key,
                placeholder=hint,
                compact=True,
                suggester=PathSuggester() if suggester else None,
                disabled=key == "name" and not self.creating,
            )

    def on_mount(self) -> None:
        for error in self.query(".field-error"):
            error.display = False
        self.query_one("#conflict").display = False
        if self.creating:
            self._fill(None)
        elif self.base is not None:
            self._fill(self.base)
        else:
            self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="editor-load")
    def _load(self) -> None:
        assert self.job_name is not None
        try:
            spec = self.manager.get_spec(self.job_name)
        except Exception as exc:  # noqa: BLE001
            self.post_message(EditorLoaded(None, f"Cannot open {self.job_name}: {readable(exc)}"))
            return
        self.post_message(EditorLoaded(spec))

    def on_editor_loaded(self, message: EditorLoaded) -> None:
        if message.spec is None:
            self.notify(message.error, severity="error")
            self.dismiss(None)
            return
        self._fill(message.spec)

    def _fill(self, spec: JobSpec | None) -> None:
        self.base = spec
        values, self._extra_retention = from_spec(spec)
        with self.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
            for key in TEXT_FIELDS:
                self.query_one(f"#{key}", Input).value = values.text.get(key, "")
            self.query_one("#engine", Select).value = values.engine
            self.query_one("#missed", Select).value = values.missed
            self.query_one("#enabled", Checkbox).value = values.enabled
        self._loaded = True
        self.validate()

    # -- validation --------------------------------------------------------------

    def values(self) -> FormValues:
        return FormValues(
            text={k: self.query_one(f"#{k}", Input).value for k in TEXT_FIELDS},
            engine=str(self.query_one("#engine", Select).value),
            missed=str(self.query_one("#missed", Select).value),
            enabled=self.query_one("#enabled", Checkbox).value,
        )

    def validate(self) -> bool:
        """Run the model's rules on the form; show each problem by its field."""
        version = self.base.version if self.base is not None else 0
        data, problems = to_mapping(
            self.values(),
            version,
            self._extra_retention,
            hidden_env(self.base),
            self.base.destination if self.base is not None else None,
        )
        name = data.get("name") or "new"
        spec: JobSpec | None = None
        try:
            spec = parse_job(data, f"jobs/{name}.yaml")
        except ValidationError as exc:
            problems = [*problems, *exc.problems]
        self.problems = problems
        self.valid_spec = spec if not problems else None
        self._show_problems(problems)
        self._show_schedule(data.get("schedule"), problems)
        self._show_engine_needs(data)
        return self.valid_spec is not None

    def _show_engine_needs(self, data: dict[str, Any]) -> None:
        """What the chosen engine needs before it can run, from its Capabilities."""
        hint = self.query_one("#engine-hint", Static)
        key = (str(data.get("engine")), str(data.get("destination") or ""))
        if key != self._caps_key:
            self._caps_key = key
            stub = JobSpec(name="new", sources=(), destination=key[1], engine=key[0])
            try:
                self._caps = self.manager.snapshots.capabilities(stub)
            except Exception:  # noqa: BLE001 - an unknown engine is shown by validation
                self._caps = None
        lines = engine_needs(self._caps, dict(data.get("env") or {}), data.get("name") or "NAME")
        hint.display = bool(lines)
        hint.update(escape("\n".join(lines)))

    def _show_problems(self, problems: list[Problem]) -> None:
        by_widget: dict[str, list[str]] = {}
        general: list[str] = []
        for problem in problems:
            target = widget_for(problem.field)
            if not (self.show_all or target in self.touched or not self.creating):
                continue
            if target in TEXT_FIELDS:
                where = problem.field if widget_for(problem.field) != problem.field else ""
                by_widget.setdefault(target, []).append(
                    f"{where + ': ' if where else ''}{problem.message}"
                )
            else:
                general.append(f"{problem.field or 'job'}: {problem.message}")
        for key in TEXT_FIELDS:
            messages = by_widget.get(key)
            error = self._error_box(key, create=bool(messages))
            if error is not None:
                error.display = bool(messages)
                if messages:
                    error.update(escape("\n".join(f"✗ {m}" for m in messages)))
            self.query_one(f"#{key}", Input).set_class(bool(messages), "-invalid")
        general_box = self.query_one("#general-errors", Static)
        general_box.display = bool(general)
        general_box.update(escape("\n".join(f"✗ {m}" for m in general)))
        save = self.query_one("#save", Button)
        save.disabled = bool(problems) or self.saving
        save.label = Content("Save [ctrl+s]" if not problems else f"{len(problems)} problem(s)")

    def _error_box(self, key: str, *, create: bool) -> Static | None:
        """The line under ``key`` that says what is wrong, made the first time it is needed.

        Most fields are never wrong: making 26 hidden lines up front cost a good
        part of the form's opening time.
        """
        found = self.query(f"#{key}-error")
        if found:
            return found.first(Static)
        if not create:
            return None
        box = Static("", id=f"{key}-error", classes="field-error")
        if key in RETENTION_ROWS[0] + RETENTION_ROWS[1]:
            self.query_one("#editor-form").mount(box, before=self.query_one("#within-first"))
        elif key in WITHIN_ROWS[0] + WITHIN_ROWS[1]:
            retries_row = self.query_one("#retries", Input).parent
            assert retries_row is not None
            self.query_one("#editor-form").mount(box, before=retries_row)
        else:
            row = self.query_one(f"#{key}", Input).parent
            assert row is not None
            self.query_one("#editor-form").mount(box, after=row)
        return box

    def _show_schedule(self, expression: str | None, problems: list[Problem]) -> None:
        preview = self.query_one("#schedule-preview", Static)
        if not expression:
            preview.update("runs only when started by hand (r)")
            return
        if any(p.field == "schedule" for p in problems):
            preview.update("")
            return
        try:
            runs = cron.next_runs(expression, self.clock(), 3)
        except Exception:  # noqa: BLE001 - the problem is already shown by the field
            preview.update("")
            return
        when = ", ".join(r.astimezone().strftime("%a %Y-%m-%d %H:%M") for r in runs)
        preview.update(f"{escape(cron.describe(expression))} · next: {when}")

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _changed(self, event: Input.Changed | Select.Changed | Checkbox.Changed) -> None:
        if event.control is not None and event.control.id:
            self.touched.add(event.control.id)
        if self._loaded:
            self._check_soon()

    def _check_soon(self) -> None:
        """Validate once typing pauses: each key only restarts the wait."""
        if self._pending_check is not None:
            self._pending_check.stop()
        self._pending_check = self.set_timer(self.validate_after, self._check_now)

    def _check_now(self) -> None:
        self._pending_check = None
        if not self.saving and self.is_attached:  # not while the form is closing
            self.validate()

    # -- live changes from other processes ---------------------------------------

    def apply_job_changes(self, pending: PendingChanges) -> None:
        """Called by the app while the form is open; the form itself is never touched."""
        if self.creating or self.base is None or self.job_name is None:
            return
        if self.job_name in pending.removed:
            self._show_conflict(None)
            return
        view = pending.updated.get(self.job_name)
        # A hand edit keeps its version (people need not touch it), so the
        # content counts too: the store alone would accept our save over it.
        if view is not None and (view.spec.version != self.base.version or view.spec != self.base):
            self._show_conflict(view.spec)

    def _show_conflict(self, theirs: JobSpec | None) -> None:
        self.conflict = theirs
        banner = self.query_one("#conflict", Static)
        banner.display = True
        if theirs is None:
            banner.update(
                "⚠ This job was deleted on disk while you edited. Saving will be refused; "
                "escape to close."
            )
        else:
            before = self.base.version if self.base else "?"
            versions = (
                f"version {before} → {theirs.version}"
                if theirs.version != before
                else "edited by hand"
            )
            banner.update(
                f"⚠ This job changed on disk ({versions}) while you edited. Your edits are "
                "kept here but not saved. Press ctrl+s to save yours over theirs, or escape "
                "to discard yours."
            )

    # -- saving ----------------------------------------------------------------------

    def action_save(self) -> None:
        if self.saving:
            return
        self.show_all = True
        if not self.validate():
            first = self.problems[0] if self.problems else None
            if first is not None:
                target = widget_for(first.field)
                if target in TEXT_FIELDS:
                    self.query_one(f"#{target}", Input).focus()
            self.notify(
                f"Not saved: {len(self.problems)} problem(s) to fix first.",
                severity="error",
                timeout=4,
            )
            return
        assert self.valid_spec is not None
        spec = self.valid_spec
        if self.conflict is not None:
            spec = spec.with_version(self.conflict.version)  # explicit: save mine over theirs
        self.saving = True
        self.query_one("#save", Button).disabled = True
        self._save(spec)

    @work(thread=True, exclusive=True, exit_on_error=False, group="editor-save")
    def _save(self, spec: JobSpec, force: bool = False) -> None:
        try:
            if self.creating:
                saved = self.manager.create(spec, force=force)
            else:
                saved = self.manager.update(spec, force=force)
        except DestinationInUse as exc:
            self.post_message(EditorDestinationShared(spec, tuple(exc.others), str(exc)))
            return
        except VersionConflict as exc:
            self.post_message(EditorSaveRefused(readable(exc), conflict=True))
            return
        except ValidationError as exc:
            self.post_message(EditorSaveRefused(readable(exc), problems=tuple(exc.problems)))
            return
        except (JobExists, Exception) as exc:  # noqa: BLE001
            self.post_message(EditorSaveRefused(readable(exc)))
            return
        self.app.post_message(
            ActionSucceeded(
                "save", saved.name, f"{saved.name}: {'created' if self.creating else 'saved'}"
            )
        )
        self.post_message(EditorSaved(saved.name))

    def on_editor_saved(self, message: EditorSaved) -> None:
        self.dismiss(message.name)

    def on_editor_destination_shared(self, message: EditorDestinationShared) -> None:
        """Another job uses this destination: say who, and save only when asked to."""

        spec = message.spec

        def chosen(anyway: bool | None) -> None:
            if anyway:
                self._save(spec, force=True)
            else:
                self.saving = False
                self.validate()
                self.query_one("#destination", Input).focus()

        others = ", ".join(message.others)
        self.app.push_screen(
            ConfirmScreen(
                f"Destination used by {others}",
                escape(message.text.replace(" (or save anyway with --force)", "")),
                "Save anyway",
                "Change it [esc]",
            ),
            chosen,
        )

    def on_editor_save_refused(self, message: EditorSaveRefused) -> None:
        self.saving = False
        self.validate()
        if message.conflict:
            self._refetch_conflict()
        if message.problems:
            self._show_problems(list(message.problems))
        self.notify(f"Not saved: {message.text}", severity="error", timeout=8)

    @work(thread=True, exclusive=True, exit_on_error=False, group="editor-load")
    def _refetch_conflict(self) -> None:
        assert self.job_name is not None
        try:
            theirs: JobSpec | None = self.manager.get_spec(self.job_name)
        except Exception:  # noqa: BLE001 - deleted meanwhile
            theirs = None
        self.post_message(EditorConflict(theirs))

    def on_editor_conflict(self, message: EditorConflict) -> None:
        self._show_conflict(message.theirs)

    def action_cancel(self) -> None:
        """Close; when something was typed, ask first (a half-filled form is work)."""
        if not self._edited():
            self.dismiss(None)
            return

        def chosen(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmScreen(
                "Discard your changes?",
                "What you typed in this form has not been saved.",
                "Discard",
                "Keep editing [esc]",
            ),
            chosen,
        )

    def _edited(self) -> bool:
        if not self._loaded:
            return False
        now, then = self.values(), from_spec(self.base)[0]
        return (now.engine, now.missed, now.enabled) != (
            then.engine,
            then.missed,
            then.enabled,
        ) or any(now.text[k] != then.text.get(k, "") for k in TEXT_FIELDS)

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()
