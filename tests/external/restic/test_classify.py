"""restic's stderr read into our vocabulary, on messages restic 0.14 really printed.

Each sample below was captured from restic 0.14.0 against the real servers
(``tests/contract/servers.py``); the issue-8 bugs were "EOF" for an
unreachable sftp server and "no repository" (then ``init``) for a REST
server that refused the connection.
"""

from __future__ import annotations

import pytest

from tui_backup.engines.api import ErrorType
from tui_backup.engines.restic.errors import classify, is_no_repository, lock_holder
from tui_backup.engines.restic.excludes import escape
from tui_backup.engines.restic.location import host_of, is_local, mask, sftp_path, sftp_target

REST = "rest:http://tui-user:pw-secret42@127.0.0.1:60857/repo-1/"

REST_REFUSED = (
    'Fatal: unable to open config file: client.Head: Head "http://tui-user:***@127.0.0.1:60857/'
    'repo-1/config": dial tcp 127.0.0.1:60857: connect: connection refused\n'
    "Is there a repository at the following location?\n"
    "rest:http://tui-user:***@127.0.0.1:60857/repo-1/\n"
)
REST_MISSING = (
    "Fatal: unable to open config file: <config/> does not exist\n"
    "Is there a repository at the following location?\n"
    "rest:http://tui-user:***@127.0.0.1:60857/repo-1/\n"
)
REST_401 = (
    "Fatal: unable to open config file: unexpected HTTP response (401): 401 Unauthorized\n"
    "Is there a repository at the following location?\n"
)
SFTP_REFUSED = (
    "subprocess ssh: ssh: connect to host 127.0.0.1 port 48921: Connection refused\n"
    "Fatal: unable to open repository at sftp:tui-backup-test:/srv/repo: "
    "unable to start the sftp session, error: EOF\n"
)
SFTP_MISSING = (
    "Fatal: unable to open config file: Lstat: file does not exist\n"
    "Is there a repository at the following location?\nsftp:tui-backup-test:/srv/repo\n"
)
S3_MISSING = (
    "Fatal: unable to open config file: Stat: The specified key does not exist.\n"
    "Is there a repository at the following location?\ns3:http://127.0.0.1:5/b/restic\n"
)
S3_REFUSED = (
    'Fatal: unable to open config file: Stat: Head "http://127.0.0.1:56887/b/restic/config": '
    "dial tcp 127.0.0.1:56887: connect: connection refused\n"
)
LOCAL_MISSING = (
    "Fatal: unable to open config file: stat /srv/repo/config: no such file or directory\n"
    "Is there a repository at the following location?\n/srv/repo\n"
)
NO_HOST = (
    'Fatal: unable to open config file: client.Head: Head "http://nohost.invalid:8000/x/config":'
    " dial tcp: lookup nohost.invalid on 10.0.0.53:53: no such host\n"
)
LOCKED = (
    "unable to create lock in backend: repository is already locked exclusively by PID 17179 "
    "on vm by root (UID 0, GID 0)\nlock was created at 2026-11-30 11:19:03 (1.4s ago)\n"
    "storage ID 15af3613\nthe `unlock` command can be used to remove stale locks\n"
)
WRONG_PASSWORD = "Fatal: wrong password or no key found\n"


