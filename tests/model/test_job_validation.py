"""JobSpec validation: every problem at once, each naming file and field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_backup.model.job import (
    DESTINATION_RULES,
    ENGINES,
    JobSpec,
    is_valid_name,
    parse_job,
    validate,
)
from tui_backup.model.problems import Problem, ValidationError
from tui_backup.model.retention import COUNT_KEYS, RetentionPolicy

FILE = "jobs/web.yaml"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "web", "sources": ["/srv/www"], "destination": "/backup/web"}
    data.update(extra)
    return data


def problems(data: Any, expected_name: str | None = "web") -> list[Problem]:
    with pytest.raises(ValidationError) as info:
        parse_job(data, FILE, expected_name=expected_name)
    assert all(p.file == FILE for p in info.value.problems)
    return list(info.value.problems)


def fields(data: Any, expected_name: str | None = "web") -> set[str]:
    return {p.field for p in problems(data, expected_name)}


# -- names -------------------------------------------------------------------


@settings(deadline=None)  # a busy CI machine: no timing in unit tests
@given(st.from_regex(NAME_RE, fullmatch=True))
def test_every_name_matching_the_pattern_is_accepted(name: str) -> None:
    assert is_valid_name(name)
    spec = parse_job(base(name=name), f"jobs/{name}.yaml", expected_name=name)
    assert spec.name == name


@settings(deadline=None)  # a busy CI machine: no timing in unit tests
@given(st.text(max_size=80))
def test_names_outside_the_pattern_are_refused_by_field(name: str) -> None:
    if NAME_RE.fullmatch(name):
        return
    assert not is_valid_name(name)
    assert "name" in fields(base(name=name), expected_name=None)


@pytest.mark.parametrize("name", ["", "-a", ".a", "Web", "a" * 65, "a b", "a/b", "ü", "a\n"])
def test_known_bad_names(name: str) -> None:
    assert not is_valid_name(name)


def test_name_must_match_its_file() -> None:
    (p,) = problems(base(name="other"))
    assert p.field == "name" and "'web'" in p.message


def test_name_defaults_to_the_file_name() -> None:
    data = base()
    del data["name"]
    assert parse_job(data, FILE, expected_name="web").name == "web"


# -- retention ---------------------------------------------------------------


@settings(deadline=None)  # a busy CI machine: no timing in unit tests
@given(st.sampled_from(COUNT_KEYS), st.integers(min_value=-1, max_value=10**6))
def test_retention_counts_of_minus_one_and_up_are_accepted(key: str, value: int) -> None:
    spec = parse_job(base(retention={key: value}), FILE, "web")
    assert spec.retention is not None and getattr(spec.retention, key) == value


@settings(deadline=None)  # a busy CI machine: no timing in unit tests
@given(
    st.sampled_from(COUNT_KEYS),
    st.one_of(
        st.integers(max_value=-2),
        st.integers(min_value=1_000_001),
        st.booleans(),
        st.floats(allow_nan=True),
        st.text(max_size=5),
        st.none(),
        st.lists(st.integers(), max_size=2),
    ),
)
def test_bad_retention_counts_name_the_field(key: str, value: Any) -> None:
    found = problems(base(retention={key: value}))
    assert [p.field for p in found] == [f"retention.{key}"]
    assert found[0].message.startswith("must be an integer >= -1")
    assert str(found[0]).startswith(f"{FILE}: retention.{key}: must be an integer >= -1")


def test_retention_unknown_rule_and_shape() -> None:
    assert fields(base(retention={"keep_forever": 1})) == {"retention.keep_forever"}
    assert fields(base(retention=[1, 2])) == {"retention"}


@settings(deadline=None)  # a busy CI machine: no timing in unit tests
@given(
    st.dictionaries(
        st.sampled_from(COUNT_KEYS), st.integers(min_value=-1, max_value=100), max_size=6
    )
)
def test_retention_round_trips(rules: dict[str, int]) -> None:
    policy, found = RetentionPolicy.parse(rules, FILE)
    assert found == [] and policy is not None
    again, _ = RetentionPolicy.parse(policy.to_dict(), FILE)
    assert again == policy


# -- everything at once ------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    found = fields(
        {
            "name": "web",
            "sources": ["relative", 7],
            "destination": "",
            "engine": "tape",
            "schedule": "every day",
            "retention": {"keep_daily": -5, "keep_within": "soon"},
            "retries": 99,
            "enabled": "yes",
            "colour": "blue",
            "version": -1,
        }
    )
    assert found == {
        "sources[0]",
        "sources[1]",
        "destination",
        "engine",
        "schedule",
        "retention.keep_daily",
        "retention.keep_within",
        "retries",
        "enabled",
        "colour",
        "version",
    }


@pytest.mark.parametrize("data", [None, [], "text", 3])
def test_a_file_that_is_not_a_mapping(data: Any) -> None:
    (p,) = problems(data)
    assert p.field == "" and "mapping" in p.message


def test_missing_required_fields() -> None:
    assert fields({"name": "web"}) == {"sources", "destination"}


# -- nesting -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sources", "dest", "field"),
    [
        (["/data"], "/data/backup", "destination"),
        (["/data"], "/data", "destination"),
        (["/data/"], "/data/sub/deeper", "destination"),
        (["/srv/data/photos"], "/srv/data", "sources[0]"),
        (["/home", "/backup/x"], "/backup", "sources[1]"),
        (["/"], "/mnt/backup", "destination"),
    ],
)
def test_nested_source_and_destination_are_refused(
    sources: list[str], dest: str, field: str
) -> None:
    assert field in fields(base(sources=sources, destination=dest))


def test_siblings_with_a_common_prefix_are_fine() -> None:
    parse_job(base(sources=["/data"], destination="/data-backup"), FILE, "web")


def test_nesting_is_seen_through_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "backups").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert "destination" in fields(base(sources=[str(link)], destination=str(real / "backups")))


def test_remote_destinations() -> None:
    rsync = parse_job(base(engine="rsync", destination="ana@nas:/backups/web"), FILE, "web")
    assert rsync.is_remote
    restic = parse_job(base(engine="restic", destination="s3:s3.amazonaws.com/bkt"), FILE, "web")
    assert restic.is_remote
    assert "destination" in fields(base(destination="nas:/backups"))  # snapshot: local only
    assert "destination" in fields(base(engine="restic", destination="relative/repo"))


# -- schedule and other fields ----------------------------------------------


@pytest.mark.parametrize("expr", ["0 2 * * *", "*/15 * * * 1-5", "@daily", "@hourly", "0 0 1 * *"])
def test_valid_schedules(expr: str) -> None:
    assert parse_job(base(schedule=expr), FILE, "web").schedule == expr


@pytest.mark.parametrize(
    "expr", ["", "* * * *", "* * * * * *", "61 * * * *", "@reboot", "0 0 31 2 *", 5]
)
def test_invalid_schedules(expr: Any) -> None:
    assert fields(base(schedule=expr)) == {"schedule"}


def test_round_trip_through_to_dict() -> None:
    spec = parse_job(
        base(
            description="site",
            schedule="@daily",
            exclude=["*.tmp", ".cache/"],
            retention={"keep_last": 7, "keep_within": "1y2m"},
            retries=0,
            enabled=False,
            hooks={"before": [["true"]]},
            env={"A": "1"},
            version=4,
        ),
        FILE,
        "web",
    )
    assert parse_job(spec.to_dict(), FILE, "web") == spec
    assert validate(spec) == spec


def test_specs_are_immutable() -> None:
    spec = JobSpec("web", ("/a",), "/b")
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.none() | st.integers() | st.text(max_size=8)))
def test_arbitrary_mappings_never_crash(data: dict[str, Any]) -> None:
    try:
        parse_job(data, FILE, "web")
    except ValidationError as exc:
        assert exc.problems


def test_undecodable_text_is_refused_by_field() -> None:
    """Paths with bytes that are not UTF-8 reach Python as lone surrogates; YAML
    cannot hold them, so they are refused up front rather than failing on write."""
    found = fields(base(sources=["/srv/caf\udce9"], destination="/b\udcff", description="\ud800"))
    assert found == {"sources[0]", "destination", "description"}


def test_every_engine_has_a_destination_rule() -> None:
    """A new engine must say which destinations it takes (the model cannot ask it)."""
    assert set(DESTINATION_RULES) == set(ENGINES)


@pytest.mark.parametrize(
    ("engine", "destination", "ok"),
    [
        ("snapshot", "/backups/x", True),
        ("snapshot", "backup@host:/srv/x", False),
        ("rsync", "backup@host:/srv/x", True),
        ("rsync", "relative/dir", False),
        ("restic", "sftp:host:/repo", True),
        ("restic", "s3:localhost/bucket", True),
        ("restic", "relative", False),
    ],
)
def test_destination_spellings_per_engine(engine: str, destination: str, ok: bool) -> None:
    data = {"name": "j", "engine": engine, "sources": ["/src"], "destination": destination}
    if ok:
        assert parse_job(data, "jobs/j.yaml", "j").destination == destination
    else:
        with pytest.raises(ValidationError) as err:
            parse_job(data, "jobs/j.yaml", "j")
        assert any(
            p.field == "destination" and destination in p.message for p in err.value.problems
        )
