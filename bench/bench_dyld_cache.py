#!/usr/bin/env python3
"""Benchmark: symmap's dyld cache reader vs dyldextractor on a large
synthetic cache (2,000 images, ~1,000,000 local symbols) built with
fixtures/dyld_cache/build_cache.py into /tmp.

Prints medians (ms) and the ratio for: open (headers, mappings, sub-caches;
no symbols; goal < 200 ms), open + list image paths, Mach-O headers of every
image, and reading every local symbol.  dyldextractor runs side by side on
the same files (DyldContext + addSubCaches + image paths).

    python bench/bench_dyld_cache.py [--images 2000] [--locals 1000000] [--runs 7]
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from symmap.formats.dyld_cache.reader import open_cache  # noqa: E402


def _builder():
    spec = importlib.util.spec_from_file_location("bench_build_cache",
                                                  ROOT / "fixtures/dyld_cache/build_cache.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def build_big(out: Path, n_images: int, n_locals: int) -> Path:
    b = _builder()
    src = ROOT / "fixtures/dyld_cache/out"
    blobs = [(src / f"{n}.dylib").read_bytes() for n in ("liba", "libb", "libc_helper")]
    per = max(1, n_locals // n_images)
    libs = []
    for i in range(n_images):
        uuid = hashlib.md5(b"bench%d" % i).digest()
        d = b.load_dylib(f"/System/Library/PrivateFrameworks/Bench{i:04d}.framework/Versions/A/Bench{i:04d}",
                         blobs[i % 3], uuid=uuid)
        d.extra_locals = [(f"_bench_{i}_local_function_{k}", (k * 4) % 0x800) for k in range(per)]
        libs.append(d)
    built = b.build_cache(libs, str(out))
    return Path(built.paths["main"])


def timeit(fn, runs: int) -> tuple[float, object]:
    ts = []
    res = None
    for _ in range(runs):
        t0 = time.perf_counter()
        res = fn()
        ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts), res


def ours_open(p):
    c = open_cache(str(p))
    n = len(c.mappings)
    c.close()
    return n


def ours_list(p):
    c = open_cache(str(p))
    paths = [i.path for i in c.images]
    c.close()
    return len(paths)


def ours_headers(p):
    c = open_cache(str(p))
    n = len(c.model_images(0))
    c.close()
    return n


def ours_locals(p):
    c = open_cache(str(p))
    n = sum(1 for _ in c.iter_all_local_symbols())
    c.close()
    return n


def theirs_list(p):
    from DyldExtractor.dyld.dyld_context import DyldContext
    with open(p, "rb") as f:
        d = DyldContext(f)
        subs = d.addSubCaches(p)
        paths = [d.readString(im.pathFileOffset) for im in d.images]
        for s in subs:
            s.close()
    return len(paths)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--locals", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--out", default="/tmp/symmap-bench-cache/dyld_shared_cache_arm64")
    a = ap.parse_args()
    out = Path(a.out)
    t0 = time.perf_counter()
    main_path = build_big(out, a.images, a.locals)
    sizes = sum(os.path.getsize(str(main_path) + s) for s in ("", ".01", ".02", ".symbols"))
    print(f"built {a.images} images, {a.locals} locals, {sizes / 1e6:.1f} MB in "
          f"{time.perf_counter() - t0:.1f} s: {main_path}")
    rows = []
    m_open, _ = timeit(lambda: ours_open(main_path), a.runs)
    rows.append(("open (no symbols)", m_open, None))
    m_list, n = timeit(lambda: ours_list(main_path), a.runs)
    try:
        import DyldExtractor  # noqa: F401
        t_list, n2 = timeit(lambda: theirs_list(main_path), a.runs)
        assert n2 == n, (n, n2)
    except ImportError:
        t_list = None
    rows.append((f"open + list {n} image paths", m_list, t_list))
    m_hdr, _ = timeit(lambda: ours_headers(main_path), max(3, a.runs // 2))
    rows.append(("open + every image's Mach-O header", m_hdr, None))
    m_loc, nloc = timeit(lambda: ours_locals(main_path), 3)
    rows.append((f"open + all {nloc} local symbols", m_loc, None))
    print(f"{'task':45s} {'symmap ms':>10s} {'dyldextractor ms':>17s} {'ratio':>7s}")
    for name, ours, theirs in rows:
        th = f"{theirs:17.1f}" if theirs is not None else f"{'-':>17s}"
        ratio = f"{theirs / ours:6.1f}x" if theirs else f"{'-':>7s}"
        print(f"{name:45s} {ours:10.1f} {th} {ratio}")
    print(f"goal: open < 200 ms -> {'met' if m_open < 200 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
