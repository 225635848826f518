"""A writer killed with SIGKILL at any moment never leaves a job file that does not parse."""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tui_backup.model.job import JobSpec, parse_job
from tui_backup.store import yamlio
from tui_backup.store.jobs import JobStore
from tui_backup.store.paths import Home

ROUNDS = 50


def _parse(path: Path) -> JobSpec:
    return parse_job(yamlio.loads(path.read_bytes()), str(path), "victim")


def _writer_child(home: Home, report: int) -> None:
    """In the forked child: rewrite the job forever, reporting each committed version."""
    try:
        store = JobStore(home)
        while True:
            new = store.modify("victim", lambda s: replace(s, description=f"v{s.version + 1}"))
            os.write(report, f"{new.version}\n".encode())
    finally:
        os._exit(1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_sigkill_at_50_random_moments(home: Home, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    JobStore(home).create(JobSpec("victim", (str(src),), str(tmp_path / "dest"), description="v1"))
    path = home.job_file("victim")
    bak = path.with_name("victim.yaml.bak")
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    acknowledged = 1
    for round_ in range(ROUNDS):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(r)
            _writer_child(home, w)
        os.close(w)
        with os.fdopen(r) as pipe:
            first = pipe.readline()
            assert first, f"the writer died on its own (round {round_})"
            time.sleep(rng.uniform(0, 0.015))  # the random moment to kill at
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            rest = pipe.read()
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        versions = [int(v) for v in (first + rest).split()]
        acknowledged = max(acknowledged, *versions)

        where = f"round {round_}, seed {seed}"
        spec = _parse(path)  # the file itself always parses: os.replace is atomic
        # It holds the last acknowledged version, or the next one if the kill
        # came after the rename but before the child could report it.
        assert spec.version in (acknowledged, acknowledged + 1), where
        assert spec.description == f"v{spec.version}", where
        backup = _parse(bak)
        assert backup.version in (spec.version - 1, spec.version), where
        assert backup.description == f"v{backup.version}", where
        acknowledged = spec.version

    listing = JobStore(home).list()
    assert [j.name for j in listing.jobs] == ["victim"] and listing.issues == ()
    assert not list(home.jobs_dir.glob("*.corrupt-*"))
    # Temp files of killed writers are swept by the next write; at most the last kill's remain.
    assert len(list(home.jobs_dir.glob(".victim.yaml.*.tmp"))) <= 2
