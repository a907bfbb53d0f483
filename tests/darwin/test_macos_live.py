"""symmap.sources.macos_live end to end through SimulatedTask (real walk/reader code),
with macholib as an independent oracle for segments and UUIDs."""
from __future__ import annotations

import errno

import pytest

from symmap.darwin.memory import TaskMemory
from symmap.errors import AccessDenied, NoSuchProcess, ProcessVanished, SymmapError
from symmap.sources import OpenOptions
from symmap.sources.macos_live import find_pids, open_pid
from tests.conftest import shared_fixture
from tests.support.simtask import SimulatedTask

from tests.darwin.conftest import CACHE_BASE, CACHE_UUID, DYLD, EXE, HEAP, LIB, LIB2, build_sim, macho


def _open(sim):
    return open_pid(sim.pid, OpenOptions(task=sim))


def _macholib_segments(path):
    macholib = pytest.importorskip("macholib.MachO")
    m = macholib.MachO(str(path))
    h = m.headers[0]
    segs, uuid = {}, None
    for lc, cmd, _data in h.commands:
        name = type(cmd).__name__
        if name in ("segment_command_64", "segment_command"):
            seg = cmd.segname.rstrip(b"\0").decode()
            if seg != "__PAGEZERO":
                segs[seg] = (cmd.vmaddr, cmd.vmsize)
        elif name == "uuid_command":
            uuid = bytes(cmd.uuid).hex()
    return segs, uuid


def test_images_segments_and_uuids_match_macholib():
    sim = build_sim()
    t = _open(sim)
    by_addr = {i.load_address: i for i in t.images}
    for addr, fx in [(EXE, "gimli-base-arm64"), (LIB, "gimli-fixup-chains-arm64.dylib"),
                     (LIB2, "gimli-fixup-chains-arm64e.dylib"), (DYLD, "gimli-imports.bundle")]:
        segs, uuid = _macholib_segments(shared_fixture(f"macho/{fx}"))
        img = by_addr[addr]
        text_vmaddr = segs["__TEXT"][0]
        got = {s.name: (s.address, s.size) for s in img.segments}
        assert got == {n: (a - text_vmaddr + addr, sz) for n, (a, sz) in segs.items()}, fx
        assert img.uuid == uuid
    assert [i.path for i in t.images] == ["/usr/local/bin/demo", "/usr/lib/libA.dylib",
                                          "/usr/lib/libB.dylib", "/usr/lib/dyld"]
    assert [i.in_shared_cache for i in t.images] == [False, True, True, False]


def test_target_header_facts_and_shared_cache():
    sim = build_sim()
    t = _open(sim)
    assert t.kind == "live" and t.os == "macos" and t.pid == 4242 and t.page_size == 16384
    assert t.info["code_type"] == "ARM64" and t.info["platform"] == "macOS"
    assert t.info["parent"] == "launchd [1]"
    assert t.info["os_version"] == "macOS 14.0 (23A344)"
    assert t.info["load_address"] == EXE
    assert t.arch == "arm64"
    sc = t.shared_cache
    assert (sc.uuid, sc.base, sc.slide) == (CACHE_UUID.hex(), CACHE_BASE, 0)
    assert not t.partial and t.notes == []
    assert t.memory.read(EXE, 4) == b"\xcf\xfa\xed\xfe"
    t.close()
    assert sim.closed


def test_arm64e_code_type():
    sim = build_sim(exe="r2-TestMacOS-arm64e")
    t = _open(sim)
    assert t.info["code_type"] == "ARM64E" and t.arch == "arm64e"


def test_x86_64_target_on_16k_host_counts_4k_pages():
    sim = build_sim(exe="angr-fauxware-x86_64", page_size=4096, host_page_size=16384)
    t = _open(sim)
    assert t.info["code_type"] == "X86-64"
    assert t.page_size == 4096
    heap = next(r for r in t.regions if r.start == HEAP)
    assert heap.resident == 0x8000 and heap.dirty == 0x4000


def test_regions_tags_kinds_and_annotation():
    sim = build_sim()
    t = _open(sim)
    heap = next(r for r in t.regions if r.start == HEAP)
    assert (heap.tag, heap.kind, heap.resident, heap.dirty) == (7, "heap", 0x8000, 0x4000)
    guard = next(r for r in t.regions if r.start == 0x16f000000)
    assert guard.prot == 0 and guard.share_mode == "NUL" and guard.kind == "stack"
    exe_text = next(r for r in t.regions if r.start == EXE)
    assert exe_text.path == "/usr/local/bin/demo" and exe_text.prot == 5
    from symmap.annotate import annotate
    from symmap.render.text import render_report
    annotate(t)
    types = {r.start: r.type for r in t.regions}
    assert types[HEAP] == "MALLOC_TINY"
    assert types[0x16f000000] == "STACK GUARD" and types[0x16f004000] == "Stack"
    text = render_report(t)
    assert "MALLOC_TINY" in text and "STACK GUARD" in text


