"""Reading restic's stderr: what went wrong, in our error vocabulary.

restic says "Is there a repository at the following location?" for every
failure to read the config file, a refused connection included; taking that
for "no repository" is how ``init`` used to be tried on a repository that
exists but could not be reached. So the order matters: a lock, a wrong
password, an unreachable host and an access refusal are recognised first;
only a config file that is positively absent means "no repository".
"""

from __future__ import annotations

import os
import re
import socket

from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.restic.location import host_of, is_local, mask

LOCK_RE = re.compile(
    r"repository is already locked (?P<kind>exclusively )?by (?P<holder>PID \d+ on \S+ by [^\n(]+)",
    re.IGNORECASE,
)
HOLDER_RE = re.compile(r"PID (?P<pid>\d+) on (?P<host>\S+)")
WRONG_PASSWORD_RE = re.compile(r"wrong password or no key found", re.IGNORECASE)
UNREACHABLE_RE = re.compile(
    r"connection refused|no such host|could not resolve|name or service not known|"
    r"temporary failure in name resolution|network is unreachable|no route to host|"
    r"i/o timeout|timed out|deadline exceeded|connection reset|broken pipe|unexpected EOF|"
    r"unable to start the sftp session|subprocess ssh:|host key verification failed|"
    r"tls: |x509: |server gave HTTP response|HTTP response \(5\d\d\)|bad gateway|"
    r"gateway time-?out|too many requests|service unavailable",
    re.IGNORECASE,
)
ACCESS_DENIED_RE = re.compile(
    r"HTTP response \(40[13]\)|\b40[13] (unauthori[sz]ed|forbidden)|access ?denied|"
    r"InvalidAccessKeyId|SignatureDoesNotMatch|permission denied \(publickey",
    re.IGNORECASE,
)
NO_REPOSITORY_RE = re.compile(
    r"unable to open config file.*(no such file or directory|does not exist|"
    r"NoSuchKey|NoSuchBucket|bucket does not exist|not found)",
    re.IGNORECASE,
)
ALREADY_EXISTS_RE = re.compile(
    r"config file already exists|master key and config already initiali[sz]ed", re.IGNORECASE
)
DISK_FULL_RE = re.compile(r"no space left on device|disk quota exceeded", re.IGNORECASE)


def lock_holder(stderr: str) -> str | None:
    """``PID 1234 on host by user`` from restic's lock refusal, or None when not locked."""
    match = LOCK_RE.search(stderr)
    if match is None:
        return None
    return match["holder"].strip()


def holder_is_gone(holder: str, host: str | None = None) -> bool:
    """The lock's holder was on this host and its process no longer exists: provably stale.

    What restic itself calls stale (a lock of this host whose pid is dead), so
    ``restic unlock`` removes exactly such a lock. A holder on another host, or
    whose pid is alive (even reused by an unrelated process), is never judged
    stale here: that lock may be in use.
    """
    match = HOLDER_RE.search(holder)
    if match is None or match["host"] != (host or socket.gethostname()):
        return False
    pid = int(match["pid"])
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # EPERM: it exists, owned by someone else
    return False


def is_no_repository(stderr: str, repository: str = "") -> bool:
    """The repository's config file is positively absent (and nothing else went wrong)."""
    if not NO_REPOSITORY_RE.search(stderr):
        return False
    if repository and is_local(repository):
        return True  # no network to fail; a path may well contain "timeout" or "403"
    return not UNREACHABLE_RE.search(stderr) and not ACCESS_DENIED_RE.search(stderr)


def reason(stderr: str, default: str) -> str:
    """The most telling line of ``stderr``: ssh's own complaint, else restic's Fatal line.

    Never a bare "EOF": for sftp the line that says why ssh failed comes first.
    """
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in lines:
        if line.startswith("subprocess ssh:"):
            return line.removeprefix("subprocess ssh:").strip()
    for line in lines:
        if line.lower().startswith("fatal:"):
            text = line[6:].strip()
            return text.removeprefix("Fatal:").strip() or default
    useful = [ln for ln in lines if not ln.startswith(("Is there a repository", "using temporary"))]
    return useful[-1] if useful else default


def classify(stderr: str, repository: str, what: str) -> EngineError:
    """The :class:`EngineError` for a failed restic command; every text masked.

    ``what`` names the operation for the fallback message ("restic backup failed").
    """
    where = host_of(repository)
    shown = mask(repository)
    why = mask(reason(stderr, what), repository)
    holder = lock_holder(stderr)
    if holder is not None:
        return EngineError(
            f"the restic repository {shown} is locked by another restic process "
            f"({mask(holder, repository)}); if none is running there, "
            "`restic unlock` removes a stale lock",
            ErrorType.REPOSITORY_LOCKED,
        )
    if WRONG_PASSWORD_RE.search(stderr):
        return EngineError(
            f"wrong password for the restic repository {shown} "
            "(check the job's RESTIC_PASSWORD_FILE or RESTIC_PASSWORD_COMMAND)",
            ErrorType.REPOSITORY_ERROR,
        )
    remote = not is_local(repository)
    if remote and UNREACHABLE_RE.search(stderr):
        return EngineError(
            f"cannot reach the restic repository on {where}: {why}",
            ErrorType.DESTINATION_UNREACHABLE,
        )
    if remote and ACCESS_DENIED_RE.search(stderr):
        return EngineError(
            f"{where} refused access to the restic repository {shown} "
            f"(check the user, password or keys): {why}",
            ErrorType.REPOSITORY_ERROR,
        )
    if DISK_FULL_RE.search(stderr):
        return EngineError(f"the restic repository {shown} is full: {why}", ErrorType.DISK_FULL)
    if is_no_repository(stderr, repository):
        return EngineError(f"there is no restic repository at {shown} yet", ErrorType.NO_REPOSITORY)
    return EngineError(f"{what}: {why}", ErrorType.TOOL_FAILED)
