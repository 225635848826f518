"""``tui-backup job ...`` through real processes, as a new user would drive it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tui_backup.store.paths import HOME_ENV, Home

CliRunner = Callable[..., Any]

LIST_KEYS = {
    "name",
    "engine",
    "sources",
    "destination",
    "schedule",
    "enabled",
    "status",
    "version",
    "last_run",
    "next_run",
}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    (path / "docs").mkdir(parents=True)
    (path / "docs" / "a.txt").write_text("hello")
    return path


def add_job(cli: CliRunner, src: Path, name: str = "web", *extra: str) -> None:
    dest = src.parent / f"backup-{name}"
    r = cli("job", "add", name, "--source", str(src), "--dest", str(dest), *extra)
    assert r.returncode == 0, r


def test_new_user_scenario(cli: CliRunner, home: Home, src: Path, tmp_path: Path) -> None:
    # Add a job, with paths relative to where the user stands.
    r = cli(
        "job",
        "add",
        "web",
        "--source",
        "data",
        "--dest",
        "backups/web",
        "--schedule",
        "0 2 * * *",
        "--keep-daily",
        "7",
        "--exclude",
        "*.tmp",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r
    assert "jobs/web.yaml" in r.stderr

    # List it as JSON.
    r = cli("job", "list", "--json")
    assert r.returncode == 0, r
    (job,) = r.json()
    assert set(job) >= LIST_KEYS
    assert job["sources"] == [str(src)] and job["destination"] == str(tmp_path / "backups/web")
    assert (job["name"], job["engine"], job["status"], job["version"]) == (
        "web",
        "snapshot",
        "idle",
        1,
    )
    assert job["enabled"] is True and job["last_run"] is None
    assert job["schedule"] == "0 2 * * *" and job["next_run"].endswith("Z")

    # Overwrite its YAML with garbage and list again.
    garbage = "name: web\nsources: [this is {not yaml\n"
    home.job_file("web").write_text(garbage)
    r = cli("job", "list", "--json")
    assert r.returncode == 0, r
    (job,) = r.json()
    assert job["name"] == "web" and job["version"] == 1  # the last good version
    assert "jobs/web.yaml" in r.stderr and "warning" in r.stderr
    (kept,) = home.jobs_dir.glob("web.yaml.corrupt-*")
    assert kept.read_text() == garbage  # the garbage is kept aside

    r = cli("errors", "--json")
    assert r.returncode == 0, r
    (event,) = [e for e in r.json() if e["error_type"] == "invalid_job_file"]
    assert "jobs/web.yaml" in event["message"] and kept.name in event["message"]
    assert event["job_name"] == "web" and event["resolved"] is False
    assert {"id", "timestamp", "severity", "component", "message"} <= set(event)

    # The store healed the file: the next listing is clean.
    r = cli("job", "list", "--json")
    assert r.returncode == 0 and r.stderr == "", r


def test_invalid_retention_writes_nothing(cli: CliRunner, home: Home, src: Path) -> None:
    r = cli("job", "add", "web", "--source", str(src), "--dest", "/b/web", "--keep-daily", "-3")
    assert r.returncode == 2, r
    assert "jobs/web.yaml: retention.keep_daily: must be an integer >= -1" in r.stderr
    assert list(home.jobs_dir.iterdir()) == []
    r = cli("job", "add", "web", "--source", str(src), "--dest", "/b/web", "--keep-weekly", "lots")
    assert r.returncode == 2 and "retention.keep_weekly" in r.stderr, r
    assert list(home.jobs_dir.iterdir()) == []


def test_every_problem_is_listed(cli: CliRunner, home: Home, src: Path) -> None:
    r = cli(
        "job",
        "add",
        "Bad Name",
        "--source",
        str(src),
        "--dest",
        str(src / "inside"),
        "--schedule",
        "sometimes",
        "--retries",
        "-1",
        "--engine",
        "tape",
    )
    assert r.returncode == 2, r
    for field in ("name:", "engine:", "schedule:", "retries:"):
        assert field in r.stderr
    assert r.stderr.count("error:") >= 4
    assert list(home.jobs_dir.iterdir()) == []
    r = cli("job", "add", "web", "--dest", "/b")  # no source at all
    assert r.returncode == 2 and "sources: must list at least one path" in r.stderr, r


def test_nested_destination_is_refused(cli: CliRunner, home: Home, src: Path) -> None:
    r = cli("job", "add", "web", "--source", str(src), "--dest", str(src / "backups"))
    assert r.returncode == 2 and "destination: must not be inside source" in r.stderr, r


def test_add_twice_and_unknown_jobs(cli: CliRunner, src: Path) -> None:
    add_job(cli, src)
    r = cli("job", "add", "web", "--source", str(src), "--dest", "/b/other")
    assert r.returncode == 2 and "already exists" in r.stderr, r
    for args in (("show", "nope"), ("edit", "nope", "--retries", "1"), ("rm", "nope")):
        r = cli("job", *args)
        assert r.returncode == 2 and "no job named 'nope'" in r.stderr, r


def test_list_as_a_plain_table(cli: CliRunner, src: Path) -> None:
    add_job(cli, src, "alpha", "--schedule", "@daily")
    add_job(cli, src, "beta", "--disabled")
    r = cli("job", "list")
    assert r.returncode == 0, r
    header, alpha, beta = r.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "STATUS", "ENGINE"]
    assert alpha.split()[:4] == ["alpha", "idle", "snapshot", "@daily"]
    assert beta.startswith("beta") and "(disabled)" in beta
    assert "\x1b[" not in r.stdout  # no colour codes in a pipe


def test_show(cli: CliRunner, src: Path) -> None:
    add_job(cli, src, "web", "--keep-last", "3", "--description", "the site")
    r = cli("job", "show", "web", "--json")
    assert r.returncode == 0, r
    data = r.json()
    assert set(data) >= LIST_KEYS
    assert data["definition"]["retention"] == {"keep_last": 3}
    assert data["definition"]["description"] == "the site"
    assert data["state"]["status"] == "idle"
    assert data["file"].endswith("jobs/web.yaml")
    r = cli("job", "show", "web")
    assert r.returncode == 0 and "keep_last: 3" in r.stdout and "status:   idle" in r.stdout
    assert data["issue"] is None


def test_show_a_job_whose_file_went_bad(cli: CliRunner, home: Home, src: Path) -> None:
    add_job(cli, src, "web")
    home.job_file("web").write_text("retries: many\n")
    r = cli("job", "show", "web", "--json")
    assert r.returncode == 0, r
    data = r.json()
    assert data["version"] == 1 and "retries" in data["issue"]
    assert "warning: jobs/web.yaml: retries: must be an integer between 0 and 20" in r.stderr


def test_edit(cli: CliRunner, src: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    add_job(cli, src, "web", "--exclude", "*.tmp", "--keep-daily", "7")
    r = cli(
        "job",
        "edit",
        "web",
        "--add-source",
        str(other),
        "--add-exclude",
        "*.log",
        "--keep-daily",
        "0",
        "--keep-weekly",
        "4",
        "--schedule",
        "@weekly",
        "--disable",
        "--json",
    )
    assert r.returncode == 0, r
    job = r.json()
    assert job["version"] == 2 and job["enabled"] is False
    assert job["sources"] == [str(src), str(other)] and job["schedule"] == "@weekly"
    data = cli("job", "show", "web", "--json").json()["definition"]
    assert data["exclude"] == ["*.tmp", "*.log"] and data["retention"] == {"keep_weekly": 4}

    r = cli("job", "edit", "web", "--remove-source", str(src), "--clear-schedule", "--enable")
    assert r.returncode == 0, r
    job = cli("job", "show", "web", "--json").json()
    assert job["sources"] == [str(other)] and job["schedule"] is None and job["enabled"]

    r = cli("job", "edit", "web", "--keep-last", "-2")
    assert r.returncode == 2 and "retention.keep_last" in r.stderr, r
    r = cli("job", "edit", "web")
    assert r.returncode == 2 and "nothing to change" in r.stderr, r
    r = cli("job", "edit", "web", "--if-version", "1", "--retries", "5")
    assert r.returncode == 1 and "changed elsewhere" in r.stderr, r
    assert cli("job", "show", "web", "--json").json()["version"] == 3


def test_two_processes_editing_one_job_lose_nothing(cli: CliRunner, home: Home, src: Path) -> None:
    add_job(cli, src)
    edits = 6
    loop = (
        'for i in $(seq 1 {n}); do "{py}" -m tui_backup job edit web --add-exclude "{tag}-$i"'
        " || exit 1; done"
    )
    procs = [
        subprocess.Popen(
            ["bash", "-c", loop.format(n=edits, py=sys.executable, tag=tag)],
            env={**os.environ, HOME_ENV: str(home.root)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    job = cli("job", "show", "web", "--json").json()
    assert job["version"] == 1 + 2 * edits
    expected = {f"{t}-{i}" for t in "ab" for i in range(1, edits + 1)}
    assert set(job["definition"]["exclude"]) == expected


def test_rm(cli: CliRunner, home: Home, src: Path) -> None:
    add_job(cli, src, "keep")
    dest = src.parent / "backup-keep"
    dest.mkdir()
    (dest / "snapshot").write_text("precious")

    r = cli("job", "rm", "keep", "--purge-data")  # no terminal, no --yes: refused
    assert r.returncode == 2 and "--yes" in r.stderr, r
    assert home.job_file("keep").exists() and dest.exists()

    r = cli("job", "rm", "keep")
    assert r.returncode == 0, r
    assert not home.job_file("keep").exists() and (dest / "snapshot").exists()

    # With --yes it goes ahead: the job is gone and so are the snapshots it made
    # (docs/engines.md: exactly this job's), while "keep"'s hand-made file stays.
    add_job(cli, src, "gone")
    assert cli("run", "gone").returncode == 0
    gone = src.parent / "backup-gone"
    (made,) = [n for n in os.listdir(gone) if n[:1].isdigit()]
    assert (gone / made / "docs" / "a.txt").read_text() == "hello"
    r = cli("job", "rm", "gone", "--purge-data", "--yes")
    assert r.returncode == 0 and "and its backups" in r.stderr, r
    assert cli("job", "list", "--json").json() == []
    assert not (gone / made).exists(), os.listdir(gone)
    assert (dest / "snapshot").read_text() == "precious"


def test_rm_of_a_file_that_never_was_a_job(cli: CliRunner, home: Home) -> None:
    home.job_file("junk").write_text("just: [some text\n")
    r = cli("job", "show", "junk")
    assert r.returncode == 2 and "jobs/junk.yaml: not valid YAML" in r.stderr, r
    r = cli("job", "rm", "junk")
    assert r.returncode == 0, r
    (kept,) = home.jobs_dir.glob("junk.yaml.corrupt-*")
    assert kept.read_text() == "just: [some text\n" and kept.name in r.stderr


def test_home_option_beats_the_environment(cli: CliRunner, tmp_path: Path, src: Path) -> None:
    other = tmp_path / "other-home"
    r = cli("job", "add", "x", "--source", str(src), "--dest", "/b/x", "--home", str(other))
    assert r.returncode == 0, r
    assert (other / "jobs" / "x.yaml").exists()
    assert cli("job", "list", "--json").json() == []
    assert [j["name"] for j in cli("--home", str(other), "job", "list", "--json").json()] == ["x"]


def test_version(cli: CliRunner) -> None:
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("tui-backup ")


# -- the option logic on its own (no process needed) --------------------------


def _edit_args(*argv: str) -> Any:
    import argparse

    from tui_backup.cli import job_options

    parser = argparse.ArgumentParser()
    job_options.add_definition_options(parser, editing=True)
    return parser.parse_args(list(argv))


def test_apply_edits_lists_and_rules() -> None:
    from tui_backup.cli import job_options
    from tui_backup.model.problems import ValidationError

    data = {
        "sources": ["/a", "/b"],
        "exclude": ["*.tmp"],
        "retention": {"keep_daily": 7, "keep_within": "2d"},
        "schedule": "@daily",
    }
    out = job_options.apply(
        data,
        _edit_args("--remove-source", "/a", "--keep-within", "0", "--keep-last", "3"),
        "jobs/x.yaml",
    )
    assert out["sources"] == ["/b"]
    assert out["retention"] == {"keep_daily": 7, "keep_last": 3}
    assert data["sources"] == ["/a", "/b"]  # the input is not changed
    out = job_options.apply(data, _edit_args("--clear-retention", "--clear-schedule"), "x")
    assert "retention" not in out and out["schedule"] is None
    with pytest.raises(ValidationError) as info:
        job_options.apply(data, _edit_args("--remove-exclude", "*.log"), "jobs/x.yaml")
    assert [str(p) for p in info.value.problems] == [
        "jobs/x.yaml: exclude: '*.log' is not an exclude"
    ]
    assert not job_options.has_changes(_edit_args())
    assert job_options.has_changes(_edit_args("--disable"))
    assert job_options.resolve_path("nas:/backups") == "nas:/backups"
    assert job_options.resolve_path("rel").startswith("/")


def test_the_installed_console_script(home: Home, src: Path) -> None:
    """The ``tui-backup`` entry point itself (the other tests use ``python -m``)."""
    # The script installed beside this interpreter (a venv need not be activated).
    exe = str(Path(sys.executable).parent / "tui-backup")
    assert os.access(exe, os.X_OK), f"{exe}: the package's console script is not installed"
    env = {**os.environ, HOME_ENV: str(home.root)}
    add = subprocess.run(
        [exe, "job", "add", "web", "--source", str(src), "--dest", str(src.parent / "b")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert add.returncode == 0, add.stderr
    listed = subprocess.run(
        [exe, "job", "list", "--json"], env=env, capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0 and '"name": "web"' in listed.stdout, listed.stderr


@pytest.mark.parametrize(("answer", "removed"), [("n", False), ("y", True)])
def test_purge_asks_on_a_terminal(home: Home, src: Path, answer: str, removed: bool) -> None:
    """On a TTY, ``job rm --purge-data`` asks first; only "y" goes ahead."""
    env = {**os.environ, HOME_ENV: str(home.root)}
    base = [sys.executable, "-m", "tui_backup", "job"]
    add = [*base, "add", "web", "--source", str(src), "--dest", str(src.parent / "b")]
    assert subprocess.run(add, env=env, capture_output=True, check=False).returncode == 0
    master, slave = os.openpty()
    try:
        os.write(master, f"{answer}\n".encode())
        proc = subprocess.run(
            [*base, "rm", "web", "--purge-data"],
            stdin=slave,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0, proc.stderr
    assert home.job_file("web").exists() is not removed


def test_a_reader_that_leaves_early_is_not_an_error(home: Home, tmp_path: Path) -> None:
    """``tui-backup job list --json | head -1``: no traceback, no error, exit 0."""
    from tui_backup.model.job import JobSpec
    from tui_backup.store.jobs import JobStore

    store = JobStore(home)
    for i in range(150):  # about 90 KB of JSON: more than a pipe buffers
        store.create(JobSpec(f"job{i:03d}", (f"/srv/{i}",), f"/backup/{i}"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_backup", "job", "list", "--json"],
        env={**os.environ, HOME_ENV: str(home.root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().strip() == "["
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert err == ""
