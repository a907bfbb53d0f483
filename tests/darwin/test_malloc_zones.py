"""Malloc zones read as data from a simulated task (issue 13 §2).

The zones are built the way libmalloc lays them out (symmap/darwin/malloc_zones.py
cites malloc.h / malloc.c / wrapper_zones.c @ libmalloc-792.1.1): the globals
``malloc_zones`` / ``malloc_num_zones`` in libsystem_malloc's __DATA, the pointer
array, each ``malloc_zone_t`` with its name at +72, introspect at +96, version at
+104, and ``zone_type`` at introspect+128 for version >= 14.  The zone names and
addresses are 01.txt's (DefaultMallocZone_0x105348000, MallocHelperZone_0x10530c000).
"""
from __future__ import annotations

import struct

from symmap.annotate import annotate
from symmap.darwin.malloc_zones import attach_zone_table, read_malloc_zones
from symmap.darwin.memory import TaskMemory
from symmap.darwin.region_walk import walk_regions
from symmap.model import Target
from symmap.render.text import render_report
from tests.support.simtask import SimulatedTask

PAGE = 16384
DATA = 0x1E1BD4000                      # libsystem_malloc __DATA (01.txt's __AUTH row)
ZONES_VAR, NUM_VAR, ARRAY = DATA + 0x100, DATA + 0x108, DATA + 0x200
HELPER, DEFAULT = 0x10530C000, 0x105348000
NAMES = DATA + 0x400


def _zone(name_ptr: int, intro: int, version: int) -> bytes:
    z = bytearray(112)
    struct.pack_into("<Q", z, 72, name_ptr)
    struct.pack_into("<Q", z, 96, intro | (0x2A << 48))          # a signed (PAC) pointer
    struct.pack_into("<I", z, 104, version)
    return bytes(z)


def _task() -> SimulatedTask:
    sim = SimulatedTask(page_size=PAGE)
    sim.map(DATA, PAGE, 3, 3, tag=0)
    sim.map(HELPER, PAGE, 1, 7, tag=1, share_mode="SHM", resident=PAGE, dirty=PAGE)     # MALLOC metadata
    sim.map(DEFAULT, PAGE, 1, 7, tag=1, share_mode="SHM", resident=PAGE, dirty=PAGE)
    sim.map(0x600000000000, 512 << 20, 3, 7, tag=11, share_mode="SHM",
            resident=96 << 10, dirty=96 << 10, swapped=176 << 10)                        # MALLOC_NANO
    sim.map(0x134600000, 1 << 20, 3, 7, tag=7, share_mode="SHM", resident=32 << 10, dirty=32 << 10)
    sim.write(ZONES_VAR, struct.pack("<Q", ARRAY))
    sim.write(NUM_VAR, struct.pack("<i", 2))
    sim.write(ARRAY, struct.pack("<QQ", DEFAULT, HELPER))
    sim.write(NAMES, b"DefaultMallocZone\0MallocHelperZone\0")
    sim.write(DEFAULT, _zone(NAMES, DATA + 0x800, 16))
    sim.write(HELPER, _zone(NAMES + 18, DATA + 0x900, 13))
    sim.write(DATA + 0x800 + 128, struct.pack("<I", 0))
    return sim


def test_zones_are_read_as_malloc_get_all_zones_reads_them():
    sim = _task()
    zones, notes = read_malloc_zones(TaskMemory(sim, PAGE), ZONES_VAR, NUM_VAR)
    assert notes == []
    assert [(z.label, z.version, z.zone_type) for z in zones] == [
        ("DefaultMallocZone_0x105348000", 16, 0), ("MallocHelperZone_0x10530c000", 13, None)]
    assert not any(c.startswith("task_") for c in sim.call_log if "write" in c)    # read-only


