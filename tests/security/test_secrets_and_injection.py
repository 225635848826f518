"""Secrets stay secret and names stay names (issue 12, security suite).

- A password in a restic ``rest:`` URL or in the job's ``env`` never reaches
  any process's argv, a file the app writes (state, database, journal), the
  error log, the log, or any ``--json``/table output. The one file that holds
  it is the job file the person wrote it into.
- Hooks and engines run without a shell: a hook argument, a source directory
  or a remote path holding ``;``, ``$( )`` or backticks is passed as one
  argument and never executed.

The tools are the real ``restic`` and ``rsync``; the only stand-in is a
``restic`` on ``PATH`` that records its own argv and environment keys, then
``exec``s the real binary, so the test can see what every invocation got.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tui_backup.store.paths import Home

URL_SECRET = "UrlPw-7f3a9c"
ENV_SECRET = "EnvPw-51d2e8"


@pytest.fixture
def recording_restic(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A ``restic`` first on PATH that logs argv (one line per call), then runs the real one."""
    real = shutil.which("restic")
    if real is None:
        pytest.skip("restic is not installed")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "restic-argv.log"
    wrapper = bindir / "restic"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(repr(sys.argv) + '\\n')\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o755)
    yield bindir, log


def _everything_written(home: Home) -> dict[Path, bytes]:
    """Every file under the home except the job files the person wrote (and their backups)."""
    out = {}
    for path in home.root.rglob("*"):
        if path.is_file() and path.parent != home.jobs_dir:
            out[path] = path.read_bytes()
    return out


def test_restic_credentials_never_leak(
    cli: CliRunner, home: Home, tmp_path: Path, recording_restic: tuple[Path, Path]
) -> None:
    bindir, argv_log = recording_restic
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    # Nothing listens on port 9 of 127.0.0.1: the run fails as unreachable, which is
    # exactly when a tool would quote the URL back in its errors.
    url = f"rest:http://backup:{URL_SECRET}@127.0.0.1:9/repo"
    added = cli(
        "job", "add", "cloud", "--engine", "restic", "--source", str(src), "--dest", url,
        "--retries", "0", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added
    job_file = home.job_file("cloud")
    text = job_file.read_text()
    job_file.write_text(text + f"env:\n  RESTIC_PASSWORD: {ENV_SECRET}\n")

    outputs = [
        cli("run", "cloud", env=env),
        cli("run", "cloud", "--json", env=env),
        cli("job", "show", "cloud", env=env),
        cli("job", "show", "cloud", "--json", env=env),
        cli("job", "list", "--json", env=env),
        cli("errors", env=env),
        cli("errors", "--json", env=env),
        cli("history", "cloud", "--json", env=env),
        cli("health", "--json", env=env),
        cli("snapshots", "cloud", "--json", env=env),
        cli("verify", "cloud", "--json", env=env),
        cli("-vv", "run", "cloud", env=env),
    ]
    assert outputs[0].returncode == 1, outputs[0]  # it did try, and failed
    assert "127.0.0.1" in outputs[0].stdout + outputs[0].stderr  # the error names the place
    for result in outputs:
        for secret in (URL_SECRET, ENV_SECRET):
            assert secret not in result.stdout, result
            assert secret not in result.stderr, result

    calls = argv_log.read_text().splitlines()
    assert calls, "restic was never called: the test would prove nothing"
    for call in calls:
        assert URL_SECRET not in call and ENV_SECRET not in call, call

    for path, data in _everything_written(home).items():
        for secret in (URL_SECRET, ENV_SECRET):
            assert secret.encode() not in data, f"{secret} written to {path}"


@pytest.mark.parametrize("engine", ["snapshot", "rsync", "restic"])
def test_names_are_never_run_as_commands(
    cli: CliRunner, home: Home, tmp_path: Path, engine: str
) -> None:
    if engine != "snapshot" and shutil.which(engine) is None:
        pytest.skip(f"{engine} is not installed")
    # Each would create a canary-* file in the working directory if a shell ran it.
    hostile = [
        "a;touch canary-semicolon",
        "$(touch canary-dollar)",
        "`touch canary-backtick`",
        "x' ; touch canary-quote ; '",
    ]
    src = tmp_path / "src"
    src.mkdir()
    for name in hostile:
        (src / name).mkdir()
        (src / name / "f.txt").write_text("f\n")
    dest = tmp_path / "dest;touch canary-dest"
    dest.mkdir()  # an unmounted-disk check wants the parent; this is the destination itself
    extra: list[str] = []
    env: dict[str, str] = {}
    if engine == "restic":
        password = tmp_path / "pw"
        password.write_text("pw\n")
        extra = ["--password-file", str(password)]
        repo = dest / "repo"
        subprocess.run(
            ["restic", "init", "-q"],
            env={
                **os.environ,
                "RESTIC_REPOSITORY": str(repo),
                "RESTIC_PASSWORD_FILE": str(password),
            },
            check=True,
            capture_output=True,
        )
        target = str(repo)
    else:
        target = str(dest / "snapshots")
    added = cli(
        "job", "add", "j", "--engine", engine, "--source", str(src), "--dest", target, *extra,
        env=env,
    )  # fmt: skip
    assert added.returncode == 0, added
    job_file = home.job_file("j")
    job_file.write_text(
        job_file.read_text()
        + "hooks:\n  before:\n"
        + '    - ["echo", "x; touch canary-hook", "$(touch canary-hook2)"]\n'
    )
    run = cli("run", "j", env=env, cwd=tmp_path)
    assert run.returncode == 0, run
    restored = tmp_path / "restored"
    back = cli("restore", "j", "--target", str(restored), env=env, cwd=tmp_path)
    assert back.returncode == 0, back
    for name in hostile:
        assert (restored / name / "f.txt").read_text() == "f\n"
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("canary"))
    assert leftovers == [], f"a name was run as a command: {leftovers}"


def test_a_remote_rsync_path_is_not_run_by_the_remote_shell(
    cli: CliRunner, home: Home, tmp_path: Path
) -> None:
    """``host:/dir;touch x`` over SSH: rsync must protect its arguments from the remote shell."""
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    servers = pytest.importorskip("tests.contract.servers")
    try:
        sshd = servers.start_sshd(tmp_path / "sshd")
    except servers.ServerStartError as exc:
        if os.environ.get("TUI_BACKUP_REQUIRE_SERVERS"):
            raise
        pytest.skip(f"sshd could not start: {exc}")
    try:
        # Run by a remote shell, this would create the canary in the ssh user's home.
        canary = Path(os.path.expanduser("~")) / "canary-remote-tui-backup"
        canary.unlink(missing_ok=True)
        src = tmp_path / "src"
        src.mkdir()
        (src / "a.txt").write_text("a\n")
        remote_dir = tmp_path / "remote"
        remote_dir.mkdir()
        dest = sshd.remote(f"{remote_dir}/b;touch {canary.name}")
        added = cli(
            "job", "add", "r", "--engine", "rsync", "--source", str(src), "--dest", dest,
            "--ssh-command", sshd.ssh_command, "--retries", "0",
        )  # fmt: skip
        assert added.returncode == 0, added
        run = cli("run", "r", timeout=120)
        assert not canary.exists(), f"the remote shell ran a command from the path:\n{run}"
        assert run.returncode == 0, run
        made = [p for p in remote_dir.iterdir()]
        assert [p.name for p in made] == [f"b;touch {canary.name}"], made
        assert stat.S_ISDIR(made[0].stat().st_mode)
    finally:
        sshd.stop()
        canary.unlink(missing_ok=True)
