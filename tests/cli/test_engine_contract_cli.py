"""Issue 8 from the command line, as real processes on real files: what a new user
types to set up a restic password or SSH, to share (or not) a destination, to
purge, restore and verify, and what each prints and exits with (docs/cli.md)."""

from __future__ import annotations

import gzip
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tui_backup.store.paths import Home

CliRunner = Callable[..., Any]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "src"
    (path / "docs").mkdir(parents=True)
    (path / "docs" / "a.txt").write_text("alpha")
    (path / "b.txt").write_text("beta")
    return path


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (dot directories included) and its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _job(home: Home, name: str) -> dict[str, object]:
    return yaml.safe_load(home.job_file(name).read_text())


# -- passwords, SSH, verify settings: stored as references, shown masked ---------------


def test_password_options_store_the_reference_never_the_secret(
    cli: CliRunner, home: Home, src: Path, tmp_path: Path
) -> None:
    pw = tmp_path / "pw"
    pw.write_text("hunter2\n")
    r = cli(
        "job", "add", "vault", "--engine", "restic", "--source", str(src),
        "--dest", str(tmp_path / "repo"), "--password-file", str(pw),
        "--ssh-port", "2222", "--ssh-identity", str(tmp_path / "key"),
        "--verify-schedule", "0 4 * * 0", "--read-data-subset", "10%",
        "--checksum-every", "30d",
    )  # fmt: skip
    assert r.returncode == 0, r
    data = _job(home, "vault")
    assert data["env"] == {"RESTIC_PASSWORD_FILE": str(pw)}
    assert data["ssh_port"] == 2222 and data["ssh_identity"] == str(tmp_path / "key")
    assert data["verify"] == {"schedule": "0 4 * * 0", "read_data_subset": "10%"}
    assert data["checksum_every"] == "30d"
    assert "hunter2" not in home.job_file("vault").read_text()

    r = cli("job", "edit", "vault", "--password-command", "pass show backup", "--ssh-port", "")
    assert r.returncode == 0, r
    assert "removed env RESTIC_PASSWORD_FILE" in r.stderr, r
    data = _job(home, "vault")
    assert data["env"] == {"RESTIC_PASSWORD_COMMAND": "pass show backup"}
    assert "ssh_port" not in data

    r = cli("job", "add", "plain", "--source", str(src), "--dest", str(tmp_path / "d"),
            "--password-file", str(pw))  # fmt: skip
    assert r.returncode == 2 and "only the restic engine uses a password" in r.stderr, r
    assert not home.job_file("plain").exists()


def test_show_and_every_json_mask_secrets(
    cli: CliRunner, home: Home, src: Path, tmp_path: Path
) -> None:
    url = "rest:http://ana:s3cr3t-pw@127.0.0.1:1/repo"
    r = cli("job", "add", "remote", "--engine", "restic", "--source", str(src), "--dest", url)
    assert r.returncode == 0, r
    text = home.job_file("remote").read_text().replace(
        "version:", "env: {RESTIC_PASSWORD: hunter2, AWS_SECRET_ACCESS_KEY: k3y-v4lue, "
        "RESTIC_PASSWORD_FILE: /etc/pw, LANG: C}\nversion:",
    )  # fmt: skip
    home.job_file("remote").write_text(text)
    shown = [
        cli("job", "show", "remote"),
        cli("job", "show", "remote", "--json"),
        cli("job", "list", "--json"),
        cli("job", "edit", "remote", "--description", "x", "--json"),
    ]
    for r in shown:
        assert r.returncode == 0, r
        for secret in ("s3cr3t-pw", "hunter2", "k3y-v4lue"):
            assert secret not in r.stdout + r.stderr, r
    assert "rest:http://ana:***@127.0.0.1:1/repo" in shown[0].stdout
    definition = shown[1].json()["definition"]
    assert definition["env"] == {
        "AWS_SECRET_ACCESS_KEY": "***",
        "LANG": "C",
        "RESTIC_PASSWORD": "***",
        "RESTIC_PASSWORD_FILE": "/etc/pw",  # where the secret is, not the secret
    }
    # Shown masked, kept real: the file still holds what the person wrote.
    assert "hunter2" in home.job_file("remote").read_text()
    assert "s3cr3t-pw" in home.job_file("remote").read_text()


# -- one destination, one job (unless forced); a refused purge keeps everything ----------


