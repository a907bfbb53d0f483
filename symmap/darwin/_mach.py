"""The one module that touches ctypes for libSystem: struct layouts + thin call wrappers.

libSystem is loaded lazily on the first call (``lib()``), so importing this
module on Linux only defines ``ctypes.Structure`` layouts (which tests check
against darwin-facts.md).  Every wrapper returns raw values or raises
``KernReturnError`` (Mach calls, naming the call) / ``OSError`` (BSD calls, with
errno).  Nothing here interprets results; ``kernel.LibSystemKernel`` does.

Layouts: xnu osfmk/mach/vm_region.h and task_info.h are under
``#pragma pack(push, 4)``; bsd/sys/proc_info.h is naturally aligned;
dyld include/mach-o/dyld_images.h (dyld-1378) is naturally aligned, 16-byte
aligned as a whole since dyld-1042.
"""
from __future__ import annotations

import ctypes
import threading
from typing import Any
from ctypes import (POINTER, Structure, byref, c_char, c_char_p, c_int, c_int32, c_int64,
                    c_size_t, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)

from symmap.darwin.consts import (KERN_FAILURE, KERN_SUCCESS, MAXPATHLEN, PROC_PIDPATHINFO_MAXSIZE, TASK_DYLD_INFO,
                     TASK_DYLD_INFO_COUNT, TASK_VM_INFO, TASK_VM_INFO_REV3_COUNT,
                     VM_REGION_SUBMAP_INFO_COUNT_64, KernReturnError, PortRefused)

LIBSYSTEM = "/usr/lib/libSystem.B.dylib"
mach_port_t = c_uint32


# --- structs ---------------------------------------------------------------------------

class VmRegionSubmapInfo64(Structure):
    """struct vm_region_submap_info_64 (76 bytes, count 19; pack(4): offset@12)."""
    _pack_ = 4
    _fields_ = [
        ("protection", c_int32), ("max_protection", c_int32), ("inheritance", c_uint32),
        ("offset", c_uint64), ("user_tag", c_uint32), ("pages_resident", c_uint32),
        ("pages_shared_now_private", c_uint32), ("pages_swapped_out", c_uint32),
        ("pages_dirtied", c_uint32), ("ref_count", c_uint32), ("shadow_depth", c_uint16),
        ("external_pager", c_uint8), ("share_mode", c_uint8), ("is_submap", c_int32),
        ("behavior", c_int32), ("object_id", c_uint32), ("user_wired_count", c_uint16),
        ("pages_reusable", c_uint32), ("object_id_full", c_uint64),
    ]


class TaskDyldInfo(Structure):
    """struct task_dyld_info (20 bytes; pack(4))."""
    _pack_ = 4
    _fields_ = [("all_image_info_addr", c_uint64), ("all_image_info_size", c_uint64),
                ("all_image_info_format", c_int32)]


class TaskVmInfo(Structure):
    """struct task_vm_info, all revisions through rev7 (372 bytes, count 93; pack(4), so
    rev5's 4-byte ``decompressions`` leaves the following int64s 4-aligned).
    xnu osfmk/mach/task_info.h @xnu-11417.101.15."""
    _pack_ = 4
    _fields_ = [
        ("virtual_size", c_uint64), ("region_count", c_int32), ("page_size", c_int32),
        ("resident_size", c_uint64), ("resident_size_peak", c_uint64),
        ("device", c_uint64), ("device_peak", c_uint64), ("internal", c_uint64),
        ("internal_peak", c_uint64), ("external", c_uint64), ("external_peak", c_uint64),
        ("reusable", c_uint64), ("reusable_peak", c_uint64),
        ("purgeable_volatile_pmap", c_uint64), ("purgeable_volatile_resident", c_uint64),
        ("purgeable_volatile_virtual", c_uint64), ("compressed", c_uint64),
        ("compressed_peak", c_uint64), ("compressed_lifetime", c_uint64),
        ("phys_footprint", c_uint64),                                   # rev1
        ("min_address", c_uint64), ("max_address", c_uint64),            # rev2
        ("ledger_phys_footprint_peak", c_int64),                         # rev3 (+20 ledgers)
        ("ledger_rev3", c_int64 * 20),
        ("limit_bytes_remaining", c_uint64),                             # rev4
        ("decompressions", c_int32),                                     # rev5
        ("ledger_swapins", c_int64),                                     # rev6
        ("ledger_tag_neural_nofootprint_total", c_int64),                # rev7
        ("ledger_tag_neural_nofootprint_peak", c_int64),
    ]


