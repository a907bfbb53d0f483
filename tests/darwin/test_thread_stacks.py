"""Thread stacks named like vmmap ("Stack ... thread N", "STACK GUARD ... stack guard for
thread N") from each thread's stack pointer, through SimulatedTask and the real
macos_live / annotate / text-row code; plus the ctypes side with a fake libSystem."""
from __future__ import annotations

import ctypes
import re

import pytest

from symmap.annotate import annotate
from symmap.darwin import _mach
from symmap.darwin.consts import (ARM_THREAD_STATE64, ARM_THREAD_STATE64_COUNT,
                                  KERN_FAILURE, KERN_INVALID_ARGUMENT, KERN_TERMINATED,
                                  KernReturnError, x86_THREAD_STATE64,
                                  x86_THREAD_STATE64_COUNT)
from symmap.darwin.kernel import LibSystemTask, sp_from_state
from symmap.darwin.thread_stacks import label_thread_stacks
from symmap.errors import ProcessVanished
from symmap.model import Region
from symmap.render.text import format_region_row
from symmap.sources import OpenOptions
from symmap.sources.macos_live import open_pid
from tests.conftest import shared_fixture
from tests.support.simtask import SimulatedTask

# fixtures/vmmap/01.txt: the main thread's guard and stack (arm64, 16 KiB pages).
G0, S0, E0 = 0x166F68000, 0x16A76C000, 0x16AF68000
# A secondary pthread: 16 KiB guard, 512 KiB stack (+ pthread_t in the same entry).
G1, S1, E1 = 0x16AFF0000, 0x16AFF4000, 0x16B07C000
SP0, SP1 = 0x16AF67A30, 0x16B07AF00
PAC = 0x5A3C << 48          # signature bits above the 47-bit user VA
ROW = re.compile(r"^(?P<type>.+?)\s+(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+)\s+\[(?P<sizes>[^\]]*)\]"
                 r"\s(?P<cur>[-rwx]{3})/(?P<max>[-rwx]{3})\sSM=(?P<sm>\S+)(?:\s+(?P<detail>.*))?$")


def two_thread_sim(threads=(SP0, SP1), *, guard1_tag=30) -> SimulatedTask:
    sim = SimulatedTask(pid=5151, page_size=16384, threads=list(threads))
    sim.map(G0, S0 - G0, 0, 7, tag=30, share_mode="NUL", resident=0)
    sim.map(S0, E0 - S0, 3, 7, tag=30, share_mode="COW", resident=0x4000, dirty=0x4000,
            swapped=0x4000)
    sim.map(G1, S1 - G1, 0, 7, tag=guard1_tag, share_mode="NUL", resident=0)
    sim.map(S1, E1 - S1, 3, 7, tag=30, share_mode="PRV", resident=0x8000, dirty=0x8000)
    sim.map(0x600000000000, 0x100000, 3, 7, tag=7)       # MALLOC_TINY: never a stack
    sim.set_dyld_infos([])
    return sim


def _rows(sim) -> dict[int, tuple[str, str]]:
    t = open_pid(sim.pid, OpenOptions(task=sim))
    annotate(t)
    out = {}
    for r in t.regions:
        m = ROW.match(format_region_row(r))
        assert m, format_region_row(r)
        out[r.start] = (m["type"], m["detail"] or "")
    return out


def test_rows_match_vmmap_fixture_exactly():
    lines = shared_fixture("vmmap/01.txt").read_text().splitlines()
    want_guard = next(ln for ln in lines if ln.startswith("STACK GUARD") and "166f68000-" in ln)
    want_stack = next(ln for ln in lines if ln.startswith("Stack ") and "16a76c000-" in ln)
    sim = two_thread_sim()
    t = open_pid(sim.pid, OpenOptions(task=sim))
    annotate(t)
    rows = {r.start: format_region_row(r) for r in t.regions}
    assert rows[G0] == want_guard
    assert rows[S0] == want_stack


def test_two_threads_get_vmmap_types_and_details():
    rows = _rows(two_thread_sim())
    assert rows[G0] == ("STACK GUARD", "stack guard for thread 0")
    assert rows[S0] == ("Stack", "thread 0")
    assert rows[G1] == ("STACK GUARD", "stack guard for thread 1")
    assert rows[S1] == ("Stack", "thread 1")
    assert rows[0x600000000000] == ("MALLOC_TINY", "")


