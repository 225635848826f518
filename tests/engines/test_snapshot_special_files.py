"""FIFOs, sockets and devices: kept as ``rsync -aHAX`` keeps them, never opened (issue 9).

``rsync -a`` includes ``-D``: a backup keeps special files as nodes. The
snapshot engine re-creates them with ``mknod`` (owner, mode, times, ACLs),
records them in the manifest as ``n`` lines (type and device number), has
``verify`` check them without opening them, and has ``restore`` re-create
only the nodes its manifest lists. Compared with the source by ``rsync
-aHAXc --dry-run --itemize-changes``, the reference the issue names.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from tests.engines.conftest import make_spec, run, write
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.engines.snapshot.manifest import read_manifest
from tui_backup.engines.snapshot.store import SnapshotStore
from tui_backup.model.status import Status

pytestmark = pytest.mark.timeout(120)  # a verify or restore that opened a FIFO would hang


def _can_mknod_devices(where: Path) -> bool:
    probe = where / ".probe-null"
    try:
        os.mknod(probe, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError:
        return False
    probe.unlink()
    return True


def _source(root: Path) -> bool:
    """A tree of every node kind; True when it holds devices (CAP_MKNOD)."""
    write(root / "plain.txt", "plain\n")
    os.mkfifo(root / "fifo", 0o640)
    os.mkfifo(root / "sub-fifo-owned", 0o600)
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(root / "sock"))
    finally:
        sock.close()
    devices = _can_mknod_devices(root)
    if devices:
        os.mknod(root / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.mknod(root / "loop", 0o660 | stat.S_IFBLK, os.makedev(7, 200))
        if os.geteuid() == 0:
            os.chown(root / "loop", 12345, 54321)
    os.utime(root / "fifo", ns=(1_000_000_000, 1_500_000_000_123))
    return devices


def _itemized(src: Path, target: Path) -> list[str]:
    out = subprocess.run(
        ["rsync", "-aHAXc", "--dry-run", "--itemize-changes", f"{src}/", f"{target}/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return [line for line in out if line and not line.startswith(".d..t...... ./")]


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is the reference")
def test_nodes_round_trip_as_rsync_aHAX_keeps_them(tmp_path: Path) -> None:
    src = tmp_path / "src"
    devices = _source(src)
    spec = make_spec(src, tmp_path / "dest")
    engine = SnapshotEngine()
    first = run(spec, engine=engine).finished
    assert first.status == Status.SUCCEEDED and first.warnings == 0, first
    second = run(spec, engine=engine).finished  # an incremental re-creates them too
    assert second.status == Status.SUCCEEDED and second.warnings == 0, second

    entries = {
        e.path: e
        for e in read_manifest(
            SnapshotStore(spec.destination).manifest_path(str(second.snapshot_id))
        )
    }
    assert entries["fifo"].kind == "n" and stat.S_ISFIFO(entries["fifo"].mode)
    assert entries["sock"].kind == "n" and stat.S_ISSOCK(entries["sock"].mode)
    if devices:
        assert entries["null"].size == os.makedev(1, 3)

    report = engine.verify(spec, str(second.snapshot_id))
    assert report.outcome == "ok", report

    target = tmp_path / "restored"
    restored = engine.restore(spec, str(second.snapshot_id), str(target))
    assert not restored.skipped, restored.skipped
    assert _itemized(src, target) == []
    if not devices:
        pytest.skip("no CAP_MKNOD here: FIFOs and sockets checked, devices not")


def test_a_file_replaced_by_a_fifo_in_a_snapshot_is_damage_and_never_opened(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    write(src / "a.txt", "a\n")
    os.mkfifo(src / "pipe")
    spec = make_spec(src, tmp_path / "dest")
    engine = SnapshotEngine()
    done = run(spec, engine=engine).finished
    snap = Path(spec.destination) / str(done.snapshot_id)
    (snap / "a.txt").unlink()
    os.mkfifo(snap / "a.txt")  # where the manifest has a regular file
    (snap / "pipe").unlink()
    write(snap / "pipe", "not a fifo")  # where the manifest has a FIFO
    report = engine.verify(spec, str(done.snapshot_id))
    assert report.outcome == "damaged"
    reasons = {p.path: p.reason for p in report.problems}
    assert "not a regular file" in reasons["a.txt"]
    assert "not the kind of node" in reasons["pipe"]


def test_restore_recreates_only_the_nodes_the_manifest_lists(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "a.txt", "a\n")
    os.mkfifo(src / "listed")
    spec = make_spec(src, tmp_path / "dest")
    engine = SnapshotEngine()
    done = run(spec, engine=engine).finished
    snap = Path(spec.destination) / str(done.snapshot_id)
    os.mkfifo(snap / "planted")  # not in the manifest
    target = tmp_path / "restored"
    report = engine.restore(spec, str(done.snapshot_id), str(target))
    assert stat.S_ISFIFO(os.lstat(target / "listed").st_mode)
    assert not os.path.lexists(target / "planted")
    assert any(s.startswith("planted: ") and "not list" in s for s in report.skipped)