@pytest.mark.parametrize(
    ("stderr", "repository", "expected"),
    [
        (REST_REFUSED, REST, ErrorType.DESTINATION_UNREACHABLE),
        (SFTP_REFUSED, "sftp:tui-backup-test:/srv/repo", ErrorType.DESTINATION_UNREACHABLE),
        (S3_REFUSED, "s3:http://127.0.0.1:56887/b/restic", ErrorType.DESTINATION_UNREACHABLE),
        (NO_HOST, "rest:http://nohost.invalid:8000/x/", ErrorType.DESTINATION_UNREACHABLE),
        (REST_MISSING, REST, ErrorType.NO_REPOSITORY),
        (SFTP_MISSING, "sftp:tui-backup-test:/srv/repo", ErrorType.NO_REPOSITORY),
        (S3_MISSING, "s3:http://127.0.0.1:5/b/restic", ErrorType.NO_REPOSITORY),
        (LOCAL_MISSING, "/srv/repo", ErrorType.NO_REPOSITORY),
        (REST_401, REST, ErrorType.REPOSITORY_ERROR),
        (LOCKED, "/srv/repo", ErrorType.REPOSITORY_LOCKED),
        (WRONG_PASSWORD, "/srv/repo", ErrorType.REPOSITORY_ERROR),
    ],
)
def test_classification(stderr: str, repository: str, expected: ErrorType) -> None:
    err = classify(stderr, repository, "restic backup failed")
    assert err.error_type == expected, str(err)
    assert "pw-secret42" not in str(err)


def test_an_unreachable_repository_is_never_taken_for_a_missing_one() -> None:
    """Issue 8: a failed ``cat config`` was read as "no repository" and ``init`` tried."""
    for stderr in (REST_REFUSED, SFTP_REFUSED, S3_REFUSED, NO_HOST, REST_401):
        assert not is_no_repository(stderr), stderr


def test_words_in_a_local_path_are_not_taken_for_network_trouble() -> None:
    stderr = LOCAL_MISSING.replace("/srv/repo", "/srv/timeout-403/repo")
    err = classify(stderr, "/srv/timeout-403/repo", "restic backup failed")
    assert err.error_type == ErrorType.NO_REPOSITORY, str(err)
    remote = SFTP_MISSING.replace("/srv/repo", "/srv/timeout-403/repo")
    err = classify(remote, "sftp:h:/srv/timeout-403/repo", "restic backup failed")
    assert err.error_type == ErrorType.NO_REPOSITORY, str(err)


def test_unreachable_names_the_host_and_why_never_only_eof() -> None:
    err = classify(SFTP_REFUSED, "sftp:tui-backup-test:/srv/repo", "restic backup failed")
    assert "tui-backup-test" in str(err)
    assert "Connection refused" in str(err)
    assert err.transient
    rest = classify(REST_REFUSED, REST, "restic backup failed")
    assert "127.0.0.1:60857" in str(rest)
    assert "connection refused" in str(rest)


def test_the_lock_holder_is_named() -> None:
    assert lock_holder(LOCKED) == "PID 17179 on vm by root"
    err = classify(LOCKED, "/srv/repo", "restic backup failed")
    assert "PID 17179 on vm by root" in str(err)
    assert err.transient
    assert lock_holder(REST_REFUSED) is None


def test_credentials_are_masked_everywhere() -> None:
    text = f"cannot open {REST} (also http://u:p4ss@h:1/x and {REST})"
    masked = mask(text, REST)
    assert "pw-secret42" not in masked and "p4ss" not in masked
    assert "rest:http://tui-user:***@127.0.0.1:60857/repo-1/" in masked
    assert mask("http://h:1/path:with@colon", "") == "http://h:1/path:with@colon"


def test_locations() -> None:
    assert is_local("/srv/repo") and is_local("local:/srv/repo")
    assert not is_local("sftp:host:/r") and not is_local(REST) and not is_local("s3:h/b")
    assert host_of(REST) == "127.0.0.1:60857"
    assert host_of("s3:s3.amazonaws.com/bucket") == "s3.amazonaws.com"
    assert host_of("sftp:ana@backup.example:/srv/r") == "backup.example"
    assert sftp_target("sftp://ana@h:2222//srv/r") == ("ana", "h", 2222)
    assert sftp_path("sftp://ana@h:2222//srv/r") == "/srv/r"
    assert sftp_path("sftp:ana@h:/srv/r") == "/srv/r"
    assert sftp_path("sftp:h:rel/r") == "rel/r"


def test_exclude_paths_are_escaped_for_restic() -> None:
    assert escape("/src/we[i]rd*/f?\\x") == "/src/we\\[i]rd\\*/f\\?\\\\x"
