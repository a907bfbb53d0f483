"""SimulatedTask: a fake macOS task + kernel that symmap's real darwin code runs against.

It implements both ``symmap.darwin.kernel.Kernel`` and ``Task`` (``open_task``
returns the object itself), so tests pass it as ``OpenOptions(task=sim)`` and
``symmap.sources.macos_live.open_pid`` drives the real region walk, memory
reader, dyld image list and Mach-O header code through it.

Quick use::

    sim = SimulatedTask(pid=4242, page_size=16384)
    sim.place_macho(0x100000000, exe_bytes, "/usr/bin/demo")           # segments -> regions
    cache = sim.map_submap(0x180000000, 0x10000000)                     # shared region (tag 32, SHM)
    sim.place_macho(0x180100000, dylib_bytes, "/usr/lib/libx.dylib", submap_of=cache)
    sim.map(0x600000000000, 0x100000, 3, 7, tag=7)                      # MALLOC_TINY, zero bytes
    sim.map(0x16f000000, 0x4000, 0, 7, tag=30)                          # stack guard
    sim.set_dyld_infos([(0x100000000, "/usr/bin/demo"), (0x180100000, "/usr/lib/libx.dylib")],
                       dyld_load_address=..., cache_uuid=bytes(16), cache_base=0x180000000)
    t = symmap.sources.macos_live.open_pid(4242, OpenOptions(task=sim))

API (all addresses absolute; sizes in bytes):

- ``SimulatedTask(pid=4242, page_size=16384, *, name, path, ppid, parent_name, uid, euid,
  va_bits=47, os_version="14.0", os_build="23A344", host_page_size=None, threads=None)``
- ``map(addr, data_or_size, prot=3, max_prot=7, *, tag=0, share_mode=SM_PRIVATE, path=None,
  offset=0, submap_of=None, readable=True, resident=None, dirty=None, swapped=None,
  purgeable=None, external_pager=None, exact_size=False)`` -> SimRegion.  ``share_mode`` is
  an SM_* int or vmmap letters ("COW", "SHM"...); ``purgeable`` a VM_PURGABLE_* state.  ``data_or_size`` is bytes (contents,
  zero-padded to the page-rounded size) or an int size (zero contents).  ``resident``/
  ``dirty``/``swapped`` are byte counts (converted to pages of ``page_size``; default:
  resident = size, dirty = 0).  ``submap_of`` = a SimRegion from ``map_submap`` (the entry
  is then only visible by submap descent).  ``readable=False`` makes reads fail like an
  unreadable page even if prot has r.
- ``map_submap(addr, size, *, tag=32, share_mode=SM_TRUESHARED, prot=5, max_prot=5,
  submap_of=None)`` -> SimRegion (nestable).
- ``place_macho(addr, file_bytes, path, *, slice_offset=0, submap_of=None,
  share_mode=SM_COW)`` -> (MachO, slide): maps every segment but __PAGEZERO at vmaddr+slide
  with the file's bytes, initprot/maxprot, and ``path`` (file-backed).
- ``set_dyld_infos(images, *, at=None, version=17, fmt=64, size=None, dyld_load_address=0,
  dyld_path="/usr/lib/dyld", cache_uuid=None, cache_base=0, cache_slide=0, timestamp=1,
  platform=1, pac=0, null_info_array_calls=0, uuids=None, detached=False)`` -> address of
  the dyld_all_image_infos block.  ``images`` = [(load_address, path)].  The block, the
  infoArray and the path strings go into a "dyld private memory" region (tag 60) at ``at``
  (default: above every mapping).  ``pac`` is OR-ed into every pointer (PAC signature
  bits).  ``null_info_array_calls=n``: infoArray reads as NULL until TASK_DYLD_INFO was
  asked n+1 times (dyld updating its list).  ``size`` truncates the struct (old versions).
- ``threads=[sp, ...]`` (constructor) / ``add_thread(sp)``: the raw stack pointer each
  thread reports (PAC bits and all), in task_threads order; ``None`` = a thread whose
  state cannot be read (it exited between task_threads and thread_get_state).
  ``thread_stack_pointers()`` costs one call for task_threads plus one per thread, like
  the real LibSystemTask, and a per-thread failure (death included) yields None.
- ``map(..., pages=[...])``: explicit per-page VM_PAGE_QUERY_PAGE_* dispositions (one per
  ``page_size`` page from the page holding addr); resident/dirty/swapped are then derived
  from them.  Without it, ``page_dispositions`` derives pages from the byte counts: dirty
  pages first (PRESENT|REF|DIRTY), then the rest of the resident ones (PRESENT|REF), then
  swapped ones (PAGED_OUT), then absent (0).
- ``page_dispositions(addr, size)`` mimics mach_vm_page_range_query (one call; None when
  ``refuse_page_query()`` was called or the host and target page sizes differ, as the
  kernel refuses then).  ``set_vm_info(phys_footprint, peak=None, count=84)`` makes
  ``vm_info()`` answer TASK_VM_INFO from a real struct task_vm_info of ``count`` words
  (default: None, as if refused).
- ``add_footprint_region(size)``: the fake tag-0xFFFFFFFF region vmmap's footprint mode adds
  (after the last entry, for mach_vm_region_recurse and proc_pidinfo alike).
- ``die_after(n_calls)``: after n more kernel/task calls the process is gone (calls raise
  ``KernReturnError(MACH_SEND_INVALID_DEST)``, proc_pidinfo ESRCH, pid_exists False).
- ``bsd_flags``: pbi_flags PROC_BSDINFO reports (e.g. PROC_FLAG_ROSETTA 0x2000000).
- ``make_zombie()``: exited, not reaped (kill(pid, 0) works, bsd_info status SZOMB).
- ``refuse_port(kr=KERN_FAILURE, procinfo_errno=None)``: open_task raises PortRefused;
  with ``procinfo_errno`` set, proc_pidinfo region calls fail with that errno too.
- ``write(addr, data)`` patches simulated memory (test set-up only).
- Counters: ``calls`` (total), ``call_log`` (names).  ``exists`` (bool), ``other_pids``
  ({pid: (name, path)}) for find_pids.
"""
from __future__ import annotations

