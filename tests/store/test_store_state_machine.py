"""Random sequences of commands, hand edits and garbage against the job store,
checked after every step against a plain dict of what must be in effect."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tui_backup.model.job import JobSpec
from tui_backup.store import yamlio
from tui_backup.store.errors import JobExists, JobNotFound, VersionConflict
from tui_backup.store.jobs import JobStore
from tui_backup.store.paths import Home

NAMES = st.sampled_from(["a", "b", "c"])


def _age(path: Path) -> None:
    """Date a hand edit in the past, outside the store's grace for editors mid-write."""
    then = time.time() - 60
    os.utime(path, (then, then))


class JobStoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        self.home = Home(self.tmp / "home")
        self.store = JobStore(self.home)
        self.expected: dict[str, JobSpec] = {}
        """What must be in effect now."""
        self.last_good: dict[str, JobSpec] = {}
        """What ``.bak`` holds: written by the store, or kept by the repair step.
        A read never makes a hand edit the last good version."""
        self.garbage_written = 0

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _spec(self, name: str, retries: int = 2) -> JobSpec:
        return JobSpec(name, (f"/srv/{name}",), f"/backup/{name}", retries=retries)

    @rule(name=NAMES, retries=st.integers(0, 20))
    def create(self, name: str, retries: int) -> None:
        if name in self.expected:
            with pytest.raises(JobExists):
                self.store.create(self._spec(name, retries))
            return
        self.expected[name] = self.last_good[name] = self.store.create(self._spec(name, retries))

    @rule(name=NAMES, retries=st.integers(0, 20))
    def modify(self, name: str, retries: int) -> None:
        if name not in self.expected:
            with pytest.raises(JobNotFound):
                self.store.modify(name, lambda s: replace(s, retries=retries))
            return
        new = self.store.modify(name, lambda s: replace(s, retries=retries))
        assert new.version == self.expected[name].version + 1
        self.expected[name] = self.last_good[name] = new

    @rule(name=NAMES)
    def stale_update_is_refused(self, name: str) -> None:
        if name not in self.expected:
            return
        current = self.expected[name]
        with pytest.raises(VersionConflict):
            self.store.update(replace(current, version=current.version + 7, retries=0))

    @rule(name=NAMES)
    def delete(self, name: str) -> None:
        if name not in self.expected:
            with pytest.raises(JobNotFound):
                self.store.delete(name)
            return
        self.store.delete(name)
        del self.expected[name]
        del self.last_good[name]

    @rule(name=NAMES, junk=st.sampled_from(["", "x: [", "- 1\n", "retries: many\n"]))
    def hand_writes_garbage(self, name: str, junk: str) -> None:
        if name not in self.expected:
            return
        path = self.home.job_file(name)
        path.write_text(junk)
        _age(path)
        self.garbage_written += 1
        self.expected[name] = self.last_good[name]

    @rule(name=NAMES, retries=st.integers(0, 20))
    def hand_edits_validly(self, name: str, retries: int) -> None:
        if name not in self.expected:
            return
        path = self.home.job_file(name)
        data = self.expected[name].to_dict()
        data["retries"] = retries
        path.write_text(yamlio.dumps(data))
        _age(path)
        self.expected[name] = replace(self.expected[name], retries=retries)

    @rule()
    def repair_step(self) -> None:
        """The explicit step (start-up, or the watcher seeing a change)."""
        JobStore(self.home).repair()
        self.last_good = dict(self.expected)

    @invariant()
    def what_is_in_effect_matches(self) -> None:
        for store in (self.store, JobStore(self.home)):  # this process, and a fresh one
            listing = store.list()
            assert {j.name: j for j in listing.jobs} == self.expected
        kept = list(self.home.jobs_dir.glob("*.corrupt-*"))
        assert len(kept) == self.garbage_written  # every bad version kept, none lost


TestJobStoreMachine = JobStoreMachine.TestCase
TestJobStoreMachine.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
