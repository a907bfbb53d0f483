"""The narrow kernel interface every macOS walker is written against.

``Kernel`` holds the pid-level calls (libproc, sysctl, getting a task port) and
``Task`` the port-level Mach calls.  ``LibSystemKernel``/``LibSystemTask`` are the
real implementations over ``_mach``; ``tests/support/simtask.SimulatedTask``
implements both protocols so the very same walk/reader code runs on Linux.

Contract (both implementations):
- ``Task.region_recurse(addr, depth)`` = one mach_vm_region_recurse call with
  count 19 and nesting depth ``depth``; returns ``RegionInfo`` for the region
  containing ``addr`` or the next one; raises ``KernReturnError`` with
  ``kr == KERN_INVALID_ADDRESS`` past the last region.
- ``Task.read(addr, size)`` = one mach_vm_read_overwrite: all bytes or a
  ``KernReturnError`` (a hole anywhere fails the whole read; see memory.py).
- ``Task.dyld_info()`` = TASK_DYLD_INFO -> (addr, size, format|None).
- ``Task.thread_stack_pointers()`` = task_threads + one thread_get_state per thread:
  the raw (possibly PAC-signed) stack pointer of each thread, in task_threads order,
  ``None`` for a thread whose state could not be read (it exited meanwhile) so list
  index == vmmap's thread number; task_threads failing raises ``KernReturnError``.
- ``Task.page_dispositions(addr, size)`` = mach_vm_page_range_query over a page-aligned
  range: one VM_PAGE_QUERY_PAGE_* int per page of the effective page size, or None when
  the call is missing (before macOS 10.13), refused (page-size mismatch with the target)
  or failed.  Optional: callers use ``getattr(task, "page_dispositions", None)``.
- ``Task.vm_info()`` = task_info(TASK_VM_INFO) -> ``VmInfo`` or None when refused.
- ``Kernel.proc_region(pid, addr, with_path)`` = proc_pidinfo(PROC_PIDREGIONINFO /
  PROC_PIDREGIONPATHINFO): the top-level region containing ``addr`` or the next
  one, None past the end; raises OSError (errno) when refused / pid gone.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from symmap.darwin.consts import (ARM64_SP_INDEX, ARM_THREAD_STATE64, ARM_THREAD_STATE64_COUNT,
                     KERN_FAILURE, TASK_VM_INFO_REV0_COUNT, TASK_VM_INFO_REV1_COUNT,
                     TASK_VM_INFO_REV3_COUNT, PROC_PIDREGIONINFO, PROC_PIDREGIONPATHINFO,
                     PROC_PIDTBSDINFO, PROC_REGION_SUBMAP, X86_64_SP_INDEX,
                     KernReturnError, PortRefused, x86_THREAD_STATE64,
                     x86_THREAD_STATE64_COUNT)

PID_MAX = 99999

__all__ = ["RegionInfo", "ProcRegion", "BsdInfo", "Task", "Kernel", "LibSystemKernel",
           "LibSystemTask", "VmInfo", "region_info_from_struct", "proc_region_from_struct",
           "vm_info_from_raw",
           "THREAD_FLAVORS", "sp_from_state"]


@dataclass(slots=True)
class RegionInfo:
    """mach_vm_region_recurse result: the range plus vm_region_submap_info_64 fields.
    Page counts are in the caller's effective page size (darwin-facts §1.8)."""

    address: int
    size: int
    depth: int
    protection: int
    max_protection: int
    user_tag: int
    share_mode: int
    is_submap: bool
    offset: int = 0
    inheritance: int = 1
    pages_resident: int = 0
    pages_shared_now_private: int = 0
    pages_swapped_out: int = 0
    pages_dirtied: int = 0
    ref_count: int = 1
    shadow_depth: int = 0
    external_pager: int = 0
    behavior: int = 0
    object_id: int = 0
    user_wired_count: int = 0
    pages_reusable: int = 0
    object_id_full: int = 0


@dataclass(slots=True)
class ProcRegion:
    """proc_regioninfo (+ vip_path for PROC_PIDREGIONPATHINFO): one top-level entry."""

    address: int
    size: int
    protection: int
    max_protection: int
    user_tag: int
    share_mode: int
    offset: int = 0
    flags: int = 0
    pages_resident: int = 0
    pages_dirtied: int = 0
    pages_swapped_out: int = 0
    depth: int = 0
    path: str | None = None

    @property
    def is_submap(self) -> bool:
        return bool(self.flags & PROC_REGION_SUBMAP)


