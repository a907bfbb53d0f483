#!/usr/bin/env python3
"""Benchmark: file:line + inlined frames, and symbol-only lookups in libLLVM.

1. A generated C++ program (templates, inlined helpers; default 3,000
   functions) built with g++ -g -O2 into /tmp.  100,000 random .text
   addresses: ``symmap lookup BIN - --brief`` (file:line and one line per
   inlined frame) cold (empty symcache store) and warm (symcache on disk)
   against ``llvm-symbolizer --inlines --obj=BIN``.  Goal: warm < 1.0.
2. 100,000 random .text addresses in libLLVM-14 (no DWARF, .dynsym only):
   ``symmap lookup LIB - --brief`` against ``llvm-symbolizer --obj=LIB``.
   Goal: < 1.0 at a peak RSS no higher than llvm-symbolizer's.

Wall times are medians of interleaved runs; peak RSS is each child's
ru_maxrss (os.wait4).  Usage: python bench/bench_dwarf.py [--runs N]
[--addresses N] [--functions N]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBLLVM = "/usr/lib/llvm-14/lib/libLLVM-14.so.1"


def gen_cpp(n: int) -> str:
    out = ["#include <vector>\n#include <cstdio>\n#include <algorithm>\n",
           "namespace gen {\ntemplate <int K> struct Acc { long v = 0;\n"
           "  inline void add(long x) { v += x * K + (x >> 3); }\n"
           "  inline long get() const { return v ^ K; } };\n"
           "static inline long mixin(long a, long b) { return (a * 31) ^ (b + 7); }\n"]
    for i in range(n):
        out.append(f"__attribute__((noinline)) long f{i}(const std::vector<long>& xs) {{\n"
                   f"  Acc<{i % 17 + 1}> acc;\n"
                   f"  for (long x : xs) acc.add(mixin(x, {i}));\n"
                   f"  std::vector<long> c(xs);\n"
                   f"  std::sort(c.begin(), c.end(), [](long a, long b) {{ return (a % {i % 13 + 2}) < (b % {i % 13 + 2}); }});\n"
                   f"  return acc.get() + (c.empty() ? 0 : c[0]);\n}}\n")
    out.append("}\nint main(int argc, char**) {\n  std::vector<long> xs(argc * 4, 3); long s = 0;\n")
    for i in range(n):
        out.append(f"  s += gen::f{i}(xs);\n")
    out.append("  std::printf(\"%ld\\n\", s);\n}\n")
    return "".join(out)


def build(n: int, outdir: str) -> str:
    os.makedirs(outdir, exist_ok=True)
    binary = os.path.join(outdir, f"gen{n}")
    if not os.path.exists(binary):
        src = binary + ".cpp"
        with open(src, "w") as f:
            f.write(gen_cpp(n))
        print(f"building {binary} ...", flush=True)
        subprocess.run(["g++", "-g", "-O2", "-o", binary, src], check=True)
    return binary


def text_addresses(path: str, n: int) -> list[int]:
    out = subprocess.run(["llvm-readelf", "-S", "-W", path], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if " .text " in line:
            f = line.split("]", 1)[1].split()
            lo, size = int(f[2], 16), int(f[4], 16)
            rnd = random.Random(5)
            return [rnd.randrange(lo, lo + size) for _ in range(n)]
    raise SystemExit(f"{path}: no .text")


def run(cmd: list[str], stdin_path: str, env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in MB) of one run, output to /dev/null."""
    with open(stdin_path, "rb") as fin, open(os.devnull, "wb") as fout:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=subprocess.DEVNULL, env=env)
        _pid, status, ru = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed: {status}")
    return dt, ru.ru_maxrss // 1024


def bench(cases: dict[str, tuple[list[str], dict[str, str], object]], stdin_path: str, runs: int
          ) -> dict[str, tuple[float, int]]:
    times: dict[str, list[float]] = {k: [] for k in cases}
    rss: dict[str, int] = {k: 0 for k in cases}
    for _ in range(runs):
        for k, (cmd, env, before) in cases.items():
            if callable(before):
                before()
            dt, mb = run(cmd, stdin_path, env)
            times[k].append(dt)
            rss[k] = max(rss[k], mb)
    return {k: (statistics.median(v), rss[k]) for k, v in times.items()}


def report(title: str, res: dict[str, tuple[float, int]], peer: str) -> None:
    print(f"\n{title}")
    base = res[peer][0]
    for k, (t, mb) in res.items():
        print(f"  {k:<28} {t:7.3f} s  {mb:5d} MB  ratio {t / base:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--addresses", type=int, default=100_000)
    ap.add_argument("--functions", type=int, default=3000)
    a = ap.parse_args()
    tool = shutil.which("llvm-symbolizer")
    if not tool:
        raise SystemExit("llvm-symbolizer not found")
    tmp = tempfile.mkdtemp(prefix="symmap-bench-dwarf-")
    env = dict(os.environ, PYTHONPATH=ROOT, XDG_CACHE_HOME=os.path.join(tmp, "xdg"),
               PYTHONPYCACHEPREFIX=os.path.join(tempfile.gettempdir(), "symmap-bench-pyc"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    symmap = [sys.executable, "-m", "symmap", "lookup"]

    binary = build(a.functions, os.path.join(tempfile.gettempdir(), "symmap-bench-dwarf"))
    addrs = text_addresses(binary, a.addresses)
    stdin_path = os.path.join(tmp, "addrs.txt")
    with open(stdin_path, "w") as f:
        f.write("\n".join(map(hex, addrs)) + "\n")
    dbg = subprocess.run(["llvm-readelf", "-S", "-W", binary], capture_output=True, text=True).stdout
    di = next((int(ln.split("]", 1)[1].split()[4], 16) for ln in dbg.splitlines() if ".debug_info" in ln), 0)
    print(f"{binary}: {os.path.getsize(binary) >> 20} MB, .debug_info {di >> 20} MB, "
          f"{a.addresses} addresses")
    cache = os.path.join(tmp, "xdg")
    res = bench({
        "llvm-symbolizer --inlines": ([tool, "--inlines", f"--obj={binary}"], env, None),
        "symmap --brief (cold)": (symmap + [binary, "-", "--brief"], env,
                                  lambda: shutil.rmtree(cache, ignore_errors=True)),
        "symmap --brief (warm)": (symmap + [binary, "-", "--brief"], env, None),
        "symmap --json (warm)": (symmap + [binary, "-", "--json"], env, None),
    }, stdin_path, a.runs)
    report("file:line + inlined frames", res, "llvm-symbolizer --inlines")

    if os.path.exists(LIBLLVM):
        addrs = text_addresses(LIBLLVM, a.addresses)
        with open(stdin_path, "w") as f:
            f.write("\n".join(map(hex, addrs)) + "\n")
        res = bench({
            "llvm-symbolizer": ([tool, f"--obj={LIBLLVM}"], env, None),
            "symmap --brief": (symmap + [LIBLLVM, "-", "--brief"], env, None),
        }, stdin_path, a.runs)
        report(f"symbol-only, {LIBLLVM}", res, "llvm-symbolizer")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
