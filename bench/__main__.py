"""One benchmark run: every ratio against its peer, side by side, in one table.

    python -m bench [--quick] [--pairs N] [--no-save]

Every row is whole processes (interpreter start, imports, work, output to
/dev/null), symmap and its peer run as alternating pairs from this one parent,
at this process's nice level, after one warm-up each; the row shows the median
wall time of each side, the median of the per-pair ratios (symmap / peer:
below 1 is symmap faster) and the peak RSS of each (one more run of each side
under GNU time: see ``peak_rss``).

- map at 1k / 10k / 60k mappings: `symmap --json PID` vs psutil
  `memory_maps(grouped=False)` on a child that made that many mappings
  (fixtures/linux/maps_child.c); RSS per mapping is above `python -c pass`'s;
- start-up: `python -m symmap --version` vs `python -c pass`;
- lookup: `symmap lookup BIN - --brief` vs `llvm-symbolizer --obj=BIN` on
  addresses in a generated binary (bench/bench_symbolize.py builds it);
- dyld cache: open + list the image paths of the 2,000-image cache from
  fixtures/dyld_cache/build_cache.py vs dyldextractor (DyldContext + addSubCaches);
- core: a 1 GiB sparse Mach-O core (fixtures/core/build_core.py, grown as in
  bench/bench_core.py): `symmap CORE` (all regions) and `symmap lookup CORE -`
  with 1,000 addresses vs lldb-14 (`target create --core` + `image list`;
  + 1,000 `image lookup -a`);
- phases: where the time goes inside one `--json PID` process (in-process timers).

Results go to bench/results/YYYY-MM-DD[-quick][-N].json, so a regression shows
up as a diff.  The machine's load average is recorded with them: with two
cores, a concurrent job moves absolute numbers by 2x, ratios much less.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))
PY = sys.executable
WORK = Path(tempfile.gettempdir()) / "symmap-bench"
# Both sides run with bytecode caches, as an installed package does (this host sets
# PYTHONDONTWRITEBYTECODE, which would recompile symmap's sources in every process).
BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
BASE_ENV["PYTHONPYCACHEPREFIX"] = str(WORK / "pyc")
LLDB_ENV = {"PYTHONPATH": "/usr/lib/llvm-14/lib/python3.11/dist-packages"}

PSUTIL = "import psutil, sys; psutil.Process(int(sys.argv[1])).memory_maps(grouped=False)"
CACHE_OURS = ("import sys; from symmap.formats.dyld_cache.reader import open_cache\n"
              "c = open_cache(sys.argv[1]); paths = [i.path for i in c.images]; c.close()\n"
              "assert len(paths) >= 2000, len(paths)")
CACHE_THEIRS = ("import sys; from DyldExtractor.dyld.dyld_context import DyldContext\n"
                "f = open(sys.argv[1], 'rb'); d = DyldContext(f); import pathlib\n"
                "subs = d.addSubCaches(pathlib.Path(sys.argv[1]))\n"
                "paths = [d.readString(im.pathFileOffset) for im in d.images]\n"
                "[s.close() for s in subs]; assert len(paths) >= 2000, len(paths)")
PHASES = r"""
import sys, time, io
def hwm():   # this mm's own peak RSS, KiB (VmHWM: nothing inherited from the parent)
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:"))
h0 = hwm()
t0 = time.perf_counter()
from symmap.cli import cli
from symmap.commands import map as _m
from symmap.commands.options import open_options
from symmap.sources.linux_procfs import _Proc
from symmap.sources import linux_procfs as lp
from symmap.annotate import annotate
from symmap.render.json import write_json
t1 = time.perf_counter()
h1 = hwm()
pid = int(sys.argv[1])
regions, ids = _Proc(pid, "/proc").read_regions("smaps", True)
t2 = time.perf_counter()
del regions, ids
t = lp.open_pid(pid, open_options())
t3 = time.perf_counter()
annotate(t)
t4 = time.perf_counter()
out = open("/dev/null", "w")
write_json(t, out)
t5 = time.perf_counter()
print(f"imports {t1 - t0:.4f} smaps-read+parse {t2 - t1:.4f} open_pid-whole {t3 - t2:.4f} "
      f"open_pid-besides-smaps {t3 - t2 - (t2 - t1):.4f} annotate {t4 - t3:.4f} json-render+write {t5 - t4:.4f} "
      f"regions {len(t.regions)} images {len(t.images)}; peak RSS KiB: start {h0} imports {h1} end {hwm()}")
