"""vmmap REGION TYPE names for regions that no image owns.

macOS names come from the VM tag table (symmap.darwin.vm_tags, pure data);
Linux names from the procfs kind the source recorded.
"""
from __future__ import annotations

from symmap.model import Region, Target

__all__ = ["name_regions", "LINUX_KIND_NAMES", "LINKEDIT_DETAIL"]

# The shared cache's one combined __LINKEDIT row (annotate.shared_cache makes it; join
# leaves it unowned).  Here, not in shared_cache: join needs it for every target.
LINKEDIT_DETAIL = "dyld shared cache combined __LINKEDIT"

LINUX_KIND_NAMES = {
    "heap": "heap", "stack": "Stack", "vdso": "vdso", "vvar": "vvar", "vsyscall": "vsyscall",
    "anon": "anonymous", "guard": "guard", "file": "mapped file", "deleted": "deleted file",
    "memfd": "memfd", "shm": "shared memory",
}

_GENERIC_KIND_NAMES = {
    "file": "mapped file", "shm": "shared memory", "guard": "guard", "stack": "Stack",
    "heap": "heap", "cache": "dyld shared cache", "image": "__TEXT",
}


def _macos_name(r: Region) -> tuple[str, str | None]:
    from symmap.darwin import vm_tags
    if hasattr(vm_tags, "darwin_region_type"):
        t, d = vm_tags.darwin_region_type(r)
        if t:
            return t, d
    if r.tag and vm_tags is not None:
        return vm_tags.tag_name(r.tag), None
    if r.path:
        return "mapped file", r.path
    if r.share_mode == "SHM":
        return "shared memory", None
    return "VM_ALLOCATE", None


def _linux_name(r: Region) -> tuple[str, str | None]:
    name = LINUX_KIND_NAMES.get(r.kind or "", None)
    if name is None:
        name = "mapped file" if r.path else "anonymous"
    detail = r.path
    return name, detail


def name_regions(target: Target) -> None:
    namer = _macos_name if target.os == "macos" else _linux_name
    for r in target.regions:
        if r.type is not None and r.detail is not None:
            continue
        if r.kind == "stack_guard":
            # a source found the thread stack right above this guard (vmmap's name)
            t, d = "STACK GUARD", r.detail
        elif r.kind in _GENERIC_KIND_NAMES and target.os not in ("macos", "linux"):
            t, d = _GENERIC_KIND_NAMES[r.kind], r.path
        else:
            t, d = namer(r)
        if r.type is None:
            r.type = t
        if r.detail is None:
            r.detail = d if d is not None else ""