def test_a_destination_in_use_is_refused_naming_the_other_job(
    cli: CliRunner, home: Home, src: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    assert cli("job", "add", "first", "--source", str(src), "--dest", str(dest)).returncode == 0
    r = cli("job", "add", "second", "--source", str(src), "--dest", str(dest))
    assert r.returncode == 2 and "'first'" in r.stderr, r
    assert not home.job_file("second").exists()
    r = cli("job", "add", "third", "--source", str(src), "--dest", str(tmp_path / "other"))
    assert r.returncode == 0, r
    r = cli("job", "edit", "third", "--dest", str(dest / "inside"))
    assert r.returncode == 2 and "'first'" in r.stderr, r
    assert _job(home, "third")["destination"] == str(tmp_path / "other")

    r = cli("job", "add", "second", "--source", str(src), "--dest", str(dest), "--force")
    assert r.returncode == 0, r
    assert "warning:" in r.stderr and "'first'" in r.stderr, r


def test_refused_purge_keeps_the_job_and_the_other_jobs_snapshots(
    cli: CliRunner, home: Home, src: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    assert cli("job", "add", "owner", "--source", str(src), "--dest", str(dest)).returncode == 0
    assert cli("run", "owner").returncode == 0
    (src / "b.txt").write_text("beta, second version")
    assert cli("run", "owner").returncode == 0
    before = _tree(dest)
    assert len([k for k in before if k.endswith("b.txt")]) == 2

    r = cli("job", "add", "intruder", "--source", str(src), "--dest", str(dest), "--force")
    assert r.returncode == 0, r
    r = cli("job", "rm", "intruder", "--purge-data", "--yes")
    assert r.returncode == 1, r
    assert "'owner'" in r.stderr and "not deleted" in r.stderr, r
    assert home.job_file("intruder").exists()
    assert [j["name"] for j in cli("job", "list", "--json").json()] == ["intruder", "owner"]
    assert _tree(dest) == before  # every byte of the owner's snapshots is still there
    r = cli("snapshots", "owner", "--json")
    assert r.returncode == 0 and len(r.json()) == 2, r

    # The owner's own purge goes ahead, and takes exactly its snapshots.
    r = cli("job", "rm", "owner", "--purge-data", "--yes")
    assert r.returncode == 0, r
    assert not dest.exists() or not any(k.endswith(".txt") for k in _tree(dest))
    assert [j["name"] for j in cli("job", "list", "--json").json()] == ["intruder"]


# -- listings: unknown is unknown ----------------------------------------------------------


def test_counts_the_engine_cannot_know_are_unknown_not_zero(
    cli: CliRunner, src: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    assert cli("job", "add", "docs", "--source", str(src), "--dest", str(dest)).returncode == 0
    assert cli("run", "docs").returncode == 0
    (snap,) = cli("snapshots", "docs", "--json").json()
    assert (snap["files"], snap["bytes"]) == (2, 9)
    # The snapshot engine's record of the counts, lost (as after a copy by hand).
    (dest / ".tui-backup" / f"{snap['id']}.json").unlink()
    r = cli("snapshots", "docs", "--json")
    assert r.returncode == 0, r
    assert [(s["files"], s["bytes"]) for s in r.json()] == [(None, None)]
    r = cli("snapshots", "docs")
    (row,) = r.stdout.splitlines()[1:]
    assert row.split()[-2:] == ["unknown", "unknown"], r


# -- restore: one summary line, refusals that write nothing -------------------------------


def test_restore_refusals_write_nothing_and_exit_2(
    cli: CliRunner, src: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    assert cli("job", "add", "docs", "--source", str(src), "--dest", str(dest)).returncode == 0
    assert cli("run", "docs").returncode == 0

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "b.txt").write_text("mine, not the backup's")
    r = cli("restore", "docs", "--target", str(busy))
    assert r.returncode == 2, r
    assert "is not empty" in r.stderr and "--overwrite" in r.stderr, r
    assert _tree(busy) == {"b.txt": b"mine, not the backup's"}

    r = cli("restore", "docs", "--target", str(busy), "--overwrite", "b.txt")
    assert r.returncode == 0, r
    assert r.stderr.strip().splitlines()[-1].startswith(f"restored 1 file (4 B) into {busy}")
    assert _tree(busy) == {"b.txt": b"beta"}

    r = cli("restore", "docs", "--target", str(tmp_path / "typo"), "docs/nope.txt")
    assert r.returncode == 2, r
    assert "docs/nope.txt" in r.stderr and "restored" not in r.stderr, r
    assert not (tmp_path / "typo").exists()

    r = cli("restore", "docs", "--target", str(tmp_path / "dry"), "--dry-run")
    assert r.returncode == 0, r
    assert sorted(r.stdout.split()) == ["b.txt", "docs/a.txt"]
    assert "would restore 2 files into" in r.stderr, r
    assert not (tmp_path / "dry").exists()

    out = tmp_path / "out"
    r = cli("restore", "docs", "--target", str(out))
    assert r.returncode == 0, r
    summary = [line for line in r.stderr.splitlines() if line.startswith("restored")]
    assert len(summary) == 1 and summary[0].startswith(f"restored 2 files (9 B) into {out}"), r
    assert _tree(out) == {"b.txt": b"beta", "docs/a.txt": b"alpha"}


# -- verify: ok only when it read and matched ---------------------------------------------


def test_verify_says_what_it_checked_and_exits_by_outcome(
    cli: CliRunner, src: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    assert cli("job", "add", "docs", "--source", str(src), "--dest", str(dest)).returncode == 0
    assert cli("run", "docs").returncode == 0

    r = cli("verify", "docs", "--json")
    assert r.returncode == 0, r
    report = r.json()
    assert report["outcome"] == "ok" and report["files_checked"] == 2, report
    assert report["bytes_checked"] == 9 and report["method"] == "manifest"
    assert r.stderr.strip().splitlines()[-1] == (
        "ok: 1 snapshot, 2 files (9 B) read, compared with manifests"
    ), r

    r = cli("verify", "docs", "--deep")
    assert r.returncode == 0, r
    assert "compared with manifests and the source" in r.stderr, r

    manifests = list((dest / ".tui-backup").glob("*.manifest.gz"))
    saved = {m: m.read_bytes() for m in manifests}
    for manifest in manifests:
        manifest.unlink()
    r = cli("verify", "docs", "--json")
    assert r.returncode == 1, r
    assert r.json()["outcome"] == "unchecked" and r.json()["unchecked"], r
    assert r.stderr.strip().splitlines()[-1].startswith("unchecked: "), r
    for manifest, data in saved.items():
        manifest.write_bytes(data)
        assert gzip.decompress(data)

    (snap,) = [p for p in dest.iterdir() if p.name[0].isdigit() and not p.is_symlink()]
    victim = snap / "b.txt"
    stat = victim.stat()
    victim.chmod(0o644)
    victim.write_text("bexa")  # one byte flipped: same size, same mtime
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    r = cli("verify", "docs", "--json")
    assert r.returncode == 1, r
    damaged = r.json()
    assert damaged["outcome"] == "damaged"
    assert [p["path"] for p in damaged["problems"]] == ["b.txt"], damaged
    assert r.stderr.strip().splitlines()[-1].startswith("damaged: 1 problem ("), r


def test_run_checksum_rereads_what_size_and_mtime_hide(
    cli: CliRunner, src: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    assert cli("job", "add", "docs", "--source", str(src), "--dest", str(dest)).returncode == 0
    assert cli("run", "docs").returncode == 0
    source = src / "b.txt"
    stat = source.stat()
    source.write_text("bext")  # changed, same size and mtime: a plain run trusts them
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cli("run", "docs").returncode == 0
    assert cli("run", "docs", "--checksum").returncode == 0
    ids = [s["id"] for s in cli("snapshots", "docs", "--json").json()]
    assert len(ids) == 3
    assert (dest / ids[1] / "b.txt").read_text() == "beta"
    assert (dest / ids[0] / "b.txt").read_text() == "bext"


# -- init: the one way a restic repository comes to be -----------------------------------


@pytest.mark.skipif(shutil.which("restic") is None, reason="restic not installed")
def test_init_creates_the_restic_repository_the_run_needs(
    cli: CliRunner, src: Path, tmp_path: Path
) -> None:
    pw = tmp_path / "pw"
    pw.write_text("correct horse\n")
    repo = tmp_path / "repo"
    r = cli("job", "add", "bare", "--engine", "restic", "--source", str(src),
            "--dest", str(tmp_path / "bare"))  # fmt: skip
    assert r.returncode == 0 and "needs a password source" in r.stderr, r
    r = cli("job", "add", "vault", "--engine", "restic", "--source", str(src),
            "--dest", str(repo), "--password-file", str(pw))  # fmt: skip
    assert r.returncode == 0, r
    assert "password" not in r.stderr and "tui-backup init vault" in r.stderr, r
    r = cli("init", "vault", "--json")
    assert r.returncode == 0, r
    assert r.json()["name"] == "vault" and r.json()["result"], r
    assert (repo / "config").is_file()
    assert cli("run", "vault").returncode == 0
    (snap,) = cli("snapshots", "vault", "--json").json()
    assert snap["files"] == 2, snap
    assert cli("init", "unknown-job").returncode == 2

    r = cli("verify", "vault")
    assert r.returncode == 0 and "checked by restic check" in r.stderr, r
    # restic checks packs and cannot count bytes: job show says so, not "N files, 0 B".
    (line,) = [x for x in cli("job", "show", "vault").stdout.splitlines() if "last verify" in x]
    assert re.search(r" \d+ packs? read, bytes unknown\)$", line) and " file" not in line, line
    r = cli("verify", "vault", "--deep")  # restic has no compare with the source: said so
    assert r.returncode == 2 and "cannot compare a snapshot with the source" in r.stderr, r


def test_show_tells_the_last_verify(cli: CliRunner, src: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert cli("job", "add", "docs", "--source", str(src), "--dest", str(dest)).returncode == 0
    assert cli("run", "docs").returncode == 0
    assert "last verify" not in cli("job", "show", "docs").stdout
    assert cli("verify", "docs").returncode == 0
    r = cli("job", "show", "docs")
    (line,) = [x for x in r.stdout.splitlines() if "last verify" in x]
    assert line.startswith("#   last verify: ok at ") and "2 files, 9 B read" in line, line
    assert cli("job", "show", "docs", "--json").json()["state"]["last_verify"]["outcome"] == "ok"
