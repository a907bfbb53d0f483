"""Benchmark: mapping a Linux process with ~10,000 regions, side by side with
pmap -X and psutil, plus CLI start-up and ELF symbol-table speed.

    python bench/bench_linux_maps.py [--pairs 5000] [--runs 7]

Prints the median of N runs for each contender and its ratio to symmap's
open_pid.  Needs a C compiler for the child (fixtures/linux/maps_child.c).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from symmap.sources import OpenOptions  # noqa: E402
from symmap.sources.linux_procfs import open_pid  # noqa: E402


from _timing import median_time  # noqa: E402



def build_child(d: str) -> str:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        sys.exit("bench needs a C compiler (cc)")
    exe = os.path.join(d, "maps_child")
    subprocess.run([cc, "-O1", "-o", exe, str(ROOT / "fixtures/linux/maps_child.c")], check=True)
    return exe


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5000, help="page pairs (regions = 2x)")
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()

    d = tempfile.mkdtemp(prefix="symmap-bench-")
    exe = build_child(d)
    child = subprocess.Popen([exe, "many", str(a.pairs)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        while child.stdout.readline().strip() != b"ready":
            pass
        pid = child.pid
        nmaps = sum(1 for _ in open(f"/proc/{pid}/maps"))
        print(f"child pid {pid}: {nmaps} mappings, median of {a.runs} runs")
        results: dict[str, float] = {}

        def raw_read():
            with open(f"/proc/{pid}/smaps", "rb") as f:
                f.read()
        results["read smaps bytes (kernel floor)"] = median_time(raw_read, a.runs)

        opts = OpenOptions()
        results["symmap open_pid"] = median_time(lambda: open_pid(pid, opts).close(), a.runs)

        try:
            from symmap.annotate import annotate
            from symmap.render.json import dumps
        except ImportError as e:
            print(f"(annotate/render not importable: {e}; API row is open_pid only)")
        else:
            def api():
                t = open_pid(pid, opts)
                try:
                    dumps(annotate(t))
                finally:
                    t.close()
            results["symmap API open+annotate+JSON"] = median_time(api, a.runs)

        cli = [sys.executable, "-m", "symmap", "--json", str(pid)]
        if subprocess.run(cli, capture_output=True, cwd=str(ROOT)).returncode == 0:
            results["symmap --json PID (subprocess)"] = median_time(
                lambda: subprocess.run(cli, capture_output=True, check=True, cwd=str(ROOT)), a.runs)
        else:
            print("(symmap CLI failed on the child; CLI row skipped)")

        pmap = shutil.which("pmap")
        if pmap:
            results["pmap -X PID (subprocess)"] = median_time(
                lambda: subprocess.run([pmap, "-X", str(pid)], capture_output=True, check=True), a.runs)
        try:
            import psutil
        except ImportError:
            print("(psutil not installed; row skipped)")
        else:
            results["psutil memory_maps(grouped=False)"] = median_time(
                lambda: psutil.Process(pid).memory_maps(grouped=False), a.runs)
    finally:
        child.stdin.close()
        child.wait()

    base = results["symmap open_pid"]
    w = max(map(len, results))
    for k, v in results.items():
        print(f"  {k:<{w}}  {v * 1000:9.1f} ms   x{v / base:5.2f} of open_pid")

    print("\nstart-up (subprocess, median):")
    ver = median_time(lambda: subprocess.run([sys.executable, "-m", "symmap", "--version"],
                                             capture_output=True, check=True, cwd=str(ROOT)), a.runs)
    nop = median_time(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), a.runs)
    print(f"  symmap --version  {ver * 1000:7.1f} ms\n  python -c pass    {nop * 1000:7.1f} ms"
          f"\n  ratio             x{ver / nop:.2f}")

    bench_symbols(d, a.runs)
    shutil.rmtree(d, ignore_errors=True)


def bench_symbols(d: str, runs: int) -> None:
    """iter_symbols over a 100k-symbol object (built from generated assembly) vs llvm-nm."""
    from symmap.formats.elf.elffile import open_elf
    from tests.support.elf_symbols_reference import iter_symbols
    clang = shutil.which("clang") or shutil.which("cc")
    if not clang:
        return
    s = os.path.join(d, "many.s")
    with open(s, "w") as f:
        f.write(".text\n")
        for i in range(100_000):
            f.write(f".globl fn_{i}\n.type fn_{i},@function\nfn_{i}:\n.byte 0xc3\n.size fn_{i},1\n")
    obj = os.path.join(d, "many.o")
    if subprocess.run([clang, "-c", s, "-o", obj], capture_output=True).returncode:
        return
    with open_elf(obj) as e:
        n = sum(1 for _ in iter_symbols(e))
        t = median_time(lambda: sum(1 for _ in iter_symbols(e)), runs)
    print(f"\nELF symbols: iter_symbols over {n} symbols  {t * 1000:7.1f} ms")
    nm = shutil.which("llvm-nm")
    if nm:
        tn = median_time(lambda: subprocess.run([nm, "--no-sort", obj], capture_output=True, check=True), runs)
        print(f"             llvm-nm --no-sort (subprocess)   {tn * 1000:7.1f} ms   x{tn / t:.2f}")


if __name__ == "__main__":
    main()
