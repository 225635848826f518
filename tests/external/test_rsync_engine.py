"""The rsync engine against the real rsync binary, on real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tui_backup.engines.events import Finished, Progress
from tui_backup.engines.rsync import Location, RsyncEngine
from tui_backup.model import RetentionPolicy, Status, parse_job


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (.ci/run installs it)")


def spec_for(src: Path, dest: Path, **extra: object):
    data = {"name": "r", "sources": [str(src)], "destination": str(dest), "engine": "rsync"}
    data.update(extra)
    return parse_job(data, "jobs/r.yaml", "r")


def run(engine: RsyncEngine, spec, cancel: threading.Event | None = None) -> list[object]:
    events: list[object] = []
    engine.run(spec, cancel or threading.Event(), events.append)
    assert sum(isinstance(e, Finished) for e in events) == 1
    assert isinstance(events[-1], Finished)
    return events


def test_snapshot_matches_source_and_links_unchanged_files(tree: Path, tmp_path: Path) -> None:
    need("rsync")
    dest = tmp_path / "dest"
    spec = spec_for(tree, dest, exclude=["*.tmp"])
    engine = RsyncEngine()
    first = run(engine, spec)[-1]
    assert first.status == Status.SUCCEEDED, first.error
    assert first.files == 31
    (tree / "docs" / "file 3.txt").write_text("changed\n")
    second = run(engine, spec)[-1]
    assert second.status == Status.SUCCEEDED
    snaps = engine.snapshots(spec)
    assert [s.id for s in snaps] == [second.snapshot_id, first.snapshot_id]
    new, old = dest / second.snapshot_id, dest / first.snapshot_id
    # rsync itself as the oracle: nothing left to transfer.
    diff = subprocess.run(
        [
            "rsync",
            "-a",
            "--dry-run",
            "--itemize-changes",
            "--checksum",
            "--exclude=*.tmp",
            f"{tree}/",
            f"{new}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert diff.stdout.strip() == ""
    assert not (new / "skip.tmp").exists()
    assert (new / "link").is_symlink()
    assert (new / "empty").is_dir()
    same = (new / "docs" / "file 1.txt").stat().st_ino == (
        old / "docs" / "file 1.txt"
    ).stat().st_ino
    changed = (new / "docs" / "file 3.txt").stat().st_ino == (
        old / "docs" / "file 3.txt"
    ).stat().st_ino
    assert same and not changed
    assert os.readlink(dest / "latest") == second.snapshot_id
    assert not [p for p in os.listdir(dest) if p.endswith(".partial")]


def test_progress_events_reach_the_end(tree: Path, tmp_path: Path) -> None:
    need("rsync")
    events = run(RsyncEngine(), spec_for(tree, tmp_path / "dest"))
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and progress[-1].phase == "commit"
    assert max(p.bytes_done for p in progress) > 0


def test_missing_source_fails_clearly(tmp_path: Path) -> None:
    need("rsync")
    spec = spec_for(tmp_path / "nope", tmp_path / "dest")
    fin = run(RsyncEngine(), spec)[-1]
    assert fin.status == Status.FAILED
    assert "does not exist" in (fin.error or "")


def test_unreadable_file_is_a_warning(tree: Path, tmp_path: Path) -> None:
    """A 0000 file is a warning and the run succeeds (rsync exit 23 mapped).

    Root reads 0000 files, so as root the engine (and the rsync it starts) runs
    without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (setpriv), like the snapshot
    engine's test: the unreadable path is really taken, never skipped.
    """
    import json
    import sys

    need("rsync")
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    (tree / "docs" / "file 0.txt").chmod(0)
    dest = tmp_path / "dest"
    script = (
        "import json,threading\n"
        "from tui_backup.engines.rsync import RsyncEngine\n"
        "from tui_backup.model import parse_job\n"
        f"spec=parse_job({{'name':'r','sources':[{str(tree)!r}],'destination':{str(dest)!r},"
        "'engine':'rsync'},'jobs/r.yaml','r')\n"
        "ev=[]\n"
        "RsyncEngine().run(spec,threading.Event(),ev.append)\n"
        "w=[e.path for e in ev if type(e).__name__=='FileWarning']\n"
        "f=ev[-1]\n"
        "print(json.dumps({'status':str(f.status),'warnings':f.warnings,'paths':w,"
        "'snap':f.snapshot_id}))\n"
    )
    cmd = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["status"] == "succeeded", data
    assert data["warnings"] >= 1 and any("file 0.txt" in p for p in data["paths"]), data
    snap = dest / data["snap"]
    assert not (snap / "docs" / "file 0.txt").exists()
    kept = snap / "docs" / "file 1.txt"
    assert kept.read_bytes() == (tree / "docs" / "file 1.txt").read_bytes()


def test_cancel_stops_and_removes_partial(tmp_path: Path) -> None:
    need("rsync")
    src = tmp_path / "big"
    src.mkdir()
    for i in range(40):
        (src / f"f{i}").write_bytes(os.urandom(1 << 20))
    dest = tmp_path / "dest"
    cancel = threading.Event()
    events: list[object] = []

    def emit(event: object) -> None:
        events.append(event)
        if isinstance(event, Progress) and event.phase == "copy":
            cancel.set()

    RsyncEngine().run(spec_for(src, dest), cancel, emit)
    assert isinstance(events[-1], Finished)
    assert events[-1].status == Status.STOPPED
    assert not [p for p in os.listdir(dest) if p.endswith(".partial")]
    assert RsyncEngine().snapshots(spec_for(src, dest)) == []


def test_restore_and_forget(tree: Path, tmp_path: Path) -> None:
    need("rsync")
    dest = tmp_path / "dest"
    spec = spec_for(tree, dest)
    engine = RsyncEngine()
    for _ in range(3):
        assert run(engine, spec)[-1].status == Status.SUCCEEDED
    target = tmp_path / "restored"
    report = engine.restore(spec, "latest", str(target), ["docs/deep"])
    assert (target / "docs" / "deep" / "notes.md").read_text() == "hello\n"
    assert report.files == 1
    decisions = engine.forget(spec, RetentionPolicy(keep_last=1))
    assert [d.keep for d in decisions] == [True, False, False]
    assert len(engine.snapshots(spec)) == 1
    report = engine.verify(spec)
    assert report.ok
    assert report.files_checked == 32  # no excludes here: skip.tmp is kept


def test_location_parses_remote_destinations() -> None:
    loc = Location.parse("backup@nas:/srv/backups/web/")
    assert loc.host == "backup@nas"
    assert loc.rsync_path("x") == "backup@nas:/srv/backups/web/x"
    assert Location.parse("/mnt/b").host is None
    assert Location.parse("nas:~/backups").path == "~/backups"
    assert Location.parse("nas:relative/dir/").path == "relative/dir"
    assert Location.parse("[fe80::1]:/b") == Location("fe80::1", "/b")
    assert Location.parse("[backup@::1]:x").host == "backup@::1"


def test_remote_paths_become_shell_words_with_tilde_expanded() -> None:
    from tui_backup.engines.rsync.remote import _path_expr

    assert _path_expr("~") == '"$HOME"'
    assert _path_expr("~/my backups") == "\"$HOME\"/'my backups'"
    assert _path_expr("~backup/web") == "~backup/web"
    assert _path_expr("~bad user/x") == "'~bad user/x'"
    assert _path_expr("rel/$(reboot)") == "'rel/$(reboot)'"


def test_capabilities_say_what_the_engine_can_do(tmp_path: Path) -> None:
    engine = RsyncEngine()
    local = engine.capabilities(spec_for(tmp_path / "src", tmp_path / "dest"))
    assert (local.remote, local.browsable, local.manifest_verify) == (False, True, True)
    assert local.deep_verify and local.checksum_run
    assert not local.shares_destination
    data = {"name": "r", "sources": ["/srv"], "destination": "nas:/b", "engine": "rsync"}
    remote = engine.capabilities(parse_job(data, "jobs/r.yaml", "r"))
    assert (remote.remote, remote.browsable, remote.manifest_verify) == (True, False, True)


def test_ssh_settings_split_the_command_and_add_port_identity_batchmode() -> None:
    from tui_backup.engines.rsync.location import SshSettings

    data = {
        "name": "r", "sources": ["/srv"], "destination": "nas:/b", "engine": "rsync",
        "ssh_command": "ssh -F '/etc/backup/ssh config'", "ssh_port": 2222,
        "ssh_identity": "/etc/backup/id_ed25519",
    }  # fmt: skip
    ssh = SshSettings.from_spec(parse_job(data, "jobs/r.yaml", "r"))
    assert ssh.argv == (
        "ssh", "-F", "/etc/backup/ssh config", "-p", "2222", "-i", "/etc/backup/id_ed25519",
        "-o", "BatchMode=yes", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
    )  # fmt: skip
