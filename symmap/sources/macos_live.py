"""Live macOS process -> Target: regions, dyld's images, shared cache identity, header facts.

All kernel access goes through a ``symmap.darwin.kernel.Kernel`` (``opts.task`` in
tests: a SimulatedTask; else the real ``LibSystemKernel``), and every kernel
error is translated in one place (``_translate``, psutil's wrap_exceptions):
refused port -> proc_pidinfo fallback or AccessDenied (3); the pid gone mid-walk
-> ProcessVanished (4); a pid that never existed -> NoSuchProcess (2).
"""
from __future__ import annotations

import errno
import os
import time
from typing import TYPE_CHECKING, Any, Callable

from symmap.errors import AccessDenied, BadTarget, NoSuchProcess, ProcessVanished, SymmapError
from symmap.model import Image, SharedCache, Target

if TYPE_CHECKING:
    from symmap.darwin.dyld_image_list import DyldState
    from symmap.darwin.kernel import BsdInfo, Kernel, Task, VmInfo
    from symmap.darwin.memory import TaskMemory
    from symmap.sources import OpenOptions

__all__ = ["open_pid", "find_pids"]

PLATFORM_NAMES = {1: "macOS", 2: "iOS", 3: "tvOS", 4: "watchOS", 5: "bridgeOS",
                  6: "macCatalyst", 7: "iOS Simulator", 8: "tvOS Simulator",
                  9: "watchOS Simulator", 10: "DriverKit", 11: "visionOS",
                  12: "visionOS Simulator"}
PORT_TIMEOUT = 5.0


def _kernel(opts: OpenOptions | None) -> Kernel:
    task: Kernel | None = getattr(opts, "task", None) if opts is not None else None
    if task is not None:
        return task
    import sys
    if sys.platform != "darwin":
        raise BadTarget(f"live macOS processes can only be read on macOS (this is {sys.platform})")
    from symmap.darwin.kernel import LibSystemKernel
    return LibSystemKernel()


class _Vanished(Exception):
    pass


def _translate(pid: int, kernel: Kernel, e: Exception, started: bool) -> SymmapError:
    """One mapping from raw kernel errors (KernReturnError/OSError) to symmap errors."""
    if isinstance(e, SymmapError):
        return e
    alive = True
    try:
        alive = kernel.pid_exists(pid)
    except Exception:
        pass
    if not alive or isinstance(e, _Vanished) or (isinstance(e, OSError) and e.errno == errno.ESRCH):
        return ProcessVanished(pid) if started else NoSuchProcess(pid)
    if isinstance(e, OSError) and e.errno in (errno.EPERM, errno.EACCES):
        return AccessDenied(pid, f"permission denied reading process {pid}: {e.strerror or e}")
    return SymmapError(f"reading process {pid}: {e}")


def open_pid(pid: int, opts: OpenOptions | None = None) -> Target:
    """Open a live macOS process.  ``opts.task`` replaces the kernel (tests)."""
    kernel = _kernel(opts)
    started = [False]
    try:
        return _open(pid, kernel, started)
    except (OSError, _Vanished) as e:
        raise _translate(pid, kernel, e, started[0]) from None


def _open(pid: int, kernel: Kernel, started: list[bool]) -> Target:
    from symmap.darwin.consts import SZOMB, PortRefused
    if not kernel.pid_exists(pid):
        raise NoSuchProcess(pid)
    bsd = kernel.bsd_info(pid)
    if bsd is not None and bsd.status == SZOMB:
        # kill(pid, 0) succeeds on a zombie, but it has no address space left: task ports
        # and region flavors fail (proc_info.c finds zombies only for BSD-info flavors).
        raise NoSuchProcess(pid, f"process {pid} is a zombie (exited, not yet reaped)")
    name = kernel.proc_name(pid) or (bsd.name if bsd else None)
    t = Target(kind="live", name=name, pid=pid, path=kernel.proc_path(pid), os="macos")
    _header_facts(t, kernel, bsd)
    host_page = kernel.host_page_size()
    try:
        task = kernel.open_task(pid, PORT_TIMEOUT)
    except PortRefused as e:
        if not kernel.pid_exists(pid):
            raise NoSuchProcess(pid) from None
        return _fallback(t, kernel, pid, host_page, str(e))
    started[0] = True
    t.closers.append(task.close)
    try:
        _fill_from_task(t, kernel, task, pid, host_page)
    except BaseException:
        t.close()
        raise
    return t


