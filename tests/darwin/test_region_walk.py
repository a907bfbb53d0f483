"""The real region walk (symmap.darwin.region_walk) driven through SimulatedTask."""
from __future__ import annotations

import errno

import pytest

from symmap.darwin.consts import (KERN_INVALID_ADDRESS, SM_COW, SM_EMPTY, SM_PRIVATE,
                                  SM_SHARED, SM_TRUESHARED, KernReturnError)
from symmap.darwin.kernel import ProcRegion, RegionInfo
from symmap.darwin.region_walk import MAX_DEPTH, walk_regions, walk_regions_procinfo
from tests.support.simtask import SimulatedTask

from tests.darwin.conftest import CACHE_BASE, LIB, build_sim


def test_submap_is_descended_and_footprint_region_dropped():
    sim = build_sim()
    sim.add_footprint_region(0x123000)
    regs = walk_regions(sim, 16384, pid=sim.pid, kernel=sim)
    starts = [r.start for r in regs]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in zip(regs, regs[1:]))
    cache = [r for r in regs if r.depth == 1]
    # Both cache dylibs' 3 segments come back as leaves at depth 1, never the submap entry.
    assert len(cache) == 6 and cache[0].start == LIB
    assert all(r.kind == "cache" and r.path is None for r in cache)
    assert not any(r.start == CACHE_BASE for r in regs)
    assert not any(r.tag == 0xFFFFFFFF for r in regs)
    # Every call asked for the full depth (a fresh value each time, not the returned one).
    assert sim.call_log.count("mach_vm_region_recurse") == len(regs) + 2  # + footprint + end


def test_nested_submaps():
    sim = SimulatedTask(page_size=4096)
    outer = sim.map_submap(0x10000, 0x10000)
    inner = sim.map_submap(0x12000, 0x2000, submap_of=outer)
    sim.map(0x12000, 0x1000, 1, 1, submap_of=inner)
    sim.map(0x14000, 0x1000, 3, 3, submap_of=outer)
    sim.map(0x30000, 0x1000, 3, 3)
    regs = walk_regions(sim, 4096)
    assert [(r.start, r.depth) for r in regs] == [(0x12000, 2), (0x14000, 1), (0x30000, 0)]


def test_depth_limit_reports_unexpanded_submap():
    class Shallow(SimulatedTask):
        def region_recurse(self, address, depth):
            return super().region_recurse(address, 0)
    sim = Shallow(page_size=4096)
    sub = sim.map_submap(0x10000, 0x4000)
    sim.map(0x10000, 0x1000, 1, 1, submap_of=sub)
    regs = walk_regions(sim, 4096)
    assert [(r.start, r.end, r.kind) for r in regs] == [(0x10000, 0x14000, "submap")]


def test_page_counts_use_effective_page_size():
    sim = SimulatedTask(page_size=4096)
    sim.map(0x10000, 0x10000, 3, 7, tag=2, resident=0x8000, dirty=0x3000, swapped=0x2000)
    (r,) = walk_regions(sim, 4096)
    assert (r.resident, r.dirty, r.swapped) == (0x8000, 0x3000, 0x2000)
    # The same counts interpreted in 16K pages would be 4x too large: units matter.
    (r16,) = walk_regions(sim, 16384)
    assert r16.resident == 8 * 16384


@pytest.mark.parametrize("sm,letters", [(SM_COW, "COW"), (SM_PRIVATE, "PRV"), (SM_EMPTY, "NUL"),
                                        (SM_SHARED, "ALI"), (SM_TRUESHARED, "SHM"), (6, "ZER"),
                                        (7, "S/A")])
def test_share_mode_letters_as_vmmap(sm, letters):
    sim = SimulatedTask(page_size=4096)
    sim.map(0x10000, 0x1000, 3, 7, share_mode=sm)
    (r,) = walk_regions(sim, 4096)
    assert r.share_mode == letters


def test_paths_only_for_pager_backed_regions_with_containment():
    sim = SimulatedTask(page_size=4096)
    sim.map(0x10000, 0x1000, 3, 7)                           # anonymous
    sim.map(0x20000, 0x1000, 5, 5, path="/usr/lib/libfoo.dylib", offset=0x4000)
    regs = walk_regions(sim, 4096, pid=sim.pid, kernel=sim)
    assert regs[0].path is None and regs[0].kind == "anon"
    assert regs[1].path == "/usr/lib/libfoo.dylib" and regs[1].offset == 0x4000
    # No proc_pidinfo call for the anonymous region (Frida #693: one call per region is slow).
    assert sim.call_log.count("proc_pidinfo") == 1


