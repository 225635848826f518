"""``snapshots``, ``restore``, ``verify``, ``forget`` end to end, as real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync not installed")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_run_list_restore_verify_forget(cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src / "docs" / "a.txt", "alpha")
    _write(src / "b.txt", "beta")
    dest = tmp_path / "dest"
    r = cli("job", "add", "web", "--source", str(src), "--dest", str(dest), "--keep-last", "1")
    assert r.returncode == 0, r
    r = cli("run", "web")
    assert r.returncode == 0, r

    r = cli("snapshots", "web", "--json")
    assert r.returncode == 0, r
    listed = r.json()
    assert len(listed) == 1 and listed[0]["files"] == 2 and listed[0]["bytes"] == 9
    assert set(listed[0]) == {"id", "time", "files", "bytes"}

    out = tmp_path / "out"
    r = cli("restore", "web", "--target", str(out))
    assert r.returncode == 0, r
    diff = subprocess.run(
        ["rsync", "-a", "-n", "-i", "--checksum", f"{src}/", f"{out}/"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert diff.stdout == ""

    assert f"restored 2 files (9 B) into {out}" in r.stderr, r

    r = cli("restore", "web", "--target", str(tmp_path / "esc"), "../escape")
    assert r.returncode == 2 and "error:" in r.stderr, r
    assert not (tmp_path / "esc").exists()
    r = cli("restore", "web", "--target", str(tmp_path / "dry"), "--dry-run", "docs")
    assert r.returncode == 0 and r.stdout.split() == ["docs/a.txt"], r
    assert "would restore 1 file into" in r.stderr, r
    assert not (tmp_path / "dry").exists()

    r = cli("verify", "web", "--snapshot", "all")
    assert r.returncode == 0, r
    assert "ok: 1 snapshot, 2 files (9 B) read, compared with manifests" in r.stderr, r
    (dest / listed[0]["id"] / "b.txt").write_text("bexa")
    r = cli("verify", "web")
    assert r.returncode == 1, r
    assert "checksum mismatch" in r.stdout
    assert r.stderr.splitlines()[-1].startswith("damaged: 1 problem ("), r
    r = cli("errors", "--json")
    assert r.returncode == 0, r
    assert any(e.get("component") == "verify" for e in r.json()), r

    _write(src / "b.txt", "beta")
    os.utime(src / "b.txt", (1, 1))
    r = cli("run", "web")  # retention keep_last=1 runs after the success
    assert r.returncode == 0, r
    r = cli("forget", "web", "--dry-run", "--json")
    assert r.returncode == 0, r
    assert [d["keep"] for d in r.json()] == [True]


def test_unknown_job_and_missing_policy(cli, tmp_path: Path) -> None:
    assert cli("snapshots", "nope").returncode == 2
    src = tmp_path / "src"
    src.mkdir()
    r = cli("job", "add", "plain", "--source", str(src), "--dest", str(tmp_path / "d"))
    assert r.returncode == 0, r
    r = cli("forget", "plain")
    assert r.returncode == 2 and "no retention policy" in r.stderr, r
    r = cli("restore", "plain", "--target", str(tmp_path / "o"))
    assert r.returncode == 2 and "no snapshots" in r.stderr, r


def test_restore_is_kept_in_history_but_is_not_a_backup(tmp_path: Path) -> None:
    """A restore appears in `history` with trigger restore; health's last backup ignores it."""
    import json
    import sys

    home = tmp_path / "home"
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha\n")
    env = {**os.environ, "TUI_BACKUP_HOME": str(home)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tui_backup", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert (
        cli("job", "add", "docs", "--source", str(src), "--dest", str(tmp_path / "dest")).returncode
        == 0
    )
    assert cli("run", "docs").returncode == 0
    out = cli("restore", "docs", "--target", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out" / "a.txt").read_text() == "alpha\n"
    history = json.loads(cli("history", "docs", "--json").stdout)
    assert [r["trigger"] for r in history] == ["restore", "manual"]
    assert history[0]["status"] == "succeeded" and history[0]["files"] == 1

    from tui_backup.model import Status
    from tui_backup.store.db import Database
    from tui_backup.store.paths import Home

    h = Home(home)
    last = Database(h.db_path, h.fallback_log).last_run("docs", Status.SUCCEEDED)
    assert last is not None and last.trigger == "manual"
