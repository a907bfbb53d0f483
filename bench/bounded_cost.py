#!/usr/bin/env python3
"""Bounded cost: every input format, worst-case shaped, at 1 MB and at its
documented cap, through `map`, `map --json`, `lookup` and `audit` as whole
processes.  Prints wall seconds, peak RSS above a bare `python3 -c "import
symmap"`, output bytes and the exit code, and flags a run over the budget
(issue 12): < 1 s per MB of input, < 2 s, < 100 MB above the interpreter.
Refusals (exit 2 at a cap) count as runs too: they must be cheap.

    python bench/bounded_cost.py [--only ips,core] [--sizes 1,cap] [--keep DIR]

Inputs are generated here (nothing copied from ../shared); "cap" is the
format's limit from README.md "Input size limits" (16 MB for formats that
have none, which are mmapped and read lazily).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1 << 20
BUDGET_S_PER_MB, BUDGET_S, BUDGET_RSS_MB = 1.0, 2.0, 100.0
TIMEOUT_S = 60


# ---- runner ---------------------------------------------------------------

def run(args: list[str], out_path: Path) -> tuple[float, float, float, int, int, str]:
    """(wall s, CPU s, peak RSS MB, exit code, stdout bytes, first stderr line)
    of one process.  RSS and CPU come from GNU time's wait4 on its own child:
    a child forked from this (larger) process would start with this
    process's RSS as its peak, as Linux carries the peak across fork and exec."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    with open(out_path, "wb") as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        t0 = time.perf_counter()
        # timeout(1) kills the run (exit 137) if it is far over budget.
        rc = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", rss.name,
                             "timeout", "-s", "KILL", str(TIMEOUT_S), *args],
                            stdout=out, stderr=err, env=env, cwd=str(ROOT)).returncode
        wall = time.perf_counter() - t0
        err.seek(0)
        first = err.read(4096).decode("utf-8", "replace").split("\n", 1)[0]
        words = rss.read().split()[-3:]
        try:
            peak_kb, cpu = int(words[0]), float(words[1]) + float(words[2])
        except (IndexError, ValueError):
            peak_kb, cpu = 0, wall
    return wall, cpu, peak_kb / 1024, rc, out_path.stat().st_size, first


def symmap(*args: str) -> list[str]:
    return [sys.executable, "-m", "symmap", *args]


# ---- generators: each writes about `size` bytes, returns (path, address) ----

