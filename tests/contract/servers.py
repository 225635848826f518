"""Real backup destinations for the contract tests: sshd, ``rclone serve restic``, moto S3.

The engines talk to remote destinations through external programs (rsync, restic, ssh),
so the only honest test of "works over sftp/rest/s3" is to run those programs against
real servers. Each server here is a real process listening on 127.0.0.1 only, on a free
port, with throwaway credentials in a temporary directory; nothing on the machine
outside that directory is read or changed (no ``~/.ssh/config``, no system sshd).

Readiness is always polled with a deadline (never a fixed sleep): a server counts as
started only once it answers the way the tests will use it (sshd: a real ``ssh`` login;
HTTP servers: an HTTP answer). A server whose program is missing makes its tests skip
with the reason; with ``TUI_BACKUP_REQUIRE_SERVERS=1`` (set by ``.ci/run``) a missing
program fails instead, so CI can never pass by skipping. A server whose program exists
but does not start is always an error, with its log in the message.

Processes are stopped by the fixtures' teardown; as a second line of defence they are
started under ``setpriv --pdeathsig`` (the kernel kills them if the pytest process that
started them dies, e.g. a pytest-xdist worker killed by a timeout) and an ``atexit``
hook stops whatever is still running.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn, TypeVar

import pytest

#: The ssh host alias written into the generated client config.
SSH_HOST_ALIAS = "tui-backup-test"

#: The destination kinds the contract suite is parametrized over.
DESTINATION_KINDS: tuple[str, ...] = (
    "snapshot",
    "rsync-local",
    "rsync-ssh",
    "restic-local",
    "restic-sftp",
    "restic-rest",
    "restic-s3",
)

#: Set to 1 (``.ci/run`` does) to make a missing server program fail instead of skip.
REQUIRE_ENV = "TUI_BACKUP_REQUIRE_SERVERS"

#: Credentials moto accepts (it checks none); restic's s3 backend needs them set.
S3_ENV: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

#: How long a server may take to answer before its start counts as failed.
START_DEADLINE = 30.0

T = TypeVar("T")


class ServerStartError(RuntimeError):
    """A server's program exists but the server did not come up (its log is in the text)."""


class _PortInUse(ServerStartError):
    """Lost the race for a free port to another process; the start is retried."""


class _AccountLocked(ServerStartError):
    """sshd without PAM refused the login because the account's password is locked."""

    def __init__(self, cause: ServerStartError) -> None:
        super().__init__(str(cause))


# --------------------------------------------------------------------------- utilities


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Another process (e.g. another pytest-xdist worker) can take it before the server
    binds it; the start functions detect "address in use" and retry with a new port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_program(name: str, why: str) -> str:
    """The path of program ``name``; skip (or fail in CI) with a stated reason if missing."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed ({why})")
    return path


def missing(reason: str) -> NoReturn:
    """Skip because a server cannot start here, or fail when servers are required.

    Skipping is right on a developer machine without, say, rclone; in CI a skip would
    hide exactly the regressions the contract tests exist to catch.
    """
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_ENV}=1 requires every test server", pytrace=False)
    pytest.skip(reason)


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:] or "(empty log)"


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http_answers(url: str) -> bool:
    """True once anything answers HTTP at ``url`` (an error status is still an answer)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _start_with_retries(start: Callable[[int], T], attempts: int = 4) -> T:
    """Call ``start(port)`` with fresh free ports until one is not lost to a race."""
    for attempt in range(attempts):
        try:
            return start(free_port())
        except _PortInUse:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- processes

_live: list[ServerProcess] = []


@dataclass
class ServerProcess:
    """One server process in its own process group, its output in ``log_path``."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]
    _log: IO[bytes]

    @classmethod
    def spawn(
        cls, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None
    ) -> ServerProcess:
        """Start ``argv`` detached from the terminal, dying with this process if possible.

        ``start_new_session`` keeps a Ctrl-C at the terminal from reaching the server
        (the fixture stops it in order) and lets teardown kill the whole group.
        ``setpriv --pdeathsig`` is used instead of a ``preexec_fn``, which is unsafe
        once threads exist (pytest-timeout, Textual and the engines start threads).
        """
        log = log_path.open("ab")
        full = list(argv)
        setpriv = shutil.which("setpriv")
        if setpriv is not None and sys.platform.startswith("linux"):
            full = [setpriv, "--pdeathsig", "TERM", "--", *full]
        popen = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        proc = cls(name, list(argv), log_path, popen, log)
        _live.append(proc)
        return proc

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self) -> str:
        return _tail(self.log_path)

    def fail(self, what: str) -> ServerStartError:
        """A start error naming the server, what went wrong and its log; stops it first."""
        self.stop()
        log = self.log_tail()
        cls = _PortInUse if "address already in use" in log.lower() else ServerStartError
        return cls(
            f"{self.name} did not start: {what}\n"
            f"command: {shlex.join(self.argv)}\n--- log {self.log_path}\n{log}"
        )

    def wait_ready(self, ready: Callable[[], bool], what: str, deadline: float) -> None:
        """Poll ``ready`` until it holds; fail early if the process exits."""
        end = time.monotonic() + deadline
        delay = 0.02
        while True:
            if not self.running:
                raise self.fail(f"exited with status {self.popen.returncode} before {what}")
            if ready():
                return
            if time.monotonic() > end:
                raise self.fail(f"no {what} within {deadline:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it lingers; idempotent."""
        if self.running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        # Connection children (sshd forks one per login) may outlive the leader.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        if not self._log.closed:
            self._log.close()
        if self in _live:
            _live.remove(self)


