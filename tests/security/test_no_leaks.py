"""A link in jobs/ to a file outside it (``jobs/y.yaml -> /etc/shadow``) is never read:
none of its content reaches the screen, --json, the error log, the log or any file.

A stand-in for /etc/shadow is used (same shape: ``name:hash:...`` lines, and
``key: value`` lines that a reader would have reported as unknown fields), so
the test proves the same without needing root.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tui_backup.store.paths import Home

MARK = "S3CRETMARK"
SHADOW = (
    f"root:$6$salt${MARK}hash0:19000:0:99999:7:::\n"
    f"daemon:*:{MARK}:0:99999:7:::\n"
    f"{MARK}_key: {MARK}_value\n"
    f"password_{MARK}: hunter2\n"
)


@pytest.fixture
def planted(home: Home, tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "shadow"
    secret.parent.mkdir()
    secret.write_text(SHADOW)
    os.symlink(secret, home.jobs_dir / "y.yaml")
    os.symlink(secret, home.jobs_dir / "z.yaml.bak")  # a planted last good version too
    (home.jobs_dir / "z.yaml").write_text("not: [valid\n")
    os.symlink(secret, home.state_dir / "y.yaml")
    return secret


def _everything_under(root: Path) -> bytes:
    out = b""
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            out += path.read_bytes()
    return out


def test_a_linked_secret_never_leaks(cli: CliRunner, home: Home, planted: Path) -> None:
    shown = ""
    for args in (
        ("job", "list"),
        ("job", "list", "--json"),
        ("job", "show", "y"),
        ("job", "show", "z"),
        ("errors",),
        ("errors", "--json"),
        ("health",),
        ("health", "--json"),
    ):
        r = cli(*args)
        assert "Traceback" not in r.stderr, r
        shown += r.stdout + r.stderr
    assert "symbolic link" in shown  # the refusal itself is reported
    assert MARK not in shown and "hunter2" not in shown
    assert MARK.encode() not in _everything_under(home.root)
    assert planted.read_text() == SHADOW  # and it was not moved or changed
    assert os.path.islink(home.jobs_dir / "y.yaml")
