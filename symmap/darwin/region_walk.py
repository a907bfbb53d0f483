"""Walk a task's VM regions into ``model.Region`` lists.

``walk_regions``: mach_vm_region_recurse with count 19 and a fresh nesting depth
on every call (the argument is in/out: vm_map.c ``vm_map_region_recurse_64``
overwrites it), so submaps (the dyld shared region) are always descended to
their leaves, as vmmap lists them.  Continue at address + size; stop on
KERN_INVALID_ADDRESS; drop the footprint pseudo-region (tag 0xFFFFFFFF); never
loop on a zero size or a region that does not advance.

Paths come ONLY from proc_pidinfo(PROC_PIDREGIONPATHINFO) with a containment
check, and only for top-level regions with a pager (external_pager): libproc
returns the *next* file mapping for anonymous addresses (darwin-facts §2.1, Frida
37dde9ab), and one call per anonymous region is what made Frida slow (#693).

``walk_regions_procinfo``: the no-task-port fallback, top level only, from
PROC_PIDREGIONPATHINFO walking pri_address + pri_size (psutil 2026 arch/osx/proc.c).
"""
from __future__ import annotations

import errno as _errno
from typing import TYPE_CHECKING, Callable

from symmap.model import Region
from symmap.darwin.consts import (FOOTPRINT_TAG, KERN_INVALID_ADDRESS, PURGE_LETTERS, SM_EMPTY,
                     KernReturnError)
from symmap.darwin.vm_tags import share_mode_letters

if TYPE_CHECKING:
    from symmap.darwin.kernel import Kernel, Task

__all__ = ["walk_regions", "walk_regions_procinfo", "MAX_DEPTH", "MAX_REGIONS"]

MAX_DEPTH = 64              # deeper than any real submap nesting (shared region = 1)
MAX_REGIONS = 2_000_000     # a runaway-walk guard, far above real maps (~10^4)
ADDR_END = 1 << 64

_MALLOC_TAGS = frozenset({1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13})


def _kind(tag: int, depth: int, is_submap: bool, path: str | None, pager: int) -> str:
    if is_submap:
        return "submap"
    if depth > 0:
        return "cache"
    if tag == 30:
        return "stack"
    if tag in _MALLOC_TAGS:
        return "heap"
    if path or pager:
        return "file"
    return "anon"


def walk_regions(task: Task, page_size: int, *, pid: int | None = None, kernel: Kernel | None = None,
                 want_paths: bool = True,
                 purgeable: Callable[[int], int | None] | None = None) -> list[Region]:
    """All regions of ``task``.  ``page_size`` = effective page size for page counts.
    ``kernel``/``pid`` give PROC_PIDREGIONPATHINFO paths; ``purgeable(addr)`` the
    purgeable state (VM_PURGABLE_*) when the port allows it."""
    out: list[Region] = []
    addr = 0
    while addr < ADDR_END and len(out) < MAX_REGIONS:
        try:
            ri = task.region_recurse(addr, MAX_DEPTH)
        except KernReturnError as e:
            if e.kr == KERN_INVALID_ADDRESS:
                break
            raise
        end = ri.address + ri.size
        if ri.size == 0 or end <= addr:
            # Defensive: a zero-sized or non-advancing answer must not loop forever.
            addr = max(addr, ri.address) + page_size
            continue
        addr = end
        if ri.user_tag == FOOTPRINT_TAG:
            continue
        path = None
        if want_paths and kernel is not None and pid is not None and ri.depth == 0 and ri.external_pager \
                and not ri.is_submap:
            path = region_path(kernel, pid, ri.address)
        purge = None
        if purgeable is not None and ri.depth == 0 and not ri.is_submap and not path \
                and ri.share_mode != SM_EMPTY:
            state = purgeable(ri.address)
            purge = PURGE_LETTERS.get(state) if state is not None else None
        out.append(Region(
            start=ri.address, end=end, prot=ri.protection & 7, max_prot=ri.max_protection & 7,
            share_mode=share_mode_letters(ri.share_mode), tag=ri.user_tag,
            kind=_kind(ri.user_tag, ri.depth, ri.is_submap, path, ri.external_pager),
            resident=ri.pages_resident * page_size, dirty=ri.pages_dirtied * page_size,
            swapped=ri.pages_swapped_out * page_size, path=path,
            offset=ri.offset if path else None, purgeable=purge, depth=ri.depth))
    return out


def region_path(kernel: Kernel, pid: int, addr: int) -> str | None:
    """Path of the file mapped at addr, or None.  Accepts libproc's answer only if
    the region it describes contains addr.  ESRCH propagates (the process died)."""
    try:
        pr = kernel.proc_region(pid, addr, True)
    except OSError as e:
        if e.errno == _errno.ESRCH:
            raise
        return None
    if pr is None or not pr.path or pr.is_submap:
        return None
    if not (pr.address <= addr < pr.address + pr.size):
        return None
    return pr.path


def walk_regions_procinfo(kernel: Kernel, pid: int, page_size: int) -> list[Region]:
    """Top-level regions from proc_pidinfo only (no task port: no submaps, no reads).
    Raises OSError (EPERM/ESRCH) when even that is refused."""
    out: list[Region] = []
    addr = 0
    while addr < ADDR_END and len(out) < MAX_REGIONS:
        try:
            pr = kernel.proc_region(pid, addr, True)
        except OSError as e:
            # Past the last region the kernel answers EINVAL (proc_info.c).
            if e.errno == _errno.EINVAL and out:
                break
            raise
        if pr is None:
            break
        end = pr.address + pr.size
        if pr.size == 0 or end <= addr:
            break
        addr = end
        if pr.user_tag == FOOTPRINT_TAG:
            continue          # bsd_vm.c fill_procregioninfo's footprint pseudo-region
        # PROC_PIDREGIONPATHINFO's path is that of the entry it returns (bsd_vm.c
        # fill_procregioninfo -> fill_vnodeinfoforaddr(entry)), so it is this region's.
        path = pr.path if (pr.path and not pr.is_submap) else None
        out.append(Region(
            start=pr.address, end=end, prot=pr.protection & 7, max_prot=pr.max_protection & 7,
            share_mode=share_mode_letters(pr.share_mode), tag=pr.user_tag,
            kind=_kind(pr.user_tag, 0, pr.is_submap, path, 0),
            resident=pr.pages_resident * page_size, dirty=pr.pages_dirtied * page_size,
            swapped=pr.pages_swapped_out * page_size, path=path,
            offset=pr.offset if path else None, depth=0))
    return out
