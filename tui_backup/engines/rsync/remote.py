"""A destination directory on a host reached by ssh: quoted POSIX shell and GNU tools.

Nothing but ``sh``, ``find``, ``xargs``, ``md5sum`` (``sha256sum`` for older
manifests) and the usual file
utilities is assumed on the host (no Python). Every path is quoted with
:func:`shlex.quote`; names of any bytes travel NUL-separated.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from tui_backup.engines import layout
from tui_backup.engines.api import EngineError, ErrorType
from tui_backup.engines.rsync.location import Location, SshSettings
from tui_backup.engines.rsync.store import (
    DAMAGED_FILE,
    DELETING_SUFFIX,
    MANIFEST_SUFFIX,
    META,
    RACY_SUFFIX,
    SUMMARY_SUFFIX,
    OnHashed,
    Store,
    Tree,
)

_HEX_WIDTH = {"md5": 32, "sha256": 64}
"""Hex digits of each digest a manifest may name (``<algorithm>sum`` prints them first)."""
_TILDE = re.compile(r"~([A-Za-z0-9._][A-Za-z0-9._-]*)?(/.*)?")


def _path_expr(path: str) -> str:
    """A shell word for ``path``: ``~`` and ``~user`` expand as a shell would, the rest quoted."""
    match = _TILDE.fullmatch(path)
    if match is None:
        return shlex.quote(path)
    user, rest = match.group(1), (match.group(2) or "").lstrip("/")
    home = f"~{user}" if user else '"$HOME"'
    return f"{home}/{shlex.quote(rest)}" if rest else home


_PROBE = """\
p={path}
if [ ! -d "$p" ]; then
  if [ {create} = 1 ]; then
    parent=$(dirname -- "$p")
    if [ ! -d "$parent" ]; then echo "the destination's parent directory $parent does not \
exist" >&2; exit 3; fi
    mkdir -- "$p" || exit 4
  else
    exit 2
  fi
