"""100+ malformed job files: no crash, no hang, bounded memory, one clear error each,
and every other job unaffected (issue 12, deliverable 2).

Each case is a file (or something that is not a file) at ``jobs/<name>.yaml``:
truncated, binary, the wrong type for every field, huge, alias bombs, deep
nesting, duplicate keys, python tags, a directory, a FIFO, a socket, links to
devices and to files outside ``jobs/``, names that cannot be jobs. Every case
is checked alone through the store, then all of them together in one home
through the real CLI (``job list --json``, ``health --json``, ``errors --json``).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner
from tui_backup.model.job import KNOWN_FIELDS
from tui_backup.model.records import ErrorEvent
from tui_backup.model.text import printable
from tui_backup.store import yamlio
from tui_backup.store.jobs import JobListing, JobStore
from tui_backup.store.paths import Home

GOOD_NAMES = ("alpha", "beta", "gamma")
SECRET = "root:$6$S3CRETMARK:19000:0:99999:7:::\nS3CRETMARK: 1\n"
MEMORY_LIMIT = 64 * 1024 * 1024
"""Peak Python allocation while listing a home full of bad files (tracemalloc)."""
LIST_TIMEOUT = 120.0


def good(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": "a good job",
        "sources": ["/srv/data"],
        "destination": f"/mnt/backup/{name}",
        "engine": "snapshot",
        "schedule": "0 2 * * *",
        "exclude": ["*.tmp"],
        "retention": {"keep_last": 3, "keep_within": "7d"},
        "retries": 2,
        "enabled": True,
        "hooks": {"before": [["true"]]},
        "hook_timeout": 60,
        "max_age": "2d",
        "env": {"A": "b"},
        "ssh_port": 22,
        "ssh_identity": "/root/.ssh/id",
        "ssh_command": "ssh -F /etc/ssh/cfg",
        "verify": {"schedule": "0 4 * * 0", "deep": False},
        "checksum_every": "30d",
        "preserve": {"xattrs": True},
        "version": 1,
    }


def _yaml(data: Any) -> bytes:
    return yamlio.dumps(data).encode()


Writer = Callable[[Path, Path], None]
"""Makes the case at ``path``; the second argument is a scratch directory outside the home."""


def _bytes(content: bytes) -> Writer:
    return lambda path, _scratch: path.write_bytes(content)


def _with(name: str, field: str, value: Any) -> Writer:
    data = good(name)
    data[field] = value
    return _bytes(_yaml(data))


# -- the wrong types for every field ------------------------------------------------

WRONG: dict[str, list[Any]] = {
    "name": [5, ["x"], {"a": 1}, "Upper Case", "../etc"],
    "description": [5, ["x"], {"a": 1}],
    "sources": [5, {"a": 1}, [5], ["relative/path"], [""]],
    "destination": [5, ["/x"], {"a": 1}, ""],
    "engine": [5, ["snapshot"], "tar"],
    "schedule": [5, ["0 2 * * *"], "61 * * * *", "every day"],
    "missed": [5, "sometimes", ["run"]],
    "exclude": [5, {"a": 1}, [5]],
    "retention": [5, ["keep_last"], {"keep_last": "many"}, {"keep_within": [1]}],
    "retries": ["two", 2.5, -1, True, 10**30],
    "enabled": ["yes", 1, ["true"]],
    "hooks": [5, ["true"], {"before": "true"}, {"during": [["x"]]}, {"before": [[]]}],
    "hook_timeout": ["long", 0, 10**30],
    "max_age": [["2d"], {"d": 2}, "two days", True, "9" * 400 + "d"],
    "env": [5, ["A=b"], {"A": ["b"]}],
    "ssh_port": ["ssh", 0, 70000, 10**30],
    "ssh_identity": [5, ["k"], "relative/key"],
    "ssh_command": [5, ["ssh"], ""],
    "verify": [5, ["x"], {"deep": "yes"}, {"schedule": 5}, {"read_data_subset": "lots"}],
    "checksum_every": [["30d"], "monthly", "9" * 400 + "d"],
    "preserve": [5, ["xattrs"], {"xattrs": "no"}, {"colour": True}],
    "version": ["one", -1, 2**64, 1.5],
}
assert set(WRONG) == set(KNOWN_FIELDS), "a field was added: give it wrong values here"


def _bomb(levels: int, target: str) -> bytes:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    body = "\n".join(lines)
    if target == "retention":
        return f"name: N\n{body}\nretention: {{keep_within: *a{levels - 1}}}\n".encode()
    return f"name: N\n{body}\n{target}: *a{levels - 1}\n".encode()


def _truncations() -> list[tuple[str, Writer]]:
    raw = _yaml(good("trunc"))
    cuts = sorted({len(raw) * i // 24 for i in range(1, 24)})
    out = []
    for n, cut in enumerate(cuts):
        cut_raw = raw[:cut]
        out.append((f"truncated-{n:02d}", _bytes(cut_raw)))
    return out


def _binary() -> list[tuple[str, Writer]]:
    import random

    rnd = random.Random(12)
    out: list[tuple[str, Writer]] = [
        (f"binary-{i}", _bytes(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4096)))))
        for i in range(8)
    ]
    out += [
        ("nul-bytes", _bytes(b"\x00" * 512)),
        ("utf16", _bytes("name: utf16\n".encode("utf-16"))),
        ("latin1", _bytes(b"name: caf\xe9\nsources: [/srv]\n")),
        ("control-chars", _bytes(b"name: ctl\x1b[2J\x07\nsources: [/srv]\n")),
        ("empty", _bytes(b"")),
        ("only-comment", _bytes(b"# nothing here\n")),
        ("scalar", _bytes(b"just words\n")),
        ("list", _bytes(b"- a\n- b\n")),
        ("two-documents", _bytes(_yaml(good("two-documents")) + b"---\n" + b"name: x\n")),
        ("tab-indent", _bytes(b"name: tab\n\tsources: [/x]\n")),
    ]
    return out


def _huge() -> list[tuple[str, Writer]]:
    def sparse(size: int) -> Writer:
        def write(path: Path, _scratch: Path) -> None:
            with open(path, "wb") as fh:
                fh.write(b"name: huge\nexclude:\n")
                fh.truncate(size)

        return write

    many = "".join(f"- /srv/{i}\n" for i in range(90_000))
    return [
        ("huge-2mib", sparse(2 * 1024 * 1024)),
        ("huge-1gib-sparse", sparse(1024**3)),
        ("many-sources", _bytes(("name: many-sources\nsources:\n" + many).encode())),
        ("long-description", _with("long-description", "description", "x" * 900_000)),
        ("huge-int", _bytes(b"name: huge-int\nretries: " + b"9" * 100_000 + b"\n")),
        ("long-key", _bytes(b"name: long-key\n" + b"k" * 500_000 + b": 1\n")),
        ("many-keys", _bytes(b"".join(b"key%d: %d\n" % (i, i) for i in range(20_000)))),
    ]


def _structural() -> list[tuple[str, Writer]]:
    return [
        ("bomb-max-age", _bytes(_bomb(10, "max_age"))),
        ("bomb-keep-within", _bytes(_bomb(10, "retention"))),
        ("bomb-sources", _bytes(_bomb(9, "sources"))),
        ("bomb-exclude", _bytes(_bomb(12, "exclude"))),
        ("bomb-hooks", _bytes(_bomb(9, "hooks"))),
        (
            "bomb-mapping",
            _bytes(
                b"a: &a {x: 1, y: 1}\n"
                + b"".join(
                    b"b%d: &b%d {p: *%s, q: *%s, r: *%s}\n"
                    % (i, i, *(((b"a" if i == 0 else b"b%d" % (i - 1)),) * 3))
                    for i in range(20)
                )
            ),
        ),
        ("deep-flow", _bytes(b"name: deep\nsources: " + b"[" * 100_000)),
        (
            "deep-block",
            _bytes(
                b"name: deep\nverify:\n"
                + b"".join(b"  " * (i + 1) + b"k%d:\n" % i for i in range(200))
            ),
        ),
        ("deep-closed", _bytes(b"sources: " + b"[" * 40 + b"]" * 40 + b"\n")),
        ("dup-top", _bytes(_yaml(good("dup-top")) + b"retries: 5\n")),
        ("dup-name", _bytes(b"name: dup-name\nname: other\n")),
        ("dup-nested", _bytes(b"name: dup-nested\nretention:\n  keep_last: 1\n  keep_last: 9\n")),
        ("dup-flow", _bytes(b"{name: dup-flow, sources: [/a], sources: [/b]}\n")),
        ("py-apply", _bytes(b"name: !!python/object/apply:os.system ['true']\n")),
        ("py-name", _bytes(b"name: py-name\nsources: !!python/name:os.system\n")),
        ("py-object", _bytes(b"!!python/object:collections.OrderedDict {}\n")),
        ("py-module", _bytes(b"name: !!python/module:os\n")),
        ("custom-tag", _bytes(b"name: !vault |\n  secret\n")),
        ("binary-tag", _bytes(b"name: binary-tag\ndescription: !!binary aGVsbG8=\n")),
        ("set-tag", _bytes(b"name: set-tag\nsources: !!set {/a: null}\n")),
        ("timestamp-bad", _bytes(b"name: timestamp-bad\ndescription: 2001-13-45\n")),
        ("complex-key", _bytes(b"? [a, b]\n: value\n")),
        ("anchor-undefined", _bytes(b"name: x\nsources: *nowhere\n")),
        ("merge-bad", _bytes(b"name: merge-bad\n<<: [1, 2]\n")),
    ]


def _special() -> list[tuple[str, Writer]]:
    def directory(path: Path, _scratch: Path) -> None:
        path.mkdir()

    def fifo(path: Path, _scratch: Path) -> None:
        os.mkfifo(path)

    def sock(path: Path, _scratch: Path) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        s.close()

    def link(target: str) -> Writer:
        return lambda path, _scratch: os.symlink(target, path)

    def link_outside(path: Path, scratch: Path) -> None:
        outside = scratch / "outside.yaml"
        outside.write_bytes(_yaml(good(path.stem)))
        os.symlink(outside, path)

    def link_secret(path: Path, scratch: Path) -> None:
        secret = scratch / "secret"
        secret.write_text(SECRET)
        os.symlink(secret, path)

    def link_dangling(path: Path, scratch: Path) -> None:
        os.symlink(scratch / "nowhere", path)

    def link_dir(path: Path, scratch: Path) -> None:
        os.symlink(scratch, path)

    def loop(path: Path, _scratch: Path) -> None:
        os.symlink(path, path)

    return [
        ("a-directory", directory),
        ("a-fifo", fifo),
        ("a-socket", sock),
        ("link-dev-zero", link("/dev/zero")),
        ("link-dev-urandom", link("/dev/urandom")),
        ("link-dev-null", link("/dev/null")),
        ("link-outside", link_outside),
        ("link-secret", link_secret),
        ("link-dangling", link_dangling),
        ("link-loop", loop),
        ("link-dir", link_dir),
    ]


def _cases() -> list[tuple[str, Writer]]:
    cases: list[tuple[str, Writer]] = []
    for field, values in WRONG.items():
        for i, value in enumerate(values):
            name = f"wrong-{field.replace('_', '-')}-{i}"
            cases.append((name, _with(name, field, value)))
    return cases + _truncations() + _binary() + _huge() + _structural() + _special()


CASES = _cases()
SECRET_MARK = "S3CRETMARK"


BAD_FILE_NAMES: list[bytes] = [
    b"caf\xe9.yaml",  # not UTF-8
    b"esc\x1b]0;pwned\x07.yaml",  # control characters
    b"new\nline.yaml",
    b"Upper.yaml",
    b"with space.yaml",
]


def _plant(home: Home, tmp: Path) -> list[str]:
    """Write the good jobs and every bad case; return the labels of the bad files."""
    for name in GOOD_NAMES:
        home.job_file(name).write_bytes(_yaml(good(name)))
    labels = []
    for name, write in CASES:
        write(home.job_file(name), tmp)
        labels.append(f"jobs/{name}.yaml")
    for raw in BAD_FILE_NAMES:
        path = os.fsencode(home.jobs_dir) + b"/" + raw
        with open(path, "wb") as fh:
            fh.write(_yaml(good("x")))
        labels.append(printable("jobs/" + os.fsdecode(raw)))
    return labels


def _list_bounded(store: JobStore) -> tuple[JobListing, int]:
    """List in a thread (a hang fails instead of hanging) under tracemalloc."""
    result: list[Any] = []

    def work() -> None:
        tracemalloc.start()
        try:
            result.append(store.list())
            result.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(LIST_TIMEOUT)
    assert not worker.is_alive(), "listing did not finish: a read blocked"
    assert len(result) == 2, "listing raised"
    return result[0], result[1]


def test_there_are_more_than_100_cases() -> None:
    assert len(CASES) + len(BAD_FILE_NAMES) >= 100
    assert len({name for name, _ in CASES}) == len(CASES)


def _check_issue_text(message: str, label: str) -> None:
    assert message.startswith(label + ": "), message[:200]
    for line in message.splitlines():
        assert line.isprintable(), line[:200]
    assert len(message) < 4000, message[:200]
    assert SECRET_MARK not in message


@pytest.mark.parametrize("case", CASES, ids=[name for name, _ in CASES])
def test_each_bad_file_alone(home: Home, tmp_path: Path, case: tuple[str, Writer]) -> None:
    name, write = case
    for good_name in GOOD_NAMES:
        home.job_file(good_name).write_bytes(_yaml(good(good_name)))
    write(home.job_file(name), tmp_path)
    events: list[ErrorEvent] = []
    store = JobStore(home, on_error=events.append, lock_timeout=5)
    listing, peak = _list_bounded(store)
    assert [j.name for j in listing.jobs] == sorted(GOOD_NAMES), name
    assert len(listing.issues) == 1, (name, listing.issues)
    (issue,) = listing.issues
    label = f"jobs/{name}.yaml"
    assert issue.file == label and not issue.in_effect
    _check_issue_text(issue.message, label)
    if name.startswith(("a-", "link-")):  # refused as what it is, never opened or followed
        assert "not a regular file" in issue.message, issue.message
    assert peak < MEMORY_LIMIT, (name, peak)
    assert len(events) == 1 and events[0].job_name == name
    store.list()
    assert len(events) == 1  # once, not at every listing


def test_all_bad_files_together_through_the_store(home: Home, tmp_path: Path) -> None:
    labels = _plant(home, tmp_path)
    events: list[ErrorEvent] = []
    listing, peak = _list_bounded(JobStore(home, on_error=events.append, lock_timeout=5))
    assert [j.name for j in listing.jobs] == sorted(GOOD_NAMES)
    assert sorted(i.file for i in listing.issues) == sorted(labels)
    for issue in listing.issues:
        _check_issue_text(issue.message, issue.file)
    assert peak < MEMORY_LIMIT
    assert len(events) == len(labels)


def test_all_bad_files_together_through_the_cli(cli: CliRunner, home: Home, tmp_path: Path) -> None:
    labels = _plant(home, tmp_path)
    r = cli("job", "list", "--json", timeout=300)
    assert r.returncode == 0, str(r)[:3000]
    assert sorted(job["name"] for job in r.json()) == sorted(GOOD_NAMES)
    assert "Traceback" not in r.stderr and SECRET_MARK not in r.stdout + r.stderr
    assert "\x1b" not in r.stderr
    r = cli("health", "--json", timeout=300)
    assert "Traceback" not in r.stderr, str(r)[:3000]
    json.loads(r.stdout)
    r = cli("errors", "--json", "--limit", "10000", timeout=300)
    assert r.returncode == 0, str(r)[:3000]
    events = r.json()
    assert SECRET_MARK not in r.stdout
    store_events = [e for e in events if e["component"] == "store"]
    reported = [e["message"].split(": ", 1)[0] for e in store_events]
    assert sorted(reported) == sorted(labels)  # one event per bad file, none twice
    # A second run records nothing new: the problems are known.
    assert cli("job", "list", "--json", timeout=300).returncode == 0
    again = cli("errors", "--json", "--limit", "10000", timeout=300).json()
    assert len([e for e in again if e["component"] == "store"]) == len(store_events)
