"""Where an rsync destination is, and how to reach it: a local path or ``[user@]host:path``.

One :class:`SshSettings` builds the ssh command for every connection the engine
makes (rsync's ``-e`` and each ``ssh host script``), from the job's
``ssh_command`` (split like a shell would, never run through one),
``ssh_port`` and ``ssh_identity``, always with ``BatchMode=yes`` so a missing
key fails at once instead of waiting for a password nobody types.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass

from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.model.job import JobSpec

ALIVE = ("-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4")
"""A connection whose server stops answering is dropped within a minute: remote
commands (hashing a large snapshot) have no time limit of their own."""
SSH_FAILED = 255
"""ssh's own exit status: the connection (not the remote command) failed."""


class Stopped(Exception):
    """The operation's cancel flag was set while a remote command ran."""


@dataclass(frozen=True, slots=True)
class Location:
    """A destination as the job wrote it: ``host`` None for a local path."""

    host: str | None
    path: str

    @classmethod
    def parse(cls, destination: str) -> Location:
        """``/abs/path`` is local; ``[user@]host:path`` (path may be relative or ``~``) remote."""
        if os.path.isabs(destination) or ":" not in destination:
            path = os.path.abspath(os.path.expanduser(destination))
            return cls(None, path.rstrip("/") or "/")
        if destination.startswith("[") and "]:" in destination:  # [user@]IPv6 in brackets
            host, _, path = destination[1:].partition("]:")
        else:
            host, _, path = destination.partition(":")
        return cls(host, path.rstrip("/") or ("/" if path.startswith("/") else "."))

    @property
    def remote(self) -> bool:
        return self.host is not None

    @property
    def label(self) -> str:
        return f"{self.host}:{self.path}" if self.host else self.path

    def rsync_path(self, *parts: str) -> str:
        """``host:path/parts`` (or the local path) for an rsync argument."""
        joined = "/".join([self.path.rstrip("/") or "", *parts]) if parts else self.path
        return f"{self.host}:{joined}" if self.host else joined


@dataclass(frozen=True, slots=True)
class SshSettings:
    """The ssh command line for one job's remote destination."""

    argv: tuple[str, ...]

    @classmethod
    def from_spec(cls, spec: JobSpec) -> SshSettings:
        try:
            base = shlex.split(spec.ssh_command) if spec.ssh_command else ["ssh"]
        except ValueError as exc:
            raise EngineError(
                f"ssh_command {spec.ssh_command!r} cannot be split: {exc}", ErrorType.TOOL_FAILED
            ) from exc
        if not base:
            base = ["ssh"]
        argv = list(base)
        if spec.ssh_port is not None:
            argv += ["-p", str(spec.ssh_port)]
        if spec.ssh_identity:
            argv += ["-i", os.path.expanduser(spec.ssh_identity)]
        argv += ["-o", "BatchMode=yes", *ALIVE]
        return cls(tuple(argv))

    @property
    def rsync_shell(self) -> str:
        """The value of rsync's ``-e``: rsync splits it itself (quotes honoured)."""
        return shlex.join(self.argv)

    def run(
        self,
        host: str,
        script: str,
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run POSIX shell ``script`` on ``host``; a failed connection is ``unreachable``.

        The script travels as one argument; ssh hands it to the remote login
        shell, so every path in it must be quoted with :func:`shlex.quote`.
        """
        try:
            result = _communicate([*self.argv, host, script], stdin or b"", timeout, cancel)
        except FileNotFoundError as exc:
            raise EngineError(
                f"the ssh program {self.argv[0]!r} is not installed (try `apt install "
                "openssh-client`)",
                ErrorType.TOOL_MISSING,
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise EngineError(
                f"{host} did not answer within {timeout or 0:.0f} s",
                ErrorType.DESTINATION_UNREACHABLE,
            ) from exc
        if result.returncode == SSH_FAILED:
            raise unreachable(host, result.stderr.decode("utf-8", "replace"))
        return result


def unreachable(host: str, stderr: str) -> EngineError:
    """The error for a host ssh could not log in to, naming the host and ssh's reason."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reason = lines[-1] if lines else "ssh failed"
    return EngineError(f"cannot reach {host} over ssh: {reason}", ErrorType.DESTINATION_UNREACHABLE)


def _communicate(
    argv: list[str], stdin: bytes, timeout: float | None, cancel: threading.Event | None
) -> subprocess.CompletedProcess[bytes]:
    """``subprocess.run`` that also stops (kills the command) when ``cancel`` is set."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = None if timeout is None else time.monotonic() + timeout
    pending: bytes | None = stdin
    try:
        while True:
            try:
                out, err = proc.communicate(pending, timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pending = None  # handed over already: communicate() goes on sending it
                if cancel is not None and cancel.is_set():
                    raise Stopped from None
                if deadline is not None and time.monotonic() > deadline:
                    raise
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)
