"""Secrets never shown: env values by name, URL passwords, in JSON, messages and history."""

from __future__ import annotations

from pathlib import Path

import pytest
from corehelpers import add_job
from testengine import Plan

from tui_backup.core.manager import JobManager
from tui_backup.core.snapshots import SnapshotOperationFailed
from tui_backup.core.views import masked_spec
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.model.secrets import is_secret_name, mask_env, mask_url


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("RESTIC_PASSWORD", True),
        ("restic_password", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("AWS_ACCESS_KEY_ID", True),
        ("B2_ACCOUNT_KEY", True),
        ("GITHUB_TOKEN", True),
        ("API_KEY", True),
        ("DB_PASS", True),
        ("MYSQLPASSWORD", True),
        ("BORG_PASSPHRASE", True),
        ("RCLONE_CONFIG_MYS3_SECRET_ACCESS_KEY", True),
        ("GOOGLE_APPLICATION_CREDENTIALS_JSON", True),
        ("RESTIC_PASSWORD_FILE", False),
        ("RESTIC_PASSWORD_COMMAND", False),
        ("SSH_AUTH_SOCK", False),
        ("PWD", False),
        ("PATH", False),
        ("HOME", False),
        ("KEYBOARD_LAYOUT", False),
        ("PASSENGER_COUNT", False),
        ("RESTIC_REPOSITORY", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_mask_env_keeps_paths_and_commands() -> None:
    env = {
        "RESTIC_PASSWORD": "hunter2",
        "RESTIC_PASSWORD_FILE": "/etc/backup/pw",
        "RESTIC_PASSWORD_COMMAND": "pass show backup",
        "AWS_SECRET_ACCESS_KEY": "abc",
        "EMPTY_TOKEN": "",
        "LANG": "C",
    }
    assert mask_env(env) == {
        "RESTIC_PASSWORD": "***",
        "RESTIC_PASSWORD_FILE": "/etc/backup/pw",
        "RESTIC_PASSWORD_COMMAND": "pass show backup",
        "AWS_SECRET_ACCESS_KEY": "***",
        "EMPTY_TOKEN": "",
        "LANG": "C",
    }


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("rest:http://ana:s3cr3t@host:8000/repo/", "rest:http://ana:***@host:8000/repo/"),
        ("s3:https://KEY:SECRET@minio.lan/bucket", "s3:https://KEY:***@minio.lan/bucket"),
        ("rest:https://:tok@host/", "rest:https://:***@host/"),
        ("sftp:ana@host:/srv/repo", "sftp:ana@host:/srv/repo"),
        ("ana@host:/srv/backup", "ana@host:/srv/backup"),
        ("http://host:8000/path@x", "http://host:8000/path@x"),
        ("/mnt/backup/docs", "/mnt/backup/docs"),
        (
            "Fatal: unable to open repo at rest:http://u:p@h/r: connection refused",
            "Fatal: unable to open repo at rest:http://u:***@h/r: connection refused",
        ),
    ],
)
def test_mask_url(text: str, masked: str) -> None:
    assert mask_url(text) == masked


URL = "rest:http://ana:s3cr3t@127.0.0.1:9/repo"


def test_job_json_and_display_mask_secrets(manager: JobManager, tmp_path: Path) -> None:
    add_job(
        manager,
        tmp_path,
        "cloud",
        engine="restic",
        destination=URL,
        env={"RESTIC_PASSWORD": "hunter2", "RESTIC_PASSWORD_FILE": "/etc/pw"},
    )
    data = manager.job("cloud").to_json()
    assert data["destination"] == "rest:http://ana:***@127.0.0.1:9/repo"
    assert data["env"] == {"RESTIC_PASSWORD": "***", "RESTIC_PASSWORD_FILE": "/etc/pw"}
    shown = masked_spec(manager.get_spec("cloud"))
    assert "s3cr3t" not in repr(shown) and "hunter2" not in repr(shown)
    assert shown["env"]["RESTIC_PASSWORD_FILE"] == "/etc/pw"
    # The job itself keeps the real values.
    assert manager.get_spec("cloud").env_dict["RESTIC_PASSWORD"] == "hunter2"
    assert manager.get_spec("cloud").destination == URL


def test_messages_history_and_errors_never_show_a_url_password(
    manager: JobManager, plan: Plan, tmp_path: Path
) -> None:
    add_job(manager, tmp_path, "cloud", engine="restic", destination=URL)
    plan["cloud"].fail = True
    plan["cloud"].error = f"unable to open repository at {URL}: connection refused"
    manager.start("cloud")
    record = manager.wait("cloud", timeout=30)
    assert record is not None and "s3cr3t" not in (record.error or "")
    assert "ana:***@" in (record.error or "")
    assert "s3cr3t" not in (manager.state("cloud").last_result.error or "")  # type: ignore[union-attr]
    assert all("s3cr3t" not in e.message for e in manager.errors(job="cloud"))
    plan.listing_error = EngineError(f"cannot list {URL}", ErrorType.DESTINATION_UNREACHABLE)
    with pytest.raises(SnapshotOperationFailed) as caught:
        manager.snapshots.list(manager.get_spec("cloud"))
    assert "s3cr3t" not in str(caught.value) and "ana:***@" in str(caught.value)
    check = next(c for c in manager.health().checks if c.job == "cloud")
    assert "s3cr3t" not in check.message
