"""Where a restic repository is, said safely: local or remote, its host, masked credentials.

A ``rest:`` or ``s3:`` URL may carry ``user:password@``; the password must
never reach an error message, a log line or an event's details, and never
argv (the repository goes to restic through ``RESTIC_REPOSITORY``). Every
text that leaves the engine passes through :func:`mask`.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

_CREDENTIALS_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@]*):[^@\s/]*@")
"""``scheme://user:secret@`` inside any text (restic prints URLs in its messages)."""

_REMOTE_SCHEMES = ("sftp:", "rest:", "s3:", "b2:", "azure:", "gs:", "swift:", "rclone:")


def is_local(repository: str) -> bool:
    """True for a plain path (restic's ``local:`` prefix included)."""
    if repository.startswith("local:"):
        return True
    return not repository.startswith(_REMOTE_SCHEMES) and (
        os.path.isabs(repository) or ":" not in repository
    )


def local_path(repository: str) -> str:
    """The directory of a local repository, absolute."""
    path = repository.removeprefix("local:")
    return os.path.abspath(os.path.expanduser(path))


def mask(text: str, repository: str = "") -> str:
    """``text`` with every URL password replaced by ``***`` (``rest:http://u:***@h/``).

    Besides the generic ``scheme://user:pass@`` pattern, the password of
    ``repository`` itself is removed wherever it appears (restic sometimes
    prints it percent-decoded, or inside a quoted URL).
    """
    out = _CREDENTIALS_RE.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    secret = _password_of(repository)
    if secret and len(secret) >= 3:
        out = out.replace(secret, "***")
    return out


def _password_of(repository: str) -> str | None:
    for scheme in ("rest:", "s3:"):
        if repository.startswith(scheme):
            try:
                return urlsplit(repository[len(scheme) :]).password
            except ValueError:
                return None
    return None


def host_of(repository: str) -> str:
    """The host a remote repository is reached at, for messages (``127.0.0.1:8000``).

    Falls back to the masked repository string when the host cannot be told.
    """
    if is_local(repository):
        return local_path(repository)
    scheme, _, rest = repository.partition(":")
    if scheme in ("rest", "s3") and "://" in rest:
        try:
            parts = urlsplit(rest)
            host = parts.hostname or ""
            return f"{host}:{parts.port}" if parts.port else host or mask(repository)
        except ValueError:
            return mask(repository)
    if scheme == "s3":
        return rest.split("/", 1)[0]
    if scheme == "sftp":
        return sftp_target(repository)[1] or mask(repository)
    if scheme == "rclone":
        return f"rclone remote {rest.split(':', 1)[0]}"
    return mask(repository)


def sftp_target(repository: str) -> tuple[str | None, str, int | None]:
    """``(user, host, port)`` of an ``sftp:`` repository (either of restic's two forms).

    ``sftp:user@host:/path`` or ``sftp://user@host:port//path``.
    """
    rest = repository.removeprefix("sftp:")
    if rest.startswith("//"):
        parts = urlsplit("sftp:" + rest)
        return parts.username, parts.hostname or "", parts.port
    hostpart = rest.split(":", 1)[0]
    user, _, host = hostpart.rpartition("@")
    return (user or None), host, None


def sftp_path(repository: str) -> str:
    """The repository's path on the sftp server (relative paths are the login's home)."""
    rest = repository.removeprefix("sftp:")
    if rest.startswith("//"):
        path = urlsplit("sftp:" + rest).path
        return path[1:] if path.startswith("/") else path
    return rest.split(":", 1)[1] if ":" in rest else ""
