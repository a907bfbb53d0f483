#!/usr/bin/env python3
"""Time opening a multi-GB Mach-O core: symmap vs lldb-14, side by side.

The core is a fixtures/core/build_core.py core (real images, dyld, arm64)
grown with N sparse anonymous segments of SIZE each (the file is extended
with truncate, so it takes no disk space).  Measured, median of --runs:
- symmap: open_file + annotate + render the vmmap report (in-process; a
  fresh `python -m symmap` process is also timed, import cost included);
- lldb: `lldb -b -o 'target create --core' -o 'image list' -o 'memory region <heap>'`.
Usage: python bench/bench_core.py [--gb 8] [--segments 32] [--runs 5]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("build_core", ROOT / "fixtures/core/build_core.py")
_bc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bc)
from _timing import median_time  # noqa: E402



def grow_core(small: Path, out: Path, nseg: int, seg_size: int, start: int) -> None:
    """Re-emit `small` with nseg more LC_SEGMENT_64s of seg_size bytes at `start`, sparse."""
    data = small.read_bytes()
    ncmds, sizeofcmds = struct.unpack_from("<II", data, 16)
    extra = 72 * nseg
    delta = (extra + 4095) // 4096 * 4096
    cmds = bytearray(data[32:32 + sizeofcmds])
    p = 0
    for _ in range(ncmds):      # shift every file offset by delta (the core has no image note)
        cmd, size = struct.unpack_from("<II", cmds, p)
        if cmd == 0x19:
            fo = struct.unpack_from("<Q", cmds, p + 40)[0]
            struct.pack_into("<Q", cmds, p + 40, fo + delta)
        elif cmd == 0x31:
            fo = struct.unpack_from("<Q", cmds, p + 24)[0]
            struct.pack_into("<Q", cmds, p + 24, fo + delta)
        p += size
    body_end = len(data) + delta
    segs = b"".join(struct.pack("<II16s4Q4I", 0x19, 72, b"", start + k * seg_size, seg_size,
                                body_end + k * seg_size, seg_size, 3, 3, 0, 0) for k in range(nseg))
    hdr = bytearray(data[:32])
    struct.pack_into("<II", hdr, 16, ncmds + nseg, sizeofcmds + extra)
    with open(out, "wb") as f:
        f.write(hdr + cmds + segs)
        f.seek(32 + sizeofcmds + delta)
        f.write(data[32 + sizeofcmds:])
        f.truncate(body_end + nseg * seg_size)




def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=8)
    ap.add_argument("--segments", type=int, default=32)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    from symmap.annotate import annotate
    from symmap.render.text import render_report
    from symmap.sources import open_file

    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / "small.core", Path(tmp) / "big.core"
        _bc.build_core(small, "arm64", image_note=False)
        seg = int(a.gb * (1 << 30)) // a.segments // 0x4000 * 0x4000
        grow_core(small, big, a.segments, seg, 0x1000000000)   # above every built range
        st = big.stat()
        print(f"core: {st.st_size / (1 << 30):.1f} GiB apparent, {st.st_blocks * 512 / 1024:.0f} KiB on disk, "
              f"{a.segments} big segments")

        def ours() -> None:
            with open_file(str(big)) as t:
                annotate(t)
                assert len(t.images) == 4, t.notes
                render_report(t)
        t_ours = median_time(ours, a.runs, warm=False)
        t_cli = median_time(lambda: subprocess.run([sys.executable, "-m", "symmap", str(big)],
                                                   cwd=ROOT, check=True, capture_output=True), a.runs, warm=False)
        print(f"symmap in-process (open+annotate+render): median {t_ours * 1000:8.1f} ms")
        print(f"symmap CLI process:                        median {t_cli * 1000:8.1f} ms")
        lldb = shutil.which("lldb") or shutil.which("lldb-14")
        if not lldb:
            print("lldb: not installed; no comparison")
            return
        env = dict(os.environ, PYTHONPATH="/usr/lib/llvm-14/lib/python3.11/dist-packages")
        cmd = [lldb, "-b", "--no-lldbinit", "-o", f"target create --core {big}", "-o", "image list",
               "-o", "memory region 0x600000000"]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env).stdout
        assert "libalpha.dylib" in out, out[-500:]
        t_lldb = median_time(lambda: subprocess.run(cmd, capture_output=True, env=env, check=True), a.runs, warm=False)
        print(f"lldb-14 (target create --core, image list): median {t_lldb * 1000:8.1f} ms")
        print(f"ratio lldb / symmap CLI: {t_lldb / t_cli:.2f}x   lldb / symmap in-process: {t_lldb / t_ours:.2f}x")


if __name__ == "__main__":
    main()