def _header_facts(t: Target, kernel: Kernel, bsd: BsdInfo | None) -> None:
    ver, build = kernel.sysctl_str("kern.osproductversion"), kernel.sysctl_str("kern.osversion")
    if ver:
        t.os_version = ver
        t.info["os_version"] = f"macOS {ver}" + (f" ({build})" if build else "")
    now = time.time()
    t.info["date"] = _vmmap_time(now)
    if bsd is not None:
        if bsd.start_sec:
            t.info["launch_time"] = _vmmap_time(bsd.start_sec + bsd.start_usec / 1e6)
        pname = kernel.proc_name(bsd.ppid) if bsd.ppid else None
        t.info["parent"] = f"{pname or '???'} [{bsd.ppid}]"
    t.info["identifier"] = t.name


def _vmmap_time(ts: float) -> str:
    lt = time.localtime(ts)
    return time.strftime("%Y-%m-%d %H:%M:%S", lt) + f".{int(ts * 1000) % 1000:03d} " + \
        time.strftime("%z", lt)


def _why_refused(kernel: Kernel, pid: int, bsd: BsdInfo | None) -> str:
    euid = kernel.euid()
    if euid != 0:
        if bsd is not None and bsd.uid != euid:
            return "why: the process belongs to another user; run as root"
        return ("why: task_for_pid needs root (sudo), or a target signed with the "
                "get-task-allow entitlement (a debug build)")
    return ("why: even root is refused task ports for SIP-protected platform binaries and "
            "hardened-runtime apps without get-task-allow")


def _fallback(t: Target, kernel: Kernel, pid: int, page: int, refused: str) -> Target:
    from symmap.darwin.consts import PROC_FLAG_ROSETTA
    from symmap.darwin.region_walk import walk_regions_procinfo
    bsd = kernel.bsd_info(pid)
    why = _why_refused(kernel, pid, bsd)
    if bsd is not None and bsd.flags & PROC_FLAG_ROSETTA:
        # No port, so no TASK_VM_INFO: a translated (x86_64) target has a 4 KiB map, and
        # proc_pidinfo counts pages in min(ours, its) (xnu vm_self_region_page_shift).
        page = min(page, 4096)
    try:
        t.regions = walk_regions_procinfo(kernel, pid, page)
    except OSError as e:
        if e.errno == errno.ESRCH or not kernel.pid_exists(pid):
            raise ProcessVanished(pid) from None
        raise AccessDenied(pid, f"permission denied reading process {pid}: {refused} and "
                           f"proc_pidinfo: {e.strerror or e}; {why}") from None
    t.page_size = page
    t.partial = True
    t.notes.append(f"no task port ({refused}): top-level regions from proc_pidinfo only; "
                   "no shared-cache submap detail, no images, no memory reads")
    t.notes.append(why)
    return t


