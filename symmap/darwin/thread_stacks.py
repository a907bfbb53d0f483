"""Name thread stacks the way vmmap does, from each thread's stack pointer (pure Python).

vmmap prints the stack region holding thread N's stack pointer as ``Stack ... thread N``
and the no-access region right below it as ``STACK GUARD ... stack guard for thread N``
(fixtures/vmmap/01.txt; vmmap-format.md §5).  libpthread maps a secondary thread's guard,
stack and pthread_t with tag VM_MEMORY_STACK (30) and then protects the guard, so the
guard is its own VM entry ending exactly where the stack begins.

Only tag-30 regions with some access get a "thread N" detail: a stack pointer that lands
in a guard (overflow), in a non-stack region (a custom stack) or in no region at all
leaves the map as it was, rather than guessing.
"""
from __future__ import annotations

import bisect
from typing import Sequence

from symmap.model import Region
from symmap.darwin.vm_tags import TAG_STACK

__all__ = ["label_thread_stacks", "STACK_GUARD_KIND"]

STACK_GUARD_KIND = "stack_guard"


def label_thread_stacks(regions: Sequence[Region], stack_pointers: Sequence[int | None]) -> int:
    """Set ``detail`` (and the guard's ``kind``) in place; ``stack_pointers[i]`` is thread
    i's already PAC-stripped sp, or None when unknown.  Returns how many stacks got named."""
    # Thread stacks are top-level entries; submap leaves (depth > 0) are the shared cache.
    top = sorted((r for r in regions if not r.depth), key=lambda r: r.start)
    starts = [r.start for r in top]
    named = 0
    for i, sp in enumerate(stack_pointers):
        if sp is None:
            continue
        k = bisect.bisect_right(starts, sp) - 1
        if k < 0:
            continue
        stack = top[k]
        if not stack.contains(sp) or stack.tag != TAG_STACK or stack.prot == 0 \
                or stack.detail is not None:
            continue            # not a stack, or already named (two sps in one region)
        stack.detail = f"thread {i}"
        named += 1
        if k == 0:
            continue
        guard = top[k - 1]
        if guard.end == stack.start and guard.prot == 0 and guard.tag in (None, 0, TAG_STACK) \
                and not guard.path and guard.detail is None:
            guard.kind = STACK_GUARD_KIND       # the annotator names it STACK GUARD
            guard.detail = f"stack guard for thread {i}"
    return named