@dataclass(slots=True)
class BsdInfo:
    """The proc_bsdinfo fields symmap reports."""

    pid: int
    ppid: int
    uid: int
    comm: str
    name: str
    start_sec: int
    start_usec: int
    flags: int = 0
    status: int = 0                     # pbi_status = p_stat (SZOMB 5 = zombie)


@dataclass(slots=True)
class VmInfo:
    """The task_vm_info fields symmap reports; None where the kernel's revision lacks them."""

    page_size: int | None
    phys_footprint: int | None          # vmmap "Physical footprint:"
    phys_footprint_peak: int | None     # vmmap "Physical footprint (peak):"


def vm_info_from_raw(raw: bytes, count: int) -> VmInfo | None:
    """Decode task_info(TASK_VM_INFO) output: ``count`` natural_t words were filled."""
    from symmap.darwin._mach import TASK_VM_INFO_SIZE, TaskVmInfo
    if count < TASK_VM_INFO_REV0_COUNT or len(raw) < count * 4:
        return None
    s = TaskVmInfo.from_buffer_copy(raw[:TASK_VM_INFO_SIZE].ljust(TASK_VM_INFO_SIZE, b"\0"))
    peak = s.ledger_phys_footprint_peak if count >= TASK_VM_INFO_REV3_COUNT else None
    return VmInfo(s.page_size if s.page_size > 0 else None,
                  s.phys_footprint if count >= TASK_VM_INFO_REV1_COUNT else None,
                  peak if peak is None or peak >= 0 else None)


class Task(Protocol):
    pid: int

    def region_recurse(self, address: int, depth: int) -> RegionInfo: ...
    def read(self, address: int, size: int) -> bytes: ...
    def dyld_info(self) -> tuple[int, int, int | None]: ...
    def purgeable_state(self, address: int) -> int | None: ...
    def thread_stack_pointers(self) -> list[int | None]: ...
    def page_dispositions(self, address: int, size: int) -> list[int] | None: ...
    def vm_info(self) -> VmInfo | None: ...
    def close(self) -> None: ...


class Kernel(Protocol):
    def open_task(self, pid: int, timeout: float = 5.0) -> Task: ...
    def pid_exists(self, pid: int) -> bool: ...
    def proc_region(self, pid: int, address: int, with_path: bool) -> ProcRegion | None: ...
    def bsd_info(self, pid: int) -> BsdInfo | None: ...
    def list_pids(self) -> list[int]: ...
    def proc_name(self, pid: int) -> str | None: ...
    def proc_path(self, pid: int) -> str | None: ...
    def sysctl_int(self, name: str) -> int | None: ...
    def sysctl_str(self, name: str) -> str | None: ...
    def host_page_size(self) -> int: ...
    def euid(self) -> int: ...


def region_info_from_struct(address: int, size: int, depth: int, s: Any) -> RegionInfo:
    """Copy a _mach.VmRegionSubmapInfo64 into a plain RegionInfo."""
    return RegionInfo(
        address, size, depth, s.protection & 0xFFFFFFFF, s.max_protection & 0xFFFFFFFF,
        s.user_tag, s.share_mode, bool(s.is_submap), s.offset, s.inheritance,
        s.pages_resident, s.pages_shared_now_private, s.pages_swapped_out, s.pages_dirtied,
        s.ref_count, s.shadow_depth, s.external_pager, s.behavior, s.object_id,
        s.user_wired_count, s.pages_reusable, s.object_id_full)


def proc_region_from_struct(pri: Any, path: str | None = None) -> ProcRegion:
    """Copy a _mach.ProcRegionInfo (+ optional path) into a ProcRegion."""
    return ProcRegion(pri.pri_address, pri.pri_size, pri.pri_protection, pri.pri_max_protection,
                      pri.pri_user_tag, pri.pri_share_mode, pri.pri_offset, pri.pri_flags,
                      pri.pri_pages_resident, pri.pri_pages_dirtied, pri.pri_pages_swapped_out,
                      pri.pri_depth, path)


