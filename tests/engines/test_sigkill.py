"""SIGKILL a real backup process at random moments; nothing committed is ever harmed."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engines.conftest import make_spec, run, snapshot_dirs, write
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.model.status import Status

SCRIPT = """
import sys, threading
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.model.job import JobSpec
spec = JobSpec(name="job", sources=(sys.argv[1],), destination=sys.argv[2])
def emit(event):
    print(type(event).__name__, flush=True)
SnapshotEngine().run(spec, threading.Event(), emit)
"""


def _digest_tree(root: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(Path(dirpath, d))]):
            p = Path(dirpath, name)
            st = os.lstat(p)
            h.update(f"{p.relative_to(root)}|{st.st_mode}|{st.st_mtime_ns}|".encode())
            h.update(os.readlink(p).encode() if p.is_symlink() else p.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(20240501)
    src = tmp_path / "src"
    for i in range(600):
        write(src / f"d{i % 12}" / f"f{i}", os.urandom(rng.randint(100, 20_000)))
    dest = tmp_path / "dest"
    spec = make_spec(src, dest)
    engine = SnapshotEngine()
    assert run(spec, engine=engine).finished.status == Status.SUCCEEDED
    committed = {sid: _digest_tree(dest / sid) for sid in snapshot_dirs(dest)}
    for round_no in range(20):
        # Change a few files so each run has copying to do as well as linking.
        for i in rng.sample(range(600), 30):
            write(src / f"d{i % 12}" / f"f{i}", os.urandom(rng.randint(100, 20_000)))
        proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(src), str(dest)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        # Wait for a real sign of life (an event), then kill after a random number of them.
        events_before_kill = rng.randint(1, 4)
        for seen, _line in enumerate(proc.stdout, start=1):
            if seen >= events_before_kill:
                break
        # Then a random delay: this picks the moment of the kill, it waits for nothing.
        time.sleep(rng.uniform(0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        listed = [s.id for s in engine.snapshots(spec)]
        assert not any(sid.endswith(".partial") for sid in listed)
        for sid, digest in committed.items():
            assert _digest_tree(dest / sid) == digest, f"round {round_no}: {sid} changed"
        for sid in listed:
            if sid not in committed:  # the kill came after the commit
                committed[sid] = _digest_tree(dest / sid)
    done = run(spec, engine=engine).finished
    assert done.status == Status.SUCCEEDED
    assert [n for n in os.listdir(dest) if n.endswith(".partial")] == []
    for sid, digest in committed.items():
        assert _digest_tree(dest / sid) == digest
    assert engine.verify(spec, "all").ok