def _fill_from_task(t: Target, kernel: Kernel, task: Task, pid: int, host_page: int) -> None:
    from symmap.darwin.consts import HOLE_CODES, KernReturnError
    from symmap.darwin.dyld_image_list import pointer_mask, read_dyld_state
    from symmap.darwin.image_headers import code_type, image_from_memory, read_macho, scan_for_images
    from symmap.darwin.memory import TaskMemory
    from symmap.darwin.region_walk import walk_regions

    def on_error(e: KernReturnError) -> None:
        # A non-hole error on a read: the task died, or something we cannot read.  Raise
        # the SymmapError itself: t.memory is also read after open_pid returns (shared
        # cache header, symbols), where no _translate is around to convert _Vanished.
        if not kernel.pid_exists(pid):
            raise ProcessVanished(pid)

    mem = TaskMemory(task, 4096, on_error)       # 4 KiB works for 16 KiB hosts too
    t.memory = mem
    va_bits = kernel.sysctl_int("machdep.virtual_address_size")
    try:
        addr, size, fmt = task.dyld_info()
        info_ok = True
    except KernReturnError as e:
        if e.kr not in HOLE_CODES and not kernel.pid_exists(pid):
            raise _Vanished() from None
        info_ok = False
        t.notes.append(f"no dyld image list: {e}")
    state = None
    if info_ok:
        mask = pointer_mask(va_bits, fmt != 0)
        state = read_dyld_state(mem.read, addr, size, fmt, mask, requery=task.dyld_info)
        t.notes.extend(state.notes)
        by_addr: dict[int, Image] = {}   # dedupe by header address (debugserver: old dyld_sim lists twice)
        for di in state.images:
            img = image_from_memory(mem.read, di.load_address, di.path, uuid=di.uuid)
            if di.is_dyld and img.filetype is None:
                img.filetype = "dylinker"
            by_addr.setdefault(di.load_address, img)
        t.images = list(by_addr.values())
    # Page counts come in the effective page size: ours when it equals the target map's,
    # else the smaller of the two (xnu vm_map.c vm_self_region_page_shift; darwin-facts
    # §1.8): 4 KiB for an x86_64/Rosetta target under a 16 KiB host.  The target map's
    # page size is TASK_VM_INFO.page_size (task.c: vm_map_page_size(map)), as debugserver
    # uses; only without it is it guessed from the main executable's architecture.
    vm = _vm_info(kernel, task, pid)
    target_page = vm.page_size if vm is not None and vm.page_size else None
    if target_page is None:
        main = next((i for i in t.images if i.filetype == "execute"), None)
        if main is not None and main.arch and main.arch.startswith(("x86_64", "i386")):
            target_page = 4096
    page = min(host_page, target_page) if target_page else host_page
    t.page_size = page
    mem.page_size = page
    try:
        t.regions = walk_regions(task, page, pid=pid, kernel=kernel,
                                 purgeable=getattr(task, "purgeable_state", None))
    except KernReturnError as e:
        if not kernel.pid_exists(pid):
            raise _Vanished() from None
        raise SymmapError(f"reading process {pid}: {e}") from None
    _name_thread_stacks(t, kernel, task, pid, pointer_mask(va_bits, True))
    if state is not None and (state.suspended or (not state.complete and not t.images)):
        _suspended_images(t, mem, state, scan_for_images, image_from_memory)
    _mark_cache_images(t, state)
    main = next((i for i in t.images if i.filetype == "execute"), None)
    if main is not None:
        t.arch = main.arch
        t.info["load_address"] = main.load_address
        m = read_macho(mem.read, main.load_address, main.path)
        if m is not None:
            t.info["code_type"] = code_type(m)
        if t.path is None:
            t.path = main.path
    plat = state.platform if state is not None else None
    t.info["platform"] = PLATFORM_NAMES.get(plat, "macOS") if plat else "macOS"
    if state is not None:
        t.info["dyld_all_image_infos_version"] = state.version
        if state.cache_uuid:
            t.shared_cache = SharedCache(uuid=state.cache_uuid, base=state.cache_base or 0,
                                         slide=state.cache_slide,
                                         size=_shared_region_size(t, state.cache_base))
            if state.detached:
                t.notes.append("process uses a private dyld shared cache (detached from the shared region)")
    _footprint(t, vm)
    _shared_region_pages(t, kernel, task, pid, host_page)


def _vm_info(kernel: Kernel, task: Task, pid: int) -> VmInfo | None:
    """TASK_VM_INFO (a read port is enough) or None when refused/unavailable."""
    query = getattr(task, "vm_info", None)
    if query is None:
        return None
    info: VmInfo | None = query()
    if info is None and not kernel.pid_exists(pid):
        raise _Vanished()
    return info


def _footprint(t: Target, info: VmInfo | None) -> None:
    """vmmap's "Physical footprint:" / "(peak):" = task_vm_info phys_footprint /
    ledger_phys_footprint_peak."""
    if info is None:
        return
    if info.phys_footprint is not None:
        t.info["footprint"] = info.phys_footprint
        if info.phys_footprint_peak is not None:
            t.info["footprint_peak"] = info.phys_footprint_peak