fi
cd -- "$p" || exit 4
if [ -L .tui-backup ]; then echo "$(pwd -P)/.tui-backup is a symbolic link; refusing to read or \
write the backup's metadata through it (remove the link)" >&2; exit 7; fi
pwd -P
printf '\\0'
find . -mindepth 1 -maxdepth 1 -printf '%y%P\\0'
printf '\\0'
cat .tui-backup/owner.json 2>/dev/null
printf '\\0'
[ -e .tui-backup/{damaged} ] && printf 1
printf '\\0'
if [ {every} = 1 ]; then set -- .tui-backup/*.json
else set -- ".tui-backup/$(readlink latest 2>/dev/null).json"; fi
for f do
  [ -f "$f" ] || continue
  printf '%s\\0' "${{f#.tui-backup/}}"; cat -- "$f"; printf '\\0'
done
true
"""
"""Resolve, create if asked, and read in one login: the entries, the owner
marker, whether a verify found damage, and summaries (every one, or the
newest's through ``latest``). Sections are NUL-separated; names never hold NUL."""

_AFTER_COPY = """\
cd -- {dest} || exit 4
m={manifest}
if [ -f "$m" ]; then wc -c < "$m"; cat -- "$m"; else echo -1; fi
(cd -- {new} && find . -mindepth 1 {tree}) || exit 5
printf '\\0'
if [ -n {prev} ]; then (cd -- {prev} && find . -mindepth 1 {tree}) || exit 5; fi
true
"""
"""The new snapshot's files, the previous one's, and the previous manifest, in one login."""

_TREE = r"\( -type f -printf 'f%i\t%s\t%T@\t%P\0' \) -o \( -type l -printf 'l%P\0%l\0' \)" + (
    r" -o \( ! -type d -printf 's%y%P\0' \)"
)

_FINISH = """\
umask 077
cd -- {dest} || exit 4
{private}
cat > {tmp_manifest} && printf '%s' {summary} > {tmp_summary} && sync || exit 4
mv -f -- {tmp_manifest} {manifest} && mv -f -- {tmp_summary} {summary_name} || exit 4
mv -- {partial} {sid} || exit 6
ln -sfn -- {sid} .latest.tmp && mv -fT -- .latest.tmp latest || true
{clear}
sync || true
"""
"""Write manifest and summary, then the commit point (the rename), then ``latest``."""

_PRIVATE_META = """\
if [ -L .tui-backup ]; then echo "$(pwd -P)/.tui-backup is a symbolic link; refusing to \
write through it" >&2; exit 7; fi
mkdir -p .tui-backup && chmod 700 .tui-backup || exit 4
find .tui-backup -maxdepth 1 -type f ! -perm 600 -exec chmod 600 {} + 2>/dev/null
"""
"""The metadata directory, private (0700; files 0600 by ``umask 077``), never through a link."""


class RemoteStore(Store):
    def __init__(
        self,
        host: str,
        path: str,
        entries: dict[str, str],
        owner: dict[str, Any] | None,
        ssh: SshSettings,
        exists: bool,
    ) -> None:
        super().__init__(path, entries, owner)
        self.host = host
        self.ssh = ssh
        self._exists = exists

    @classmethod
    def open(
        cls, loc: Location, ssh: SshSettings, *, create: bool, summaries: bool = False
    ) -> RemoteStore:
        """Resolve ``loc`` once to an absolute path and read what is there, in one login.

        With ``create`` the destination directory itself is made, only when its
        parent exists (never ``mkdir -p``: a missing parent is an unmounted disk).
        With ``summaries`` every snapshot's summary is read too (a listing).
        """
        assert loc.host is not None
        script = _PROBE.format(
            path=_path_expr(loc.path),
            create=1 if create else 0,
            damaged=shlex.quote(DAMAGED_FILE),
            every=1 if summaries else 0,
        )
        result = ssh.run(loc.host, script, timeout=120)
        err = result.stderr.decode("utf-8", "replace").strip()
        if result.returncode == 2:
            return cls(loc.host, loc.path, {}, None, ssh, exists=False)
        if result.returncode == 7:
            raise EngineError(f"{loc.host}: {err}", ErrorType.DESTINATION_ERROR)
        if result.returncode == 3:
            raise EngineError(
                f"{loc.host}: {err} (is the backup disk mounted?)", ErrorType.DESTINATION_MISSING
            )
        if result.returncode != 0:
            raise EngineError(
                f"cannot use the destination {loc.label}: {err or 'unknown error'}",
                ErrorType.DESTINATION_UNWRITABLE,
            )
        head, _, rest = result.stdout.partition(b"\0")
        path = os.fsdecode(head.rstrip(b"\n"))
        entries: dict[str, str] = {}
        tokens = rest.split(b"\0")
        i = 0
        while i < len(tokens) and tokens[i]:
            token = os.fsdecode(tokens[i])
            entries[token[1:]] = token[0]
            i += 1
        marker = tokens[i + 1] if i + 1 < len(tokens) else b""
        owner = None
        if marker.strip():
            with contextlib.suppress(ValueError):
                owner = json.loads(marker)
        store = cls(loc.host, path, entries, owner, ssh, exists=True)
        store.damaged = i + 2 < len(tokens) and tokens[i + 2] == b"1"
        pairs = tokens[i + 3 :]
        for name, body in zip(pairs[0::2], pairs[1::2], strict=False):
            stem = os.fsdecode(name).removesuffix(SUMMARY_SUFFIX)
            if layout.parse_id(stem) is not None:
                store.cache_summary(stem, body)
        if summaries:
            for sid in store.ids():
                store.summaries.setdefault(sid, None)
        return store

    def sh(
        self, script: str, *, stdin: bytes | None = None, cancel: threading.Event | None = None
    ) -> bytes:
        """Run ``script`` on the host; a non-zero exit is an error naming its stderr."""
        assert self.host is not None
        result = self.ssh.run(self.host, script, stdin=stdin, cancel=cancel)
        if result.returncode != 0:
            err = result.stderr.decode("utf-8", "replace").strip()
            raise EngineError(
                f"{self.host}: {err or f'remote command failed ({result.returncode})'}",
                ErrorType.DESTINATION_ERROR,
            )
        return result.stdout

    def q(self, *parts: str) -> str:
        return shlex.quote(self.abs(*parts))

    def read_meta(self, name: str) -> bytes | None:
        assert self.host is not None
        result = self.ssh.run(self.host, f"cat -- {self.q(META, name)}")
        return result.stdout if result.returncode == 0 else None

    def write_meta(self, name: str, data: bytes) -> None:
        tmp = shlex.quote(f"{META}/.{name}.tmp-{os.getpid()}")
        self.sh(
            f"umask 077 && cd -- {self.q()} || exit 4\n{_PRIVATE_META}"
            f"cat > {tmp} && chmod 600 -- {tmp} && {{ sync {tmp} 2>/dev/null; true; }} && "
            f"mv -f -- {tmp} {shlex.quote(f'{META}/{name}')}",
            stdin=data,
        )

    def remove(self, names: Sequence[str]) -> None:
        if not names:
            return
        quoted = " ".join(self.q(n) for n in names)
        self.sh(f"chmod -R u+rwX -- {quoted} 2>/dev/null; rm -rf -- {quoted}")
        for name in names:
            self.entries.pop(name, None)

    def commit(self, partial: str, sid: str) -> None:
        self.sh(
            f"mv -- {self.q(partial)} {self.q(sid)} && "
            f"ln -sfn -- {shlex.quote(sid)} {self.q('.latest.tmp')} && "
            f"mv -fT -- {self.q('.latest.tmp')} {self.q(layout.LATEST)} && sync"
        )
        self.entries.pop(partial, None)
        self.entries[sid] = "d"

    def set_latest(self, sid: str | None) -> None:
        if sid is None:
            self.sh(f"rm -f -- {self.q(layout.LATEST)}")
            return
        self.sh(
            f"ln -sfn -- {shlex.quote(sid)} {self.q('.latest.tmp')} && "
            f"mv -fT -- {self.q('.latest.tmp')} {self.q(layout.LATEST)}"
        )

    def delete_snapshot(self, sid: str) -> None:
        doomed = self.q(sid + DELETING_SUFFIX)
        self.sh(
            f"mv -- {self.q(sid)} {doomed} && "
            f"rm -f -- {self.q(META, sid + MANIFEST_SUFFIX)} {self.q(META, sid + SUMMARY_SUFFIX)} "
            f"{self.q(META, sid + RACY_SUFFIX)} "
            f"&& chmod -R u+rwX -- {doomed} 2>/dev/null; rm -rf -- {doomed}"
        )
        self.entries.pop(sid, None)

    def tree(self, rel: str, cancel: threading.Event | None = None) -> Tree:
        out = self.sh(f"cd -- {self.q(rel)} && find . -mindepth 1 {_TREE}", cancel=cancel)
        tree, _end = _parse_tree(out, 0)
        return tree

    def after_copy(
        self, partial: str, previous: str | None, cancel: threading.Event | None = None
    ) -> tuple[Tree, Tree | None, bytes | None]:
        script = _AFTER_COPY.format(
            dest=self.q(),
            manifest=shlex.quote(f"{META}/{previous}{MANIFEST_SUFFIX}" if previous else "-"),
            new=shlex.quote(partial),
            prev=shlex.quote(previous or ""),
            tree=_TREE,
        )
        out = self.sh(script, cancel=cancel)
        line, _, out = out.partition(b"\n")
        size = int(line)
        old_manifest = out[:size] if size >= 0 else None
        out = out[max(size, 0) :]
        new_tree, end = _parse_tree(out, 0)
        prev_tree = _parse_tree(out, end)[0] if previous else None
        return new_tree, prev_tree, old_manifest

    def finish(
        self, partial: str, sid: str, manifest: bytes, summary: bytes, *, clear_damage: bool
    ) -> None:
        meta = f"{META}/"
        pid = os.getpid()
        script = _FINISH.format(
            dest=self.q(),
            tmp_manifest=shlex.quote(f"{meta}.{sid}.manifest.tmp-{pid}"),
            tmp_summary=shlex.quote(f"{meta}.{sid}.json.tmp-{pid}"),
            summary=shlex.quote(summary.decode()),
            manifest=shlex.quote(meta + sid + MANIFEST_SUFFIX),
            summary_name=shlex.quote(meta + sid + SUMMARY_SUFFIX),
            partial=shlex.quote(partial),
            sid=shlex.quote(sid),
            clear=f"rm -f -- {shlex.quote(meta + DAMAGED_FILE)}" if clear_damage else "",
            private=_PRIVATE_META,
        )
        self.sh(script, stdin=manifest)
        self.entries.pop(partial, None)
        self.entries[sid] = "d"

    def hash(
        self,
        rel: str,
        paths: Iterable[str],
        cancel: threading.Event | None = None,
        on_hashed: OnHashed | None = None,
        algorithm: str = "md5",
    ) -> tuple[dict[str, str], dict[str, str]]:
        wanted = list(paths)
        if not wanted:
            return {}, {}
        width = _HEX_WIDTH[algorithm]  # KeyError: not an algorithm a manifest may name
        tool = f"{algorithm}sum"
        # Only regular files are handed to the *sum tool (test -f, not -L): never a FIFO.
        script = (
            f"cd -- {self.q(rel)} && "
            'xargs -0 -r sh -c \'for f do if [ -f "$f" ] && [ ! -L "$f" ]; then '
            f'printf "%s\\0" "$f"; fi; done\' sh | xargs -0 -r {tool} -z --'
        )
        stdin = b"".join(os.fsencode(p) + b"\0" for p in wanted)
        assert self.host is not None
        result = self.ssh.run(self.host, script, stdin=stdin, cancel=cancel)
        if result.returncode in (126, 127):  # xargs: the command could not be run
            err = result.stderr.decode("utf-8", "replace").strip()
            raise EngineError(
                f"{self.host} cannot hash files (GNU coreutils' {tool} is needed): {err}",
                ErrorType.TOOL_MISSING,
            )
        digests: dict[str, str] = {}
        for record in result.stdout.split(b"\0"):
            if len(record) > width + 2:  # "<hex>  <name>"
                path = os.fsdecode(record[width + 2 :])
                digests[path] = record[:width].decode("ascii")
        problems = {p: "missing or unreadable" for p in wanted if p not in digests}
        if on_hashed is not None:
            for p in digests:
                on_hashed(p, -1)
        return digests, problems

    def missing(self, rel: str, paths: Sequence[str]) -> list[str]:
        if not paths:
            return []
        script = (
            f"cd -- {self.q(rel)} && "
            'xargs -0 -r sh -c \'for f do if [ ! -e "$f" ] && [ ! -L "$f" ]; then '
            'printf "%s\\0" "$f"; fi; done\' sh'
        )
        out = self.sh(script, stdin=b"".join(os.fsencode(p) + b"\0" for p in paths))
        return [os.fsdecode(t) for t in out.split(b"\0") if t]

    def purge(self) -> None:
        self.sh(
            f"rm -rf -- {self.q(META)} && rm -f -- {self.q(layout.LATEST)} && "
            f"rmdir -- {self.q()} 2>/dev/null; true"
        )


def _parse_tree(out: bytes, start: int) -> tuple[Tree, int]:
    """Parse ``find -printf`` records from ``start`` to an empty record; (tree, next offset)."""
    tree = Tree()
    pos = start
    n = len(out)
    while pos < n:
        end = out.find(b"\0", pos)
        if end < 0:
            break
        token = out[pos:end]
        pos = end + 1
        if not token:
            break
        if token[:1] == b"f":
            ino, size, mtime, path = token[1:].split(b"\t", 3)
            name = os.fsdecode(path)
            tree.files[name] = (int(ino), int(size))
            tree.mtimes[name] = _ns(mtime)
        elif token[:1] == b"s":
            tree.specials[os.fsdecode(token[2:])] = chr(token[1])
        elif token[:1] == b"l":
            t_end = out.find(b"\0", pos)
            tree.links[os.fsdecode(token[1:])] = os.fsdecode(out[pos:t_end])
            pos = t_end + 1
    return tree, pos


def _ns(stamp: bytes) -> int:
    """``find -printf %T@`` (seconds with a fraction of up to 10 digits) in nanoseconds."""
    whole, _, frac = stamp.partition(b".")
    sign = -1 if whole.startswith(b"-") else 1
    return int(whole) * 1_000_000_000 + sign * int((frac[:9] or b"0").ljust(9, b"0"))
