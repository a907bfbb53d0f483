"""symmap.formats.macho.core: load commands, thread states, notes, memory, hostile input.

Cores are written by fixtures/core/build_core.py (independent of symmap) from
real clang/lld images; its manifest is the expected answer.
"""
from __future__ import annotations

import importlib.util
import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symmap.errors import CorruptInput, SymmapError
from symmap.formats.macho import core as mc
from tests.conftest import OWN_FIXTURES, shared_fixture

_spec = importlib.util.spec_from_file_location("build_core", OWN_FIXTURES / "core" / "build_core.py")
build_core_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_core_mod)
build_core = build_core_mod.build_core


@pytest.fixture(scope="module", params=["arm64", "x86_64"])
def built(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("core") / f"{request.param}.core"
    m = build_core(out, request.param)
    return out, m


def _parse(path):
    data = path.read_bytes()
    return data, mc.parse_core(data, str(path))


def test_segments_threads_notes_match_builder(built):
    path, m = built
    data, core = _parse(path)
    assert core.arch == m["arch"]
    got = [(s.vmaddr, s.end, s.initprot, s.maxprot) for s in core.segments]
    want = [(r["start"], r["end"], r["prot"], r["prot"]) for r in m["regions"]]
    assert got == want
    assert all(s.present == s.vmsize for s in core.segments)
    assert [(t.pc, t.sp) for t in core.threads] == [(t["pc"], t["sp"]) for t in m["threads"]]
    assert not core.problems
    (bits_note,) = core.note("addrable bits")
    assert mc.parse_addrable_bits(data, bits_note) == m["addressing_bits"]
    (aii,) = core.note("all image infos")
    imgs = mc.parse_all_image_infos(data, aii, str(path))
    assert [(i.path, i.load_address, i.uuid) for i in imgs] == \
        [(i["path"], i["load_address"], i["uuid"]) for i in m["images"]]
    assert imgs[0].segments == [(s["name"], s["start"]) for s in m["images"][0]["segments"]]


def test_memory_reads_by_address(built):
    path, m = built
    data, core = _parse(path)
    mem = mc.CoreMemory(data, core.segments)
    exe = m["images"][0]
    assert mem.read(exe["load_address"], 4) == b"\xcf\xfa\xed\xfe"
    # A read running across two adjacent segments continues into the second.
    text, nxt = exe["segments"][0], exe["segments"][1]
    assert text["end"] == nxt["start"]
    assert len(mem.read(text["end"] - 8, 16)) == 16
    # Unsaved memory reads as absent, and a read stops at a gap.
    assert mem.read(0x1000, 16) == b""
    last = core.segments[-1]
    assert len(mem.read(last.end - 4, 64)) == 4


def test_addrable_bits_v3(tmp_path):
    out = tmp_path / "v3.core"
    build_core(out, "arm64", addrable_bits=3)
    data, core = _parse(out)
    assert mc.parse_addrable_bits(data, core.note("addrable bits")[0]) == 47


# ---- thread states --------------------------------------------------------

def test_unified_thread_states():
    x64 = [0] * 21
    x64[7], x64[16] = 0x7FF0000, 0x1000
    body = struct.pack("<IIII", 7, 44, 4, 42) + struct.pack("<21Q", *x64)
    t = mc.parse_thread_state(body, 0, len(body), 0x01000007, 0)
    assert (t.pc, t.sp) == (0x1000, 0x7FF0000)
    a64 = [0] * 33
    a64[31], a64[32] = 0x16F000000, 0x104000310
    body = struct.pack("<IIII", 1, 70, 6, 68) + struct.pack("<33QII", *a64, 0, 0)
    t = mc.parse_thread_state(body, 0, len(body), 0x0100000C, 1)
    assert (t.pc, t.sp) == (0x104000310, 0x16F000000)
    # Self-referencing unified header, huge counts, truncation: no pc, no error.
    for bad in (struct.pack("<IIII", 1, 70, 1, 68), struct.pack("<II", 6, 0xFFFFFFFF),
                struct.pack("<II", 6, 68) + b"\0" * 100, b"\x06"):
        t = mc.parse_thread_state(bad, 0, len(bad), 0x0100000C, 0)
        assert t.pc is None and t.sp is None


def test_skips_unknown_flavors_before_gpr():
    a64 = [0] * 33
    a64[32] = 0xABC0
    body = struct.pack("<II", 7, 4) + b"\0" * 16 + struct.pack("<II", 6, 68) + struct.pack("<33QII", *a64, 0, 0)
    assert mc.parse_thread_state(body, 0, len(body), 0x0100000C, 0).pc == 0xABC0


# ---- hostile input ---------------------------------------------------------

def _first_cmd(data: bytes, cmd: int) -> int:
    p = 32
    for _ in range(struct.unpack_from("<I", data, 16)[0]):
        c, size = struct.unpack_from("<II", data, p)
        if c == cmd:
            return p
        p += size
    raise AssertionError("command not found")


def test_truncated_real_core_head():
    head = shared_fixture("core/lldb-test-core.head8k").read_bytes()
    core = mc.parse_core(head, "head8k")
    assert len(core.segments) == 58
    assert all(s.present == 0 for s in core.segments)
    assert any("past the end of the file" in p for p in core.problems)
    assert core.threads[0].pc is not None
    assert mc.CoreMemory(head, core.segments).read(core.segments[0].vmaddr, 16) == b""


def test_cmdsize_zero_is_corrupt(built):
    path, _m = built
    data = bytearray(path.read_bytes())
    p = _first_cmd(data, 0x19)
    struct.pack_into("<I", data, p + 4, 0)
    with pytest.raises(CorruptInput) as e:
        mc.parse_core(bytes(data), "x")
    assert e.value.what == "core" and "cmdsize 0" in str(e.value)


def test_command_overlapping_the_next_is_corrupt(built):
    path, _m = built
    data = bytearray(path.read_bytes())
    sizeofcmds = struct.unpack_from("<I", data, 20)[0]
    p = _first_cmd(data, 0x19)
    struct.pack_into("<I", data, p + 4, sizeofcmds)     # runs over every later command
    with pytest.raises(CorruptInput, match="runs past sizeofcmds"):
        mc.parse_core(bytes(data), "x")


def test_not_a_core_and_short_files():
    with pytest.raises(CorruptInput, match="too short"):
        mc.parse_core(b"\xcf\xfa\xed\xfe", "x")
    with pytest.raises(CorruptInput, match="not MH_CORE"):
        mc.parse_core(struct.pack("<8I", 0xFEEDFACF, 0x0100000C, 0, 6, 0, 0, 0, 0), "x")
    with pytest.raises(CorruptInput, match="bad magic"):
        mc.parse_core(b"\0" * 64, "x")
    with pytest.raises(CorruptInput, match="run past the end"):
        mc.parse_core(struct.pack("<8I", 0xFEEDFACF, 0x0100000C, 0, 4, 1, 0x10000, 0, 0), "x")


def test_note_outside_file_is_dropped(built):
    path, _m = built
    data = bytearray(path.read_bytes())
    p = _first_cmd(data, 0x31)
    struct.pack_into("<Q", data, p + 24, len(data) + 0x1000)
    core = mc.parse_core(bytes(data), "x")
    assert any("lies outside the file" in s for s in core.problems)
    assert len(core.notes) == 1


def test_all_image_infos_internal_offsets_bounded(built):
    path, _m = built
    data = bytearray(path.read_bytes())
    core = mc.parse_core(bytes(data), "x")
    (n,) = core.note("all image infos")
    struct.pack_into("<I", data, n.offset + 4, 0xFFFFFFFF)            # imgcount
    imgs = mc.parse_all_image_infos(bytes(data), n, "x")
    assert len(imgs) <= len(data) // 48
    struct.pack_into("<Q", data, n.offset + 8, 1 << 60)               # entries offset
    with pytest.raises(CorruptInput, match="outside the file"):
        mc.parse_all_image_infos(bytes(data), n, "x")


def test_terabyte_segment_and_wrapping_segment(built):
    path, _m = built
    data = bytearray(path.read_bytes())
    p = _first_cmd(data, 0x19)
    struct.pack_into("<QQ", data, p + 32, 1 << 40, 0)      # vmsize 1 TB ... (vmsize, fileoff)
    struct.pack_into("<Q", data, p + 48, 1 << 40)          # filesize 1 TB
    tracemalloc.start()
    core = mc.parse_core(bytes(data), "x")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20
    big = [s for s in core.segments if s.vmsize == 1 << 40]
    assert big and big[0].present == len(data)
    assert any("overlap" in s for s in core.problems)      # it now covers the next segments
    struct.pack_into("<QQ", data, p + 24, (1 << 64) - 0x1000, 0x10000)
    core = mc.parse_core(bytes(data), "x")
    assert any("wraps the address space" in s for s in core.problems)


def test_overlapping_segments_keep_the_first(built):
    path, _m = built
    data = bytearray(path.read_bytes())
    core0 = mc.parse_core(bytes(data), "x")
    p = _first_cmd(data, 0x19)
    second = p + 72
    struct.pack_into("<Q", data, second + 24, core0.segments[0].vmaddr)   # same start as the first
    core = mc.parse_core(bytes(data), "x")
    assert len(core.segments) == len(core0.segments) - 1
    assert any("overlap" in s for s in core.problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=12))