"""


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def run(cmd: list[str], stdin: Path | None = None, env: dict[str, str] | None = None,
        ok: tuple[int, ...] = (0,)) -> tuple[float, int]:
    """Wall seconds and ru_maxrss (KiB) of one process; stdout to /dev/null.

    That ru_maxrss is at least this parent's own peak: the child is vforked, and
    Linux's exec records the old mm's high-water mark (here, this Python's) in
    the child's rusage.  ``peak_rss`` measures a process's own peak."""
    with open(stdin or os.devnull, "rb") as fin, tempfile.TemporaryFile() as ferr:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=fin, stdout=subprocess.DEVNULL, stderr=ferr, cwd=str(ROOT),
                             env=dict(BASE_ENV, **(env or {})))
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode not in ok:
            ferr.seek(0)
            raise SystemExit(f"{cmd[:4]} exited {p.returncode}: {ferr.read()[-400:].decode(errors='replace')}")
    return wall, ru.ru_maxrss


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
RSS_METHOD = ("GNU time %M: the process's own peak" if GNU_TIME else
              "wait4 ru_maxrss: at least this bench process's own peak (install GNU time)")


def peak_rss(spec: dict[str, Any]) -> int:
    """The peak RSS (KiB) of one more run of ``spec``, the process's own: GNU time
    (a ~2 MB process) forks it, so only time's small high-water mark is inherited.
    Without GNU time, run()'s ru_maxrss, floored at this process's peak."""
    if GNU_TIME is None:
        return run(**spec)[1]
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as f:
        run(**dict(spec, cmd=[GNU_TIME, "-f", "%M", "-o", f.name, *spec["cmd"]]))
        return int(f.read().split()[-1])


def pairs(ours: dict[str, Any], theirs: dict[str, Any], n: int) -> dict[str, float]:
    """n alternating pairs (after one warm-up each): medians of time and per-pair ratio;
    the peak RSS of each side from one more run (peak_rss)."""
    run(**ours)
    run(**theirs)
    t_o: list[float] = []
    t_t: list[float] = []
    ratio: list[float] = []
    for i in range(n):
        sides = [(ours, t_o), (theirs, t_t)]
        got = {}
        for spec, ts in (sides if i % 2 == 0 else sides[::-1]):
            w, _ = run(**spec)
            ts.append(w)
            got[id(ts)] = w
        ratio.append(got[id(t_o)] / got[id(t_t)])
    return {"ours_s": statistics.median(t_o), "peer_s": statistics.median(t_t),
            "ratio": statistics.median(ratio), "ours_rss_kb": peak_rss(ours),
            "peer_rss_kb": peak_rss(theirs), "pairs": n}


# ---- the rows ------------------------------------------------------------------------------

def maps_child() -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    exe = WORK / "maps_child"
    src = ROOT / "fixtures/linux/maps_child.c"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        cc = shutil.which("cc") or shutil.which("clang")
        if not cc:
            raise SystemExit("needs a C compiler for fixtures/linux/maps_child.c")
        subprocess.run([cc, "-O1", "-o", str(exe), str(src)], check=True)
    return exe


def bench_maps(sizes: list[int], n: int, base_rss: int, rows: list[dict[str, Any]]) -> None:
    exe = maps_child()
    for want in sizes:
        child = subprocess.Popen([str(exe), "many", str(want // 2)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE)
        try:
            assert child.stdout is not None
            while child.stdout.readline().strip() != b"ready":
                pass
            with open(f"/proc/{child.pid}/maps", "rb") as f:
                nmaps = f.read().count(b"\n")
            r = pairs({"cmd": [PY, "-m", "symmap", "--json", str(child.pid)]},
                      {"cmd": [PY, "-c", PSUTIL, str(child.pid)]}, n)
            per = (r["ours_rss_kb"] - base_rss) * 1024 / nmaps
            goal = 0.8 if want <= 1000 else 0.7
            rows.append(dict(r, name=f"map --json, {nmaps} mappings", peer="psutil memory_maps",
                             goal=f"< {goal}", met=r["ratio"] < goal, mappings=nmaps))
            rows.append({"name": f"  peak RSS per mapping above `python -c pass` ({nmaps})",
                         "value": round(per), "unit": "B", "goal": "< 1024", "met": per < 1024,
                         "peer_value": round((r["peer_rss_kb"] - base_rss) * 1024 / nmaps)})
            p = subprocess.run([PY, "-c", PHASES, str(child.pid)], capture_output=True, text=True,
                               cwd=str(ROOT), check=True, env=BASE_ENV)
            rows.append({"name": f"  phases ({nmaps}), seconds", "phases": p.stdout.strip()})
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait()


def bench_startup(n: int, rows: list[dict[str, Any]]) -> int:
    r = pairs({"cmd": [PY, "-m", "symmap", "--version"]}, {"cmd": [PY, "-c", "pass"]}, n)
    rows.append(dict(r, name="start-up: symmap --version", peer="python -c pass", goal="<= 1.3",
                     met=r["ratio"] <= 1.3))
    return int(r["peer_rss_kb"])


def bench_lookup(nfun: int, naddr: int, n: int, rows: list[dict[str, Any]]) -> None:
    if not shutil.which("llvm-symbolizer"):
        rows.append({"name": "lookup", "skipped": "llvm-symbolizer not installed"})
        return
    bs = _load("bench_symbolize", BENCH / "bench_symbolize.py")
    bins = bs.build(nfun, str(WORK))
    for kind, path in sorted(bins.items()):
        # In a child, like every build: this process's RSS is inherited by each child's ru_maxrss.
        code = "import sys; sys.path[:0] = sys.argv[2:]; import bench_symbolize as b; print(*b.text_range(sys.argv[1]))"
        lo, hi = map(int, subprocess.run([PY, "-c", code, path, str(BENCH), str(ROOT)], capture_output=True,
                                         text=True, check=True, cwd=str(ROOT)).stdout.split())
        rng = random.Random(5)
        addr_file = WORK / f"addrs-{kind}-{naddr}.txt"
        addr_file.write_text("\n".join(hex(rng.randrange(lo, hi)) for _ in range(naddr)) + "\n")
        llvm = ["llvm-symbolizer", f"--obj={path}", "--no-inlines", "--functions=linkage"]
        if kind == "macho":
            llvm.append("--default-arch=arm64")
        r = pairs({"cmd": [PY, "-m", "symmap", "lookup", path, "-", "--brief"], "stdin": addr_file},
                  {"cmd": llvm, "stdin": addr_file}, n)
        rows.append(dict(r, name=f"lookup {naddr} addresses, {nfun}-function {kind}",
                         peer="llvm-symbolizer", goal="< 1", met=r["ratio"] < 1))


def bench_cache(n_images: int, n_locals: int, n: int, rows: list[dict[str, Any]]) -> None:
    out = WORK / f"cache-{n_images}-{n_locals}" / "dyld_shared_cache_arm64"
    main = Path(str(out))
    if not main.exists():
        # Built in a child: a big build here would raise this process's RSS, and Linux
        # carries a parent's RSS high-water mark into every child it forks (ru_maxrss).
        code = ("import sys, pathlib; sys.path[:0] = sys.argv[4:]; import bench_dyld_cache as b; "
                "b.build_big(pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))")
        subprocess.run([PY, "-c", code, str(out), str(n_images), str(n_locals), str(BENCH), str(ROOT)],
                       check=True, cwd=str(ROOT), stdout=subprocess.DEVNULL)
    theirs: dict[str, Any] = {"cmd": [PY, "-c", CACHE_THEIRS, str(main)]}
    try:
        import DyldExtractor  # noqa: F401
    except ImportError:
        rows.append({"name": "dyld cache", "skipped": "dyldextractor not installed"})
        return
    r = pairs({"cmd": [PY, "-c", CACHE_OURS, str(main)]}, theirs, n)
    rows.append(dict(r, name=f"open + list {n_images}-image dyld cache", peer="dyldextractor",
                     goal="< 1", met=r["ratio"] < 1))


def build_core(gib: float, segments: int = 32) -> tuple[Path, list[int]]:
    bc = _load("build_core", ROOT / "fixtures/core/build_core.py")
    bcore = _load("bench_core", BENCH / "bench_core.py")
    small, big = WORK / "small.core", WORK / f"big-{gib:g}g.core"
    manifest = bc.build_core(small, "arm64", image_note=False)
    seg = int(gib * (1 << 30)) // segments // 0x4000 * 0x4000
    if not big.exists():
        bcore.grow_core(small, big, segments, seg, 0x1000000000)
    # 1,000 addresses: in the images' text, in the heap, in the big segments, some unmapped.
    rng = random.Random(7)
    spans = [(r["start"], r["end"]) for r in manifest.get("regions", []) if r["end"] > r["start"]]
    spans.append((0x1000000000, 0x1000000000 + segments * seg))
    addrs = [rng.randrange(*rng.choice(spans)) for _ in range(950)] + [0x10 + 8 * k for k in range(50)]
    return big, addrs


def bench_core(gib: float, n: int, rows: list[dict[str, Any]]) -> None:
    big, addrs = build_core(gib)
    addr_file = WORK / "core-addrs.txt"
    addr_file.write_text("\n".join(map(hex, addrs)) + "\n")
    lldb = shutil.which("lldb-14") or shutil.which("lldb")
    base = [lldb or "lldb", "-b", "--no-lldbinit", "-o", f"target create --core {big}"]
    cmds = WORK / "core-lldb-lookups.txt"
    cmds.write_text("".join(f"image lookup -a {a:#x}\n" for a in addrs))
    size = big.stat().st_size / (1 << 30)
    for what, ours, theirs in (
            ("regions", {"cmd": [PY, "-m", "symmap", str(big)]},
             {"cmd": [*base, "-o", "image list"], "env": LLDB_ENV}),
            ("regions + 1000 lookups", {"cmd": [PY, "-m", "symmap", "lookup", str(big), "-", "--brief"],
                                        "stdin": addr_file, "ok": (0, 1)},
             {"cmd": [*base, "-o", f"command source -e false {cmds}"], "env": LLDB_ENV})):
        if lldb:
            r = pairs(ours, theirs, n)
        else:
            ts = [run(**ours) for _ in range(n)]
            r = {"ours_s": statistics.median(t for t, _ in ts), "ours_rss_kb": peak_rss(ours)}
        goal = r["ours_s"] < 0.5 and r["ours_rss_kb"] < 100 * 1024
        rows.append(dict(r, name=f"{size:.1f} GiB core: {what}", peer="lldb-14" if lldb else "-",
                         goal="< 0.5 s, < 100 MB" if what == "regions" else "-",
                         met=goal if what == "regions" else None))


# ---- output ---------------------------------------------------------------------------------

def table(rows: list[dict[str, Any]]) -> str:
    out = [(f"{'benchmark':58s} {'symmap':>9s} {'peer':>9s} {'ratio':>6s} {'RSS MB':>7s} {'peer MB':>7s}  "
            f"{'goal':<18s} peer")]
    for r in rows:
        if "skipped" in r:
            out.append(f"{r['name']:58s} skipped: {r['skipped']}")
        elif "phases" in r:
            out.append(f"{r['name']:58s} {r['phases']}")
        elif "value" in r:
            mark = "" if r.get("met") is None else (" ok" if r["met"] else " MISSED")
            out.append(f"{r['name']:58s} {r['value']:>7d} {r['unit']:<2s}{r.get('peer_value', ''):>8}"
                       f"{'':>24s}  {r['goal'] + mark:<18s} (peer)")
        else:
            peer = f"{r['peer_s']:9.3f}" if "peer_s" in r else f"{'-':>9s}"
            ratio = f"{r['ratio']:6.2f}" if "ratio" in r else f"{'-':>6s}"
            prss = f"{r['peer_rss_kb'] / 1024:7.1f}" if "peer_rss_kb" in r else f"{'-':>7s}"
            mark = "" if r.get("met") is None else (" ok" if r["met"] else " MISSED")
            out.append(f"{r['name']:58s} {r['ours_s']:9.3f} {peer} {ratio} {r['ours_rss_kb'] / 1024:7.1f} "
                       f"{prss}  {(r['goal'] + mark):<18s} {r['peer']}")
    return "\n".join(out)


def save(rows: list[dict[str, Any]], meta: dict[str, Any], quick: bool) -> Path:
    d = BENCH / "results"
    d.mkdir(exist_ok=True)
    stem = dt.date.today().isoformat() + ("-quick" if quick else "")
    p = d / f"{stem}.json"
    k = 2
    while p.exists():
        p = d / f"{stem}-{k}.json"
        k += 1
    p.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    return p


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 pairs, 1k and 10k mappings, smaller inputs")
    ap.add_argument("--pairs", type=int, help="pairs per row (default 5; --quick 3)")
    ap.add_argument("--no-save", action="store_true", help="print only; no bench/results file")
    ap.add_argument("--only", help="comma list of: startup,map,lookup,cache,core")
    a = ap.parse_args()
    n = a.pairs or (3 if a.quick else 5)
    only = set((a.only or "startup,map,lookup,cache,core").split(","))
    WORK.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False,
                            cwd=str(ROOT)).stdout.strip()
    meta = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "commit": commit,
            "python": sys.version.split()[0], "cpus": os.cpu_count(), "nice": os.nice(0),
            "loadavg_start": os.getloadavg(), "quick": a.quick, "pairs": n, "rss": RSS_METHOD}
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    base_rss = peak_rss({"cmd": [PY, "-c", "pass"]})
    if "startup" in only:
        base_rss = bench_startup(n, rows)
    if "map" in only:
        bench_maps([1000, 10000] if a.quick else [1000, 10000, 60000], n, base_rss, rows)
    if "lookup" in only:
        bench_lookup(20_000 if a.quick else 100_000, 10_000 if a.quick else 100_000, n, rows)
    if "cache" in only:
        bench_cache(2000, 20_000 if a.quick else 1_000_000, n, rows)
    if "core" in only:
        bench_core(1.0, n, rows)
    meta["loadavg_end"] = os.getloadavg()
    meta["seconds"] = round(time.perf_counter() - t0, 1)
    # run()'s ru_maxrss of a child is at least this (Linux keeps the high-water mark across vfork+exec).
    meta["self_rusage_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"symmap {commit}, python {meta['python']}, {meta['cpus']} cpus, nice {meta['nice']}, "
          f"load {meta['loadavg_start'][0]:.1f} -> {meta['loadavg_end'][0]:.1f}, "
          f"median of {n} pairs (ratio = symmap / peer, per pair); RSS: {RSS_METHOD}")
    print(table(rows))
    if not a.no_save:
        print(f"saved {save(rows, meta, a.quick).relative_to(ROOT)}")
    return 0 if all(r.get("met") is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
