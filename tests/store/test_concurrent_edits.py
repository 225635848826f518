"""Two processes editing one job at once lose nothing; a third always reads a whole file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tui_backup.model.job import JobSpec, parse_job
from tui_backup.store import yamlio
from tui_backup.store.jobs import JobStore
from tui_backup.store.paths import Home

EDITS = 200

WRITER = textwrap.dedent(
    """
    import sys
    from dataclasses import replace
    from pathlib import Path
    from tui_backup.store.jobs import JobStore
    from tui_backup.store.paths import Home

    store = JobStore(Home(Path(sys.argv[1])), lock_timeout=30)
    tag, count = sys.argv[2], int(sys.argv[3])
    for i in range(count):
        store.modify("shared", lambda s: replace(s, exclude=(*s.exclude, f"{tag}-{i}")))
    """
)

READER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tui_backup.model.job import parse_job
    from tui_backup.store import yamlio

    path, stop = Path(sys.argv[1]), Path(sys.argv[2])
    reads, last = 0, 0
    print("ready", flush=True)
    while not stop.exists():
        spec = parse_job(yamlio.loads(path.read_bytes()), str(path), "shared")
        assert spec.version >= last, (spec.version, last)
        assert len(spec.exclude) == spec.version - 1, (spec.version, len(spec.exclude))
        last = spec.version
        reads += 1
    print(reads, last, flush=True)
    """
)


def test_two_writers_200_edits_each_lose_nothing(home: Home, tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    JobStore(home).create(JobSpec("shared", (str(src),), str(dest)))
    path = home.job_file("shared")
    stop = tmp_path / "stop"

    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None
    assert reader.stdout.readline().strip() == "ready"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home.root), tag, str(EDITS)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    stop.touch()
    out, err = reader.communicate(timeout=30)
    assert reader.returncode == 0, err
    reads, last_seen = (int(x) for x in out.split())
    assert reads > 10, "the reader should have read while the writers wrote"
    assert last_seen == 2 * EDITS + 1

    final = parse_job(yamlio.loads(path.read_bytes()), str(path), "shared")
    assert final.version == 2 * EDITS + 1
    expected = {f"{tag}-{i}" for tag in ("a", "b") for i in range(EDITS)}
    assert set(final.exclude) == expected
    assert len(final.exclude) == len(expected)
    # Each writer's own edits stayed in its order.
    for tag in ("a", "b"):
        mine = [int(x.split("-")[1]) for x in final.exclude if x.startswith(tag)]
        assert mine == sorted(mine)
    # The .bak copy is the same last good version, and nothing was quarantined.
    bak = parse_job(yamlio.loads(path.with_name("shared.yaml.bak").read_bytes()), "", "shared")
    assert bak == final
    assert not list(home.jobs_dir.glob("*.corrupt-*"))


LISTER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from tui_backup.store.jobs import JobStore
    from tui_backup.store.paths import Home

    home, go = Home(Path(sys.argv[1])), Path(sys.argv[2])
    events = []
    store = JobStore(home, on_error=events.append)
    print("ready", flush=True)
    while not go.exists():
        pass  # a start line for all readers at once
    listing = store.list()
    (shared,) = [j for j in listing.jobs if j.name == "shared"]
    print(shared.version, sum(e.job_name == "shared" for e in events), flush=True)
    """
)


def test_many_readers_of_a_broken_file_repair_it_once(home: Home, tmp_path: Path) -> None:
    """Every reader falls back to the good version; exactly one moves the bad file aside."""
    import os
    import time

    src = tmp_path / "src"
    src.mkdir()
    JobStore(home).create(JobSpec("shared", (str(src),), str(tmp_path / "dest")))
    path = home.job_file("shared")
    path.write_text("garbage: [")
    then = time.time() - 60
    os.utime(path, (then, then))
    go = tmp_path / "go"
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", LISTER, str(home.root), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for r in readers:
        assert r.stdout is not None and r.stdout.readline().strip() == "ready"
    go.touch()
    results = []
    for r in readers:
        out, err = r.communicate(timeout=60)
        assert r.returncode == 0, err
        results.append(tuple(int(x) for x in out.split()))
    assert all(version == 1 for version, _ in results)
    assert len(list(home.jobs_dir.glob("shared.yaml.corrupt-*"))) == 1
    assert sum(n for _, n in results) >= 1  # whoever repaired it reported it
