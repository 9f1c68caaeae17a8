"""Benchmark (not a test): the original PersistDict package and this binding side by side, in
one run, on the same machine and disk.

    pip install PersistDict==0.2.14          # the original (module `PersistDict`)
    maturin develop --release -m persistdict-py/Cargo.toml
    python persistdict-py/bench.py [--n 100000]

Measures a set (fresh key, committed), a get (hit), list(keys()) on N items, and opening an
N-item database with expiration_days set (in the constructor: background_thread=False).
Both use their defaults otherwise (pickle, hashed keys, synced commits). The original's
N-item database is filled through its own tables in one transaction (lmdb_dict's update),
with exactly the records its __setitem__ writes, so that filling takes seconds, not minutes.
"""

import argparse
import datetime
import shutil
import tempfile
import time
from pathlib import Path

import persistdict

try:
    from PersistDict import PersistDict as Original
except ImportError:
    raise SystemExit("install the original first: pip install PersistDict==0.2.14")


def timed(f, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def fill(cls, path, n):
    d = cls(path, background_thread="disabled")
    keys = [f"key-{i}" for i in range(n)]
    if cls is Original:
        now = datetime.datetime.now()
        ks = [d.key_serializer(d.hash_and_crop(k)) for k in keys]
        d.val_db.update({s: f"value-{i}" for i, s in enumerate(ks)})
        d.metadata_db.update({s: {"ctime": now, "atime": now, "fullkey": k} for s, k in zip(ks, keys)})
    else:
        d.update((k, f"value-{i}") for i, k in enumerate(keys))
    assert len(d) == n, len(d)
    return d


def bench(cls, root, n, ops):
    out = {}
    d = cls(root / "small", background_thread="disabled")
    out["set"] = timed(lambda: [d.__setitem__(f"s{i}", i) for i in range(ops)]) / ops
    out["get hit"] = timed(lambda: [d[f"s{i % ops}"] for i in range(10 * ops)], 3) / (10 * ops)
    big = fill(cls, root / "big", n)
    out[f"list(keys()) on {n // 1000}k"] = timed(lambda: list(big.keys()), 3)
    del big, d
    out[f"open {n // 1000}k, expiry on"] = timed(
        lambda: cls(root / "big", expiration_days=30, background_thread=False), 1
    )
    return out


def fmt(s):
    return f"{s * 1e6:10.1f} µs" if s < 1e-3 else f"{s * 1e3:10.1f} ms" if s < 1 else f"{s:10.2f} s "


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000, help="items of the big database")
    ap.add_argument("--ops", type=int, default=1000, help="sets (and 10x gets) timed")
    a = ap.parse_args()
    results = {}
    for label, cls in (("PersistDict 0.2.14", Original), ("persistdict (binding)", persistdict.PersistDict)):
        root = Path(tempfile.mkdtemp(prefix="pd-bench-"))
        try:
            results[label] = bench(cls, root, a.n, a.ops)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    (lo, orig), (lb, ours) = results.items()
    print(f"{'':28}{lo:>22}{lb:>24}{'ratio':>10}")
    for k in orig:
        print(f"{k:28}{fmt(orig[k]):>22}{fmt(ours[k]):>24}{orig[k] / ours[k]:>9.1f}x")


if __name__ == "__main__":
    main()
