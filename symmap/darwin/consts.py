"""Mach / libproc constants and the kern_return_t error type (pure Python, no ctypes).

Values: xnu osfmk/mach/kern_return.h, vm_region.h, task_info.h, bsd/sys/proc_info.h
(apple-oss-distributions/xnu @ xnu-11417.101.15), summarized in darwin-facts.md §1-3.
"""
from __future__ import annotations

KERN_SUCCESS = 0
KERN_INVALID_ADDRESS = 1
KERN_PROTECTION_FAILURE = 2
KERN_NO_SPACE = 3
KERN_INVALID_ARGUMENT = 4
KERN_FAILURE = 5
KERN_RESOURCE_SHORTAGE = 6
KERN_NO_ACCESS = 8
KERN_INVALID_NAME = 15
KERN_INVALID_TASK = 16
KERN_TERMINATED = 37
# mach_msg errors seen when the task port died under us (port became a dead name).
MACH_SEND_INVALID_DEST = 0x10000003
MACH_RCV_PORT_DIED = 0x10004005

KERN_NAMES = {
    0: "KERN_SUCCESS", 1: "KERN_INVALID_ADDRESS", 2: "KERN_PROTECTION_FAILURE",
    3: "KERN_NO_SPACE", 4: "KERN_INVALID_ARGUMENT", 5: "KERN_FAILURE",
    6: "KERN_RESOURCE_SHORTAGE", 8: "KERN_NO_ACCESS", 15: "KERN_INVALID_NAME",
    16: "KERN_INVALID_TASK", 37: "KERN_TERMINATED",
    MACH_SEND_INVALID_DEST: "MACH_SEND_INVALID_DEST", MACH_RCV_PORT_DIED: "MACH_RCV_PORT_DIED",
}

# Errors after which the task is probably gone (check pid liveness before saying so).
DEATH_CODES = frozenset({KERN_INVALID_ARGUMENT, KERN_INVALID_NAME, KERN_INVALID_TASK,
                         KERN_TERMINATED, MACH_SEND_INVALID_DEST, MACH_RCV_PORT_DIED,
                         KERN_FAILURE})
# Errors that only mean "this range is not readable / not mapped".
HOLE_CODES = frozenset({KERN_INVALID_ADDRESS, KERN_PROTECTION_FAILURE, KERN_NO_ACCESS})

# vm_region.h
VM_REGION_SUBMAP_INFO_COUNT_64 = 19          # V2, 76 bytes / 4
VM_REGION_SUBMAP_INFO_V1_COUNT_64 = 17
VM_REGION_SUBMAP_INFO_V0_COUNT_64 = 16
SM_COW, SM_PRIVATE, SM_EMPTY, SM_SHARED, SM_TRUESHARED = 1, 2, 3, 4, 5
SM_PRIVATE_ALIASED, SM_SHARED_ALIASED, SM_LARGE_PAGE = 6, 7, 8
# user_tag of the fake region vm.self_region_footprint appends (vm_map.c).
FOOTPRINT_TAG = 0xFFFFFFFF

# task_info.h
TASK_DYLD_INFO = 17
TASK_DYLD_INFO_COUNT = 5
TASK_DYLD_ALL_IMAGE_INFO_32 = 0
TASK_DYLD_ALL_IMAGE_INFO_64 = 1
# TASK_VM_INFO (task_info.h @xnu-11417.101.15): struct task_vm_info grows by "revN" tails;
# counts are in natural_t words.  REV1 adds phys_footprint, REV3 ledger_phys_footprint_peak
# (REV3 since xnu-6153 = macOS 10.15).  The flavor converts the port with
# convert_port_to_task_name (kern/task.c task_info_from_user), so a read port is enough.
TASK_VM_INFO = 22
TASK_VM_INFO_REV0_COUNT = 36
TASK_VM_INFO_REV1_COUNT = 38
TASK_VM_INFO_REV2_COUNT = 42
TASK_VM_INFO_REV3_COUNT = 84
TASK_VM_INFO_REV7_COUNT = 93
# vm_statistics.h VM_PAGE_QUERY_PAGE_* (same values @xnu-4570.1.46 .. xnu-11417.101.15; REUSABLE
# added by xnu-6153): the per-page disposition bits mach_vm_page_range_query returns.
VM_PAGE_QUERY_PAGE_PRESENT = 0x1
VM_PAGE_QUERY_PAGE_FICTITIOUS = 0x2
VM_PAGE_QUERY_PAGE_REF = 0x4
VM_PAGE_QUERY_PAGE_DIRTY = 0x8
VM_PAGE_QUERY_PAGE_PAGED_OUT = 0x10
VM_PAGE_QUERY_PAGE_COPIED = 0x20
VM_PAGE_QUERY_PAGE_SPECULATIVE = 0x40
VM_PAGE_QUERY_PAGE_EXTERNAL = 0x80
VM_PAGE_QUERY_PAGE_CS_VALIDATED = 0x100
VM_PAGE_QUERY_PAGE_CS_TAINTED = 0x200
VM_PAGE_QUERY_PAGE_CS_NX = 0x400
VM_PAGE_QUERY_PAGE_REUSABLE = 0x800