# (flavor, count in uint32 words, index of sp as a uint64) per kernel architecture.
# The kernel only answers its own architecture's flavors (an arm64 kernel rejects x86
# ones, also for Rosetta targets), so the host decides, not the target.
THREAD_FLAVORS = {
    "arm64": (ARM_THREAD_STATE64, ARM_THREAD_STATE64_COUNT, ARM64_SP_INDEX),
    "x86_64": (x86_THREAD_STATE64, x86_THREAD_STATE64_COUNT, X86_64_SP_INDEX),
}


def sp_from_state(words: list[int], sp_index: int) -> int | None:
    """The uint64 at ``sp_index`` of a thread state given as little-endian uint32
    words; None if the kernel returned too few words."""
    lo = 2 * sp_index
    if len(words) < lo + 2:
        return None
    return (words[lo] & 0xFFFFFFFF) | ((words[lo + 1] & 0xFFFFFFFF) << 32)


class LibSystemTask:
    """A real task port (own task: mach_task_self, never deallocated)."""

    def __init__(self, pid: int, port: int, own: bool) -> None:
        self.pid = pid
        self.port = port
        self.own = own
        self._flavors: list[tuple[int, int, int]] | None = None

    def region_recurse(self, address: int, depth: int) -> RegionInfo:
        from symmap.darwin import _mach
        a, s, d, info = _mach.mach_vm_region_recurse(self.port, address, depth)
        return region_info_from_struct(a, s, d, info)

    def read(self, address: int, size: int) -> bytes:
        from symmap.darwin import _mach
        return _mach.mach_vm_read_overwrite(self.port, address, size)

    def dyld_info(self) -> tuple[int, int, int | None]:
        from symmap.darwin import _mach
        return _mach.task_dyld_info(self.port)

    def purgeable_state(self, address: int) -> int | None:
        from symmap.darwin import _mach
        try:
            return _mach.mach_vm_purgable_control_get(self.port, address)
        except KernReturnError:
            return None

    def page_dispositions(self, address: int, size: int) -> list[int] | None:
        from symmap.darwin import _mach
        if not _mach.has_page_range_query():
            return None
        try:
            return _mach.mach_vm_page_range_query(self.port, address, size)
        except KernReturnError:
            return None

    def vm_info(self) -> VmInfo | None:
        from symmap.darwin import _mach
        try:
            raw, count = _mach.task_vm_info(self.port)
        except KernReturnError:
            return None
        return vm_info_from_raw(raw, count)

    def thread_stack_pointers(self) -> list[int | None]:
        from symmap.darwin import _mach
        threads = _mach.task_threads(self.port)      # raises when the task is gone
        try:
            return [self._thread_sp(th) for th in threads]
        finally:
            for th in threads:                        # every name holds a send right
                try:
                    _mach.mach_port_deallocate(th)
                except KernReturnError:
                    pass

    def _flavor_order(self) -> list[tuple[int, int, int]]:
        if self._flavors is None:
            from symmap.darwin import _mach
            try:
                arm = int.from_bytes(_mach.sysctlbyname("hw.optional.arm64", 4)[:4] or b"\0",
                                     "little") == 1
            except OSError:                           # absent on Intel Macs
                arm = False
            first, second = ("arm64", "x86_64") if arm else ("x86_64", "arm64")
            self._flavors = [THREAD_FLAVORS[first], THREAD_FLAVORS[second]]
        return self._flavors

    def _thread_sp(self, thread: int) -> int | None:
        from symmap.darwin import _mach
        order = self._flavor_order()
        for i, (flavor, count, sp_index) in enumerate(order):
            try:
                words = _mach.thread_get_state(thread, flavor, count)
            except KernReturnError:
                continue                              # thread gone, or not this flavor
            if i:
                order.insert(0, order.pop(i))         # the kernel's flavor goes first
            return sp_from_state(words, sp_index)
        return None

    def close(self) -> None:
        if self.port and not self.own:
            from symmap.darwin import _mach
            try:
                _mach.mach_port_deallocate(self.port)
            except KernReturnError:
                pass
        self.port = 0