def test_untagged_guard_below_a_stack_is_a_stack_guard():
    rows = _rows(two_thread_sim(guard1_tag=0))
    assert rows[G1] == ("STACK GUARD", "stack guard for thread 1")


def test_pac_signed_stack_pointers_are_stripped():
    rows = _rows(two_thread_sim(threads=(SP0 | PAC, SP1 | (1 << 63) | PAC)))
    assert rows[S0] == ("Stack", "thread 0") and rows[S1] == ("Stack", "thread 1")
    assert rows[G1] == ("STACK GUARD", "stack guard for thread 1")


def test_sp_in_no_region_or_not_a_stack_names_nothing_for_that_thread():
    # thread 0: in the gap between the stacks; thread 1: in the heap; thread 2: real stack.
    rows = _rows(two_thread_sim(threads=(E0 + 0x100, 0x600000000040, SP1)))
    assert rows[S0] == ("Stack", "") and rows[G0] == ("STACK GUARD", "")
    assert rows[0x600000000000] == ("MALLOC_TINY", "")
    assert rows[S1] == ("Stack", "thread 2")
    assert rows[G1] == ("STACK GUARD", "stack guard for thread 2")


def test_unreadable_thread_keeps_later_thread_numbers():
    # Thread 0 exited between task_threads and thread_get_state; the process lives on.
    rows = _rows(two_thread_sim(threads=(None, SP1)))
    assert rows[S0] == ("Stack", "")
    assert rows[S1] == ("Stack", "thread 1")


def test_sp_in_a_guard_does_not_rename_it():
    rows = _rows(two_thread_sim(threads=(G0 + 0x10, SP1)))
    assert rows[G0] == ("STACK GUARD", "") and rows[S0] == ("Stack", "")


def test_no_threads_leaves_plain_rows_and_no_threads_block():
    sim = two_thread_sim(threads=())
    t = open_pid(sim.pid, OpenOptions(task=sim))
    assert t.threads == [] and t.notes == []
    rows = _rows(two_thread_sim(threads=()))
    assert rows[G0] == ("STACK GUARD", "") and rows[S0] == ("Stack", "")


def test_threads_are_not_added_to_the_target():
    sim = two_thread_sim()
    t = open_pid(sim.pid, OpenOptions(task=sim))
    assert t.threads == []              # no Threads block in a live map (vmmap has none)
    assert "task_threads" in sim.call_log


def test_task_threads_refused_while_alive_is_a_note():
    class NoThreads(SimulatedTask):
        def thread_stack_pointers(self):
            raise KernReturnError("task_threads", KERN_FAILURE)
    sim = NoThreads(pid=5151, page_size=16384)
    sim.map(S0, E0 - S0, 3, 7, tag=30)
    sim.set_dyld_infos([])
    t = open_pid(sim.pid, OpenOptions(task=sim))
    assert any(n.startswith("no thread list") for n in t.notes)
    assert all(r.detail is None for r in t.regions)


def _thread_call_indices():
    sim = two_thread_sim(threads=(SP0, SP1, E0 + 0x100))
    open_pid(sim.pid, OpenOptions(task=sim))
    return [i for i, n in enumerate(sim.call_log) if n in ("task_threads", "thread_get_state")]


def test_thread_calls_are_made():
    assert len(_thread_call_indices()) == 4       # task_threads + one per thread


@pytest.mark.parametrize("which", [0, 1, 2, 3])
def test_task_dying_during_thread_query_is_process_vanished(which):
    n = _thread_call_indices()[which]
    sim = two_thread_sim(threads=(SP0, SP1, E0 + 0x100))
    sim.die_after(n)
    with pytest.raises(ProcessVanished) as ei:
        open_pid(sim.pid, OpenOptions(task=sim))
    assert ei.value.exit_code == 4


def test_every_death_point_with_threads_is_process_vanished():
    sim = two_thread_sim()
    open_pid(sim.pid, OpenOptions(task=sim))
    for n in range(sim.calls):
        s = two_thread_sim()
        s.die_after(n)
        with pytest.raises(ProcessVanished):
            open_pid(s.pid, OpenOptions(task=s))


def test_label_thread_stacks_pure():
    regs = [Region(G0, S0, 0, 7, tag=30), Region(S0, E0, 3, 7, tag=30),
            Region(E0, E0 + 0x4000, 0, 7, tag=30),                 # a guard ABOVE: untouched
            Region(0x180000000, 0x180004000, 3, 3, tag=30, depth=1)]  # cache leaf: ignored
    assert label_thread_stacks(regs, [SP0, SP0, 0x180000010, None]) == 1
    # The source records facts (which thread, a guard below it); the annotator names the type.
    assert [(r.kind, r.type, r.detail) for r in regs] == [
        ("stack_guard", None, "stack guard for thread 0"), (None, None, "thread 0"),
        (None, None, None), (None, None, None)]


