"""mach_vm_page_range_query and TASK_VM_INFO without libSystem: the prototype declared on a
fake CDLL, the chunked call against a fake kernel, task_vm_info's layout against xnu
osfmk/mach/task_info.h @xnu-11417.101.15, and LibSystemTask degrading to None."""
from __future__ import annotations

import ctypes

import pytest

from symmap.darwin import _mach
from symmap.darwin import consts as C
from symmap.darwin.kernel import LibSystemTask, vm_info_from_raw


class _Fn:
    def __init__(self, name, impl=None):
        self.name, self.impl = name, impl
        self.restype = self.argtypes = None

    def __call__(self, *a):
        return self.impl(*a)


class FakeLib:
    """Stands in for ctypes.CDLL: any symbol exists unless listed in ``missing``."""

    def __init__(self, missing=(), **impls):
        self._missing = set(missing)
        self._impls = impls

    def __getattr__(self, name):
        if name.startswith("_") or name in self._missing:
            raise AttributeError(name)
        fn = _Fn(name, self._impls.get(name))
        setattr(self, name, fn)
        return fn


def test_page_range_query_prototype_is_declared():
    L = _mach._declare(FakeLib())
    fn = L.mach_vm_page_range_query
    # (vm_map_read_t, mach_vm_offset_t, mach_vm_size_t, mach_vm_address_t, mach_vm_size_t *)
    assert fn.restype is ctypes.c_int
    assert fn.argtypes == [_mach.mach_port_t, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64,
                           ctypes.POINTER(ctypes.c_uint64)]
    assert L.task_info.argtypes[1] is ctypes.c_uint32


def test_missing_symbol_is_not_declared(monkeypatch):
    L = _mach._declare(FakeLib(missing={"mach_vm_page_range_query"}))
    monkeypatch.setattr(_mach, "lib", lambda: L)
    assert not _mach.has_page_range_query()
    assert LibSystemTask(1, 0x1303, False).page_dispositions(0x180000000, 0x4000) is None