def _macho_symbols(path: Path, size: int) -> int:
    """MH_EXECUTE: __TEXT + __LINKEDIT; LC_SYMTAB with as many nlist entries
    (16 B + a 12-char name) as fit in `size`."""
    n = max(1, size // 29)
    base, text_size = 0x100000000, max(0x4000, (n * 4 + 0x3FFF) & ~0x3FFF)
    strtab = b"\0" + b"".join(b"_f%010d\0" % i for i in range(n))
    nlist = b"".join(struct.pack("<IBBHQ", 1 + 12 * i, 0x0F, 1, 0, base + 0x1000 + 4 * i) for i in range(n))
    cmds = []
    sect = struct.pack("<16s16sQQIIIIIIII", b"__text", b"__TEXT", base + 0x1000, text_size - 0x1000,
                       0x1000, 4, 0, 0, 0x80000400, 0, 0, 0)
    cmds.append(struct.pack("<II16sQQQQiiII", 0x19, 72 + 80, b"__TEXT", base, text_size, 0, 0x1000,
                            5, 5, 1, 0) + sect)
    le_off = 0x1000
    le = nlist + strtab
    cmds.append(struct.pack("<II16sQQQQiiII", 0x19, 72, b"__LINKEDIT", base + text_size, len(le),
                            le_off, len(le), 1, 1, 0, 0))
    cmds.append(struct.pack("<IIIIII", 2, 24, le_off, n, le_off + len(nlist), len(strtab)))
    lc = b"".join(cmds)
    hdr = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, 2, len(cmds), len(lc), 0, 0)
    head = (hdr + lc).ljust(le_off, b"\0")
    path.write_bytes(head + le)
    return base + 0x1000 + 4 * (n // 2) + 2


def _macho_segments(path: Path, size: int) -> int:
    """MH_EXECUTE whose load commands are `size` bytes of LC_SEGMENT_64."""
    n = max(1, size // 72)
    base = 0x100000000
    lc = b"".join(struct.pack("<II16sQQQQiiII", 0x19, 72, b"__S%d" % i, base + i * 0x4000, 0x4000,
                              0, 0, 5, 5, 0, 0) for i in range(n))
    hdr = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, 2, n, len(lc), 0, 0)
    path.write_bytes(hdr + lc)
    return base + 0x4000 * (n // 2) + 8


def _elf(path: Path, size: int, phdrs: bool) -> int:
    """ELF64 ET_DYN: either `size` bytes of PT_LOAD headers, or one PT_LOAD
    and a .symtab/.strtab of as many FUNC symbols as fit."""
    base = 0x400000
    if phdrs:
        n = min(max(1, size // 56), 65535)
        ph = b"".join(struct.pack("<IIQQQQQQ", 1, 5, 0, base + i * 0x1000, base + i * 0x1000, 0, 0x1000, 0x1000)
                      for i in range(n))
        eh = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\0" * 9, 3, 62, 1, 0, 64, 0, 0,
                         64, 56, n, 64, 0, 0)
        path.write_bytes(eh + ph)
        return base + 0x1000 * (n // 2) + 8
    n = max(1, size // 36)
    text_size = (n * 4 + 0xFFF) & ~0xFFF
    strtab = b"\0" + b"".join(b"f%010d\0" % i for i in range(n))
    sym = b"\0" * 24 + b"".join(struct.pack("<IBBHQQ", 1 + 12 * i, 0x12, 0, 1, base + 4 * i, 4) for i in range(n))
    shstr = b"\0.text\0.symtab\0.strtab\0.shstrtab\0"
    off_sym = 0x1000
    off_str = off_sym + len(sym)
    off_shs = off_str + len(strtab)
    off_sh = (off_shs + len(shstr) + 7) & ~7
    sh = [b"\0" * 64,
          struct.pack("<IIQQQQIIQQ", 1, 1, 6, base, 0x1000, 0, 0, 0, 16, 0),     # .text (NOBITS-like size)
          struct.pack("<IIQQQQIIQQ", 7, 2, 0, 0, off_sym, len(sym), 3, 1, 8, 24),
          struct.pack("<IIQQQQIIQQ", 15, 3, 0, 0, off_str, len(strtab), 0, 0, 1, 0),
          struct.pack("<IIQQQQIIQQ", 23, 3, 0, 0, off_shs, len(shstr), 0, 0, 1, 0)]
    sh[1] = struct.pack("<IIQQQQIIQQ", 1, 8, 6, base, 0x1000, text_size, 0, 0, 16, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, 0x1000, text_size, 0x1000)
    eh = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\0" * 9, 3, 62, 1, 0, 64, off_sh, 0,
                     64, 56, 1, 64, len(sh), 4)
    body = (eh + ph).ljust(off_sym, b"\0") + sym + strtab + shstr
    path.write_bytes(body.ljust(off_sh, b"\0") + b"".join(sh))
    return base + 4 * (n // 2) + 1


def _dyld_cache(path: Path, size: int) -> int:
    spec = importlib.util.spec_from_file_location("bc_build_cache", ROOT / "fixtures/dyld_cache/build_cache.py")
    assert spec and spec.loader
    b = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = b
    spec.loader.exec_module(b)
    src = ROOT / "fixtures/dyld_cache/out"
    blobs = [(src / f"{n}.dylib").read_bytes() for n in ("liba", "libb", "libc_helper")]
    per_image = 4 << 10             # about what one small dylib adds to the cache
    libs = []
    for i in range(max(3, size // per_image)):
        uuid = hashlib.md5(b"bounded%d" % i).digest()
        libs.append(b.load_dylib(f"/usr/lib/bounded/lib{i:05d}.dylib", blobs[i % 3], uuid=uuid))
    built = b.build_cache(libs, str(path))
    main = Path(built.paths["main"])
    return 0x180000000 + (main.stat().st_size // 2)


def _core(path: Path, size: int) -> int:
    """MH_CORE: `size` bytes of LC_SEGMENT_64 (each 16 bytes of data): many tiny regions."""
    n = max(1, size // 88)
    lc_size = 72 * n + 184            # + one LC_THREAD (x86_64 state)
    data_off = (32 + lc_size + 0xFFF) & ~0xFFF
    cmds = [struct.pack("<II16sQQQQiiII", 0x19, 72, b"", 0x10000 + i * 0x4000, 0x4000, data_off + 16 * i, 16,
                        3, 3, 0, 0) for i in range(n)]
    thread = struct.pack("<IIII", 4, 184, 4, 42) + b"\0" * 168
    lc = b"".join(cmds) + thread
    hdr = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x01000007, 3, 4, n + 1, len(lc), 0, 0)
    path.write_bytes((hdr + lc).ljust(data_off, b"\0") + b"\xcc" * (16 * n))
    return 0x10000 + 0x4000 * (n // 2) + 4


def _core_notes(path: Path, size: int) -> int:
    """MH_CORE whose "all image infos" notes (many LC_NOTEs, one payload) name
    as many images as fit, all sharing one 1,000-segment array."""
    entries = max(1, (size - 0x8000 - 32_000) // 48)
    nsegs, notes = 1000, 50
    note_off = 0x8000
    path_off = note_off + 24 + 48 * entries
    segs_off = path_off + 64
    payload = (struct.pack("<IIQII", 1, entries, note_off + 24, 48, 0)
               + b"".join(struct.pack("<Q16sQQII", path_off, b"\1" * 16, 0x100000000 + 0x1000 * k, segs_off,
                                      nsegs, 0) for k in range(entries))
               + b"/usr/lib/x.dylib\0".ljust(64, b"\0")
               + b"".join(struct.pack("<16sQQ", b"__TEXT", 0x100000000 + 0x1000 * j, 0) for j in range(nsegs)))
    lc = (struct.pack("<II16sQQQQiiII", 0x19, 72, b"", 0x100000000, 0x4000, 0x4000, 0x4000, 5, 5, 0, 0)
          + struct.pack("<II16sQQ", 0x31, 40, b"all image infos", note_off, len(payload)) * notes
          + struct.pack("<IIII", 4, 184, 4, 42) + b"\0" * 168)
    hdr = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x01000007, 3, 4, notes + 2, len(lc), 0, 0)
    path.write_bytes((hdr + lc).ljust(0x4000, b"\0") + b"\0" * 0x4000 + payload)
    return 0x100000010


def _cache_aliases(path: Path, size: int) -> int:
    """The committed fixture cache with an image table of `size` / 32 entries
    (at most the cap) cycling over its three dylibs."""
    from symmap.formats.dyld_cache.cache_file import MAX_IMAGES
    src = ROOT / "fixtures/dyld_cache/out/cache"
    for f in src.iterdir():
        (path.parent / f.name.replace("dyld_shared_cache_arm64", path.name)).write_bytes(f.read_bytes())
    b = bytearray(path.read_bytes())
    off, n = struct.unpack_from("<II", b, 0x1C0)
    infos = [bytes(b[off + 32 * i: off + 32 * (i + 1)]) for i in range(n)]
    count = min(size // 32, MAX_IMAGES)
    new_off = len(b)
    b += b"".join(infos[i % n] for i in range(count))
    struct.pack_into("<II", b, 0x1C0, new_off, count)
    path.write_bytes(bytes(b))
    return struct.unpack_from("<Q", infos[0])[0] + 0x10


def _ips(path: Path, size: int, shape: str) -> int:
    meta = {"app_name": "x", "bug_type": "309", "os_version": "macOS 14.0 (23A344)", "name": "x"}
    base = 0x100000000
    img = {"base": base, "size": 0x4000, "uuid": "11111111-2222-3333-4444-555555555555",
           "path": "/usr/lib/x.dylib", "source": "P", "arch": "arm64"}
    body: dict = {"procName": "x", "procPath": "/usr/bin/x", "cpuType": "ARM-64", "pid": 1}
    if shape == "frames":      # one image with a long path, every frame in it
        img["path"] = "/" + "p" * min(size // 2, 1 << 20)
        nfr = max(1, (size - len(img["path"])) // 48)
        body["usedImages"] = [img]
        body["threads"] = [{"triggered": k == 0, "frames": [{"imageIndex": 0, "imageOffset": 4 * i}
                                                            for i in range(min(nfr, 1000))]}
                           for k in range(max(1, nfr // 1000))]
    elif shape == "images":    # many images, one frame each
        n = max(1, size // 190)
        body["usedImages"] = [dict(img, base=base + 0x4000 * i, path=f"/usr/lib/l{i}.dylib") for i in range(n)]
        body["threads"] = [{"triggered": True, "frames": [{"imageIndex": i, "imageOffset": 4} for i in range(min(n, 512))]}]
    else:                      # deep nesting
        depth = size // 2 - 200
        text = json.dumps(meta) + "\n" + '{"procName": "x", "asi": ' + "[" * depth + "]" * depth + "}"
        path.write_text(text)
        return base + 4
    path.write_text(json.dumps(meta) + "\n" + json.dumps(body))
    return base + 8


def _crash_text(path: Path, size: int, shape: str) -> int:
    head = ("Process:         x [1]\nPath:            /usr/bin/x\nIdentifier:      x\nCode Type:       X86-64\n"
            "OS Version:      Mac OS X 10.15 (19A583)\nReport Version:  12\n\n"
            "Exception Type:  EXC_BAD_ACCESS (SIGSEGV)\nCrashed Thread:  0\n\n")
    base = 0x10a000000
    lines = []
    if shape == "frames":
        long_path = "/" + "p" * 60_000
        per = 65
        nfr = max(1, size // per)
        for t in range((nfr + 999) // 1000):
            lines.append(f"Thread {t}{' Crashed' if t == 0 else ''}:")
            lines += [f"{i:<4}x  0x{base + 4 * i:016x} 0x{base:x} + {4 * i}" for i in range(min(1000, nfr - 1000 * t))]
            lines.append("")
        images = [f"{base:#18x} - {base + 0x3fff:#18x} +x x86_64 (0) <3f58bc3deabe3361b5fb52a676298598> {long_path}"]
    else:
        n = max(1, size // 130)
        lines = ["Thread 0 Crashed:", f"0   x  0x{base + 4:016x} 0x{base:x} + 4", ""]
        images = [f"{base + 0x4000 * i:#18x} - {base + 0x4000 * i + 0x3fff:#18x} +l{i} x86_64 (0) "
                  f"<{hashlib.md5(b'%d' % i).hexdigest()}> /usr/lib/l{i}.dylib" for i in range(n)]
    path.write_text(head + "\n".join(lines) + "\n\nBinary Images:\n" + "\n".join(images) + "\n")
    return base + 8


def _vmmap(path: Path, size: int, shape: str) -> int:
    head = ("Process:         x [1]\nPath:            /usr/bin/x\nLoad Address:    0x100000000\n"
            "Code Type:       ARM64\nReport Version:  7\nAnalysis Tool:   /usr/bin/vmmap\n----\n\n"
            "Virtual Memory Map of process 1 (x)\nOutput report format:  2.4  -- 64-bit process\n"
            "VM page size:  16384 bytes\n\n==== Non-writable regions for process 1\n"
            "REGION TYPE                    START - END         [ VSIZE  RSDNT  DIRTY   SWAP] PRT/MAX SHRMOD  "
            "PURGE    REGION DETAIL\n")
    base = 0x100000000
    if shape == "rows":
        from symmap.formats.vmmap.report import MAX_ROWS
        n = max(1, min(size // 110, MAX_ROWS))          # the most rows accepted
        rows = [f"MALLOC_TINY            {base + 0x4000 * i:>12x}-{base + 0x4000 * (i + 1):<12x} "
                f"[   16K    16K    16K     0K] rw-/rwx SM=PRV          r{i}" for i in range(n)]
    else:                  # one row with a long run of spaces (once quadratic)
        rows = [f"MALLOC_TINY            {base:>12x}-{base + 0x4000:<12x} [" + " " * (size - 200)
                + "16K] rw-/rwx SM=PRV  x"]
    path.write_text(head + "\n".join(rows) + "\n")
    return base + 8


def _snapshot(path: Path, size: int, shape: str) -> int:
    base = 0x100000000
    head = '{"schema": 1, "generator": "symmap 0.1.0", '
    if shape == "nesting":
        depth = size // 2
        path.write_text(head + '"notes": ' + "[" * depth + "]" * depth + "}")
        return base
    region = {"start": 0, "end": 0, "prot": "rw-", "max_prot": "rwx", "type": "MALLOC", "detail": "d",
              "share_mode": "PRV", "image": None, "segment": None, "tag": 1, "kind": "anon",
              "resident": 16384, "dirty": 16384, "swapped": 0, "path": None, "offset": None,
              "purgeable": None, "depth": None}
    from symmap.sources.snapshot import MAX_SNAPSHOT_VALUES
    n = max(1, min(size // 320, MAX_SNAPSHOT_VALUES // 19 - 100))    # 19 values a region: the most accepted
    regions = [dict(region, start=base + 0x4000 * i, end=base + 0x4000 * (i + 1)) for i in range(n)]
    doc = {"schema": 1, "generator": "symmap 0.1.0",
           "target": {"kind": "live", "pid": 1, "name": "x", "path": None, "arch": None, "page_size": 16384,
                      "os": "macos", "os_version": None, "partial": False, "info": {}},
           "notes": [], "regions": regions, "images": [], "shared_cache": None, "threads": []}
    path.write_text(json.dumps(doc))
    return base + 0x4000 * (n // 2) + 8


# format -> (cap in bytes, [(shape, generator)])
_NOCAP = 16 * MB
FORMATS: dict[str, tuple[int, list[tuple[str, Callable[[Path, int], int]]]]] = {
    "macho": (_NOCAP, [("symbols", _macho_symbols), ("segments", _macho_segments)]),
    "elf": (_NOCAP, [("symbols", lambda p, s: _elf(p, s, False)), ("phdrs", lambda p, s: _elf(p, s, True))]),
    "dyld_cache": (_NOCAP, [("images", _dyld_cache), ("aliases", _cache_aliases)]),
    "core": (_NOCAP, [("segments", _core), ("notes", _core_notes)]),
    "ips": (0, [(sh, lambda p, s, sh=sh: _ips(p, s, sh)) for sh in ("frames", "images", "nesting")]),
    "crash_text": (0, [(sh, lambda p, s, sh=sh: _crash_text(p, s, sh)) for sh in ("frames", "images")]),
    "vmmap": (0, [(sh, lambda p, s, sh=sh: _vmmap(p, s, sh)) for sh in ("rows", "spaces")]),
    "snapshot": (0, [(sh, lambda p, s, sh=sh: _snapshot(p, s, sh)) for sh in ("regions", "nesting")]),
}


def _caps() -> None:
    """The caps as the code has them (README.md documents the same numbers)."""
    from symmap.formats.crash.model import MAX_REPORT_BYTES
    from symmap.formats.vmmap.report import MAX_BYTES
    from symmap.sources.snapshot import MAX_SNAPSHOT_BYTES
    for k, v in (("ips", MAX_REPORT_BYTES), ("crash_text", MAX_REPORT_BYTES), ("vmmap", MAX_BYTES),
                 ("snapshot", MAX_SNAPSHOT_BYTES)):
        FORMATS[k] = (v, FORMATS[k][1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated formats: " + ",".join(FORMATS))
    ap.add_argument("--sizes", default="1,cap", help="MB values and/or 'cap' (default 1,cap)")
    ap.add_argument("--keep", help="write inputs here and keep them")
    a = ap.parse_args()
    _caps()
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bounded-cost-"))
    work.mkdir(parents=True, exist_ok=True)
    _w, _c, base_rss, _rc, _n, _e = run([sys.executable, "-c", "import symmap"], work / "out")
    print(f"baseline `python3 -c 'import symmap'`: {base_rss:.1f} MB peak RSS")
    print(f"{'format':<11}{'shape':<9}{'input':>9}  {'command':<11}{'wall s':>7}{'CPU s':>6}{'RSS+MB':>8}"
          f"{'out MB':>8}{'rc':>4}  verdict")
    over = 0
    for fmt, (cap, shapes) in FORMATS.items():
        if a.only and fmt not in a.only.split(","):
            continue
        for size_s in a.sizes.split(","):
            size = cap - 4096 if size_s == "cap" else int(float(size_s) * MB)
            for shape, gen in shapes:
                inp = work / f"{fmt}-{shape}-{size_s}.bin"
                addr = gen(inp, size)
                real = inp.stat().st_size
                for name, args in (("map", ["map", str(inp)]), ("map --json", ["map", "--json", str(inp)]),
                                   ("lookup", ["lookup", str(inp), hex(addr)]), ("audit", ["audit", str(inp)])):
                    wall, cpu, rss, rc, out, err = run(symmap(*args), work / "out")
                    extra = rss - base_rss
                    # Judged on CPU time: on a shared machine wall time is CPU time plus the wait
                    # for a core (both are printed).
                    bad = [w for w, c in (("time/MB", cpu > BUDGET_S_PER_MB * max(real / MB, 1.0)),
                                          ("time", cpu > BUDGET_S), ("rss", extra > BUDGET_RSS_MB),
                                          ("traceback", "Traceback" in err or 4 < rc != 137), ("killed", rc == 137)) if c]
                    over += bool(bad)
                    verdict = "OVER: " + ",".join(bad) if bad else "ok"
                    if rc == 2:
                        verdict += f"  ({err[:70]})"
                    print(f"{fmt:<11}{shape:<9}{real / MB:>7.2f}MB  {name:<11}{wall:>7.2f}{cpu:>6.2f}{extra:>8.1f}"
                          f"{out / MB:>8.2f}{rc:>4}  {verdict}", flush=True)
                if not a.keep:
                    inp.unlink()
    print(f"{over} run(s) over budget")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