import bisect
import ctypes
import errno
from dataclasses import dataclass, field

from symmap.darwin import _mach
from symmap.darwin.consts import (FOOTPRINT_TAG, KERN_FAILURE, KERN_INVALID_ADDRESS,
                                  KERN_PROTECTION_FAILURE, MACH_SEND_INVALID_DEST,
                                  PROC_REGION_SUBMAP, SM_COW, SM_PRIVATE, SM_TRUESHARED,
                                  TASK_VM_INFO_REV3_COUNT, VM_PAGE_QUERY_PAGE_DIRTY,
                                  VM_PAGE_QUERY_PAGE_PAGED_OUT, VM_PAGE_QUERY_PAGE_PRESENT,
                                  VM_PAGE_QUERY_PAGE_REF, KernReturnError, PortRefused)
from symmap.darwin.kernel import BsdInfo, ProcRegion, RegionInfo, VmInfo, vm_info_from_raw
from symmap.formats.macho.load_commands import parse_macho

__all__ = ["SimulatedTask", "SimRegion"]


def _sm(share_mode) -> int:
    """Accept SM_* ints or vmmap letters ("COW", "PRV", "SHM", ...)."""
    if isinstance(share_mode, str):
        from symmap.darwin.vm_tags import SHARE_MODE_LETTERS
        for k, v in SHARE_MODE_LETTERS.items():
            if v == share_mode:
                return k
        raise ValueError(f"unknown share mode {share_mode!r}")
    return share_mode


@dataclass(eq=False)
class SimRegion:
    start: int
    end: int
    prot: int
    max_prot: int
    tag: int = 0
    share_mode: int = SM_PRIVATE
    path: str | None = None
    offset: int = 0
    data: bytearray | None = None
    readable: bool = True
    resident: int | None = None
    dirty: int = 0
    swapped: int = 0
    purgeable: int | None = None
    external_pager: int = 0
    is_submap: bool = False
    pages: list[int] | None = None
    children: list["SimRegion"] = field(default_factory=list)
    parent: "SimRegion | None" = None

    @property
    def size(self) -> int:
        return self.end - self.start


