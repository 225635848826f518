"""``verify`` finds what docs/snapshot-engine.md and docs/cli.md say it finds.

Through the real CLI on the snapshot and rsync engines (both compare a
snapshot with the manifest written at backup time): a size mismatch, an
unreadable file, a symlink whose target changed, each a ``damaged`` line on
stdout (``<snapshot>\\t<path>\\t<reason>``), exit 1 and a HIGH error event; a
snapshot whose manifest is missing is ``unchecked`` (exit 1, a MEDIUM event),
never ``ok``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tui_backup.store.paths import HOME_ENV, Home

CliRunner = Callable[..., Any]


@pytest.fixture(params=["snapshot", "rsync"])
def backed_up(request: pytest.FixtureRequest, cli: CliRunner, tmp_path: Path) -> tuple[Path, str]:
    """One job, one snapshot: returns (the snapshot directory, its id)."""
    engine = request.param
    if engine == "rsync" and shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    src = tmp_path / "src"
    (src / "docs").mkdir(parents=True)
    (src / "docs" / "a.txt").write_text("alpha\n")
    (src / "b.txt").write_text("beta\n")
    (src / "link").symlink_to("docs/a.txt")
    dest = tmp_path / "disk" / "dest"
    dest.parent.mkdir()
    r = cli("job", "add", "web", "--engine", engine, "--source", str(src), "--dest", str(dest))
    assert r.returncode == 0, r
    r = cli("run", "web")
    assert r.returncode == 0, r
    (sid,) = [s["id"] for s in cli("snapshots", "web", "--json").json()]
    r = cli("verify", "web")
    assert r.returncode == 0 and r.stderr.splitlines()[-1].startswith("ok: 1 snapshot"), r
    return dest / sid, sid


def problems(stdout: str) -> list[tuple[str, ...]]:
    """The problem lines; read with a literal backslash-t as well as a TAB, so the
    format (test_problem_lines_are_tab_separated) is checked apart."""
    return [tuple(line.replace("\\t", "\t").split("\t")) for line in stdout.splitlines() if line]


def events(cli: CliRunner) -> list[tuple[str, str]]:
    r = cli("errors", "--json")
    assert r.returncode == 0, r
    return [(e["severity"], e["component"]) for e in r.json()]


def test_a_size_mismatch_is_damage(cli: CliRunner, backed_up: tuple[Path, str]) -> None:
    snap, sid = backed_up
    with open(snap / "b.txt", "a") as fh:
        fh.write("grown\n")
    r = cli("verify", "web")
    assert r.returncode == 1, r
    assert problems(r.stdout) == [(sid, "b.txt", "size mismatch")], r
    assert r.stderr.splitlines()[-1].startswith("damaged: 1 problem"), r
    assert ("HIGH", "verify") in events(cli)


def test_a_symlink_whose_target_changed_is_damage(
    cli: CliRunner, backed_up: tuple[Path, str]
) -> None:
    snap, sid = backed_up
    (snap / "link").unlink()
    (snap / "link").symlink_to("b.txt")
    r = cli("verify", "web")
    assert r.returncode == 1, r
    assert problems(r.stdout) == [(sid, "link", "symlink target mismatch")], r
    assert r.stderr.splitlines()[-1].startswith("damaged: 1 problem"), r


def test_an_unreadable_file_is_damage_not_a_crash(
    home: Home, cli: CliRunner, backed_up: tuple[Path, str]
) -> None:
    """As root, verify runs without CAP_DAC_OVERRIDE so a 0000 file really is unreadable."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    snap, sid = backed_up
    (snap / "docs" / "a.txt").chmod(0)
    cmd = [sys.executable, "-m", "tui_backup", "verify", "web"]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    r = subprocess.run(
        cmd,
        env={**os.environ, HOME_ENV: str(home.root)},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert r.returncode == 1, (r.stdout, r.stderr)
    found = problems(r.stdout)
    assert [(s, p) for s, p, _ in found] == [(sid, "docs/a.txt")], r.stdout
    assert found[0][2].startswith("unreadable"), found
    assert "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1].startswith("damaged: 1 problem"), r.stderr


def test_a_missing_manifest_is_unchecked_never_ok(
    cli: CliRunner, backed_up: tuple[Path, str]
) -> None:
    snap, sid = backed_up
    meta = snap.parent / ".tui-backup"
    manifests = [p for p in meta.iterdir() if p.name.startswith(sid) and "manifest" in p.name]
    assert manifests, sorted(os.listdir(meta))
    for path in manifests:
        path.unlink()
    r = cli("verify", "web")
    assert r.returncode == 1, r
    last = r.stderr.splitlines()[-1]
    assert last.startswith("unchecked:") and sid in last, r
    assert ("MEDIUM", "verify") in events(cli)
    r = cli("verify", "web", "--json")
    assert r.returncode == 1 and r.json()["outcome"] == "unchecked", r


def test_problem_lines_are_tab_separated(cli: CliRunner, backed_up: tuple[Path, str]) -> None:
    snap, sid = backed_up
    with open(snap / "b.txt", "a") as fh:
        fh.write("grown\n")
    r = cli("verify", "web")
    assert r.returncode == 1, r
    assert r.stdout == f"{sid}\tb.txt\tsize mismatch\n", r
