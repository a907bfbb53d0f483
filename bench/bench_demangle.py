#!/usr/bin/env python3
"""Benchmark: demangling 100,000 distinct C++ names, symmap vs llvm-cxxfilt.

Names: the Itanium (``_Z``) dynamic symbols of the LLVM / clang / lldb /
libstdc++ shared libraries installed here (symbol versions dropped),
distinct, the first N after sorting.  Three measurements, runs interleaved
(this machine's speed drifts), medians:

1. in-process: ``demangle_many(names)`` with an empty cache (pydemumble
   already imported; its import time is printed separately);
2. end to end: ``symmap demangle < names.txt`` against ``llvm-cxxfilt <
   names.txt``, output to /dev/null; ratio = symmap / llvm-cxxfilt (< 1:
   symmap faster);
3. agreement: how many outputs are identical (LLVM 14's "> >" counted as
   ">>", which newer LLVM prints).

Usage: python bench/bench_demangle.py [--names N] [--runs N]
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import median_time  # noqa: E402  (bench/ is not a package)

LIBS = ["/usr/lib/llvm-*/lib/libLLVM*.so.*", "/usr/lib/llvm-*/lib/libclang-cpp.so*",
        "/usr/lib/llvm-*/lib/liblldb.so*", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"]


def collect(n: int, nm: str) -> list[str]:
    names: set[str] = set()
    seen: set[str] = set()
    for pat in LIBS:
        for lib in sorted(glob.glob(pat)):
            real = os.path.realpath(lib)
            if real in seen:
                continue
            seen.add(real)
            out = subprocess.run([nm, "-D", "-j", "--defined-only", real], capture_output=True,
                                 text=True).stdout
            names.update(s.split("@", 1)[0] for s in out.split() if s.startswith("_Z"))
    return sorted(names)[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    nm = shutil.which("llvm-nm-14") or shutil.which("llvm-nm")
    filt = shutil.which("llvm-cxxfilt-14") or shutil.which("llvm-cxxfilt")
    if not nm or not filt:
        sys.exit("needs llvm-nm and llvm-cxxfilt")
    names = collect(a.names, nm)
    print(f"{len(names)} distinct C++ names (asked for {a.names}), "
          f"{sum(map(len, names)) / max(1, len(names)):.0f} characters on average; peer {filt}")

    t0 = time.perf_counter()
    import pydemumble  # noqa: F401
    print(f"import pydemumble: {(time.perf_counter() - t0) * 1000:.1f} ms")
    from symmap.symbolize import demangle as dm

    def in_process() -> None:
        dm._cache.clear()
        dm.demangle_many(names)

    tmp = tempfile.mkdtemp(prefix="symmap-bench-demangle-")
    path = os.path.join(tmp, "names.txt")
    with open(path, "w") as f:
        f.write("\n".join(names) + "\n")
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONPYCACHEPREFIX=os.path.join(tmp, "pyc"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def run(cmd: list[str]):
        def go() -> None:
            with open(path, "rb") as i, open(os.devnull, "wb") as o:
                subprocess.run(cmd, stdin=i, stdout=o, env=env, check=True)
        return go

    ours = run([sys.executable, "-m", "symmap", "demangle"])
    peer = run([filt])
    ours()
    peer()                                                    # warm caches
    t_in, t_ours, t_peer = [], [], []
    for _ in range(a.runs):                                   # interleaved
        t_in.append(median_time(in_process, 1, warm=False))
        t_ours.append(median_time(ours, 1, warm=False))
        t_peer.append(median_time(peer, 1, warm=False))
    ti, to, tp = (statistics.median(t) for t in (t_in, t_ours, t_peer))
    print(f"in-process demangle_many: {ti:.3f} s  ({len(names) / ti:,.0f} names/s)")
    print(f"symmap demangle < names:  {to:.3f} s")
    print(f"llvm-cxxfilt < names:     {tp:.3f} s")
    print(f"ratio symmap/llvm-cxxfilt end to end: {to / tp:.2f}; in-process/llvm-cxxfilt: {ti / tp:.2f}")

    dm._cache.clear()
    got = dm.demangle_many(names)
    want = subprocess.run([filt], input="\n".join(names) + "\n", capture_output=True, text=True,
                          check=True).stdout.split("\n")[:-1]
    same = sum(got[n] == w or got[n] == w.replace("> >", ">>").replace("> >", ">>")
               for n, w in zip(names, want))
    kept = sum(got[n] == n for n in names)
    print(f"agreement: {same}/{len(names)} identical; {kept} kept mangled (output-bound guard or "
          f"invalid)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