def _fake_kernel(page, calls, kr=0):
    def query(task, address, size, buf_addr, cnt_p):
        calls.append((task, address, size, cnt_p._obj.value))
        if kr:
            return kr
        n = min(size // page, cnt_p._obj.value)
        vals = (ctypes.c_int * n)(*[(address + i * page) >> 12 & 0xFFF for i in range(n)])
        ctypes.memmove(buf_addr, vals, ctypes.sizeof(vals))
        cnt_p._obj.value = n
        return 0
    return query


def _byref_lib(impl):
    """Calls go through _declare'd fakes; byref objects expose ._obj like ctypes'."""
    return FakeLib(mach_vm_page_range_query=impl)


def test_query_is_chunked_and_buffer_bounded(monkeypatch):
    calls = []
    page = 16384
    monkeypatch.setattr(_mach, "lib", lambda: _byref_lib(_fake_kernel(page, calls)))
    base = 0x180000000
    size = 2 * _mach.PAGE_QUERY_CHUNK + 3 * page
    out = _mach.mach_vm_page_range_query(0x1303, base, size)
    assert len(out) == size // page
    assert out[:3] == [(base >> 12) & 0xFFF, ((base + page) >> 12) & 0xFFF, ((base + 2 * page) >> 12) & 0xFFF]
    assert [c[1] for c in calls] == [base, base + _mach.PAGE_QUERY_CHUNK, base + 2 * _mach.PAGE_QUERY_CHUNK]
    assert [c[2] for c in calls] == [_mach.PAGE_QUERY_CHUNK] * 2 + [3 * page]
    # The count passed in is our buffer's capacity: one int per 4 KiB page of a chunk.
    assert {c[3] for c in calls} == {_mach.PAGE_QUERY_CHUNK // 4096}


def test_refusal_becomes_none(monkeypatch):
    calls = []
    L = _byref_lib(_fake_kernel(4096, calls, kr=C.KERN_INVALID_ARGUMENT))
    monkeypatch.setattr(_mach, "lib", lambda: L)
    with pytest.raises(C.KernReturnError):
        _mach.mach_vm_page_range_query(1, 0x1000, 0x1000)
    assert LibSystemTask(1, 0x1303, False).page_dispositions(0x1000, 0x1000) is None


def test_disposition_bits_match_xnu():
    # osfmk/mach/vm_statistics.h @xnu-11417.101.15
    want = dict(PRESENT=0x1, FICTITIOUS=0x2, REF=0x4, DIRTY=0x8, PAGED_OUT=0x10, COPIED=0x20,
                SPECULATIVE=0x40, EXTERNAL=0x80, CS_VALIDATED=0x100, CS_TAINTED=0x200,
                CS_NX=0x400, REUSABLE=0x800)
    assert {k: getattr(C, f"VM_PAGE_QUERY_PAGE_{k}") for k in want} == want


def test_task_vm_info_layout():
    S = _mach.TaskVmInfo
    # Offsets under #pragma pack(push, 4): 19 u64/i32 head fields, then the revN tails.
    want = dict(virtual_size=0, region_count=8, page_size=12, resident_size=16, compressed=120,
                compressed_lifetime=136, phys_footprint=144, min_address=152, max_address=160,
                ledger_phys_footprint_peak=168, limit_bytes_remaining=336, decompressions=344,
                ledger_swapins=348, ledger_tag_neural_nofootprint_total=356,
                ledger_tag_neural_nofootprint_peak=364)
    assert {k: getattr(S, k).offset for k in want} == want
    assert ctypes.sizeof(S) == 372 and _mach.TASK_VM_INFO_SIZE == 372
    # TASK_VM_INFO_REVn_COUNT as task_info.h derives them from TASK_VM_INFO_COUNT (rev7).
    rev7 = ctypes.sizeof(S) // 4
    rev6 = rev7 - 4
    rev5 = rev6 - 2
    rev4 = rev5 - 1
    rev3 = rev4 - 2
    rev2 = rev3 - 42
    rev1 = rev2 - 4
    rev0 = rev1 - 2
    assert (rev7, rev3, rev2, rev1, rev0) == (C.TASK_VM_INFO_REV7_COUNT, C.TASK_VM_INFO_REV3_COUNT,
                                              C.TASK_VM_INFO_REV2_COUNT, C.TASK_VM_INFO_REV1_COUNT,
                                              C.TASK_VM_INFO_REV0_COUNT)
    # Each revision ends where the next field starts.
    assert S.phys_footprint.offset == rev0 * 4 and S.min_address.offset == rev1 * 4
    assert S.ledger_phys_footprint_peak.offset == rev2 * 4 and S.limit_bytes_remaining.offset == rev3 * 4
    assert S.decompressions.offset == rev4 * 4 and S.ledger_swapins.offset == rev5 * 4
    assert S.ledger_tag_neural_nofootprint_total.offset == rev6 * 4


def _raw(footprint, peak, count):
    s = _mach.TaskVmInfo()
    s.page_size = 16384
    s.phys_footprint = footprint
    s.ledger_phys_footprint_peak = peak
    return bytes(s)[:count * 4], count


@pytest.mark.parametrize("count,fp,peak", [
    (C.TASK_VM_INFO_REV3_COUNT, 1185 << 10, 2000 << 10),
    (C.TASK_VM_INFO_REV2_COUNT, 1185 << 10, None),          # no ledger fields yet
    (C.TASK_VM_INFO_REV0_COUNT, None, None),                # no phys_footprint yet
])
def test_vm_info_by_revision(count, fp, peak):
    info = vm_info_from_raw(*_raw(1185 << 10, 2000 << 10, count))
    assert (info.page_size, info.phys_footprint, info.phys_footprint_peak) == (16384, fp, peak)


def test_vm_info_short_answer_is_none():
    assert vm_info_from_raw(b"\0" * 40, 10) is None
    assert vm_info_from_raw(b"\0" * 40, C.TASK_VM_INFO_REV3_COUNT) is None   # count > bytes


def test_libsystem_task_vm_info(monkeypatch):
    monkeypatch.setattr(_mach, "task_vm_info", lambda port: _raw(5 << 20, 7 << 20, C.TASK_VM_INFO_REV3_COUNT))
    info = LibSystemTask(1, 0x1303, False).vm_info()
    assert (info.phys_footprint, info.phys_footprint_peak) == (5 << 20, 7 << 20)

    def refuse(port):
        raise C.KernReturnError("task_info(TASK_VM_INFO)", C.KERN_INVALID_ARGUMENT)
    monkeypatch.setattr(_mach, "task_vm_info", refuse)
    assert LibSystemTask(1, 0x1303, False).vm_info() is None