TASK_VM_INFO_SIZE = ctypes.sizeof(TaskVmInfo)


class ProcRegionInfo(Structure):
    """struct proc_regioninfo (96 bytes)."""
    _fields_ = [
        ("pri_protection", c_uint32), ("pri_max_protection", c_uint32),
        ("pri_inheritance", c_uint32), ("pri_flags", c_uint32), ("pri_offset", c_uint64),
        ("pri_behavior", c_uint32), ("pri_user_wired_count", c_uint32),
        ("pri_user_tag", c_uint32), ("pri_pages_resident", c_uint32),
        ("pri_pages_shared_now_private", c_uint32), ("pri_pages_swapped_out", c_uint32),
        ("pri_pages_dirtied", c_uint32), ("pri_ref_count", c_uint32),
        ("pri_shadow_depth", c_uint32), ("pri_share_mode", c_uint32),
        ("pri_private_pages_resident", c_uint32), ("pri_shared_pages_resident", c_uint32),
        ("pri_obj_id", c_uint32), ("pri_depth", c_uint32), ("pri_address", c_uint64),
        ("pri_size", c_uint64),
    ]


class VinfoStat(Structure):
    """struct vinfo_stat (136 bytes)."""
    _fields_ = [
        ("vst_dev", c_uint32), ("vst_mode", c_uint16), ("vst_nlink", c_uint16),
        ("vst_ino", c_uint64), ("vst_uid", c_uint32), ("vst_gid", c_uint32),
        ("vst_atime", c_int64), ("vst_atimensec", c_int64), ("vst_mtime", c_int64),
        ("vst_mtimensec", c_int64), ("vst_ctime", c_int64), ("vst_ctimensec", c_int64),
        ("vst_birthtime", c_int64), ("vst_birthtimensec", c_int64), ("vst_size", c_int64),
        ("vst_blocks", c_int64), ("vst_blksize", c_int32), ("vst_flags", c_uint32),
        ("vst_gen", c_uint32), ("vst_rdev", c_uint32), ("vst_qspare", c_int64 * 2),
    ]


class VnodeInfo(Structure):
    _fields_ = [("vi_stat", VinfoStat), ("vi_type", c_int32), ("vi_pad", c_int32),
                ("vi_fsid", c_int32 * 2)]


class VnodeInfoPath(Structure):
    _fields_ = [("vip_vi", VnodeInfo), ("vip_path", c_char * MAXPATHLEN)]


class ProcRegionWithPathInfo(Structure):
    """struct proc_regionwithpathinfo (1272 bytes; path at 248)."""
    _fields_ = [("prp_prinfo", ProcRegionInfo), ("prp_vip", VnodeInfoPath)]


class ProcBsdInfo(Structure):
    """struct proc_bsdinfo (136 bytes), PROC_PIDTBSDINFO."""
    _fields_ = [
        ("pbi_flags", c_uint32), ("pbi_status", c_uint32), ("pbi_xstatus", c_uint32),
        ("pbi_pid", c_uint32), ("pbi_ppid", c_uint32), ("pbi_uid", c_uint32),
        ("pbi_gid", c_uint32), ("pbi_ruid", c_uint32), ("pbi_rgid", c_uint32),
        ("pbi_svuid", c_uint32), ("pbi_svgid", c_uint32), ("rfu_1", c_uint32),
        ("pbi_comm", c_char * 16), ("pbi_name", c_char * 32), ("pbi_nfiles", c_uint32),
        ("pbi_pgid", c_uint32), ("pbi_pjobc", c_uint32), ("e_tdev", c_uint32),
        ("e_tpgid", c_uint32), ("pbi_nice", c_int32), ("pbi_start_tvsec", c_uint64),
        ("pbi_start_tvusec", c_uint64),
    ]