def test_refused_port_falls_back_to_procinfo_with_a_note():
    sim = build_sim()
    sim.refuse_port()
    t = _open(sim)
    assert t.partial and t.images == [] and t.memory is None
    assert any("no task port" in n and "proc_pidinfo" in n for n in t.notes)
    assert any(n.startswith("why:") for n in t.notes)
    assert all(r.depth == 0 for r in t.regions)
    assert any(r.start == CACHE_BASE and r.kind == "submap" for r in t.regions)
    assert "mach_vm_read_overwrite" not in sim.call_log


def test_refused_reason_for_root_mentions_sip():
    sim = build_sim(euid=0)
    sim.refuse_port()
    t = _open(sim)
    assert any("SIP" in n for n in t.notes)


def test_refused_port_and_procinfo_is_access_denied():
    sim = build_sim()
    sim.refuse_port(procinfo_errno=errno.EPERM)
    with pytest.raises(AccessDenied) as ei:
        _open(sim)
    assert ei.value.exit_code == 3 and "\n" not in str(ei.value)


def test_missing_pid_is_no_such_process():
    sim = build_sim()
    with pytest.raises(NoSuchProcess) as ei:
        open_pid(999, OpenOptions(task=sim))
    assert ei.value.exit_code == 2 and not isinstance(ei.value, ProcessVanished)


def _total_calls():
    sim = build_sim()
    _open(sim)
    return sim.calls