class LibSystemKernel:
    """Kernel over libSystem (macOS only; loads the library on first call)."""

    def open_task(self, pid: int, timeout: float = 5.0) -> LibSystemTask:
        from symmap.darwin import _mach
        if pid == os.getpid():
            return LibSystemTask(pid, _mach.mach_task_self(), True)
        result: list[object] = []
        lock = threading.Lock()
        abandoned: list[bool] = []  # non-empty once we stopped waiting for the worker

        def deliver(value: object) -> None:
            with lock:
                if not abandoned:
                    result.append(value)
                    return
            # We gave up waiting (taskgated answered late): nobody will close this port,
            # so give the send right back now instead of leaking it.
            if isinstance(value, int) and value:
                try:
                    _mach.mach_port_deallocate(value)
                except KernReturnError:
                    pass

        def attempt() -> None:
            try:
                attempt_ports()
            except BaseException as e:     # e.g. a binding error: report it, not a "hang"
                deliver(e)

        def attempt_ports() -> None:
            # Read port first (macOS 11.3+; enough for region/read/TASK_DYLD_INFO and
            # granted more often), then the control port.
            errs: list[PortRefused] = []
            calls = ([True] if _mach.has_task_read_for_pid() else []) + [False]
            for read_only in calls:
                try:
                    port = _mach.task_for_pid(pid, read_only)
                except PortRefused as e:
                    errs.append(e)
                    continue
                deliver(port)
                return
            last = errs[-1]
            if len(errs) > 1:          # say why each port was refused, not just the last
                last = PortRefused(last.call, last.kr, "after " + "; ".join(map(str, errs[:-1])))
            deliver(last)

        # task_for_pid can block forever in the taskgated upcall (psutil #2885).
        t = threading.Thread(target=attempt, name="symmap-task-for-pid", daemon=True)
        t.start()
        t.join(timeout)
        with lock:
            if not result:
                abandoned.append(True)
        if not result:
            raise PortRefused("task_for_pid", KERN_FAILURE, f"no answer from taskgated in {timeout:g}s")
        got = result[0]
        if isinstance(got, BaseException):
            raise got
        assert isinstance(got, int)     # deliver() gets a port or an exception
        return LibSystemTask(pid, got, False)

    def pid_exists(self, pid: int) -> bool:
        # xnu never hands out a pid above PID_MAX (bsd/sys/proc_internal.h @xnu-11417.101.15),
        # and os.kill would raise OverflowError past a C int, or probe a process *group*
        # for pid <= 0 (kill(2)); pid 0 is the kernel task, which always exists.
        if not 0 <= pid <= PID_MAX:
            return False
        if pid == 0:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def proc_region(self, pid: int, address: int, with_path: bool) -> ProcRegion | None:
        from symmap.darwin import _mach
        if with_path:
            s = _mach.proc_pidinfo(pid, PROC_PIDREGIONPATHINFO, address, _mach.ProcRegionWithPathInfo)
            if s is None:
                return None
            raw = bytes(s.prp_vip.vip_path)
            path = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape") or None
            return proc_region_from_struct(s.prp_prinfo, path)
        s = _mach.proc_pidinfo(pid, PROC_PIDREGIONINFO, address, _mach.ProcRegionInfo)
        return None if s is None else proc_region_from_struct(s)

    def bsd_info(self, pid: int) -> BsdInfo | None:
        from symmap.darwin import _mach
        try:
            s = _mach.proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, _mach.ProcBsdInfo)
        except OSError:
            return None
        if s is None:
            return None
        def dec(b: bytes) -> str:
            return b.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        return BsdInfo(s.pbi_pid, s.pbi_ppid, s.pbi_uid, dec(bytes(s.pbi_comm)),
                       dec(bytes(s.pbi_name)), s.pbi_start_tvsec, s.pbi_start_tvusec, s.pbi_flags,
                       s.pbi_status)

    def list_pids(self) -> list[int]:
        from symmap.darwin import _mach
        return _mach.proc_listpids()

    def proc_name(self, pid: int) -> str | None:
        from symmap.darwin import _mach
        return _mach.proc_name(pid)

    def proc_path(self, pid: int) -> str | None:
        from symmap.darwin import _mach
        return _mach.proc_pidpath(pid)

    def sysctl_int(self, name: str) -> int | None:
        from symmap.darwin import _mach
        try:
            raw = _mach.sysctlbyname(name, 8)
        except OSError:
            return None
        if len(raw) in (4, 8):
            return int.from_bytes(raw, "little", signed=True)
        return None

    def sysctl_str(self, name: str) -> str | None:
        from symmap.darwin import _mach
        try:
            raw = _mach.sysctlbyname(name, 256)
        except OSError:
            return None
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    def host_page_size(self) -> int:
        return self.sysctl_int("hw.pagesize") or 4096

    def euid(self) -> int:
        return os.geteuid()