def test_path_rejected_when_libproc_describes_the_next_region():
    class NextRegionLibproc(SimulatedTask):
        def proc_region(self, pid, address, with_path):
            # libproc's bug: answers with the next file mapping, not the queried address.
            return ProcRegion(0x90000, 0x1000, 1, 1, 0, SM_COW, path="/wrong/next/file")
    sim = NextRegionLibproc(page_size=4096)
    sim.map(0x10000, 0x1000, 3, 7, external_pager=1)         # pager-backed, but no path
    (r,) = walk_regions(sim, 4096, pid=sim.pid, kernel=sim)
    assert r.path is None


def test_zero_size_answer_never_loops():
    class Stuck:
        pid = 1
        n = 0

        def region_recurse(self, address, depth):
            self.n += 1
            if self.n > 50:
                raise KernReturnError("mach_vm_region_recurse", KERN_INVALID_ADDRESS)
            if address >= 0x3000:
                raise KernReturnError("mach_vm_region_recurse", KERN_INVALID_ADDRESS)
            return RegionInfo(0x1000, 0, 0, 1, 1, 0, SM_PRIVATE, False)
    t = Stuck()
    regs = walk_regions(t, 4096)
    assert regs == [] and t.n < 10


def test_non_advancing_answer_never_loops():
    class Behind:
        pid = 1
        n = 0

        def region_recurse(self, address, depth):
            self.n += 1
            if self.n > 50 or address > 0x10000:
                raise KernReturnError("mach_vm_region_recurse", KERN_INVALID_ADDRESS)
            return RegionInfo(0, 0x1000, 0, 1, 1, 0, SM_PRIVATE, False)   # always the same
    t = Behind()
    regs = walk_regions(t, 4096)
    assert len(regs) == 1 and t.n < 30


def test_fresh_depth_every_call():
    seen = []

    class Spy(SimulatedTask):
        def region_recurse(self, address, depth):
            seen.append(depth)
            return super().region_recurse(address, depth)
    sim = Spy(page_size=4096)
    sub = sim.map_submap(0x10000, 0x4000)
    sim.map(0x10000, 0x1000, 1, 1, submap_of=sub)
    sim.map(0x20000, 0x1000, 1, 1)
    walk_regions(sim, 4096)
    assert set(seen) == {MAX_DEPTH}


def test_procinfo_fallback_walk_is_top_level():
    sim = build_sim()
    regs = walk_regions_procinfo(sim, sim.pid, 16384)
    cache = [r for r in regs if r.start == CACHE_BASE]
    assert len(cache) == 1 and cache[0].kind == "submap" and cache[0].path is None
    assert not any(r.depth for r in regs)
    exe = [r for r in regs if r.path == "/usr/local/bin/demo"]
    assert len(exe) == 3


def test_procinfo_fallback_refused_raises_oserror():
    sim = build_sim()
    sim.refuse_port(procinfo_errno=errno.EPERM)
    with pytest.raises(OSError) as ei:
        walk_regions_procinfo(sim, sim.pid, 16384)
    assert ei.value.errno == errno.EPERM


def test_purgeable_state_letters_for_anonymous_regions():
    sim = SimulatedTask(page_size=4096)
    sim.map(0x10000, 0x1000, 3, 7, tag=53, purgeable=1)           # volatile
    sim.map(0x20000, 0x1000, 3, 7, tag=53, purgeable=2)           # empty
    sim.map(0x30000, 0x1000, 3, 7, tag=1)                         # not purgeable
    sim.map(0x40000, 0x1000, 5, 5, path="/x", purgeable=0)        # file: not asked
    regs = walk_regions(sim, 4096, pid=sim.pid, kernel=sim, purgeable=sim.purgeable_state)
    assert [r.purgeable for r in regs] == ["V", "E", None, None]


def test_sim_accepts_share_mode_letters():
    sim = SimulatedTask(page_size=4096)
    sim.map(0x10000, 0x1000, 3, 7, share_mode="S/A")
    (r,) = walk_regions(sim, 4096)
    assert r.share_mode == "S/A"


def test_procinfo_fallback_drops_footprint_region():
    # darwin-facts §7.3: the user_tag 0xFFFFFFFF pseudo-region is not memory.
    sim = build_sim()
    sim.add_footprint_region(0x123000)
    regs = walk_regions_procinfo(sim, sim.pid, 16384)
    assert regs and not any(r.tag == 0xFFFFFFFF for r in regs)
    assert regs[-1].end == max(r.end for r in sim.top)