def test_guard_with_a_gap_or_a_path_is_not_claimed():
    regs = [Region(G0, S0 - 0x4000, 0, 7, tag=30), Region(S0, E0, 3, 7, tag=30)]
    label_thread_stacks(regs, [SP0])
    assert regs[0].detail is None and regs[1].detail == "thread 0"
    regs = [Region(G0, S0, 0, 7, tag=0, path="/tmp/f"), Region(S0, E0, 3, 7, tag=30)]
    label_thread_stacks(regs, [SP0])
    assert regs[0].type is None and regs[0].detail is None


# --- ctypes side (no libSystem on Linux: fake library objects) ---------------------------

class _Fn:
    """Stands in for a ctypes function pointer: records restype/argtypes; optional impl."""

    def __init__(self, impl=None):
        self.impl = impl
        self.restype = None
        self.argtypes = None

    def __call__(self, *a):
        return self.impl(*a)


class _FakeLib:
    def __init__(self, **impls):
        for k, v in impls.items():
            setattr(self, k, _Fn(v))

    def __getattr__(self, name):           # any other symbol exists, unimplemented
        if name.startswith("__"):
            raise AttributeError(name)
        fn = _Fn()
        setattr(self, name, fn)
        return fn


def test_declare_sets_prototypes_for_thread_calls():
    L = _mach._declare(_FakeLib())
    P = ctypes.POINTER
    assert L.task_threads.restype is ctypes.c_int
    assert L.task_threads.argtypes == [_mach.mach_port_t, P(ctypes.c_void_p), P(ctypes.c_uint32)]
    assert L.thread_get_state.restype is ctypes.c_int
    assert L.thread_get_state.argtypes == [_mach.mach_port_t, ctypes.c_int, P(ctypes.c_uint32),
                                           P(ctypes.c_uint32)]
    assert L.mach_vm_deallocate.restype is ctypes.c_int
    assert L.mach_vm_deallocate.argtypes == [_mach.mach_port_t, ctypes.c_uint64, ctypes.c_uint64]
    assert L.mach_port_deallocate.argtypes == [_mach.mach_port_t, _mach.mach_port_t]
    assert _mach._lib is None


def _mig_lib(ports, freed, kr=0):
    """task_threads like MIG: an out-of-line array in our memory, pointer + count out."""
    arr = (_mach.mach_port_t * len(ports))(*ports)
    keep = [arr]

    def task_threads(task, parr, pcnt):
        if kr:
            return kr
        parr._obj.value = ctypes.addressof(keep[0]) if ports else None
        pcnt._obj.value = len(ports)
        return 0

    def dealloc(task, addr, size):
        freed.append((task, addr, size))
        ctypes.memset(addr, 0xEE, size)           # the copy must already be made
        return 0
    return _FakeLib(task_threads=task_threads, mach_vm_deallocate=dealloc,
                    mach_task_self=lambda: 0x203), ctypes.addressof(arr)


def test_task_threads_copies_then_frees_the_mig_array(monkeypatch):
    freed = []
    fake, addr = _mig_lib([0x1103, 0x1207, 0x130B], freed)
    monkeypatch.setattr(_mach, "lib", lambda: fake)
    assert _mach.task_threads(0x907) == [0x1103, 0x1207, 0x130B]
    assert freed == [(0x203, addr, 3 * 4)]


def test_task_threads_empty_and_failure(monkeypatch):
    freed = []
    fake, _ = _mig_lib([], freed)
    monkeypatch.setattr(_mach, "lib", lambda: fake)
    assert _mach.task_threads(0x907) == [] and freed == []
    fake, _ = _mig_lib([1], freed, kr=KERN_INVALID_ARGUMENT)
    monkeypatch.setattr(_mach, "lib", lambda: fake)
    with pytest.raises(KernReturnError, match="task_threads: KERN_INVALID_ARGUMENT"):
        _mach.task_threads(0x907)
    assert freed == []


