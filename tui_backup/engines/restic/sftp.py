"""Does a directory exist on an sftp server? Asked the way restic connects.

restic's sftp backend creates every missing parent of a repository on
``init``: with the remote backup disk unmounted that writes a new repository
onto the server's root filesystem. Before ``init`` (and to explain a failed
run) the parent is looked up with one SFTP ``STAT`` over the same ssh
command restic uses, spoken directly (SFTP version 3, a few bytes each way),
so no ``sftp`` client or remote shell is needed.
"""

from __future__ import annotations

import logging
import struct
import subprocess
import threading
from collections.abc import Sequence

log = logging.getLogger(__name__)

_INIT, _VERSION, _STAT, _STATUS, _ATTRS = 1, 2, 17, 101, 105
_NO_SUCH_FILE = 2
TIMEOUT = 30.0


def _packet(kind: int, payload: bytes) -> bytes:
    return struct.pack(">IB", len(payload) + 1, kind) + payload


def _read_packet(stream) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    header = stream.read(5)
    if len(header) < 5:
        raise EOFError("the sftp session ended")
    length, kind = struct.unpack(">IB", header)
    return kind, stream.read(length - 1)


def remote_dir_exists(ssh_argv: Sequence[str], path: str) -> bool | None:
    """True/False when the server answered; None when it could not be asked."""
    try:
        proc = subprocess.Popen(
            list(ssh_argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        log.warning("cannot start ssh to look up %s: %s", path, exc)
        return None
    assert proc.stdin is not None and proc.stdout is not None
    watchdog = threading.Timer(TIMEOUT, proc.kill)  # a server that never answers
    watchdog.daemon = True
    watchdog.start()
    try:
        encoded = path.encode("utf-8", "surrogateescape") or b"."
        proc.stdin.write(_packet(_INIT, struct.pack(">I", 3)))
        proc.stdin.write(_packet(_STAT, struct.pack(">II", 1, len(encoded)) + encoded))
        proc.stdin.flush()
        kind, _ = _read_packet(proc.stdout)
        if kind != _VERSION:
            return None
        kind, body = _read_packet(proc.stdout)
        if kind == _ATTRS:
            flags = struct.unpack(">I", body[4:8])[0]
            offset = 8 + (8 if flags & 1 else 0) + (8 if flags & 2 else 0)
            if flags & 4:
                mode = struct.unpack(">I", body[offset : offset + 4])[0]
                return (mode & 0o170000) == 0o040000
            return True
        if kind == _STATUS:
            code = struct.unpack(">I", body[4:8])[0]
            return False if code == _NO_SUCH_FILE else None
        return None
    except (OSError, EOFError, struct.error) as exc:
        log.warning("cannot look up %s over sftp: %s", path, exc)
        return None
    finally:
        watchdog.cancel()
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