def test_mutations_fail_cleanly(tmp_path_factory, edits):
    base = _small_core(tmp_path_factory)
    data = bytearray(base)
    for off, val in edits:
        data[off % len(data)] = val
    try:
        core = mc.parse_core(bytes(data), "m")
    except CorruptInput:
        return
    mem = mc.CoreMemory(bytes(data), core.segments)
    for s in core.segments[:8]:
        assert len(mem.read(s.vmaddr, 64)) <= 64
    for n in core.notes:
        try:
            if n.owner == "all image infos":
                mc.parse_all_image_infos(bytes(data), n, "m")
            elif n.owner == "addrable bits":
                mc.parse_addrable_bits(bytes(data), n)
        except SymmapError:
            pass


_SMALL: dict[str, bytes] = {}


def _small_core(factory) -> bytes:
    if "x" not in _SMALL:
        out = factory.mktemp("small") / "x.core"
        build_core(out, "x86_64")
        _SMALL["x"] = out.read_bytes()
    return _SMALL["x"]


# ---- other note kinds, 32-bit cores ------------------------------------------

def test_load_binary_and_main_bin_spec_notes():
    uuid = bytes(range(1, 17))
    lb = struct.pack("<I16sQQ", 1, uuid, 0x100004000, 0x4000) + b"/bin/ls\0" + b"\0" * 24
    n = mc.CoreNote("load binary", 0, len(lb), 0)
    img = mc.parse_load_binary(lb, n, "x")
    assert (img.path, img.uuid, img.load_address, img.slide) == ("/bin/ls", uuid.hex(), 0x100004000, 0x4000)
    lb2 = struct.pack("<I16sQQ", 1, b"\0" * 16, mc.NO_ADDR, mc.NO_ADDR)      # no name, nothing known
    img = mc.parse_load_binary(lb2, mc.CoreNote("load binary", 0, len(lb2), 0), "x")
    assert (img.path, img.uuid, img.load_address, img.slide) == (None, None, None, None)
    with pytest.raises(CorruptInput):
        mc.parse_load_binary(lb[:20], mc.CoreNote("load binary", 0, 20, 0), "x")
    v1 = struct.pack("<IIQ16sII", 1, 2, 0x10A000000, uuid, 14, 0)
    assert mc.parse_main_bin_spec(v1, mc.CoreNote("main bin spec", 0, len(v1), 0)) == (2, 0x10A000000, uuid.hex())
    v2 = struct.pack("<IIQQ16sII", 2, 2, mc.NO_ADDR, 0x1000, uuid, 14, 1)
    assert mc.parse_main_bin_spec(v2, mc.CoreNote("main bin spec", 0, len(v2), 0)) == (2, None, uuid.hex())


