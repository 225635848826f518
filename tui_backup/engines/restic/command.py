"""Running ``restic`` for one job: its environment, its options, and a lock that waits.

The repository and the password reach restic through the environment only
(``RESTIC_REPOSITORY``, the job's ``RESTIC_PASSWORD_FILE``/``_COMMAND``), so
neither appears in ``ps``. An ``sftp:`` repository uses the job's SSH
settings through restic's ``sftp.command`` option.

restic 0.14 has no ``--retry-lock``: a command refused because another
restic process holds the repository lock is retried here, with backoff,
for at most :attr:`Restic.lock_timeout` seconds and never past a cancel.

A lock whose holder was on this host and whose process is gone (a ``restic``
killed with ``kill -9``, or orphaned by a killed runner, never removes its
lock) is provably stale: ``restic unlock`` (which removes only stale locks)
runs once, logged, and the command is retried at once. A lock held by a live
process or by another host is waited for, then reported naming its holder.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.common import require_tool
from tui_backup.engines.process import ToolResult, run_tool
from tui_backup.engines.restic.errors import classify, holder_is_gone, lock_holder
from tui_backup.engines.restic.location import is_local, local_path, mask, sftp_target
from tui_backup.model.job import JobSpec

log = logging.getLogger(__name__)

PASSWORD_VARS = ("RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_PASSWORD")
LOCK_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Waits between attempts on a locked repository; the last one repeats."""
DEFAULT_LOCK_TIMEOUT = 120.0


def tag(spec: JobSpec) -> str:
    """The tag that marks a snapshot as this job's (together with the host)."""
    return f"tui-backup:{spec.name}"


def hostname() -> str:
    return socket.gethostname()


@dataclass
class Restic:
    """restic bound to one job's repository, environment and SSH settings."""

    spec: JobSpec
    binary: str = "restic"
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    sleep: Callable[[float], None] | None = None
    """Test hook for the backoff wait (default: ``cancel.wait``)."""
    _path: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self._path = require_tool(self.binary, "restic")

    @property
    def repository(self) -> str:
        return self.spec.destination

    @property
    def local(self) -> bool:
        return is_local(self.repository)

    @property
    def local_path(self) -> str:
        return local_path(self.repository)

    @property
    def shown(self) -> str:
        """The repository as messages may show it (credentials masked)."""
        return mask(self.repository)

    def env(self) -> dict[str, str]:
        """The job's environment plus the repository; refuses when no password is set."""
        env = self.spec.env_dict
        if not any(env.get(v) or os.environ.get(v) for v in PASSWORD_VARS):
            raise EngineError(
                "restic needs the repository password: add `env: {RESTIC_PASSWORD_FILE: "
                f"/path/to/file}}` to job {self.spec.name!r} (or RESTIC_PASSWORD_COMMAND)",
                ErrorType.NO_PASSWORD,
            )
        env["RESTIC_REPOSITORY"] = self.local_path if self.local else self.repository
        for name in ("RESTIC_PASSWORD_FILE", "RESTIC_CACHE_DIR", "RESTIC_CACERT"):
            if env.get(name):  # restic may run elsewhere than here (a restore's staging dir)
                env[name] = os.path.abspath(os.path.expanduser(env[name]))
        env.pop("RESTIC_REPOSITORY_FILE", None)
        return env

    def options(self) -> list[str]:
        """Global options: ``sftp.command`` built from the job's SSH settings."""
        spec = self.spec
        if not self.repository.startswith("sftp:"):
            return []
        if spec.ssh_command is None and spec.ssh_port is None and spec.ssh_identity is None:
            return []
        return ["-o", f"sftp.command={shlex.join(self.sftp_argv())}"]

    def sftp_argv(self) -> list[str]:
        """The ssh command that opens the repository's sftp session (as restic runs it)."""
        spec = self.spec
        user, host, port = sftp_target(self.repository)
        argv = shlex.split(spec.ssh_command) if spec.ssh_command else ["ssh"]
        port = spec.ssh_port or port
        if port is not None:
            argv += ["-p", str(port)]
        if spec.ssh_identity is not None:
            argv += ["-i", os.path.expanduser(spec.ssh_identity)]
        if user:
            argv += ["-l", user]
        return [*argv, host, "-s", "sftp"]

    def argv(self, args: Sequence[str]) -> list[str]:
        return [self._path, *self.options(), *args]

    def call(
        self,
        args: Sequence[str],
        *,
        cancel: threading.Event | None = None,
        on_line: Callable[[str], None] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> tuple[ToolResult, list[str]]:
        """Run ``restic ARGS``; retry while the repository is locked (bounded, cancellable).

        Returns the last attempt's result and its stdout lines (collected only
        when ``on_line`` is not given). A lock that outlives the wait is
        returned as a failed result; :meth:`check` turns it into
        ``REPOSITORY_LOCKED`` naming the holder.
        """
        full_env = env or self.env()
        argv = self.argv(args)
        deadline = time.monotonic() + self.lock_timeout
        attempt = 0
        unlocked = False
        while True:
            lines: list[str] = []
            result = run_tool(
                argv,
                on_line=on_line or lines.append,
                cancel=cancel,
                env=full_env,
                cwd=cwd,
                on_stderr=on_stderr,
            )
            holder = (
                None if result.cancelled or result.returncode == 0 else lock_holder(result.stderr)
            )
            if holder is None:
                return result, lines
            if not unlocked and holder_is_gone(holder):
                unlocked = True
                if self._unlock_stale(holder, full_env, cancel, cwd):
                    continue
            delay = LOCK_DELAYS[min(attempt, len(LOCK_DELAYS) - 1)]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return result, lines
            delay = min(delay, remaining)
            log.info(
                "restic repository %s is locked by %s; retrying in %.0f s",
                self.shown,
                mask(holder, self.repository),
                delay,
            )
            attempt += 1
            if self.sleep is not None:
                self.sleep(delay)
            elif cancel is not None:
                if cancel.wait(delay):
                    return ToolResult(-1, result.stderr, True), lines
            else:
                time.sleep(delay)

    def _unlock_stale(
        self,
        holder: str,
        env: dict[str, str],
        cancel: threading.Event | None,
        cwd: str | None,
    ) -> bool:
        """``restic unlock`` for a lock whose holder is gone; True when it succeeded."""
        shown = mask(holder, self.repository)
        log.warning(
            "restic repository %s: removing the stale lock of %s (that process no longer "
            "exists on this host) with `restic unlock`",
            self.shown,
            shown,
        )
        result = run_tool(
            self.argv(["unlock"]), on_line=lambda _line: None, cancel=cancel, env=env, cwd=cwd
        )
        if result.cancelled or result.returncode != 0:
            log.warning(
                "restic unlock of %s failed: %s",
                self.shown,
                mask(result.stderr.strip(), self.repository) or result.returncode,
            )
            return False
        return True

    def check(self, result: ToolResult, what: str) -> None:
        """Raise the classified :class:`EngineError` when ``result`` failed."""
        if result.cancelled:
            raise EngineError(f"{what}: stopped", ErrorType.STOPPED)
        if result.returncode != 0:
            raise classify(result.stderr, self.repository, what)

    def run_checked(
        self, args: Sequence[str], what: str, *, cancel: threading.Event | None = None
    ) -> list[str]:
        """Run and return stdout lines; any failure raised as a classified error."""
        result, lines = self.call(args, cancel=cancel)
        self.check(result, what)
        return lines