def test_thread_get_state_returns_the_words_the_kernel_filled(monkeypatch):
    seen = []

    def tgs(thread, flavor, buf, pcnt):
        seen.append((thread, flavor, len(buf), pcnt._obj.value))
        for i in range(10):
            buf[i] = i + 1
        pcnt._obj.value = 10
        return 0
    monkeypatch.setattr(_mach, "lib", lambda: _FakeLib(thread_get_state=tgs))
    assert _mach.thread_get_state(0x1103, 6, 68) == list(range(1, 11))
    assert seen == [(0x1103, 6, 68, 68)]


def _arm_words(sp):
    w = [0] * ARM_THREAD_STATE64_COUNT
    w[62], w[63] = sp & 0xFFFFFFFF, sp >> 32
    w[60], w[61] = 0xDEAD, 0xBEEF              # lr (index 30) must not be taken for sp
    return w


def _x86_words(rsp):
    w = [0] * x86_THREAD_STATE64_COUNT
    w[14], w[15] = rsp & 0xFFFFFFFF, rsp >> 32
    w[12], w[13] = 0x1111, 0x2222              # rbp (index 6)
    return w


def test_sp_from_state_offsets_and_short_answers():
    assert sp_from_state(_arm_words(SP0 | PAC), 31) == SP0 | PAC
    assert sp_from_state(_x86_words(0x7FF7BFEFF000), 7) == 0x7FF7BFEFF000
    assert sp_from_state([1, 2, 3], 31) is None


def _patch_task_calls(monkeypatch, *, arm_host, states, dead=()):
    calls = {"tgs": [], "dealloc": []}
    monkeypatch.setattr(_mach, "task_threads", lambda task: list(states))

    def tgs(thread, flavor, count):
        calls["tgs"].append((thread, flavor))
        if thread in dead:
            raise KernReturnError("thread_get_state", KERN_TERMINATED)
        if flavor == ARM_THREAD_STATE64 and arm_host:
            return _arm_words(states[thread])
        if flavor == x86_THREAD_STATE64 and not arm_host:
            return _x86_words(states[thread])
        raise KernReturnError("thread_get_state", KERN_INVALID_ARGUMENT)

    def sysctl(name, size=256):
        assert name == "hw.optional.arm64"
        if not arm_host:
            raise OSError(2, "sysctlbyname(hw.optional.arm64): No such file or directory")
        return (1).to_bytes(4, "little")
    monkeypatch.setattr(_mach, "thread_get_state", tgs)
    monkeypatch.setattr(_mach, "sysctlbyname", sysctl)
    monkeypatch.setattr(_mach, "mach_port_deallocate", lambda p: calls["dealloc"].append(p))
    return calls


def test_libsystem_task_arm_host(monkeypatch):
    states = {0x1103: SP0 | PAC, 0x1207: SP1, 0x130B: 0x1234}
    calls = _patch_task_calls(monkeypatch, arm_host=True, states=states, dead={0x1207})
    sps = LibSystemTask(5151, 0x907, False).thread_stack_pointers()
    assert sps == [SP0 | PAC, None, 0x1234]              # raw; masking is the source's job
    assert sorted(calls["dealloc"]) == sorted(states)     # every thread port released
    assert calls["tgs"][0] == (0x1103, ARM_THREAD_STATE64)


def test_libsystem_task_x86_host_and_flavor_fallback(monkeypatch):
    states = {0x1103: 0x7FF7BFEFF000, 0x1207: 0x700000080000}
    calls = _patch_task_calls(monkeypatch, arm_host=False, states=states)
    assert LibSystemTask(5151, 0x907, False).thread_stack_pointers() == [0x7FF7BFEFF000,
                                                                         0x700000080000]
    assert [f for _, f in calls["tgs"]] == [x86_THREAD_STATE64, x86_THREAD_STATE64]
    # A wrong first guess costs one failed call, then the working flavor goes first.
    t = LibSystemTask(5151, 0x907, False)
    t._flavors = list(reversed(t._flavor_order()))
    calls["tgs"].clear()
    assert t.thread_stack_pointers() == [0x7FF7BFEFF000, 0x700000080000]
    assert [f for _, f in calls["tgs"]] == [ARM_THREAD_STATE64, x86_THREAD_STATE64,
                                            x86_THREAD_STATE64]


def test_libsystem_task_threads_failure_propagates_without_leaks(monkeypatch):
    def gone(task):
        raise KernReturnError("task_threads", KERN_INVALID_ARGUMENT)
    monkeypatch.setattr(_mach, "task_threads", gone)
    with pytest.raises(KernReturnError):
        LibSystemTask(5151, 0x907, False).thread_stack_pointers()
