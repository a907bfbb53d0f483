"""Benchmark: Mach-O headers of N images read out of a (simulated) task.

    python bench/bench_macos_images.py [--images 500] [--runs 7]

Absolute numbers depend on machine load; compare the ratio.
Places N copies of real Mach-O files (../shared/fixtures/macho) into a
SimulatedTask with a dyld_all_image_infos list, then times, per image:
  symmap   symmap.darwin.image_headers.image_from_memory (2 task reads + struct walk)
  macholib macholib.MachO.load over the same bytes read from the task
and the whole dyld list + images path (read_dyld_state + image_from_memory).
Prints medians of --runs runs, per-image microseconds and the ratio.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from symmap.darwin.dyld_image_list import pointer_mask, read_dyld_state  # noqa: E402
from symmap.darwin.image_headers import image_from_memory, read_macho  # noqa: E402
from symmap.darwin.memory import TaskMemory  # noqa: E402
from tests.support.simtask import SimulatedTask  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures" / "macho"
FILES = ["gimli-fixup-chains-arm64.dylib", "gimli-fixup-chains-arm64e.dylib",
         "gimli-base-arm64", "r2-TestMacOS-arm64e", "r2-hello-arm64-chained"]


from _timing import median_time  # noqa: E402



def build(n: int) -> tuple[SimulatedTask, list[tuple[int, str]]]:
    blobs = [(FIXTURES / f).read_bytes() for f in FILES if (FIXTURES / f).exists()]
    if not blobs:
        sys.exit(f"no fixtures in {FIXTURES}")
    sim = SimulatedTask(page_size=16384)
    images, addr = [], 0x100000000
    for i in range(n):
        data = blobs[i % len(blobs)]
        m, _slide = sim.place_macho(addr, data, f"/usr/lib/lib{i}.dylib")
        images.append((addr, f"/usr/lib/lib{i}.dylib"))
        span = max(s.vmaddr + s.vmsize for s in m.segments) - (m.text_vmaddr or 0)
        addr += (span + 0xFFFFF) // 0x100000 * 0x100000
    sim.set_dyld_infos(images)
    return sim, images


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    sim, images = build(a.images)
    mem = TaskMemory(sim, 16384)
    n = len(images)

    def ours():
        for addr, path in images:
            image_from_memory(mem.read, addr, path)

    def struct_only():
        for addr, path in images:
            read_macho(mem.read, addr, path)

    try:
        from macholib.MachO import MachO
    except ImportError:
        MachO = None

    # macholib seeks to section file offsets, so it needs the whole file image, not just
    # the load commands: read each image's file extent from the task (segments are laid
    # out file-offset == vm-offset in these fixtures).
    extents = {}
    for addr, path in images:
        m = read_macho(mem.read, addr, path)
        extents[addr] = max(s.fileoff + s.filesize for s in m.segments)

    def peer():
        for addr, path in images:
            buf = mem.read(addr, extents[addr])
            m = MachO.__new__(MachO)
            m.graphident = m.filename = path
            m.loader_path, m.fat, m.headers = "/usr/lib", None, []
            m.allow_unknown_load_commands = True
            m.load(io.BytesIO(buf))

    def whole_list():
        st = read_dyld_state(mem.read, *sim.dyld, pointer_mask(47), requery=sim.dyld_info)
        for im in st.images:
            image_from_memory(mem.read, im.load_address, im.path)

    t_ours = median_time(ours, a.runs)
    t_struct = median_time(struct_only, a.runs)
    t_list = median_time(whole_list, a.runs)
    print(f"images: {n}, runs: {a.runs} (medians)")
    print(f"symmap image_from_memory : {t_ours * 1e6 / n:8.1f} us/image  ({t_ours * 1e3:.1f} ms total)")
    print(f"symmap read_macho only   : {t_struct * 1e6 / n:8.1f} us/image")
    print(f"symmap dyld list + images: {t_list * 1e6 / n:8.1f} us/image  ({t_list * 1e3:.1f} ms total)")
    if MachO is not None:
        t_peer = median_time(peer, a.runs)
        print(f"macholib MachO.load      : {t_peer * 1e6 / n:8.1f} us/image  ({t_peer * 1e3:.1f} ms total)")
        print(f"ratio macholib / symmap  : {t_peer / t_ours:8.1f}x")
    else:
        print("macholib not installed: no peer run")


if __name__ == "__main__":
    main()
