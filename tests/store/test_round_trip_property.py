"""Any valid job survives the store unchanged: write, read back (fresh process view), equal."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tui_backup.model.duration import Duration
from tui_backup.model.job import JobSpec, parse_job
from tui_backup.model.retention import COUNT_KEYS, RetentionPolicy
from tui_backup.store.jobs import JobStore
from tui_backup.store.paths import Home

names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
segment = st.text("abcxyz019 ._-ü", min_size=1, max_size=8).filter(
    lambda s: s.strip() not in ("", ".", "..")
)
# Control and format characters are refused in text fields (model/text.py): not generated.
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp")), max_size=30
)
durations = st.builds(Duration, *(st.integers(0, 50) for _ in range(4)))
retention = st.one_of(
    st.none(),
    st.builds(
        RetentionPolicy,
        **{k: st.integers(-1, 1000) for k in COUNT_KEYS},
        keep_within=st.none() | durations,
    ),
)


@st.composite
def specs(draw: st.DrawFn) -> JobSpec:
    sources = draw(st.lists(segment, min_size=1, max_size=3, unique=True))
    return JobSpec(
        name=draw(names),
        sources=tuple(f"/srv/{s}" for s in sources),
        destination="/backup/" + draw(segment),
        schedule=draw(st.sampled_from([None, "0 2 * * *", "@daily", "*/15 * * * 1-5"])),
        exclude=tuple(draw(st.lists(text.filter(str.strip), max_size=4))),
        retention=draw(retention),
        retries=draw(st.integers(0, 20)),
        enabled=draw(st.booleans()),
        description=draw(text | st.just("two\nlines")),
        missed=draw(st.sampled_from(["run", "skip"])),
    )


@settings(max_examples=25, deadline=None)
@given(specs())
def test_store_round_trip(spec: JobSpec) -> None:
    assert parse_job(spec.to_dict(), "x", spec.name) == spec  # the model agrees first
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(Path(tmp))
        created = JobStore(home).create(spec)
        assert created == replace(spec, version=1)
        assert JobStore(home).get(spec.name) == created
        assert JobStore(home).list().jobs == (created,)
