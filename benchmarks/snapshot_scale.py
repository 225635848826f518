"""Scale series of the snapshot engine: time per file and peak RSS from 10k to 1M files.

Usage::

    python -m benchmarks.snapshot_scale --sizes 10k,100k,300k,1M --work /tmp/tui-scale

For each size, a tree of small files (256 B - 2 KiB, 1,000 per directory,
seeded) is generated, then, each into a fresh directory (BENCHMARKING.md
pitfall 1) and alternating ours with the floor:

- ``run`` (first snapshot) vs ``cp -a``;
- ``run`` with nothing changed vs ``cp -al`` (the floor of a link farm);
- ``verify`` of the newest snapshot vs ``b2sum -l 256 -c`` on the same files
  (the list is written from our manifest, untimed: the same BLAKE2b-256);
- a whole ``restore`` vs ``cp -a`` of the snapshot.

Ours runs in a subprocess (:mod:`benchmarks.snapshot_op`) that reports its
peak RSS; wall time per file in microseconds, ratios against the floor, and
peak RSS (total and per 1,000 files) are printed as a Markdown table. The
work directory is removed with ``rm -rf`` at the end (``--keep`` to leave it).

On a disk too small for six copies of the tree, ``--lean`` deletes the
``cp -a``/``cp -al`` copies once the incremental is compared (the restores
that follow then create files soon after a large delete: BENCHMARKING.md
pitfall 1, say so with the figures), and ``--from-first`` reuses a work
directory whose first snapshot (ours and ``cp -a``) is already made, e.g. by
a series that stopped after it; the first-snapshot rows are then missing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from typing import Any

MTIME = 1_700_000_000
PER_DIR = 1000


def parse_size(text: str) -> int:
    text = text.strip().lower()
    mult = {"k": 1000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * mult)


def generate(root: str, n: int, seed: int = 7) -> None:
    """``n`` small files with distinct content under ``root`` (which must not exist)."""
    rng = random.Random(seed)
    block = random.Random(seed + 1).randbytes(1 << 16)
    os.makedirs(root)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for d in range((n + PER_DIR - 1) // PER_DIR):
        sub = os.path.join(root, f"d{d:04d}")
        os.mkdir(sub)
        dfd = os.open(sub, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i in range(d * PER_DIR, min(n, (d + 1) * PER_DIR)):
                size = rng.randint(256, 2048)
                off = rng.randrange(0, len(block) - size)
                name = f"f{i:07d}.txt"
                fd = os.open(name, flags, 0o644, dir_fd=dfd)
                os.write(fd, i.to_bytes(8, "little") + block[off : off + size - 8])
                os.close(fd)
                os.utime(name, (MTIME, MTIME + i), dir_fd=dfd)
        finally:
            os.close(dfd)


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd: list[str], cwd: str | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of a command."""
    cpu0 = _children_cpu()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - cpu0


def ours(op: str, src: str, dest: str, *extra: str) -> tuple[float, float, dict[str, Any]]:
    """Wall, CPU seconds and the JSON result of one of our operations in a subprocess."""
    cmd = [sys.executable, "-m", "benchmarks.snapshot_op", op, src, dest, *extra]
    cpu0 = _children_cpu()
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    took = time.perf_counter() - start
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status"] not in ("succeeded", "ok"):
        raise SystemExit(f"our {op} failed: {result}")
    return took, _children_cpu() - cpu0, result


def b2sum_list(manifest: str, out: str) -> int:
    """Write ``b2sum -c`` input for the files of a manifest; return their count."""
    count = 0
    with gzip.open(manifest, "rt", encoding="utf-8") as fh, open(out, "w") as w:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "f":
                w.write(f"{parts[6]}  {parts[7]}\n")
                count += 1
    return count