class DyldImageInfo64(Structure):
    _fields_ = [("imageLoadAddress", c_uint64), ("imageFilePath", c_uint64),
                ("imageFileModDate", c_uint64)]


class DyldImageInfo32(Structure):
    _fields_ = [("imageLoadAddress", c_uint32), ("imageFilePath", c_uint32),
                ("imageFileModDate", c_uint32)]


class DyldUuidInfo64(Structure):
    _fields_ = [("imageLoadAddress", c_uint64), ("imageUUID", c_uint8 * 16)]


class DyldUuidInfo32(Structure):
    _fields_ = [("imageLoadAddress", c_uint32), ("imageUUID", c_uint8 * 16)]


_AII_COMMON_HEAD = [("version", c_uint32), ("infoArrayCount", c_uint32)]


def _aii_fields(ptr: Any, u64_tail_ts: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return _AII_COMMON_HEAD + [
        ("infoArray", ptr), ("notification", ptr),
        ("processDetachedFromSharedRegion", c_uint8), ("libSystemInitialized", c_uint8),
        ("dyldImageLoadAddress", ptr), ("jitInfo", ptr), ("dyldVersion", ptr),
        ("errorMessage", ptr), ("terminationFlags", ptr), ("coreSymbolicationShmPage", ptr),
        ("systemOrderFlag", ptr), ("uuidArrayCount", ptr), ("uuidArray", ptr),
        ("dyldAllImageInfosAddress", ptr), ("initialImageCount", ptr), ("errorKind", ptr),
        ("errorClientOfDylibPath", ptr), ("errorTargetDylibPath", ptr), ("errorSymbol", ptr),
        ("sharedCacheSlide", ptr), ("sharedCacheUUID", c_uint8 * 16),
        ("sharedCacheBaseAddress", ptr), ("infoArrayChangeTimestamp", c_uint64),
        ("dyldPath", ptr), ("notifyPorts", mach_port_t * 8),
        ("reserved", ptr * (7 if ptr is c_uint64 else 1)),
        ("sharedCacheFSID", c_uint64), ("sharedCacheFSObjID", c_uint64),
        ("compact_dyld_image_info_addr", ptr), ("compact_dyld_image_info_size", ptr),
        ("platform", c_uint32), ("aotInfoCount", c_uint32), ("aotInfoArray", ptr),
        ("aotInfoArrayChangeTimestamp", c_uint64), ("aotSharedCacheBaseAddress", ptr),
        ("aotSharedCacheUUID", c_uint8 * 16),
    ] + u64_tail_ts


class DyldAllImageInfos64(Structure):
    """struct dyld_all_image_infos, LP64 target (368 bytes)."""
    _fields_ = _aii_fields(c_uint64, [])


class DyldAllImageInfos32(Structure):
    """struct dyld_all_image_infos, i386 target (224 bytes): u64 fields are 4-aligned
    on i386, and the struct is padded to its aligned(16) size."""
    _pack_ = 4
    _fields_ = _aii_fields(c_uint32, [("_tail_pad", c_uint8 * 8)])


# --- lazy library -----------------------------------------------------------------------

_lib = None
_lock = threading.Lock()


def lib() -> ctypes.CDLL:
    """libSystem, loaded and prototyped on first use (never at import time)."""
    global _lib
    with _lock:
        if _lib is None:
            _lib = _declare(ctypes.CDLL(LIBSYSTEM, use_errno=True))
        return _lib


def _declare(L: ctypes.CDLL) -> ctypes.CDLL:
    def proto(name: str, res: Any, *args: Any) -> None:
        fn = getattr(L, name)
        fn.restype = res
        fn.argtypes = list(args)

    P = POINTER
    proto("mach_task_self", mach_port_t)
    proto("task_for_pid", c_int, mach_port_t, c_int, P(mach_port_t))
    if hasattr(L, "task_read_for_pid"):      # macOS 11.3+ only
        proto("task_read_for_pid", c_int, mach_port_t, c_int, P(mach_port_t))
    proto("mach_vm_region_recurse", c_int, mach_port_t, P(c_uint64), P(c_uint64), P(c_uint32),
          c_void_p, P(c_uint32))
    proto("mach_vm_read_overwrite", c_int, mach_port_t, c_uint64, c_uint64, c_uint64, P(c_uint64))
    proto("mach_vm_purgable_control", c_int, mach_port_t, c_uint64, c_int, P(c_int))
    # mach/mach_vm.defs (macOS 10.13+, xnu-4570): mach_vm_page_range_query(vm_map_read_t
    # target_map, mach_vm_offset_t address, mach_vm_size_t size, mach_vm_address_t
    # dispositions /* an int array in OUR space, filled by copyout */, inout mach_vm_size_t
    # dispositions_count).  vm_map_read_t since xnu-7195 (macOS 11), so a read port works.
    if hasattr(L, "mach_vm_page_range_query"):
        proto("mach_vm_page_range_query", c_int, mach_port_t, c_uint64, c_uint64, c_uint64,
              P(c_uint64))
    proto("task_info", c_int, mach_port_t, c_uint32, c_void_p, P(c_uint32))
    proto("mach_port_deallocate", c_int, mach_port_t, mach_port_t)
    # mach/task.defs task_threads(task_inspect_t, out thread_act_array_t): the array is
    # MIG out-of-line memory placed in OUR address space (pointer-to-pointer here).
    proto("task_threads", c_int, mach_port_t, P(c_void_p), P(c_uint32))
    # mach/thread_act.defs thread_get_state(thread_read_t, flavor, out natural_t[], CountInOut)
    proto("thread_get_state", c_int, mach_port_t, c_int, P(c_uint32), P(c_uint32))
    proto("mach_vm_deallocate", c_int, mach_port_t, c_uint64, c_uint64)
    proto("proc_pidinfo", c_int, c_int, c_int, c_uint64, c_void_p, c_int)
    proto("proc_listpids", c_int, c_uint32, c_uint32, c_void_p, c_int)
    proto("proc_name", c_int, c_int, c_void_p, c_uint32)
    proto("proc_pidpath", c_int, c_int, c_void_p, c_uint32)
    proto("sysctlbyname", c_int, c_char_p, c_void_p, P(c_size_t), c_void_p, c_size_t)
    return L


def _check(call: str, kr: int) -> None:
    if kr != KERN_SUCCESS:
        raise KernReturnError(call, kr)


def _oserror(call: str) -> OSError:
    import os
    e = ctypes.get_errno()
    return OSError(e, f"{call}: {os.strerror(e) if e else 'failed'}")


# --- Mach ---------------------------------------------------------------------------------

def mach_task_self() -> int:
    return int(lib().mach_task_self())


def has_task_read_for_pid() -> bool:
    return hasattr(lib(), "task_read_for_pid")


def task_for_pid(pid: int, read_only: bool = False) -> int:
    """Port name for pid; raises PortRefused (kr) when the kernel says no."""
    L = lib()
    call = "task_read_for_pid" if read_only else "task_for_pid"
    port = mach_port_t(0)
    ctypes.set_errno(0)
    kr = getattr(L, call)(L.mach_task_self(), pid, byref(port))
    if kr != KERN_SUCCESS:
        if read_only:
            # task_read_for_pid is BSD syscall 539 (xnu bsd/kern/syscalls.master, kern_proc.c
            # @xnu-11417.101.15): the libsyscall stub returns -1 and the reason is in errno
            # (EPERM refused, ESRCH no such process, EACCES corpse), not a kern_return_t.
            raise PortRefused(call, KERN_FAILURE, os_errno=ctypes.get_errno() or None)
        raise PortRefused(call, kr)
    if port.value == 0:           # MACH_PORT_NULL with KERN_SUCCESS: treat as refused
        raise PortRefused(call, kr, "null port")
    return port.value


def mach_vm_region_recurse(task: int, address: int, depth: int) -> tuple[int, int, int, VmRegionSubmapInfo64]:
    """One call with count 19; returns (address, size, depth, info)."""
    addr = c_uint64(address)
    size = c_uint64(0)
    d = c_uint32(depth)
    info = VmRegionSubmapInfo64()
    cnt = c_uint32(VM_REGION_SUBMAP_INFO_COUNT_64)
    _check("mach_vm_region_recurse",
           lib().mach_vm_region_recurse(task, byref(addr), byref(size), byref(d), byref(info), byref(cnt)))
    return addr.value, size.value, d.value, info


def mach_vm_read_overwrite(task: int, address: int, size: int) -> bytes:
    buf = ctypes.create_string_buffer(size)
    out = c_uint64(0)
    _check("mach_vm_read_overwrite",
           lib().mach_vm_read_overwrite(task, address, size, ctypes.addressof(buf), byref(out)))
    return buf.raw[:out.value]


def mach_vm_purgable_control_get(task: int, address: int) -> int:
    """VM_PURGABLE_GET_STATE (1) -> state & VM_PURGABLE_STATE_MASK (3); raises for
    non-purgeable objects.  GET_STATE takes a read port since xnu-8019 (macOS 12; vm_user.c
    mach_vm_purgable_control_external: convert_port_to_map_read); macOS 11 needs control."""
    state = c_int(0)
    _check("mach_vm_purgable_control", lib().mach_vm_purgable_control(task, address, 1, byref(state)))
    return state.value & 3


def task_dyld_info(task: int) -> tuple[int, int, int | None]:
    """TASK_DYLD_INFO -> (all_image_info_addr, size, format or None for legacy count)."""
    info = TaskDyldInfo()
    cnt = c_uint32(TASK_DYLD_INFO_COUNT)
    _check("task_info(TASK_DYLD_INFO)", lib().task_info(task, TASK_DYLD_INFO, byref(info), byref(cnt)))
    fmt = info.all_image_info_format if cnt.value >= TASK_DYLD_INFO_COUNT else None
    return info.all_image_info_addr, info.all_image_info_size, fmt


def task_vm_info(task: int) -> tuple[bytes, int]:
    """TASK_VM_INFO asking for rev3 (phys_footprint + ledger_phys_footprint_peak; asking
    for more than the kernel's TASK_VM_INFO_COUNT makes it log "possibly invalid
    task_info_count").  Returns the raw struct bytes and the count the kernel filled."""
    info = TaskVmInfo()
    cnt = c_uint32(TASK_VM_INFO_REV3_COUNT)
    _check("task_info(TASK_VM_INFO)", lib().task_info(task, TASK_VM_INFO, byref(info), byref(cnt)))
    return bytes(info), min(cnt.value, TASK_VM_INFO_REV3_COUNT)


# Bytes of address space per mach_vm_page_range_query call: bounds our buffer (one int per
# 4 KiB page, the smallest page a Mac kernel uses, so the buffer always has room) and the
# kernel's per-call allocation (it caps a call at MAX_PAGE_RANGE_QUERY = 1 GiB anyway).
PAGE_QUERY_CHUNK = 64 << 20
_MIN_PAGE = 4096


def has_page_range_query() -> bool:
    return hasattr(lib(), "mach_vm_page_range_query")


def mach_vm_page_range_query(task: int, address: int, size: int) -> list[int]:
    """Per-page VM_PAGE_QUERY_PAGE_* dispositions of [address, address+size), one int per
    page of the kernel's effective page size (xnu vm_user.c mach_vm_page_range_query).

    ``address``/``size`` should be page aligned: the kernel truncates the start and rounds
    the end.  The kernel refuses (KERN_INVALID_ARGUMENT) when our page size differs from the
    target's (vm_self_region_page_shift_safely), e.g. a 16 KiB arm64 caller and a 4 KiB
    Rosetta target.  Unmapped pages come back as 0.  Raises KernReturnError."""
    L = lib()
    out: list[int] = []
    cap = PAGE_QUERY_CHUNK // _MIN_PAGE
    buf = (c_int * cap)()
    a, end = address, address + size
    while a < end:
        n = min(PAGE_QUERY_CHUNK, end - a)
        cnt = c_uint64(cap)
        _check("mach_vm_page_range_query",
               L.mach_vm_page_range_query(task, a, n, ctypes.addressof(buf), byref(cnt)))
        out.extend(buf[:min(cnt.value, cap)])
        a += n
    return out


def mach_port_deallocate(port: int) -> None:
    L = lib()
    _check("mach_port_deallocate", L.mach_port_deallocate(L.mach_task_self(), port))


def task_threads(task: int) -> list[int]:
    """Thread port names of ``task``, in the kernel's thread-list order.

    The caller owns one send right per name and must mach_port_deallocate each.  With
    a read port the kernel hands back thread *read* ports (xnu osfmk/kern/task.c
    task_threads_from_user: IKOT_TASK_READ -> THREAD_FLAVOR_READ), which is what
    thread_get_state needs (thread_read_t), so the read port is enough.
    """
    L = lib()
    arr = c_void_p(0)
    cnt = c_uint32(0)
    _check("task_threads", L.task_threads(task, byref(arr), byref(cnt)))
    addr, n = arr.value or 0, cnt.value
    if not addr:
        return []
    try:
        # Copy out before the MIG buffer is returned to the VM system.
        return list((mach_port_t * n).from_address(addr))
    finally:
        L.mach_vm_deallocate(L.mach_task_self(), addr, n * ctypes.sizeof(mach_port_t))


def thread_get_state(thread: int, flavor: int, count: int) -> list[int]:
    """Raw thread state as uint32 words (as many as the kernel filled in)."""
    buf = (c_uint32 * count)()
    cnt = c_uint32(count)
    _check("thread_get_state", lib().thread_get_state(thread, flavor, buf, byref(cnt)))
    return list(buf[:min(cnt.value, count)])


# --- libproc / BSD ------------------------------------------------------------------------

def proc_pidinfo(pid: int, flavor: int, arg: int, struct_type: type[Structure]) -> Structure | None:
    """Fill one struct; None when the call returns 0 (libproc: error or nothing there);
    raises OSError with errno on -1 or an errno-bearing 0."""
    buf = struct_type()
    ctypes.set_errno(0)
    n = lib().proc_pidinfo(pid, flavor, arg, byref(buf), ctypes.sizeof(buf))
    if n <= 0:
        e = ctypes.get_errno()
        if n < 0 or e:
            raise _oserror(f"proc_pidinfo(flavor {flavor})")
        return None
    if n < ctypes.sizeof(buf):
        return None
    return buf


def proc_listpids() -> list[int]:
    L = lib()
    n = L.proc_listpids(1, 0, None, 0)      # PROC_ALL_PIDS: returns bytes needed
    if n <= 0:
        raise _oserror("proc_listpids")
    count = n // 4 + 64
    arr = (c_int * count)()
    n = L.proc_listpids(1, 0, arr, ctypes.sizeof(arr))
    if n <= 0:
        raise _oserror("proc_listpids")
    return [p for p in arr[: n // 4] if p > 0]


def _strcall(fn_name: str, pid: int, size: int) -> str | None:
    buf = ctypes.create_string_buffer(size)
    ctypes.set_errno(0)
    n = getattr(lib(), fn_name)(pid, buf, size)
    if n <= 0:
        return None
    return buf.raw[:n].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def proc_name(pid: int) -> str | None:
    return _strcall("proc_name", pid, 256)


def proc_pidpath(pid: int) -> str | None:
    return _strcall("proc_pidpath", pid, PROC_PIDPATHINFO_MAXSIZE)


def sysctlbyname(name: str, size: int = 256) -> bytes:
    L = lib()
    n = c_size_t(size)
    buf = ctypes.create_string_buffer(size)
    ctypes.set_errno(0)
    if L.sysctlbyname(name.encode(), buf, byref(n), None, 0) != 0:
        raise _oserror(f"sysctlbyname({name})")
    return buf.raw[:n.value]