@atexit.register
def _stop_all() -> None:
    for proc in list(_live):
        with contextlib.suppress(Exception):
            proc.stop()


# --------------------------------------------------------------------------- sshd


@dataclass
class SshServer:
    """A throwaway sshd on 127.0.0.1 that accepts one generated key for ``user``.

    Clients reach it through the generated config ``ssh_config_path`` under the host
    alias ``host_alias``; ``ssh_command`` (``ssh -F <config>``) is what a job's
    ``ssh_command`` field, ``rsync -e`` or restic's ``sftp.command`` need. The machine's
    own ``~/.ssh`` is never read or written (ssh finds ``~`` from the password
    database, not ``$HOME``, so redirecting HOME would not work anyway).
    """

    host_alias: str
    host: str
    port: int
    user: str
    identity: Path
    ssh_config_path: Path
    known_hosts: Path
    log_path: Path
    process: ServerProcess = field(repr=False)

    @property
    def ssh_argv(self) -> list[str]:
        """``["ssh", "-F", config]``: argv prefix of an ssh to ``host_alias``."""
        return ["ssh", "-F", str(self.ssh_config_path)]

    @property
    def ssh_command(self) -> str:
        """``ssh -F <config>`` as one shell-quoted string (job field, ``rsync -e``)."""
        return shlex.join(self.ssh_argv)

    @property
    def sftp_command(self) -> str:
        """The value for restic's ``-o sftp.command=...``: an ssh running the sftp subsystem."""
        return shlex.join([*self.ssh_argv, self.host_alias, "-s", "sftp"])

    @property
    def restic_options(self) -> list[str]:
        """restic arguments that make ``sftp:<host_alias>:/path`` use this server."""
        return ["-o", f"sftp.command={self.sftp_command}"]

    @property
    def env(self) -> dict[str, str]:
        """Environment that points rsync at this server without ``-e`` (``RSYNC_RSH``)."""
        return {"RSYNC_RSH": self.ssh_command}

    def remote(self, path: str | os.PathLike[str]) -> str:
        """``tui-backup-test:<path>``, an rsync destination on this server."""
        return f"{self.host_alias}:{os.fspath(path)}"

    def run(self, cmd: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run shell command ``cmd`` on the server over ssh; never raises on exit codes."""
        return subprocess.run(
            [*self.ssh_argv, self.host_alias, cmd],
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self) -> None:
        self.process.stop()


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tui-backup-test", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _sshd_config(
    workdir: Path, port: int, user: str, host_key: Path, authorized: Path, use_pam: bool
) -> Path:
    config = workdir / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {host_key}",
                f"PidFile {workdir / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                f"AllowUsers {user}",
                "PermitRootLogin yes" if user == "root" else "PermitRootLogin no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                # Non-root sshd cannot use PAM or check the modes of a root-owned tmp;
                # as root, PAM is only turned on when the account is password-locked.
                f"UsePAM {'yes' if use_pam else 'no'}",
                "StrictModes no",
                "UseDNS no",
                "PrintMotd no",
                "PrintLastLog no",
                # The sftp subsystem in-process: no dependence on where sftp-server lives.
                "Subsystem sftp internal-sftp",
                # Contract tests may run many rsync/restic processes at once.
                "MaxStartups 100",
                "MaxSessions 100",
                "LoginGraceTime 30",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    config.chmod(0o600)
    return config


def _client_config(workdir: Path, port: int, user: str, identity: Path, known: Path) -> Path:
    config = workdir / "ssh_config"
    config.write_text(
        "\n".join(
            [
                f"Host {SSH_HOST_ALIAS}",
                "    HostName 127.0.0.1",
                f"    Port {port}",
                f"    User {user}",
                f"    IdentityFile {identity}",
                "    IdentitiesOnly yes",
                # The host key is pinned (known_hosts below) rather than unchecked: a
                # stale server that grabbed the port cannot be mistaken for this one.
                f"    HostKeyAlias {SSH_HOST_ALIAS}",
                f"    UserKnownHostsFile {known}",
                "    GlobalKnownHostsFile /dev/null",
                "    StrictHostKeyChecking yes",
                "    BatchMode yes",
                "    LogLevel ERROR",
                "    ConnectTimeout 10",
                "    ServerAliveInterval 15",
                "    ControlMaster no",
                "    ControlPath none",
                "    ForwardAgent no",
                "",
            ]
        )
    )
    config.chmod(0o600)
    return config


def start_sshd(workdir: Path) -> SshServer:
    """Start an sshd for the current user on a free 127.0.0.1 port; ready to log in.

    Runs as whoever runs the tests: as root (CI) with ``PermitRootLogin yes``; as
    another user sshd cannot switch users, so it logs that same user in.
    """
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    if sshd is None:
        missing("sshd is not installed (package openssh-server)")
    require_program("ssh", "package openssh-client")
    require_program("ssh-keygen", "package openssh-client")
    sshd = os.path.abspath(sshd)  # sshd re-executes itself and insists on an absolute path

    workdir.mkdir(parents=True, exist_ok=True)
    host_key = workdir / "host_ed25519"
    identity = workdir / "client_ed25519"
    _keygen(host_key)
    _keygen(identity)
    authorized = workdir / "authorized_keys"
    authorized.write_text(Path(f"{identity}.pub").read_text())
    authorized.chmod(0o600)
    known = workdir / "known_hosts"
    known.write_text(f"{SSH_HOST_ALIAS} {Path(f'{host_key}.pub').read_text()}")
    user = pwd.getpwuid(os.getuid()).pw_name

    if os.geteuid() == 0:
        # The privilege-separation directory; missing on machines that never ran sshd.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    def start(port: int, use_pam: bool) -> SshServer:
        config = _sshd_config(workdir, port, user, host_key, authorized, use_pam)
        client = _client_config(workdir, port, user, identity, known)
        log = workdir / "sshd.log"
        log.write_text("")
        proc = ServerProcess.spawn("sshd", [sshd, "-D", "-f", str(config), "-E", str(log)], log)
        server = SshServer(
            SSH_HOST_ALIAS, "127.0.0.1", port, user, identity, client, known, log, proc
        )
        proc.wait_ready(lambda: _port_open(port), f"listener on 127.0.0.1:{port}", START_DEADLINE)
        last: list[subprocess.CompletedProcess[str]] = []

        def login_works() -> bool:
            result = server.run("true", timeout=15)
            last[:] = [result]
            if result.returncode != 0 and "account is locked" in proc.log_tail():
                raise _AccountLocked(proc.fail("the account is locked (password '!')"))
            return result.returncode == 0

        try:
            proc.wait_ready(login_works, "successful ssh login", START_DEADLINE)
        except (_AccountLocked, _PortInUse):
            raise
        except ServerStartError as e:
            if last:
                raise ServerStartError(f"{e}\n--- last ssh stderr\n{last[0].stderr}") from e
            raise
        return server

    def start_any(port: int) -> SshServer:
        try:
            return start(port, use_pam=False)
        except _AccountLocked:
            # Without PAM, sshd refuses key logins to password-locked accounts; PAM's
            # account check does not. Only root can run sshd with PAM.
            if os.geteuid() != 0:
                raise
            return start(free_port(), use_pam=True)

    return _start_with_retries(start_any)


# --------------------------------------------------------------------------- rclone serve restic


@dataclass(frozen=True)
class RestRepo:
    """One fresh restic REST repository: ``url`` carries credentials, ``public_url`` not.

    ``public_url`` is what a job listing or error message may show; tests check that
    ``password`` never appears in output (restic and the engines must redact it).
    """

    url: str
    public_url: str
    user: str
    password: str
    path: Path


@dataclass
class RestServer:
    """``rclone serve restic`` with basic auth, serving the directory ``root``."""

    host: str
    port: int
    user: str
    password: str
    root: Path
    log_path: Path
    process: ServerProcess = field(repr=False)

    @property
    def base_url(self) -> str:
        """``http://user:pass@127.0.0.1:port/`` (restic's ``rest:`` takes it after the prefix)."""
        return f"http://{self.user}:{self.password}@{self.host}:{self.port}/"

    def new_repo(self, name: str | None = None) -> RestRepo:
        """A repository path nobody used yet; ``restic init`` creates it on the server."""
        name = name or f"repo-{secrets.token_hex(6)}"
        return RestRepo(
            url=f"rest:{self.base_url}{name}/",
            public_url=f"rest:http://{self.host}:{self.port}/{name}/",
            user=self.user,
            password=self.password,
            path=self.root / name,
        )

    def stop(self) -> None:
        self.process.stop()


def start_rest_server(workdir: Path) -> RestServer:
    """Start ``rclone serve restic`` on a free 127.0.0.1 port with a random password."""
    rclone = require_program("rclone", "package rclone, for restic rest: repositories")
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / "data"
    root.mkdir(exist_ok=True)
    rclone_config = workdir / "rclone.conf"
    rclone_config.touch()  # no remotes; keeps rclone from reading or creating ~/.config/rclone
    user, password = "tui-user", f"pw-{secrets.token_hex(8)}"

    def start(port: int) -> RestServer:
        log = workdir / f"rclone-{port}.log"
        argv = [
            rclone,
            "serve",
            "restic",
            "--config",
            str(rclone_config),
            "--addr",
            f"127.0.0.1:{port}",
            "--user",
            user,
            "--pass",
            password,
            str(root),
        ]
        proc = ServerProcess.spawn("rclone serve restic", argv, log)
        url = f"http://127.0.0.1:{port}/"
        proc.wait_ready(lambda: _http_answers(url), "HTTP answer", START_DEADLINE)
        return RestServer("127.0.0.1", port, user, password, root, log, proc)

    return _start_with_retries(start)


# --------------------------------------------------------------------------- moto S3


@dataclass(frozen=True)
class S3Repo:
    """One restic s3 repository in its own fresh bucket; ``env`` has the credentials."""

    url: str
    bucket: str
    prefix: str
    endpoint: str
    env: dict[str, str]


@dataclass
class S3Server:
    """A moto S3 server (``python -m moto.server``), state in memory, any credentials."""

    host: str
    port: int
    log_path: Path
    process: ServerProcess = field(repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The AWS variables restic's s3 backend needs (moto accepts any values)."""
        return dict(S3_ENV)

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name`` with a plain PUT (moto does not check signatures)."""
        req = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT", data=b"")
        with urllib.request.urlopen(req, timeout=10) as resp:
            if resp.status != 200:
                raise ServerStartError(f"moto: creating bucket {name}: HTTP {resp.status}")

    def new_repo(self, prefix: str = "restic") -> S3Repo:
        """A fresh bucket and the ``s3:`` repository string for ``<bucket>/<prefix>``."""
        bucket = f"tui-backup-{secrets.token_hex(6)}"
        self.create_bucket(bucket)
        return S3Repo(
            url=f"s3:{self.endpoint}/{bucket}/{prefix}",
            bucket=bucket,
            prefix=prefix,
            endpoint=self.endpoint,
            env=self.env,
        )

    def stop(self) -> None:
        self.process.stop()


def start_s3_server(workdir: Path) -> S3Server:
    """Start moto's S3 server with this interpreter on a free 127.0.0.1 port."""
    for module in ("moto", "flask", "flask_cors"):
        if importlib.util.find_spec(module) is None:
            missing(f"python module {module} is missing (pip install 'moto[server]')")
    workdir.mkdir(parents=True, exist_ok=True)

    def start(port: int) -> S3Server:
        log = workdir / f"moto-{port}.log"
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        proc = ServerProcess.spawn("moto S3 server", argv, log)
        url = f"http://127.0.0.1:{port}/"
        proc.wait_ready(lambda: _http_answers(url), "HTTP answer", START_DEADLINE)
        return S3Server("127.0.0.1", port, log, proc)

    return _start_with_retries(start)


# --------------------------------------------------------------------------- destinations


@dataclass(frozen=True)
class Destination:
    """One backup destination of a given kind, ready for a job to point at.

    ``target`` is the string a job's ``destination`` holds. ``env`` is extra environment
    the engine's process needs (AWS variables for s3; ``RSYNC_RSH`` for rsync over ssh).
    ``ssh_command`` is set for the kinds that go through the test sshd: a job must use
    it (``ssh -F <config>``) since ``tui-backup-test`` is not in ``~/.ssh/config``.
    ``local_path`` is where the bytes land on this machine, when they do (not for s3).
    """

    kind: str
    engine: str
    target: str
    env: dict[str, str] = field(default_factory=dict)
    ssh_command: str | None = None
    local_path: Path | None = None
    sshd: SshServer | None = None


# --------------------------------------------------------------------------- helpers


def restic_env(password_file: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` plus the password file and ``extra`` (e.g. ``S3Repo.env``)."""
    env = dict(os.environ)
    env["RESTIC_PASSWORD_FILE"] = str(password_file)
    env.update(extra or {})
    return env
