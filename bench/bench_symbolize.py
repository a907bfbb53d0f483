#!/usr/bin/env python3
"""Benchmark: symbolizing 100,000 addresses in one large binary.

Builds (once, into /tmp) a C file with N functions (default 100,000) as an
ELF with cc and, when clang-14 + ld64.lld-14 exist, as an arm64 Mach-O
dylib.  Then, for each binary:

1. index build: time to build the symbol index of the image (goal < 0.5 s);
2. end to end: ``symmap lookup FILE - --brief`` (one line per address,
   the output comparable to llvm-symbolizer's function + file:line) and
   ``--json`` vs ``llvm-symbolizer --obj=FILE`` (symbol-table mode) on the
   same 100,000 addresses read from stdin, all to /dev/null, runs
   interleaved (this machine's speed drifts); medians and ratios (goal:
   --brief faster);
3. where symmap's time goes: one fresh process timing each phase
   (interpreter start, imports, address parsing, open, index, resolve,
   format, output);
4. agreement: the two tools' names for a sample of the addresses;
5. lief stays unimported when no name needs demangling.

symmap runs with byte-code caching on (PYTHONPYCACHEPREFIX in a temp dir,
PYTHONDONTWRITEBYTECODE unset), as an installed package has it; without
it every run recompiles ~50 modules (+70 ms).

Usage: python bench/bench_symbolize.py [--functions N] [--addresses N] [--runs N]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def gen_c(n: int) -> str:
    # Mix globals and statics (locals) so both symbol kinds are indexed.
    parts = ["typedef int (*fn)(int);\n"]
    for i in range(n):
        kw = "static " if i % 4 == 0 else ""
        parts.append(f"{kw}__attribute__((noinline,used)) int f{i}(int x){{return x*{i % 97 + 1}+{i};}}\n")
    parts.append("int main(void){return 0;}\n")
    return "".join(parts)


def build(n: int, outdir: str) -> dict[str, str]:
    os.makedirs(outdir, exist_ok=True)
    src = os.path.join(outdir, f"many{n}.c")
    if not os.path.exists(src):
        with open(src, "w") as f:
            f.write(gen_c(n))
    out = {}
    elf = os.path.join(outdir, f"many{n}-elf")
    if not os.path.exists(elf) and shutil.which("cc"):
        print(f"building {elf} ...", flush=True)
        subprocess.run(["cc", "-O0", "-g0", "-o", elf, src], check=True)
    if os.path.exists(elf):
        out["elf"] = elf
    macho = os.path.join(outdir, f"libmany{n}-arm64.dylib")
    if not os.path.exists(macho) and shutil.which("clang-14") and shutil.which("ld64.lld-14"):
        print(f"building {macho} ...", flush=True)
        obj = macho + ".o"
        subprocess.run(["clang-14", "-target", "arm64-apple-macos11", "-O0", "-ffreestanding",
                        "-fno-asynchronous-unwind-tables", "-c", src, "-o", obj], check=True)
        subprocess.run(["ld64.lld-14", "-arch", "arm64", "-platform_version", "macos", "11.0", "11.0",
                        "-dylib", "-install_name", "/usr/lib/libmany.dylib", obj, "-o", macho],
                       check=True)
        os.unlink(obj)
    if os.path.exists(macho):
        out["macho"] = macho
    return out


def text_range(path: str) -> tuple[int, int]:
    from symmap.sources import OpenOptions, open_target
    t = open_target(path, OpenOptions())
    for im in t.images:
        for seg in im.segments:
            for s in seg.sections:
                if s.name in (".text", "__text"):
                    return s.address, s.address + s.size
    raise SystemExit(f"{path}: no text section")


def time_index(path: str, runs: int) -> tuple[float, int]:
    from symmap.sources import OpenOptions, open_target
    from symmap.symbolize import Symbolizer
    times = []
    n = 0
    for _ in range(runs):
        t = open_target(path, OpenOptions())
        s = Symbolizer(t)
        t0 = time.perf_counter()
        idx, _src = s.index_for(t.images[0])
        times.append(time.perf_counter() - t0)
        n = len(idx)
    return statistics.median(times), n


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "symmap-bench-pyc")
    return env


def run_once(cmd: list[str], stdin_path: str) -> float:
    with open(stdin_path) as fin, open(os.devnull, "w") as fout:
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdin=fin, stdout=fout, stderr=subprocess.PIPE, env=_env(), cwd=ROOT)
        dt = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed: {p.stderr.decode()[:300]}")
    return dt


def run_interleaved(cmds: dict[str, list[str]], stdin_path: str, runs: int) -> dict[str, float]:
    """Median wall time per command; one warm-up each, then rounds of one
    run of every command, so drift hits all of them alike."""
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for cmd in cmds.values():
        run_once(cmd, stdin_path)
    for _ in range(runs):
        for k, cmd in cmds.items():
            times[k].append(run_once(cmd, stdin_path))
    return {k: statistics.median(v) for k, v in times.items()}


_PHASES = r"""
import sys, time
t0 = time.perf_counter()
from symmap.cli import cli
from symmap.commands import lookup as L
from symmap.commands.options import open_annotated, open_options
from symmap.render.lookup import Brief
from symmap.symbolize import Symbolizer
from symmap.symbolize.symbolizer import no_gc
t1 = time.perf_counter()
addrs = L._addresses(("-",)); t2 = time.perf_counter()
t = open_annotated(sys.argv[1], open_options()); t3 = time.perf_counter()
with no_gc():                                # as the command runs
    s = Symbolizer(t)
    for im in t.images: s.index_for(im)
    t4 = time.perf_counter()
    chunks = s.resolve_many(addrs); t5 = time.perf_counter()
    b = Brief(s, chunks, s.chunk_frames(chunks))
    out = "\n".join(b.text(addrs[i:i + L._BATCH]) for i in range(0, len(addrs), L._BATCH))
    t6 = time.perf_counter()
    sys.stdout.write(out); sys.stdout.flush(); t7 = time.perf_counter()