class SimulatedTask:
    """A simulated task + kernel; see the module docstring for the API."""

    def __init__(self, pid: int = 4242, page_size: int = 16384, *, name: str = "simulated",
                 path: str = "/usr/local/bin/simulated", ppid: int = 1,
                 parent_name: str = "launchd", uid: int = 501, euid: int | None = None,
                 va_bits: int = 47, os_version: str = "14.0", os_build: str = "23A344",
                 host_page_size: int | None = None, threads=None) -> None:
        self.pid = pid
        self.threads: list[int | None] = list(threads or [])
        self.page_size = page_size
        self.name = name
        self.path = path
        self.ppid = ppid
        self.parent_name = parent_name
        self.uid = uid
        self._euid = uid if euid is None else euid
        self.va_bits = va_bits
        self.os_version = os_version
        self.os_build = os_build
        self._host_page_size = host_page_size or page_size
        self.top: list[SimRegion] = []
        self._leaves: list[SimRegion] = []
        self._leaf_starts: list[int] = []
        self.footprint_size = 0
        self.dyld = (0, 0, 1)
        self._dyld_hook = None
        self.dyld_info_calls = 0
        self.exists = True
        self.zombie = False
        self.bsd_flags = 0              # proc_bsdinfo.pbi_flags (PROC_FLAG_ROSETTA ...)
        self._die_in: int | None = None
        self.refused: int | None = None
        self.procinfo_errno: int | None = None
        self.calls = 0
        self.call_log: list[str] = []
        self.other_pids: dict[int, tuple[str, str]] = {}
        self.closed = False
        self.page_query_refused = False
        self._vm_info: tuple[bytes, int] | None = None

    # --- building the address space ---------------------------------------------------

    def _round(self, n: int) -> int:
        p = self.page_size
        return (n + p - 1) // p * p

    def map(self, addr: int, data_or_size, prot: int = 3, max_prot: int = 7, *, tag: int = 0,
            share_mode: int = SM_PRIVATE, path: str | None = None, offset: int = 0,
            submap_of: SimRegion | None = None, readable: bool = True,
            resident: int | None = None, dirty: int | None = None, swapped: int | None = None,
            purgeable: int | None = None, external_pager: int | None = None,
            exact_size: bool = False, pages: list[int] | None = None) -> SimRegion:
        share_mode = _sm(share_mode)
        if isinstance(data_or_size, int):
            size, data = data_or_size, None
        else:
            data = bytearray(data_or_size)
            size = len(data)
        if not exact_size:
            size = self._round(size)
        if size <= 0:
            raise ValueError("empty mapping")
        if data is not None and len(data) < size:
            data.extend(bytes(size - len(data)))
        r = SimRegion(addr, addr + size, prot, max_prot, tag, share_mode, path, offset, data,
                      readable, resident, dirty or 0, swapped or 0, purgeable,
                      int(path is not None) if external_pager is None else external_pager)
        if pages is not None:
            n = self._npages(r)
            if len(pages) != n:
                raise ValueError(f"pages: {len(pages)} given, the mapping has {n}")
            r.pages = list(pages)
            p = self.page_size
            r.resident = p * sum(1 for d in pages if d & VM_PAGE_QUERY_PAGE_PRESENT)
            r.dirty = p * sum(1 for d in pages if d & VM_PAGE_QUERY_PAGE_DIRTY)
            r.swapped = p * sum(1 for d in pages if d & VM_PAGE_QUERY_PAGE_PAGED_OUT)
        self._insert(r, submap_of)
        return r

    def _npages(self, r: SimRegion) -> int:
        p = self.page_size
        return (self._round(r.end) - (r.start - r.start % p)) // p

    def _pages_of(self, r: SimRegion) -> list[int]:
        """r's dispositions: explicit, or derived from its byte counts (see module doc)."""
        if r.pages is None:
            p, n = self.page_size, self._npages(r)
            dirty = min(r.dirty // p, n)
            res = max(dirty, min(self._resident(r) // p, n))
            swapped = min(r.swapped // p, n - res)
            present = VM_PAGE_QUERY_PAGE_PRESENT | VM_PAGE_QUERY_PAGE_REF
            r.pages = ([present | VM_PAGE_QUERY_PAGE_DIRTY] * dirty + [present] * (res - dirty)
                       + [VM_PAGE_QUERY_PAGE_PAGED_OUT] * swapped + [0] * (n - res - swapped))
        return r.pages

    def map_submap(self, addr: int, size: int, *, tag: int = 32, share_mode: int = SM_TRUESHARED,
                   prot: int = 5, max_prot: int = 5, submap_of: SimRegion | None = None) -> SimRegion:
        r = SimRegion(addr, addr + size, prot, max_prot, tag, _sm(share_mode), is_submap=True)
        self._insert(r, submap_of)
        return r

    def _insert(self, r: SimRegion, parent: SimRegion | None) -> None:
        siblings = parent.children if parent is not None else self.top
        if parent is not None and not (parent.start <= r.start and r.end <= parent.end):
            raise ValueError(f"{r.start:#x}-{r.end:#x} is outside its submap")
        for s in siblings:
            if s.start < r.end and r.start < s.end:
                raise ValueError(f"mapping {r.start:#x}-{r.end:#x} overlaps {s.start:#x}-{s.end:#x}")
        r.parent = parent
        siblings.append(r)
        siblings.sort(key=lambda x: x.start)
        self._reindex()

    def _reindex(self) -> None:
        leaves: list[SimRegion] = []

        def walk(rs):
            for x in rs:
                if x.is_submap:
                    walk(x.children)
                else:
                    leaves.append(x)
        walk(self.top)
        leaves.sort(key=lambda x: x.start)
        self._leaves = leaves
        self._leaf_starts = [x.start for x in leaves]

    def place_macho(self, addr: int, file_bytes: bytes, path: str, *, slice_offset: int = 0,
                    submap_of: SimRegion | None = None, share_mode: int = SM_COW):
        m = parse_macho(file_bytes, slice_offset, path)
        slide = addr - (m.text_vmaddr or 0)
        for s in m.segments:
            if s.name == "__PAGEZERO" or s.vmsize == 0:
                continue
            lo = slice_offset + s.fileoff
            data = bytes(file_bytes[lo:lo + min(s.filesize, s.vmsize)])
            data += bytes(s.vmsize - len(data))
            self.map(s.vmaddr + slide, data, s.initprot, s.maxprot, path=path, offset=s.fileoff,
                     submap_of=submap_of, share_mode=share_mode, exact_size=True)
        return m, slide

    def add_thread(self, sp: int | None) -> int:
        """Append a thread; returns its index (vmmap's thread number)."""
        self.threads.append(sp)
        return len(self.threads) - 1

    def add_footprint_region(self, size: int) -> None:
        self.footprint_size = size

    def write(self, addr: int, data: bytes) -> None:
        i = 0
        while i < len(data):
            r = self._leaf_at(addr + i)
            if r is None:
                raise ValueError(f"write to unmapped {addr + i:#x}")
            if r.data is None:
                r.data = bytearray(r.size)
            o = addr + i - r.start
            n = min(len(data) - i, r.end - (addr + i))
            r.data[o:o + n] = data[i:i + n]
            i += n

    def free_address(self, size: int, align: int = 0x100000) -> int:
        end = max((r.end for r in self.top), default=0x100000000)
        return (end + align - 1) // align * align + align

    # --- dyld_all_image_infos ---------------------------------------------------------

    def set_dyld_infos(self, images, *, at: int | None = None, version: int = 17, fmt: int = 64,
                       size: int | None = None, dyld_load_address: int = 0,
                       dyld_path: str | None = "/usr/lib/dyld", cache_uuid: bytes | None = None,
                       cache_base: int = 0, cache_slide: int = 0, timestamp: int = 1,
                       platform: int = 1, pac: int = 0, null_info_array_calls: int = 0,
                       uuids=None, detached: bool = False, info_array_count: int | None = None) -> int:
        is64 = fmt == 64
        S = _mach.DyldAllImageInfos64 if is64 else _mach.DyldAllImageInfos32
        E = _mach.DyldImageInfo64 if is64 else _mach.DyldImageInfo32
        U = _mach.DyldUuidInfo64 if is64 else _mach.DyldUuidInfo32
        full = ctypes.sizeof(S)
        uuids = list(uuids or [])
        strings = [p for _, p in images] + ([dyld_path] if dyld_path else [])
        blob_size = full + len(images) * ctypes.sizeof(E) + len(uuids) * ctypes.sizeof(U) + \
            sum(len(s.encode()) + 1 for s in strings) + 64
        base = at if at is not None else self.free_address(blob_size)
        if is64 is False and base > 0xFFFFFFFF:
            raise ValueError("32-bit dyld infos need an address below 4 GiB (pass at=)")
        region = self.map(base, blob_size, 3, 7, tag=60)
        buf = bytearray(region.size)
        cursor = full

        def sign(p: int) -> int:
            return (p | pac) if p else 0

        def put_str(s: str) -> int:
            nonlocal cursor
            raw = s.encode() + b"\0"
            buf[cursor:cursor + len(raw)] = raw
            a = base + cursor
            cursor += len(raw)
            return a

        arr_addr = base + cursor
        entries = []
        cursor += len(images) * ctypes.sizeof(E)
        uarr_addr = base + cursor
        cursor += len(uuids) * ctypes.sizeof(U)
        for la, p in images:
            entries.append((la, put_str(p)))
        for i, (la, pa) in enumerate(entries):
            e = E(sign(la), sign(pa), 0)
            o = arr_addr - base + i * ctypes.sizeof(E)
            buf[o:o + ctypes.sizeof(E)] = bytes(e)
        for i, (la, u) in enumerate(uuids):
            e = U(sign(la), (ctypes.c_uint8 * 16)(*u))
            o = uarr_addr - base + i * ctypes.sizeof(U)
            buf[o:o + ctypes.sizeof(U)] = bytes(e)
        s = S()
        s.version = version
        s.infoArrayCount = len(images) if info_array_count is None else info_array_count
        s.infoArray = sign(arr_addr)
        s.notification = sign(base + 0x10) if pac else 0
        s.processDetachedFromSharedRegion = int(detached)
        s.libSystemInitialized = 1
        s.dyldImageLoadAddress = sign(dyld_load_address)
        s.uuidArrayCount = len(uuids)
        s.uuidArray = sign(uarr_addr) if uuids else 0
        s.dyldAllImageInfosAddress = base
        s.initialImageCount = 1
        s.sharedCacheSlide = cache_slide
        if cache_uuid:
            s.sharedCacheUUID = (ctypes.c_uint8 * 16)(*cache_uuid)
        s.sharedCacheBaseAddress = cache_base
        s.infoArrayChangeTimestamp = timestamp
        s.dyldPath = sign(put_str(dyld_path)) if dyld_path else 0
        s.platform = platform
        raw = bytes(s)
        used = full if size is None else size
        buf[:used] = raw[:used]
        region.data = buf
        self.dyld = (base, used, 1 if is64 else 0)
        ptr_off = _mach.DyldAllImageInfos64.infoArray.offset if is64 else _mach.DyldAllImageInfos32.infoArray.offset
        ptr_size = 8 if is64 else 4
        if null_info_array_calls:
            good = raw[ptr_off:ptr_off + ptr_size]

            def hook(n: int) -> None:
                self.write(base + ptr_off, bytes(ptr_size) if n <= null_info_array_calls else good)
            self._dyld_hook = hook
            hook(0)
        return base

    # --- failure injection ------------------------------------------------------------

    def die_after(self, n_calls: int) -> None:
        self._die_in = n_calls

    def make_zombie(self) -> None:
        """The process exited but was not reaped: kill(pid, 0) still succeeds and
        PROC_PIDTBSDINFO answers (pbi_status SZOMB); everything else fails like a gone pid."""
        self.exists = False
        self.zombie = True

    def refuse_page_query(self) -> None:
        self.page_query_refused = True

    def set_vm_info(self, phys_footprint: int, peak: int | None = None,
                    count: int = TASK_VM_INFO_REV3_COUNT, page_size: int | None = None) -> None:
        s = _mach.TaskVmInfo()
        s.page_size = page_size or self.page_size
        s.phys_footprint = phys_footprint
        s.ledger_phys_footprint_peak = phys_footprint if peak is None else peak
        self._vm_info = (bytes(s)[:count * 4], count)

    def refuse_port(self, kr: int = KERN_FAILURE, procinfo_errno: int | None = None) -> None:
        self.refused = kr
        self.procinfo_errno = procinfo_errno

    def _tick(self, name: str) -> None:
        self.calls += 1
        self.call_log.append(name)
        if self._die_in is not None:
            if self._die_in <= 0:
                self.exists = False
            self._die_in -= 1
        if not self.exists:
            raise KernReturnError(name, MACH_SEND_INVALID_DEST)

    # --- Kernel protocol --------------------------------------------------------------

    def open_task(self, pid: int, timeout: float = 5.0) -> "SimulatedTask":
        if pid != self.pid or not self.exists:
            raise PortRefused("task_for_pid", KERN_FAILURE)
        if self.refused is not None:
            raise PortRefused("task_for_pid", self.refused)
        return self

    def pid_exists(self, pid: int) -> bool:
        return (pid == self.pid and (self.exists or self.zombie)) or pid in self.other_pids

    def proc_region(self, pid: int, address: int, with_path: bool) -> ProcRegion:
        if pid != self.pid or not self.exists:
            raise OSError(errno.ESRCH, "proc_pidinfo: No such process")
        if self.procinfo_errno:
            raise OSError(self.procinfo_errno, "proc_pidinfo: refused")
        try:
            self._tick("proc_pidinfo")
        except KernReturnError:
            raise OSError(errno.ESRCH, "proc_pidinfo: No such process") from None
        for r in self.top:
            if r.end > address:
                pages = self.page_size
                return ProcRegion(r.start, r.size, r.prot, r.max_prot, r.tag, r.share_mode,
                                  r.offset, PROC_REGION_SUBMAP if r.is_submap else 0,
                                  self._resident(r) // pages, r.dirty // pages, r.swapped // pages,
                                  0, r.path if (with_path and not r.is_submap) else None)
        last = max((r.end for r in self.top), default=0)
        if self.footprint_size and address == last:
            # vm.self_region_footprint: bsd_vm.c fill_procregioninfo answers a query exactly
            # at the end of the last entry with a fake region (user_tag -1).
            return ProcRegion(last, self.footprint_size, 3, 3, FOOTPRINT_TAG, SM_PRIVATE)
        # Past the last region the kernel answers EINVAL (bsd/kern/proc_info.c).
        raise OSError(errno.EINVAL, "proc_pidinfo: Invalid argument")

    def bsd_info(self, pid: int) -> BsdInfo | None:
        if pid == self.pid and self.zombie:
            return BsdInfo(pid, self.ppid, self.uid, self.name[:16], self.name, 1700000000, 0,
                           status=5)
        if pid == self.pid and self.exists:
            return BsdInfo(pid, self.ppid, self.uid, self.name[:16], self.name, 1700000000, 0,
                           self.bsd_flags)
        if pid == self.ppid:
            return BsdInfo(pid, 0, 0, self.parent_name, self.parent_name, 1600000000, 0)
        return None

    def list_pids(self) -> list[int]:
        return ([self.pid] if self.exists else []) + list(self.other_pids)

    def proc_name(self, pid: int) -> str | None:
        if pid == self.pid and self.exists:
            return self.name[:32]
        if pid == self.ppid:
            return self.parent_name
        return self.other_pids.get(pid, (None, None))[0]

    def proc_path(self, pid: int) -> str | None:
        if pid == self.pid and self.exists:
            return self.path
        return self.other_pids.get(pid, (None, None))[1]

    def sysctl_int(self, name: str) -> int | None:
        return {"machdep.virtual_address_size": self.va_bits,
                "hw.pagesize": self._host_page_size}.get(name)

    def sysctl_str(self, name: str) -> str | None:
        return {"kern.osproductversion": self.os_version, "kern.osversion": self.os_build}.get(name)

    def host_page_size(self) -> int:
        return self._host_page_size

    def euid(self) -> int:
        return self._euid

    # --- Task protocol ----------------------------------------------------------------

    def _resident(self, r: SimRegion) -> int:
        return r.size if r.resident is None else r.resident

    def region_recurse(self, address: int, depth: int) -> RegionInfo:
        self._tick("mach_vm_region_recurse")
        hit = self._lookup(self.top, address, 0, 1 << 64, 0, depth)
        if hit is None:
            last = max((r.end for r in self.top), default=0)
            if self.footprint_size and address <= last:
                # vm.self_region_footprint: one fake region after the last real one.
                return RegionInfo(last, self.footprint_size, 0, 3, 3, FOOTPRINT_TAG, SM_PRIVATE, False)
            raise KernReturnError("mach_vm_region_recurse", KERN_INVALID_ADDRESS)
        r, lo, hi, d = hit
        pages = self.page_size
        if r.is_submap:
            return RegionInfo(lo, hi - lo, d, r.prot, r.max_prot, r.tag, r.share_mode, True)
        frac = (hi - lo) / r.size
        return RegionInfo(
            lo, hi - lo, d, r.prot, r.max_prot, r.tag,
            r.share_mode,
            False, r.offset + (lo - r.start),
            pages_resident=int(self._resident(r) * frac) // pages,
            pages_dirtied=int(r.dirty * frac) // pages,
            pages_swapped_out=int(r.swapped * frac) // pages,
            external_pager=r.external_pager, object_id_full=id(r) & 0xFFFFFFFF)

    def _lookup(self, entries, addr, lo, hi, d, max_depth):
        """vm_map_region_recurse_64 in miniature: the entry containing addr (or the next
        one) clipped to the window [lo, hi) the parent maps; descend while d < max_depth."""
        for r in entries:
            s, e = max(r.start, lo), min(r.end, hi)
            if e <= addr or s >= e:
                continue
            if r.is_submap and d < max_depth:
                sub = self._lookup(r.children, max(addr, s), s, e, d + 1, max_depth)
                if sub is not None:
                    return sub
                continue
            return r, s, e, d
        return None

    def _leaf_at(self, addr: int) -> SimRegion | None:
        i = bisect.bisect_right(self._leaf_starts, addr) - 1
        if i >= 0 and self._leaves[i].end > addr:
            return self._leaves[i]
        return None

    def read(self, address: int, size: int) -> bytes:
        self._tick("mach_vm_read_overwrite")
        out = bytearray()
        a, end = address, address + size
        while a < end:
            r = self._leaf_at(a)
            if r is None:
                raise KernReturnError("mach_vm_read_overwrite", KERN_INVALID_ADDRESS)
            if not (r.prot & 1) or not r.readable:
                raise KernReturnError("mach_vm_read_overwrite", KERN_PROTECTION_FAILURE)
            n = min(end, r.end) - a
            o = a - r.start
            out += r.data[o:o + n] if r.data is not None else bytes(n)
            a += n
        return bytes(out)

    def dyld_info(self) -> tuple[int, int, int | None]:
        self._tick("task_info")
        self.dyld_info_calls += 1
        if self._dyld_hook:
            self._dyld_hook(self.dyld_info_calls)
        return self.dyld

    def purgeable_state(self, address: int) -> int | None:
        self._tick("mach_vm_purgable_control")
        r = self._leaf_at(address)
        return r.purgeable if r is not None else None

    def thread_stack_pointers(self) -> list[int | None]:
        self._tick("task_threads")
        out: list[int | None] = []
        for sp in self.threads:
            try:
                self._tick("thread_get_state")
            except KernReturnError:
                sp = None           # LibSystemTask skips a thread whose state fails
            out.append(sp)
        return out

    def page_dispositions(self, address: int, size: int) -> list[int] | None:
        try:
            self._tick("mach_vm_page_range_query")
        except KernReturnError:
            return None                 # LibSystemTask turns every failure into None
        if self.page_query_refused or self._host_page_size != self.page_size:
            return None                 # kernel: KERN_INVALID_ARGUMENT on page-size mismatch
        p = self.page_size
        a = address - address % p
        end = self._round(address + size)
        out = []
        while a < end:
            r = self._leaf_at(a)
            if r is None:
                out.append(0)
            else:
                out.append(self._pages_of(r)[(a - (r.start - r.start % p)) // p])
            a += p
        return out

    def vm_info(self) -> VmInfo | None:
        try:
            self._tick("task_info")
        except KernReturnError:
            return None
        if self._vm_info is None:
            return None
        return vm_info_from_raw(*self._vm_info)

    def close(self) -> None:
        self.closed = True