def test_a_simulated_task_yields_vmmaps_zone_table_with_the_zones_numbers():
    sim = _task()
    t = Target(kind="live", pid=sim.pid, name="sim", os="macos", page_size=PAGE,
               regions=walk_regions(sim, PAGE))
    annotate(t)
    zones, _ = read_malloc_zones(TaskMemory(sim, PAGE), ZONES_VAR, NUM_VAR)
    attach_zone_table(t, zones)
    out = render_report(t, interleaved=True).split("\n")
    assert any(ln.startswith("MALLOC metadata") and ln.endswith("DefaultMallocZone_0x105348000 zone structure")
               for ln in out)
    assert any(ln.startswith("MALLOC_NANO") and ln.endswith("DefaultMallocZone_0x105348000") for ln in out)
    i = out.index(next(ln for ln in out if ln.startswith("MALLOC ZONE")))
    assert out[i + 1].startswith("===========                      =======")
    assert out[i + 2] == ("DefaultMallocZone_0x105348000     512.0M        96K        96K       176K"
                          "          -          -          -       -       1")
    # Its TINY region is its own only by its enumerator (target code): not attributed, 0 regions.
    assert out[i + 3].startswith("MallocHelperZone_0x10530c000          0K") and out[i + 3].endswith("       0")
    assert any(ln.startswith("MALLOC_NANO ") and ln.endswith("see MALLOC ZONE table below") for ln in out)
    assert any("statistics functions" in ln for ln in out if ln.startswith("Note:"))


def test_hostile_zone_counts_and_pointers_give_notes_not_errors():
    sim = _task()
    sim.write(NUM_VAR, struct.pack("<i", -5))
    assert read_malloc_zones(TaskMemory(sim, PAGE), ZONES_VAR, NUM_VAR)[0] == []
    sim.write(NUM_VAR, struct.pack("<i", 200))          # array runs off the mapping
    zones, notes = read_malloc_zones(TaskMemory(sim, PAGE), ZONES_VAR, NUM_VAR)
    assert notes and len(zones) <= 2


def test_live_open_reads_the_zones_through_libsystem_mallocs_own_globals():
    """The whole live path on a simulated task: dyld's image list names libsystem_malloc
    (a stub with the two globals, fixtures/malloc/build.sh), its symbols give the globals'
    addresses, and the zones are read from them read-only."""
    from pathlib import Path

    from symmap.darwin.malloc_zones import attach_live
    from symmap.sources import OpenOptions
    from symmap.sources.macos_live import open_pid
    from tests.darwin.conftest import DYLD, EXE, macho

    stub = (Path(__file__).parents[2] / "fixtures/malloc/libsystem_malloc_stub-arm64.dylib").read_bytes()
    lib = 0x1E1000000
    sim = SimulatedTask(pid=4242, page_size=PAGE)
    sim.place_macho(EXE, macho("gimli-base-arm64"), "/usr/local/bin/demo")
    sim.place_macho(DYLD, macho("gimli-imports.bundle"), "/usr/lib/dyld")
    _, slide = sim.place_macho(lib, stub, "/usr/lib/system/libsystem_malloc.dylib")
    zones_var, num_var, area = 0x4008 + slide, 0x4000 + slide, 0x4010 + slide   # llvm-nm of the stub
    sim.map(HELPER, PAGE, 1, 7, tag=1, share_mode="SHM", resident=PAGE, dirty=PAGE)
    sim.map(DEFAULT, PAGE, 1, 7, tag=1, share_mode="SHM", resident=PAGE, dirty=PAGE)
    sim.map(0x600000000000, 512 << 20, 3, 7, tag=11, share_mode="SHM",
            resident=96 << 10, dirty=96 << 10, swapped=176 << 10)
    sim.write(zones_var, struct.pack("<Q", area))
    sim.write(num_var, struct.pack("<i", 2))
    sim.write(area, struct.pack("<QQ", DEFAULT, HELPER))
    sim.write(area + 0x100, b"DefaultMallocZone\0MallocHelperZone\0")
    sim.write(DEFAULT, _zone(area + 0x100, area + 0x800, 16))
    sim.write(HELPER, _zone(area + 0x100 + 18, area + 0x900, 13))
    sim.set_dyld_infos([(EXE, "/usr/local/bin/demo"), (lib, "/usr/lib/system/libsystem_malloc.dylib")],
                       dyld_load_address=DYLD)
    t = open_pid(4242, OpenOptions(task=sim))
    try:
        annotate(t)
        attach_live(t)                       # what pipeline.open_annotated runs for live macOS
        assert [z["name"] for z in t.info["malloc_zones"]] == [
            "DefaultMallocZone_0x105348000", "MallocHelperZone_0x10530c000"]
        assert t.info["malloc_zones"][0]["virtual"] == 512 << 20
        out = render_report(t)
        assert "DefaultMallocZone_0x105348000     512.0M        96K        96K       176K" in out
    finally:
        t.close()