print(" ".join(f"{k} {1000 * (b - a):.0f}" for k, a, b in (("imports", t0, t1), ("parse", t1, t2),
      ("open", t2, t3), ("index", t3, t4), ("resolve", t4, t5), ("format", t5, t6),
      ("write", t6, t7))), file=sys.stderr)
"""


def phases(path: str, stdin_path: str, runs: int) -> str:
    """Median ms per phase of --brief in fresh processes; 'start+exit' is
    the wall time not inside any phase (interpreter start, site, exit)."""
    rows: list[dict[str, float]] = []
    for _ in range(runs):
        with open(stdin_path) as fin, open(os.devnull, "w") as fout:
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-c", _PHASES, path], stdin=fin, stdout=fout,
                               stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT, check=True)
            wall = 1000 * (time.perf_counter() - t0)
        w = p.stderr.split()
        row = {w[i]: float(w[i + 1]) for i in range(0, len(w), 2)}
        row["start+exit"] = wall - sum(row.values())
        row["wall"] = wall
        rows.append(row)
    keys = list(rows[0])
    return ", ".join(f"{k} {statistics.median(r[k] for r in rows):.0f}" for k in keys) + " (ms)"


def agreement(path: str, addrs: list[int], macho: bool) -> tuple[int, int]:
    from symmap.sources import OpenOptions, open_target
    from symmap.symbolize import Symbolizer
    s = Symbolizer(open_target(path, OpenOptions()))
    out = subprocess.run(["llvm-symbolizer", f"--obj={path}", "--no-inlines", "--functions=linkage",
                          "--no-demangle", "--output-style=JSON"], input="\n".join(map(hex, addrs)),
                         capture_output=True, text=True, check=True).stdout
    theirs = [json.loads(line)["Symbol"][0]["FunctionName"] for line in out.splitlines() if line]
    same = 0
    for a, th in zip(addrs, theirs):
        name = s.lookup(a).linkage_name or ""
        if macho and name.startswith("_"):
            name = name[1:]
        same += name == th
    return same, len(addrs)


def lief_imported(path: str, addr: int) -> bool:
    code = ("import sys; from symmap.sources import open_target, OpenOptions;"
            "from symmap.symbolize import Symbolizer;"
            f"r = Symbolizer(open_target({path!r}, OpenOptions())).lookup({addr});"
            "assert r.symbol; print('lief' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout.strip()
    return out == "True"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--functions", type=int, default=100_000)
    ap.add_argument("--addresses", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--outdir", default=os.path.join(tempfile.gettempdir(), "symmap-bench"))
    a = ap.parse_args()
    if not shutil.which("llvm-symbolizer"):
        raise SystemExit("llvm-symbolizer not installed (apt-get install llvm)")
    bins = build(a.functions, a.outdir)
    if not bins:
        raise SystemExit("no compiler: cannot build the benchmark binary")
    rng = random.Random(5)
    for kind, path in bins.items():
        lo, hi = text_range(path)
        addrs = [rng.randrange(lo, hi) for _ in range(a.addresses)]
        addr_file = os.path.join(a.outdir, f"addrs-{kind}.txt")
        with open(addr_file, "w") as f:
            f.write("\n".join(map(hex, addrs)) + "\n")
        print(f"\n== {kind}: {path} ({os.path.getsize(path) / 1e6:.1f} MB), "
              f"{a.addresses} addresses in .text ==")
        idx_t, nsyms = time_index(path, max(3, a.runs))
        print(f"index build: {idx_t * 1000:.0f} ms median for {nsyms} symbols "
              f"(goal < 500 ms: {'ok' if idx_t < 0.5 else 'MISSED'})")
        llvm_cmd = ["llvm-symbolizer", f"--obj={path}", "--no-inlines", "--functions=linkage"]
        if kind == "macho":
            llvm_cmd.append("--default-arch=arm64")
        med = run_interleaved({
            "brief": [sys.executable, "-m", "symmap", "lookup", path, "-", "--brief"],
            "json": [sys.executable, "-m", "symmap", "lookup", path, "-", "--json"],
            "llvm": llvm_cmd}, addr_file, a.runs)
        t_llvm = med["llvm"]
        print(f"end to end (median of {a.runs}, interleaved): llvm-symbolizer {t_llvm:.2f} s")
        for k in ("brief", "json"):
            print(f"  symmap --{k:<5} {med[k]:.2f} s  ratio llvm/symmap {t_llvm / med[k]:.2f}x "
                  f"({'symmap faster' if med[k] < t_llvm else 'symmap SLOWER'})")
        print(f"symmap --brief phases (median of {a.runs} fresh processes): "
              f"{phases(path, addr_file, a.runs)}")
        same, n = agreement(path, addrs[:5000], kind == "macho")
        print(f"agreement with llvm-symbolizer on {n} addresses: {same}/{n}")
        print(f"lief imported during lookups: {lief_imported(path, addrs[0])}")


if __name__ == "__main__":
    main()
