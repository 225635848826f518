"""Deterministic (seeded) source trees for the benchmarks.

- ``S``: about 20,000 files with log-normal sizes around 8 KiB (median), plus
  20 files of 20 MiB, in a few hundred directories (~0.7 GB).
- ``M``: 100,000 files of 1-4 KiB in 250 directories (~0.25 GB).

The same seed gives byte-identical trees, mtimes included, so runs on
different days compare like with like.
"""

from __future__ import annotations

import argparse
import math
import os
import random
from collections.abc import Iterator

MTIME_BASE = 1_700_000_000
DATASETS = ("S", "M")


def _files(name: str, rng: random.Random) -> Iterator[tuple[str, int]]:
    if name == "S":
        for i in range(20_000):
            size = min(int(rng.lognormvariate(math.log(8192), 1.0)), 4 << 20)
            yield f"d{i % 20:02d}/s{(i // 20) % 10}/f{i:05d}.dat", size
        for i in range(20):
            yield f"big/blob{i:02d}.bin", 20 << 20
    elif name == "M":
        for i in range(100_000):
            yield f"m{i % 250:03d}/f{i:06d}.txt", rng.randint(1024, 4096)
    else:
        raise ValueError(f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})")


def generate(name: str, root: str, seed: int = 1) -> tuple[int, int]:
    """Create dataset ``name`` under ``root`` (must not exist); return (files, bytes)."""
    rng = random.Random(seed)
    block = random.Random(seed + 1).randbytes(1 << 20)
    os.makedirs(root)
    files = total = 0
    made: set[str] = set()
    for rel, size in _files(name, rng):
        path = os.path.join(root, rel)
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        # Distinct content per file without paying for a random stream per byte.
        offset = rng.randrange(0, len(block) - 64)
        head = rng.randbytes(32)
        with open(path, "wb") as fh:
            remaining = size
            fh.write(head[:remaining])
            remaining -= min(remaining, 32)
            while remaining > 0:
                piece = block[offset : offset + remaining]
                fh.write(piece)
                remaining -= len(piece)
                offset = 0
        mtime = MTIME_BASE + rng.randrange(0, 86400 * 365)
        os.utime(path, (mtime, mtime))
        files += 1
        total += size
    return files, total


def change_fraction(root: str, fraction: float, seed: int) -> int:
    """Rewrite ``fraction`` of the files under ``root`` (chosen by ``seed``); return how many."""
    paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
    rng = random.Random(seed)
    chosen = rng.sample(paths, max(1, int(len(paths) * fraction)))
    for path in chosen:
        with open(path, "ab") as fh:
            fh.write(rng.randbytes(16))
        mtime = MTIME_BASE + 86400 * 400 + seed
        os.utime(path, (mtime, mtime))
    return len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("root")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    files, total = generate(args.dataset, args.root, args.seed)
    print(f"{args.root}: {files} files, {total / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
