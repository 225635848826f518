"""Queries never write; the repair of a bad job file and the recording of a dead run are
explicit steps (start-up, or the event pump while watching) that happen once across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from corehelpers import add_job

from tui_backup.core.manager import JobManager
from tui_backup.model.clock import utcnow
from tui_backup.model.state import JobState
from tui_backup.model.status import Status
from tui_backup.store.paths import Home


def _tree(home: Home) -> dict[str, tuple[int, int]]:
    """Every file under the home but the database: (size, mtime_ns)."""
    out: dict[str, tuple[int, int]] = {}
    for path in home.root.rglob("*"):
        if path.is_file() and not path.name.startswith("tui-backup.db"):
            st = path.stat()
            out[str(path.relative_to(home.root))] = (st.st_size, st.st_mtime_ns)
    return out


def _dead_runner(manager: JobManager, name: str) -> None:
    manager.states.write(
        JobState(
            name=name,
            status=Status.RUNNING,
            run_id="deadbeef",
            pid=999999,
            host="gone",
            runner="daemon",
            started_at=utcnow(),
        )
    )


def test_listing_and_showing_write_nothing(make_manager, home: Home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    setup: JobManager = make_manager()
    add_job(setup, tmp_path, "docs")
    add_job(setup, tmp_path, "broken")
    _dead_runner(setup, "docs")
    (home.jobs_dir / "broken.yaml").write_text("name: broken\nsources: [\n")  # a bad hand edit
    before = _tree(home)
    reader: JobManager = make_manager(recover=False)
    errors_before = len(reader.errors(limit=10_000))

    views = {v.name: v for v in reader.list_jobs()}
    reader.job("docs")
    reader.job_issues()
    reader.state("docs")
    reader.history("docs")

    assert _tree(home) == before, "a query changed a file"
    assert len(reader.errors(limit=10_000)) == errors_before, "a query recorded an error"
    assert views["docs"].status == Status.RUNNING  # as the file says, until the step runs
    assert views["broken"].issue is not None  # the last good version, with its issue
    assert reader.history("docs") == []


def test_the_explicit_steps_run_once_across_processes(
    make_manager,
    home: Home,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    setup: JobManager = make_manager(recover=False)
    add_job(setup, tmp_path, "docs")
    add_job(setup, tmp_path, "broken")
    _dead_runner(setup, "docs")
    (home.jobs_dir / "broken.yaml").write_text("name: broken\nsources: [\n")
    script = (
        "import sys\n"
        "from tui_backup.core.manager import JobManager\n"
        "from tui_backup.store.paths import Home\n"
        "from pathlib import Path\n"
        "m = JobManager(Home(Path(sys.argv[1])), runner='cli')\n"  # start-up: the steps
        "m.shutdown()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(home.root)], env=env) for _ in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]

    assert len(list(home.jobs_dir.glob("broken.yaml.corrupt-*"))) == 1
    assert setup.get_spec("broken").name == "broken"  # its last good version is back
    assert setup.state("docs").status == Status.INTERRUPTED
    assert [(r.run_id, r.status) for r in setup.history("docs")] == [
        ("deadbeef", Status.INTERRUPTED)
    ]
    kinds = [e.error_type for e in setup.errors(limit=10_000)]
    assert kinds.count("run_interrupted") == 1
    assert kinds.count("invalid_job_file") == 1


def test_a_config_yaml_that_was_never_valid_is_reported_once(make_manager, home: Home) -> None:  # type: ignore[no-untyped-def]
    home.ensure()
    home.config_path.write_text("max_concurrent_jobs: many\n")  # by hand, never valid
    first: JobManager = make_manager()
    make_manager()  # a second process starting: the same unresolved event, not another
    events = [e for e in first.errors(limit=1000) if e.error_type == "invalid_config"]
    assert len(events) == 1 and "config.yaml" in events[0].message


def test_a_corrupt_state_file_is_left_by_queries_and_quarantined_by_the_repair_step(
    make_manager,  # type: ignore[no-untyped-def]
    home: Home,
    tmp_path: Path,
) -> None:
    setup: JobManager = make_manager()
    add_job(setup, tmp_path, "docs")
    setup.states.write(JobState(name="docs", status=Status.SUCCEEDED))
    setup.states.write(JobState(name="docs", status=Status.FAILED))  # a last good version too
    state = home.state_file("docs")
    state.write_text("status: [\n")  # garbage, as a crash or a person might leave it
    reader: JobManager = make_manager(recover=False)
    reader.list_jobs()
    reader.state("docs")
    reader.job("docs")
    assert state.read_text() == "status: [\n", "a query rewrote the state file"
    assert not list(home.state_dir.glob("docs.yaml.corrupt-*")), "a query quarantined it"
    reader.repair_state_files()
    assert len(list(home.state_dir.glob("docs.yaml.corrupt-*"))) == 1
    assert state.read_text() != "status: [\n"