def series(
    work: str, n: int, *, lean: bool = False, from_first: bool = False
) -> list[dict[str, Any]]:
    base = os.path.join(work, f"n{n}")
    src = os.path.join(base, "src")
    dest = os.path.join(base, "ours")
    if not os.path.isdir(src):
        print(f"generating {n} files in {src} ...", file=sys.stderr)
        generate(src, n)
    subprocess.run(["sync"], check=True)
    rows: list[dict[str, Any]] = []

    def row(what: str, cmd: str, wall: float, cpu: float, rss_kb: int | None = None) -> None:
        rows.append({"n": n, "what": what, "cmd": cmd, "wall": wall, "cpu": cpu, "rss": rss_kb})
        print(f"  {n} {what} {cmd}: {wall:.2f}s cpu {cpu:.2f}s rss {rss_kb}", file=sys.stderr)

    # First snapshot vs cp -a (A B), then an incremental vs cp -al.
    if from_first and os.path.isdir(os.path.join(base, "cp1")) and os.path.isdir(dest):
        print(f"  {n}: first snapshot and cp -a reused from {base}", file=sys.stderr)
    else:
        wall, cpu, res = ours("run", src, dest)
        row("first", "ours", wall, cpu, res["maxrss_kb"])
        wall, cpu = timed(["cp", "-a", src, os.path.join(base, "cp1")])
        row("first", "cp -a", wall, cpu)
    wall, cpu, res = ours("run", src, dest)
    row("no change", "ours", wall, cpu, res["maxrss_kb"])
    snap = res["snapshot"]
    wall, cpu = timed(["cp", "-al", os.path.join(base, "cp1"), os.path.join(base, "cpal")])
    row("no change", "cp -al", wall, cpu)
    if lean:
        for name in ("cp1", "cpal"):
            subprocess.run(["rm", "-rf", os.path.join(base, name)], check=True)
    # Verify vs b2sum -c on the same files (the newest snapshot).
    listing = os.path.join(base, "b2sums")
    b2sum_list(os.path.join(dest, ".tui-backup", f"{snap}.manifest.gz"), listing)
    wall, cpu, res = ours("verify", src, dest)
    row("verify", "ours", wall, cpu, res["maxrss_kb"])
    b2sum = ["b2sum", "-l", "256", "--quiet", "-c", listing]
    wall, cpu = timed(b2sum, cwd=os.path.join(dest, snap))
    row("verify", "b2sum -c", wall, cpu)
    # Whole restore vs cp -a of the snapshot.
    wall, cpu, res = ours("restore", src, dest, "--target", os.path.join(base, "restored"))
    row("restore", "ours", wall, cpu, res["maxrss_kb"])
    wall, cpu = timed(["cp", "-a", os.path.join(dest, snap), os.path.join(base, "cprestored")])
    row("restore", "cp -a", wall, cpu)
    return rows


def report(rows: list[dict[str, Any]]) -> None:
    print("\n| files | operation | command | wall s | µs/file | CPU s | ours / floor "
          "| peak RSS MB | RSS KB / 1k files |")  # fmt: skip
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    floors = {(r["n"], r["what"]): r["wall"] for r in rows if r["cmd"] != "ours"}
    for r in rows:
        n = r["n"]
        floor = floors.get((n, r["what"]))
        ratio = f"{r['wall'] / floor:.2f}" if r["cmd"] == "ours" and floor else ""
        rss = f"{r['rss'] / 1024:.0f}" if r["rss"] else ""
        per_k = f"{r['rss'] / (n / 1000):.1f}" if r["rss"] else ""
        us = r["wall"] / n * 1e6
        print(f"| {n:,} | {r['what']} | {r['cmd']} | {r['wall']:.2f} | {us:.0f} "
              f"| {r['cpu']:.2f} | {ratio} | {rss} | {per_k} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10k,100k", help="comma-separated, e.g. 10k,100k,1M")
    parser.add_argument("--work", default="/tmp/tui-backup-scale")
    parser.add_argument("--keep", action="store_true", help="leave the trees in --work")
    parser.add_argument("--lean", action="store_true", help="delete the cp copies early")
    parser.add_argument(
        "--from-first", action="store_true", help="reuse a work dir's first snapshots"
    )
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    os.makedirs(args.work, exist_ok=True)
    free = shutil.disk_usage(args.work).free
    need = max(sizes) * 4096 * (4 if args.lean else 6)
    if need > free and not args.from_first:
        raise SystemExit(f"{args.work}: {free >> 30} GiB free, about {need >> 30} GiB needed")
    rows: list[dict[str, Any]] = []
    load = os.getloadavg()
    for n in sizes:
        rows += series(args.work, n, lean=args.lean, from_first=args.from_first)
        if not args.keep:
            subprocess.run(["rm", "-rf", os.path.join(args.work, f"n{n}")], check=True)
    print(f"\nload average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    report(rows)
    if not args.keep:
        subprocess.run(["rm", "-rf", args.work], check=True)


if __name__ == "__main__":
    main()