# bsd/sys/proc.h p_stat values (proc_bsdinfo.pbi_status)
SZOMB = 5

# proc_info.h
PROC_ALL_PIDS = 1
PROC_PIDTBSDINFO = 3
PROC_PIDREGIONINFO = 7
PROC_PIDREGIONPATHINFO = 8
PROC_PIDPATHINFO_MAXSIZE = 4 * 1024
MAXPATHLEN = 1024
# proc_bsdinfo.pbi_flags: P_TRANSLATED (Rosetta) since xnu-8019 (macOS 12), bsd/kern/proc_info.c
PROC_FLAG_ROSETTA = 0x2000000
PROC_REGION_SUBMAP = 1
PROC_REGION_SHARED = 2

# Thread state flavors and counts (uint32 words) for thread_get_state, @xnu-11417.101.15:
# osfmk/mach/arm/thread_status.h ARM_THREAD_STATE64 = 6, COUNT = sizeof(arm_thread_state64_t)/4
# = 68 (osfmk/mach/arm/_structs.h: x[29], fp, lr, sp, pc, cpsr, flags -> sp is uint64 #31);
# osfmk/mach/i386/thread_status.h x86_THREAD_STATE64 = 4, COUNT = 42 (21 uint64: rax rbx
# rcx rdx rdi rsi rbp rsp r8-r15 rip rflags cs fs gs -> rsp is uint64 #7).
ARM_THREAD_STATE64 = 6
ARM_THREAD_STATE64_COUNT = 68
ARM64_SP_INDEX = 31
x86_THREAD_STATE64 = 4
x86_THREAD_STATE64_COUNT = 42
X86_64_SP_INDEX = 7

# Purgeable states (vm_purgable.h) -> vmmap PURGE= letters.
VM_PURGABLE_NONVOLATILE, VM_PURGABLE_VOLATILE, VM_PURGABLE_EMPTY = 0, 1, 2
PURGE_LETTERS = {VM_PURGABLE_NONVOLATILE: "N", VM_PURGABLE_VOLATILE: "V", VM_PURGABLE_EMPTY: "E"}

# mach-o/loader.h: set in headers of dylibs built into the dyld shared cache.
MH_DYLIB_IN_CACHE = 0x80000000


def kern_name(kr: int) -> str:
    return KERN_NAMES.get(kr, f"kern_return {kr:#x}")


class KernReturnError(OSError):
    """A Mach call returned kr != KERN_SUCCESS.  ``call`` names the function."""

    def __init__(self, call: str, kr: int, detail: str = "") -> None:
        self.call = call
        self.kr = kr
        msg = f"{call}: {kern_name(kr)}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class PortRefused(KernReturnError):
    """task_for_pid / task_read_for_pid refused (or hung in taskgated).

    ``os_errno``: set when the refusal came as an errno (task_read_for_pid is a BSD
    syscall, not a Mach trap: it returns -1 and sets EPERM/ESRCH/EACCES/EINVAL)."""

    def __init__(self, call: str, kr: int, detail: str = "", os_errno: int | None = None) -> None:
        super().__init__(call, kr, detail)
        self.os_errno = os_errno
        if os_errno is not None:
            import errno as _errno
            import os as _os
            name = _errno.errorcode.get(os_errno, f"errno {os_errno}")
            msg = f"{call}: {name} ({_os.strerror(os_errno)})"
            self.args = (msg + (f" ({detail})" if detail else ""),)

    def __str__(self) -> str:
        return self.args[0] if self.args else super().__str__()


class TaskGone(KernReturnError):
    """Raised by a Task whose process has exited (simulated or detected)."""