def _shared_region_pages(t: Target, kernel: Kernel, task: Task, pid: int, host_page: int) -> None:
    """Per-page dispositions of the regions in the shared region, kept on ``Region.pages``
    (not serialized), so the annotator can give the cache's sub-page rows exact counts
    and show ``unused`` rows only on dirty pages, as vmmap does.  The kernel answers in
    the caller's page size and refuses when it differs from the target's (xnu vm_map.c
    vm_self_region_page_shift_safely), so a Rosetta target under a 16 KiB host gets
    none and the annotator keeps its region-total behaviour."""
    sc = t.shared_cache
    query = getattr(task, "page_dispositions", None)
    page = t.page_size
    if sc is None or not sc.base or not sc.size or query is None or page != host_page:
        return
    lo, hi = sc.base, sc.base + sc.size
    for r in t.regions:
        if r.end <= lo or r.start >= hi or r.end <= r.start:
            continue
        a = r.start - r.start % page
        b = -(-r.end // page) * page
        d = query(a, b - a)
        if d is None:
            if not kernel.pid_exists(pid):
                raise _Vanished()
            return                   # refused: likely for every region, stop asking
        if len(d) == (b - a) // page:
            r.pages = d


def _name_thread_stacks(t: Target, kernel: Kernel, task: Task, pid: int, mask: int) -> None:
    """"Stack ... thread N" / "STACK GUARD ... stack guard for thread N" from each
    thread's stack pointer.  The threads are not put in ``t.threads``: that would add a
    Threads block to the text report, which vmmap's map of a live process does not have.
    On arm64e the kernel may PAC-sign sp (xnu osfmk/arm64/status.c
    machine_thread_state_convert_to_user signs sp/fp/pc/lr for arm64e callers), so it is
    masked like dyld's pointers."""
    from symmap.darwin.consts import KernReturnError
    from symmap.darwin.thread_stacks import label_thread_stacks
    query = getattr(task, "thread_stack_pointers", None)
    if query is None:
        return
    try:
        sps = query()
    except KernReturnError as e:
        if not kernel.pid_exists(pid):
            raise _Vanished() from None
        t.notes.append(f"no thread list (stacks not named): {e}")
        return
    # A thread that could not be read has usually just exited; if the whole process did,
    # say so instead of printing a half-named map.
    if None in sps and not kernel.pid_exists(pid):
        raise _Vanished()
    label_thread_stacks(t.regions, [None if sp is None else sp & mask for sp in sps])


def _suspended_images(t: Target, mem: TaskMemory, state: DyldState, scan_for_images: Callable[..., Any],
                      image_from_memory: Callable[..., Image]) -> None:
    """dyld has not published a list (process suspended at launch): scan r-x regions
    for MH_EXECUTE / MH_DYLINKER headers like libdyld's makeSuspended."""
    found = scan_for_images(mem.read, t.regions)
    have = {i.load_address for i in t.images}
    for addr, m, path in found:
        if addr not in have:
            t.images.append(image_from_memory(mem.read, addr, path or m.dylinker))
            have.add(addr)
    if state.dyld_load_address and state.dyld_load_address not in have:
        img = image_from_memory(mem.read, state.dyld_load_address, "/usr/lib/dyld")
        t.images.append(img)
    t.notes.append("dyld had not published its image list (process suspended at launch?): "
                   "images found by scanning executable regions")


def _mark_cache_images(t: Target, state: DyldState | None) -> None:
    """An image is in the shared cache when its header lies in a region seen only by
    descending the shared-region submap (depth > 0), or its header says so."""
    sub = [(r.start, r.end) for r in t.regions if r.depth]
    if not sub:
        return
    import bisect
    starts = [s for s, _ in sub]
    for img in t.images:
        i = bisect.bisect_right(starts, img.load_address) - 1
        if i >= 0 and sub[i][0] <= img.load_address < sub[i][1]:
            img.in_shared_cache = True


def _shared_region_size(t: Target, base: int | None) -> int | None:
    if not base:
        return None
    ends = [r.end for r in t.regions if r.depth and r.end > base]
    return (max(ends) - base) if ends else None


def find_pids(name: str, kernel: Kernel | None = None) -> list[tuple[int, str]]:
    """(pid, name) of processes whose name (proc_name) or executable basename is ``name``."""
    kernel = kernel if kernel is not None else _kernel(None)
    out = []
    for pid in kernel.list_pids():
        if pid == os.getpid():
            continue
        pname = kernel.proc_name(pid)
        path = None
        if pname != name:
            path = kernel.proc_path(pid)
            if not path or path.rsplit("/", 1)[-1] != name:
                continue
        out.append((pid, pname or name))
    return out