def test_32bit_core():
    """An i386 core: mach_header (28 bytes), LC_SEGMENT, x86_THREAD_STATE32."""
    regs = [0] * 16
    regs[7], regs[10] = 0xBFFF0000, 0x1F00          # esp, eip
    thread = struct.pack("<IIII", 4, 8 + 8 + 64, 1, 16) + struct.pack("<16I", *regs)
    seg = struct.pack("<II16s8I", 1, 56, b"__TEXT", 0x1000, 0x1000, 0x200, 0x1000, 7, 5, 0, 0)
    cmds = thread + seg
    hdr = struct.pack("<7I", 0xFEEDFACE, 7, 3, 4, 2, len(cmds), 0)
    data = (hdr + cmds).ljust(0x200, b"\0") + b"\xab" * 0x1000
    core = mc.parse_core(data, "i386")
    assert core.arch == "i386" and not core.is64
    (s,) = core.segments
    assert (s.vmaddr, s.vmsize, s.initprot, s.maxprot, s.name, s.present) == (0x1000, 0x1000, 5, 7, "__TEXT", 0x1000)
    assert (core.threads[0].pc, core.threads[0].sp) == (0x1F00, 0xBFFF0000)
    assert mc.CoreMemory(data, core.segments).read(0x1FFE, 4) == b"\xab\xab"