@pytest.mark.parametrize("frac", [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_task_dying_mid_walk_is_process_vanished(frac):
    n = int(_total_calls() * frac)
    sim = build_sim()
    sim.die_after(n)
    with pytest.raises(ProcessVanished) as ei:
        _open(sim)
    assert ei.value.exit_code == 4


def test_every_death_point_gives_only_vanished():
    total = _total_calls()
    for n in range(total):
        sim = build_sim()
        sim.die_after(n)
        with pytest.raises(ProcessVanished):
            _open(sim)


def test_unreadable_header_keeps_image_without_segments():
    sim = build_sim()
    for leaf in sim._leaves:
        if leaf.start == LIB:
            leaf.readable = False
    t = _open(sim)
    lib = next(i for i in t.images if i.load_address == LIB)
    assert lib.path == "/usr/lib/libA.dylib" and lib.segments == []
    assert len(t.images) == 4


def test_memory_reads_page_wise_around_holes():
    sim = SimulatedTask(page_size=4096)
    sim.map(0x10000, bytes(range(256)) * 16, 1, 1)             # readable page
    sim.map(0x11000, 0x1000, 0, 0)                             # no access
    sim.map(0x12000, b"\xaa" * 0x1000, 1, 1)
    mem = TaskMemory(sim, 4096)
    assert mem.read(0x10ff0, 0x20) == bytes(range(0xF0, 0x100))   # prefix up to the hole
    assert mem.read(0x11000, 16) == b""
    chunks = list(mem.iter_chunks(0x10000, 0x3000))
    assert [(a, len(b)) for a, b in chunks] == [(0x10000, 0x1000), (0x12000, 0x1000)]


def test_suspended_process_images_found_by_scanning():
    sim = SimulatedTask(pid=77, page_size=16384)
    sim.place_macho(EXE, macho("gimli-base-arm64"), "/usr/local/bin/demo")
    dyld = bytearray(macho("gimli-fixup-chains-arm64.dylib"))
    dyld[12:16] = (7).to_bytes(4, "little")                    # MH_DYLINKER
    sim.place_macho(DYLD, bytes(dyld), "/usr/lib/dyld")
    sim.set_dyld_infos([], dyld_load_address=DYLD, timestamp=0)
    t = open_pid(77, OpenOptions(task=sim))
    got = {i.load_address: (i.path, i.filetype) for i in t.images}
    assert got[EXE] == ("/usr/local/bin/demo", "execute")
    assert got[DYLD][1] == "dylinker"
    assert any("suspended" in n for n in t.notes)
    assert t.info["load_address"] == EXE


def test_find_pids_by_name_and_path():
    sim = build_sim(name="demo")
    sim.other_pids = {10: ("other", "/bin/other"), 11: ("longname-trunc", "/opt/x/realname")}
    assert find_pids("demo", kernel=sim) == [(4242, "demo")]
    assert find_pids("realname", kernel=sim) == [(11, "longname-trunc")]
    assert find_pids("nothing", kernel=sim) == []


def test_cli_exit_code_4_when_the_task_dies(monkeypatch):
    import click.testing as click_testing
    import symmap.sources as sources
    from symmap.sources import macos_live
    sim = build_sim()
    sim.die_after(15)
    monkeypatch.setattr(sources, "_live_module", lambda: macos_live)
    monkeypatch.setattr(macos_live, "_kernel", lambda opts: sim)
    from symmap.cli import cli
    r = click_testing.CliRunner().invoke(cli, ["4242"])
    assert r.exit_code == 4, r.output
    assert "exited while it was being read" in r.output


def test_cli_maps_simulated_process(monkeypatch):
    import click.testing as click_testing
    import symmap.sources as sources
    from symmap.sources import macos_live
    sim = build_sim()
    monkeypatch.setattr(sources, "_live_module", lambda: macos_live)
    monkeypatch.setattr(macos_live, "_kernel", lambda opts: sim)
    from symmap.cli import cli
    r = click_testing.CliRunner().invoke(cli, ["4242"])
    assert r.exit_code == 0, r.output
    assert "Code Type:       ARM64" in r.output
    assert "/usr/lib/libA.dylib" in r.output


def test_generic_kernel_error_while_alive_is_one_line():
    class Weird(SimulatedTask):
        def dyld_info(self):
            from symmap.darwin.consts import KernReturnError
            raise KernReturnError("task_info(TASK_DYLD_INFO)", 0x1234)
    sim = Weird(page_size=4096)
    sim.map(0x10000, 0x1000, 1, 1)
    t = open_pid(sim.pid, OpenOptions(task=sim))
    assert any("no dyld image list" in n for n in t.notes)
    assert isinstance(SymmapError("x"), Exception)


def _rosetta_like_without_images(vm_page):
    # A 4 KiB target under a 16 KiB host whose dyld image list is unavailable
    # (all_image_info_addr 0), so the main executable's arch cannot tell the page size.
    sim = SimulatedTask(page_size=4096, host_page_size=16384)
    sim.map(0x7F0000000000, 0x40000, 3, 7, tag=1, resident=0x8000, dirty=0x4000)
    if vm_page:
        sim.set_vm_info(1 << 20, page_size=vm_page)
    return sim


def test_page_counts_use_task_vm_info_page_size_when_no_image_says():
    # xnu vm_map.c vm_self_region_page_shift: counts are in min(ours, target's) pages.
    t = _open(_rosetta_like_without_images(4096))
    heap = next(r for r in t.regions if r.start == 0x7F0000000000)
    assert t.page_size == 4096
    assert (heap.resident, heap.dirty) == (0x8000, 0x4000)


def test_page_size_falls_back_to_host_without_vm_info_or_images():
    t = _open(_rosetta_like_without_images(None))
    assert t.page_size == 16384        # nothing says otherwise: ours


def test_zombie_is_no_such_process_with_a_reason():
    sim = build_sim()
    sim.make_zombie()
    with pytest.raises(NoSuchProcess) as ei:
        _open(sim)
    assert not isinstance(ei.value, ProcessVanished) and ei.value.exit_code == 2
    assert "zombie" in str(ei.value)


def test_memory_read_after_open_when_process_died_is_process_vanished():
    # Annotation and symbolization read t.memory after open_pid returned.
    sim = build_sim()
    t = _open(sim)
    sim.exists = False
    with pytest.raises(ProcessVanished):
        t.memory.read(EXE, 0x100)


def test_refused_rosetta_target_counts_pages_in_4k():
    # No port -> no TASK_VM_INFO; pbi_flags PROC_FLAG_ROSETTA says the map is 4 KiB.
    sim = SimulatedTask(page_size=4096, host_page_size=16384)
    sim.map(0x7F0000000000, 0x40000, 3, 7, tag=1, resident=0x8000, dirty=0x4000)
    sim.bsd_flags = 0x2000000
    sim.refuse_port()
    t = _open(sim)
    heap = next(r for r in t.regions if r.start == 0x7F0000000000)
    assert t.page_size == 4096 and (heap.resident, heap.dirty) == (0x8000, 0x4000)
