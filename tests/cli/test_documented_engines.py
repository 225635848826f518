"""Documented engine behaviour seen from the CLI, as real processes on real files.

- ``job rm --purge-data`` on every engine (docs/cli.md, docs/engines.md): exactly
  this job's snapshots go; another job's snapshots (a neighbouring destination,
  or the same shared restic repository) and a person's own restic snapshots stay.
- restic snapshots carry ``tui-backup:<job>`` and the host (docs/remote-engines.md).
- An unreadable file is a warning and the run succeeds, on every engine (restic
  exit 3, rsync exit 23): as root the run is started without CAP_DAC_OVERRIDE.
- rsync exit 24 (a file vanished) is a success with a warning; exit 20
  (interrupted) is ``stopped`` (docs/remote-engines.md).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tui_backup.store.paths import HOME_ENV, Home

CliRunner = Callable[..., Any]
ENGINES = ["snapshot", "rsync", "restic"]


def need(engine: str) -> None:
    if engine != "snapshot" and shutil.which(engine) is None:
        pytest.skip(f"{engine} is not installed (.ci/run installs it)")


def make_src(tmp: Path, name: str) -> Path:
    src = tmp / f"src-{name}"
    (src / "docs").mkdir(parents=True)
    (src / "docs" / "a.txt").write_text(f"alpha of {name}\n")
    (src / "b.txt").write_text(f"beta of {name}\n")
    return src


def add(cli: CliRunner, tmp: Path, name: str, engine: str, dest: Path) -> Path:
    src = make_src(tmp, name)
    extra: list[str] = []
    if engine == "restic":
        pw = tmp / "pw"
        pw.write_text("correct horse\n")
        extra = ["--password-file", str(pw)]
    r = cli(
        "job", "add", name, "--engine", engine, "--source", str(src), "--dest", str(dest), *extra
    )
    assert r.returncode == 0, r
    if engine == "restic":
        r = cli("init", name)
        assert r.returncode == 0 or "already" in r.stderr, r
    return src


def restic_snapshots(repo: Path, pw: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["restic", "-r", str(repo), "snapshots", "--json", "--no-lock"],
        env={**os.environ, "RESTIC_PASSWORD_FILE": str(pw)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout) or []


def snapshot_ids(cli: CliRunner, name: str) -> list[str]:
    r = cli("snapshots", name, "--json")
    assert r.returncode == 0, r
    return [s["id"] for s in r.json()]


# -- --purge-data on every engine ---------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_purge_data_deletes_this_jobs_snapshots_and_keeps_the_others(
    cli: CliRunner, home: Home, tmp_path: Path, engine: str
) -> None:
    need(engine)
    disk = tmp_path / "disk"
    disk.mkdir()
    shared = engine == "restic"  # restic jobs may share one repository (docs/engines.md)
    dest_a = disk / ("repo" if shared else "a")
    dest_b = disk / ("repo" if shared else "b")
    add(cli, tmp_path, "a", engine, dest_a)
    add(cli, tmp_path, "b", engine, dest_b)
    for name in ("a", "b", "a"):
        r = cli("run", name)
        assert r.returncode == 0, r
    a_ids, b_ids = snapshot_ids(cli, "a"), snapshot_ids(cli, "b")
    assert len(a_ids) == 2 and len(b_ids) == 1
    if shared:
        pw = tmp_path / "pw"
        # A person's own restic snapshot in the same repository (no tag of ours).
        subprocess.run(
            ["restic", "-r", str(dest_a), "backup", "--json", str(tmp_path / "src-b")],
            env={**os.environ, "RESTIC_PASSWORD_FILE": str(pw)},
            capture_output=True,
            check=True,
        )
        listed = restic_snapshots(dest_a, pw)
        tags = sorted((s.get("tags") or [""])[0] for s in listed)
        assert tags == ["", "tui-backup:a", "tui-backup:a", "tui-backup:b"], listed
        assert {s["hostname"] for s in listed} == {socket.gethostname()}
    else:
        assert all((dest_a / sid).is_dir() for sid in a_ids)

    r = cli("job", "rm", "a", "--purge-data", "--yes")
    assert r.returncode == 0, r
    assert "and its backups" in r.stderr, r
    assert not home.job_file("a").exists()

    if shared:
        left = restic_snapshots(dest_a, pw)
        assert sorted((s.get("tags") or [""])[0] for s in left) == ["", "tui-backup:b"], left
        assert (dest_a / "config").exists()  # the repository itself stays
    else:
        assert not any((dest_a / sid).exists() for sid in a_ids), os.listdir(dest_a)
        assert (dest_b / b_ids[0] / "docs" / "a.txt").read_text() == "alpha of b\n"
    # The other job is untouched: listed, and its snapshot restores byte for byte.
    assert snapshot_ids(cli, "b") == b_ids
    out = tmp_path / "restored"
    r = cli("restore", "b", "--target", str(out))
    assert r.returncode == 0, r
    assert (out / "docs" / "a.txt").read_text() == "alpha of b\n"
    assert (out / "b.txt").read_text() == "beta of b\n"


# -- an unreadable file: a warning, the run succeeds (restic exit 3, rsync exit 23) ---------


def run_without_dac_override(home: Home, name: str, path: str | None = None) -> Any:
    """``tui-backup run NAME --json`` where root cannot read a 0000 file (setpriv)."""
    cmd = [sys.executable, "-m", "tui_backup", "run", name, "--json"]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    env = {**os.environ, HOME_ENV: str(home.root)}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        cmd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize("engine", ["snapshot", "rsync", "restic"])
def test_an_unreadable_file_is_a_warning_and_the_run_succeeds(
    cli: CliRunner, home: Home, tmp_path: Path, engine: str
) -> None:
    need(engine)
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    (tmp_path / "disk").mkdir()
    src = add(cli, tmp_path, "u", engine, tmp_path / "disk" / "u")
    (src / "docs" / "secret.txt").write_text("no\n")
    (src / "docs" / "secret.txt").chmod(0)
    proc = run_without_dac_override(home, "u")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    finished = events[-1]
    assert finished["event"] == "finished", events[-3:]
    record = finished.get("run", finished)
    assert record["status"] == "succeeded", finished
    assert record["warnings"] == 1, finished
    warned = [e for e in events if e["event"] == "warning"]
    assert len(warned) == 1 and "secret.txt" in json.dumps(warned[0]), warned
    out = tmp_path / "restored"
    r = cli("restore", "u", "--target", str(out))
    assert r.returncode == 0, r
    assert (out / "docs" / "a.txt").read_text() == "alpha of u\n"
    assert not (out / "docs" / "secret.txt").exists()


# -- rsync exit codes 24 and 20 --------------------------------------------------------------


def rsync_wrapper(bin_dir: Path, code: int, line: str, copy_first: bool) -> str:
    """An ``rsync`` first on PATH that ends the backup copy (the run into ``*.partial/``)
    with ``code`` and rsync's own message for it; every other call is the real rsync."""
    real = shutil.which("rsync")
    assert real is not None
    bin_dir.mkdir()
    script = bin_dir / "rsync"
    copy = f'"{real}" "$@" || exit $?\n' if copy_first else ""
    script.write_text(
        "#!/bin/sh\n"
        'for last in "$@"; do :; done\n'
        'case "$last" in\n'
        f"  *.partial/|*.partial/*)\n    {copy}    echo '{line}' >&2\n    exit {code} ;;\n"
        "esac\n"
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    return f"{bin_dir}:{os.environ.get('PATH', '')}"


def test_rsync_exit_24_a_vanished_file_is_a_success_with_a_warning(
    cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    need("rsync")
    (tmp_path / "disk").mkdir()
    src = add(cli, tmp_path, "v", "rsync", tmp_path / "disk" / "v")
    line = f'file has vanished: "{src}/docs/gone.txt"'
    path = rsync_wrapper(tmp_path / "bin", 24, line, copy_first=True)
    proc = subprocess.run(
        [sys.executable, "-m", "tui_backup", "run", "v", "--json"],
        env={**os.environ, HOME_ENV: str(home.root), "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    events = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    record = events[-1].get("run", events[-1])
    assert record["status"] == "succeeded" and record["warnings"] == 1, events[-1]
    assert len(snapshot_ids(cli, "v")) == 1


def test_rsync_exit_20_interrupted_is_stopped_and_leaves_no_partial(
    cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    need("rsync")
    (tmp_path / "disk").mkdir()
    add(cli, tmp_path, "i", "rsync", tmp_path / "disk" / "i")
    line = "rsync error: received SIGINT, SIGTERM, or SIGHUP (code 20) at rsync.c(713)"
    path = rsync_wrapper(tmp_path / "bin", 20, line, copy_first=False)
    proc = subprocess.run(
        [sys.executable, "-m", "tui_backup", "run", "i", "--json"],
        env={**os.environ, HOME_ENV: str(home.root), "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, (proc.stdout, proc.stderr)  # stopped, not by this process
    events = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    record = events[-1].get("run", events[-1])
    assert record["status"] == "stopped", events[-1]
    dest = tmp_path / "disk" / "i"
    assert not dest.exists() or not [n for n in os.listdir(dest) if n.endswith(".partial")]
    assert snapshot_ids(cli, "i") == []
    assert [r["status"] for r in cli("history", "i", "--json").json()] == ["stopped"]
