"""Issue 8: one exclude semantics: the rsync engine keeps exactly the snapshot engine's tree.

Before: patterns were handed to rsync as they were (``--exclude=PATTERN``):
``!keep.tmp`` excluded a file called ``!keep.tmp`` instead of re-including,
``a/**/b`` and ``/build`` followed rsync's rules, not gitignore's.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tui_backup.engines.events import EngineEvent, Finished
from tui_backup.engines.rsync.filters import excluded_paths, rule
from tui_backup.engines.snapshot import SnapshotEngine
from tui_backup.model import parse_job

from .conftest import Where, backup

EXCLUDES = ["/build", "*.tmp", "!keep.tmp", "cache/", "a/**/b"]


def _tree(root: Path) -> set[str]:
    out = set()
    for dirpath, dirs, names in os.walk(root):
        for n in dirs + names:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def _source(root: Path) -> Path:
    for name in [
        "plain.txt", "build/x.o", "build/deep/y.o", "sub/build/z.o", "a.tmp", "keep.tmp",
        "sub/keep.tmp", "sub/c.tmp", "cache/data.bin", "sub/cache/d.bin", "other/cache",
        "a/b", "a/x/b/deep.txt", "a/x/c.txt", "a/x/y/b", "b/plain.txt",
    ]:  # fmt: skip
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name + "\n")
    return root


def _snapshot_engine_tree(src: list[Path], dest: Path, excludes: list[str]) -> set[str]:
    spec = parse_job(
        {"name": "s", "sources": [str(s) for s in src], "destination": str(dest),
         "exclude": excludes},
        "jobs/s.yaml", "s",
    )  # fmt: skip
    events: list[EngineEvent] = []
    SnapshotEngine().run(spec, threading.Event(), events.append)
    fin = events[-1]
    assert isinstance(fin, Finished) and fin.snapshot_id, fin
    return _tree(dest / fin.snapshot_id)


def test_the_same_excludes_give_the_snapshot_engines_tree(where: Where, tmp_path: Path) -> None:
    src = _source(tmp_path / "src")
    want = _snapshot_engine_tree([src], tmp_path / "snap", EXCLUDES)
    assert "keep.tmp" in want and "sub/build/z.o" in want and "build" not in want
    dest = tmp_path / "dest"
    sid = backup(where.spec(src, dest, exclude=EXCLUDES))
    assert _tree(dest / sid) == want


def test_excludes_apply_relative_to_each_of_several_sources(where: Where, tmp_path: Path) -> None:
    one = _source(tmp_path / "one")
    two = _source(tmp_path / "two")
    want = _snapshot_engine_tree([one, two], tmp_path / "snap", EXCLUDES)
    assert "one/keep.tmp" in want and "two/build" not in want
    dest = tmp_path / "dest"
    sid = backup(where.spec([one, two], dest, exclude=EXCLUDES))
    assert _tree(dest / sid) == want


def test_names_with_wildcards_are_excluded_exactly(where: Where, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ["a*b", "aXb", "x[1]", "x1", "back\\slash", "new\nline", "q?", "qq"]:
        (src / name).write_text("x\n")
    excludes = ["a\\*b", "x\\[1\\]", "back\\\\slash", "new?line", "q\\?"]
    want = _snapshot_engine_tree([src], tmp_path / "snap", excludes)
    assert want == {"aXb", "x1", "qq"}
    dest = tmp_path / "dest"
    sid = backup(where.spec(src, dest, exclude=excludes))
    assert _tree(dest / sid) == want


def test_every_rule_in_the_rules_file_applies(local: Where, tmp_path: Path) -> None:
    """rsync 3.5.0 reads only the first rule of an ``--exclude-from`` file with ``--from0``."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ["one.tmp", "two.tmp", "three.tmp", "kept"]:
        (src / name).write_text(name)
    assert excluded_paths(str(src), ("*.tmp",)) == ["one.tmp", "three.tmp", "two.tmp"]
    dest = tmp_path / "dest"
    sid = backup(local.spec(src, dest, exclude=["*.tmp"]))
    assert _tree(dest / sid) == {"kept"}


def test_rules_are_anchored_and_escaped() -> None:
    assert rule("build") == b"/build"
    assert rule("a*b/c") == b"/a\\*b/c"
    assert rule("back\\slash") == b"/back\\slash"  # no wildcard: a backslash is literal
    assert rule("x[1]\\y") == b"/x\\[1]\\\\y"
    assert rule("new\nline") == b"/new?line"
