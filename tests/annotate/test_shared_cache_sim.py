"""End to end on a simulated macOS process (tests/support/simtask.py): the
shared region holds symmap's own cache set at a non-zero slide; the real
macos_live source + annotate must give vmmap-like per-library rows."""
from __future__ import annotations


from symmap.annotate.shared_cache import LINKEDIT_DETAIL
from tests.formats.dyld_cache_support import build, builder

from tests.support import simtask
from symmap.sources import macos_live

SLIDE = 0x5A8C000
PID = 4343


def _sim(built, dirty_data: int, cache_path: str = "/x", page_size: int = 16384, data_pages=None):
    """``data_pages``: explicit per-page dispositions of the __DATA mapping."""
    from symmap.darwin.consts import SM_COW

    b = builder()
    sim = simtask.SimulatedTask(pid=PID, page_size=page_size, name="cachedemo", path="/usr/local/bin/cachedemo")
    sub = sim.map_submap(0x180000000, 0x40000000)
    paths = {"main": "dyld_shared_cache_arm64"}
    for key, maps in built.mappings.items():
        data = built.files[key]
        for m in maps:
            name = "__DATA" if (m.maxprot & 2 and m.flags == 0) else None
            sim.map(m.address + SLIDE, data[m.file_offset:m.file_offset + m.size], m.initprot, m.maxprot,
                    submap_of=sub, share_mode=SM_COW, resident=m.size,
                    dirty=dirty_data if name == "__DATA" else 0,
                    path="/System/Library/dyld/" + paths.get(key, "dyld_shared_cache_arm64" + key),
                    offset=m.file_offset, pages=data_pages if name == "__DATA" else None)
    sim.map(built.base + SLIDE + built.dynamic_data_offset, b.dynamic_data_page(3, 1, 2, cache_path), 1, 1,
            submap_of=sub, share_mode=SM_COW)
    images = [(a + SLIDE, p) for p, a in built.images if p != "/usr/lib/libb.dylib"]
    sim.map(0x100000000, 0x4000, 1, 5, tag=0)          # something outside the cache
    sim.set_dyld_infos(images, cache_uuid=built.uuid, cache_base=built.base + SLIDE, cache_slide=SLIDE)
    return sim


def test_live_process_gets_per_library_rows():
    from symmap.annotate import annotate
    from symmap.sources import OpenOptions

    built = build()
    sim = _sim(built, dirty_data=0x4000)
    t = macos_live.open_pid(PID, OpenOptions(task=sim))
    try:
        annotate(t)
        sc = t.shared_cache
        assert sc is not None and sc.slide == SLIDE and sc.uuid == built.uuid.hex()
        assert sc.base == built.base + SLIDE
        rows = [(r.type, r.detail) for r in t.regions]
        assert ("__TEXT", "/usr/lib/liba.dylib") in rows
        assert ("__TEXT", "/usr/lib/system/libc_helper.dylib") in rows
        assert ("__DATA_DIRTY", "/usr/lib/system/libc_helper.dylib") in rows
        assert not any(d == "/usr/lib/libb.dylib" for _t, d in rows)     # not loaded
        # Its __DATA lies on a dirty page (the sim answers mach_vm_page_range_query):
        # an unused row worded like vmmap's.
        assert ("unused __DATA", "on dirty page  unused /usr/lib/libb.dylib") in rows
        # Clean text of libb: no row at all (vmmap hides clean unused library text).
        assert not any(ty == "unused __TEXT" and d.endswith("libb.dylib") for ty, d in rows if d)
        assert sum(1 for r in t.regions if r.detail == LINKEDIT_DETAIL) == 1
        liba_dc = next(r for r in t.regions if r.type == "__DATA_CONST" and r.image == "/usr/lib/liba.dylib")
        assert liba_dc.start % 0x4000 != 0 and liba_dc.size < 0x100       # sub-page row
        liba = next(i for i in t.images if i.path == "/usr/lib/liba.dylib")
        assert liba.in_shared_cache and liba.slide == SLIDE
        rs = sorted(t.regions, key=lambda r: r.start)
        assert all(a.end <= b.start for a, b in zip(rs, rs[1:]))
    finally:
        t.close()


def test_on_disk_cache_found_through_dynamic_data_page():
    """The v3 page names the cache file; its UUID matches, so the annotator
    records the path and the reader gets local symbols from .symbols."""
    from symmap.annotate import annotate
    from symmap.sources import OpenOptions
    from tests.formats.dyld_cache_support import MAIN

    built = build()
    sim = _sim(built, dirty_data=0, cache_path=str(MAIN))
    t = macos_live.open_pid(PID, OpenOptions(task=sim))
    try:
        annotate(t)
        sc = t.shared_cache
        assert sc.path == str(MAIN)
        assert sc.reader.local_symbols(0) != []
        # No unused rows: every region is clean.
        assert not any((r.type or "").startswith("unused") for r in t.regions)
    finally:
        t.close()
