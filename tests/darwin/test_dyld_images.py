"""dyld_all_image_infos reader (symmap.darwin.dyld_image_list) over SimulatedTask memory."""
from __future__ import annotations

import struct

from symmap.darwin.dyld_image_list import pointer_mask, read_dyld_state
from symmap.darwin.memory import TaskMemory
from tests.support.simtask import SimulatedTask

from tests.darwin.conftest import CACHE_BASE, CACHE_UUID, DYLD, EXE, LIB, LIB2, build_sim

MASK47 = pointer_mask(47)
NOSLEEP = dict(sleep=lambda s: None)


def _state(sim, **kw):
    mem = TaskMemory(sim, sim.page_size)
    return read_dyld_state(mem.read, *sim.dyld, kw.pop("mask", MASK47), requery=sim.dyld_info,
                           **NOSLEEP, **kw)


def test_full_v17_list_adds_dyld_and_cache_identity():
    sim = build_sim()
    st = _state(sim)
    assert st.version == 17 and st.complete and not st.suspended
    assert [(i.load_address, i.path, i.is_dyld) for i in st.images] == [
        (EXE, "/usr/local/bin/demo", False), (LIB, "/usr/lib/libA.dylib", False),
        (LIB2, "/usr/lib/libB.dylib", False), (DYLD, "/usr/lib/dyld", True)]
    assert st.cache_uuid == CACHE_UUID.hex() and st.cache_base == CACHE_BASE and st.cache_slide == 0
    assert st.platform == 1


def test_info_array_null_then_filled_requeries_task_dyld_info():
    sim = build_sim(dyld_kwargs=dict(null_info_array_calls=3))
    st = _state(sim)
    assert st.complete and len(st.images) == 4
    # NULL for the first read and 3 re-queries; the 4th TASK_DYLD_INFO sees the filled list.
    assert st.attempts == 5 and sim.dyld_info_calls == 4     # re-asked on every retry


def test_info_array_null_forever_gives_bounded_retries_and_a_note():
    sim = build_sim(dyld_kwargs=dict(null_info_array_calls=10_000))
    st = _state(sim, retries=5)
    assert not st.complete and st.attempts == 5
    assert any("infoArray NULL after 5 tries" in n for n in st.notes)
    # dyld itself is still reported from dyldImageLoadAddress.
    assert [i.is_dyld for i in st.images] == [True]


def test_requery_follows_dyld_moving_its_struct():
    sim = build_sim()
    real = sim.dyld
    sim.dyld = (0x7000_0000_0000, 368, 1)       # stale address: nothing mapped there
    calls = []

    def requery():
        calls.append(1)
        return real
    mem = TaskMemory(sim, sim.page_size)
    st = read_dyld_state(mem.read, *sim.dyld, MASK47, requery=requery, **NOSLEEP)
    assert st.complete and st.address == real[0] and calls == [1]


def test_pac_signed_pointers_are_stripped():
    sim = build_sim(pac=0x002D_8000_0000_0000)
    raw = sim.read(sim.dyld[0] + 8, 8)
    assert struct.unpack("<Q", raw)[0] >> 47               # really signed in memory
    st = _state(sim)
    assert [i.load_address for i in st.images] == [EXE, LIB, LIB2, DYLD]
    assert st.images[1].path == "/usr/lib/libA.dylib"


def test_pac_bits_break_reading_without_a_mask():
    sim = build_sim(pac=0x002D_8000_0000_0000)
    st = _state(sim, mask=(1 << 64) - 1, retries=1)
    # Control for the test above: unmasked, the signed pointers lead nowhere.
    assert [i.load_address for i in st.images] != [EXE, LIB, LIB2, DYLD]
    assert not any(i.path == "/usr/lib/libA.dylib" for i in st.images)


def test_old_version_short_struct_gates_fields():
    # dyld version 12 (10.7 era): no UUID/base/dyldPath/timestamp; only 0x98+8 bytes exist.
    sim = build_sim(dyld_kwargs=dict(version=12, size=0xA0))
    st = _state(sim)
    assert st.version == 12 and st.complete
    assert st.cache_uuid is None and st.cache_base is None
    assert st.timestamp is None and st.platform is None
    assert st.images[-1].is_dyld and st.images[-1].path == "/usr/lib/dyld"   # default path


def test_version_gate_ignores_bytes_an_old_dyld_did_not_define():
    # Full-size block but version 13: base (v15) and dyldPath (v15) must be ignored.
    sim = build_sim(dyld_kwargs=dict(version=13, dyld_path="/custom/dyld"))
    st = _state(sim)
    assert st.cache_uuid == CACHE_UUID.hex() and st.cache_base is None
    assert st.images[-1].path == "/usr/lib/dyld"


def test_size_from_task_dyld_info_bounds_the_read():
    sim = build_sim(dyld_kwargs=dict(size=0xB8))     # v17 claims, but only 0xB8 bytes
    st = _state(sim)
    assert st.cache_base == CACHE_BASE and st.timestamp is None and st.platform is None


def test_32bit_format():
    sim = SimulatedTask(page_size=4096)
    sim.map(0x1000, 0x1000, 5, 5, path="/bin/x")
    sim.set_dyld_infos([(0x1000, "/bin/x"), (0x8000, "/usr/lib/libSystem.B.dylib")], fmt=32,
                       at=0x40000000, dyld_load_address=0x8fe00000, cache_uuid=CACHE_UUID,
                       cache_base=0x90000000, cache_slide=0x1000)
    st = _state(sim, mask=pointer_mask(47, False))
    assert not st.is64 and st.complete
    assert [(i.load_address, i.path) for i in st.images] == [
        (0x1000, "/bin/x"), (0x8000, "/usr/lib/libSystem.B.dylib"), (0x8fe00000, "/usr/lib/dyld")]
    assert (st.cache_base, st.cache_slide) == (0x90000000, 0x1000)


def test_huge_count_is_capped_by_what_is_readable():
    sim = build_sim(dyld_kwargs=dict(info_array_count=0x7FFFFFFF))
    st = _state(sim)
    assert len(st.images) < 10_000
    assert any("first 8192" in n for n in st.notes)


def test_timestamp_zero_means_suspended():
    sim = build_sim(dyld_kwargs=dict(timestamp=0))
    st = _state(sim)
    assert st.suspended and not st.complete
    assert st.attempts == 1


def test_uuid_array_is_attached():
    sim = SimulatedTask(page_size=4096)
    u = bytes(range(16))
    sim.set_dyld_infos([(0x100000000, "/a")], uuids=[(0x100000000, u)], dyld_path=None)
    st = _state(sim)
    assert st.images[0].uuid == u.hex()


def test_address_zero_is_not_an_error():
    mem_reads = []
    st = read_dyld_state(lambda a, n: mem_reads.append(a) or b"", 0, 0, 1, MASK47, **NOSLEEP)
    assert st.images == [] and mem_reads == [] and st.notes


def test_path_at_end_of_mapping_is_read_page_truncated():
    sim = SimulatedTask(page_size=4096)
    sim.set_dyld_infos([(0x100000000, "/a")], at=0x200000000, dyld_path=None)
    # Put a path in the last bytes of a mapping followed by a hole.
    sim.map(0x300000000, 0x1000, 3, 3)
    sim.write(0x300000ff0, b"/tail/path.dylib")
    from symmap.darwin.dyld_image_list import read_cstring
    mem = TaskMemory(sim, 4096)
    assert read_cstring(lambda a, n: sim.read(a, n), 0x300000ff0) == "/tail/path.dylib"
    assert read_cstring(mem.read, 0x300000ff0) == "/tail/path.dylib"


def test_requery_failure_on_retry_is_a_note_not_an_exception():
    from symmap.darwin.consts import KERN_FAILURE, KernReturnError
    sim = build_sim(dyld_kwargs=dict(null_info_array_calls=10_000))

    def requery():
        raise KernReturnError("task_info(TASK_DYLD_INFO)", KERN_FAILURE)
    mem = TaskMemory(sim, sim.page_size)
    st = read_dyld_state(mem.read, *sim.dyld, MASK47, requery=requery, **NOSLEEP)
    assert not st.complete and st.attempts == 1
    assert any("TASK_DYLD_INFO failed" in n for n in st.notes)
    assert [i.is_dyld for i in st.images] == [True]      # dyld still from the first read
