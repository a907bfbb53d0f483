"""vmmap's names for Mach VM user_tags and share modes (pure data, no ctypes).

Tag numbers: xnu osfmk/mach/vm_statistics.h @xnu-11417.101.15.  Names: the
spelling seen in real vmmap output where known (fixtures/vmmap/01.txt,
darwin-facts.md §1.6 "seen" column), else Apple's gcore copy of vmmap's table
(system_cmds gcore/utils.c ``str_tag``, "c.f. VMURegionTypeDescriptionForTag...");
Rosetta names from xnu libsyscall mach_vm_tag_describe (they match vmmap output).
Tags vmmap has no name for print as "Memory Tag N" (also 240-255, App Specific).
"""
from __future__ import annotations

from symmap.darwin.consts import SM_EMPTY, SM_TRUESHARED
from symmap.model import Region

__all__ = ["VM_TAG_NAMES", "SHARE_MODE_LETTERS", "tag_name", "share_mode_letters",
           "darwin_region_type", "PURGE_LETTERS"]

VM_TAG_NAMES: dict[int, str] = {
    1: "MALLOC", 2: "MALLOC_SMALL", 3: "MALLOC_LARGE", 4: "MALLOC_HUGE", 5: "SBRK",
    6: "MALLOC_REALLOC", 7: "MALLOC_TINY", 8: "MALLOC_LARGE_REUSABLE", 9: "MALLOC_LARGE",
    10: "Performance tool data", 11: "MALLOC_NANO", 12: "MALLOC_MEDIUM",
    13: "MALLOC_PROB_GUARD",
    20: "Mach message", 21: "IOKit",
    30: "Stack", 31: "Guard", 32: "shared pmap", 33: "dylib", 34: "ObjC dispatching code",
    35: "unshared pmap",
    40: "AppKit", 41: "Foundation", 42: "CoreGraphics", 43: "CoreServices", 44: "Java",
    45: "CoreData", 46: "CoreData Object IDs",
    50: "ATS (font support)", 51: "CoreAnimation", 52: "CG image", 53: "WebKit Malloc",
    54: "CG raster data", 55: "CG shared images", 56: "CG framebuffers",
    57: "CG backing stores", 58: "CG xalloc",
    60: "dyld private memory", 61: "dyld malloc memory", 62: "SQLite page cache",
    63: "WebAssembly memory", 64: "JS JIT generated code", 65: "JS VM register file",
    66: "OpenGL GLSL", 67: "OpenCL", 68: "CoreImage", 69: "WebCore purgable data",
    70: "Image IO", 71: "CoreProfile", 72: "Assets Library", 73: "Kernel Alloc Once",
    74: "Dispatch continuations", 75: "Accelerate framework", 76: "CoreUI image data",
    77: "CoreUI image file", 78: "Activity Tracing", 79: "RawCamera",
    80: "Process Corpse Info", 81: "Apple System Log", 82: "Swift runtime",
    83: "Swift metadata", 84: "DHMM", 85: "DFR", 86: "SceneKit", 87: "Skywalk Networking",
    88: "IOSurface", 89: "libnetwork", 90: "Audio", 91: "Video Bitstream",
    92: "CoreMedia XPC", 93: "CoreMedia RPC", 94: "CoreMedia Memory Pool",
    95: "CoreMedia Readcache", 96: "CoreMedia Crabs", 97: "Quicklook Thumbnails",
    98: "Accounts", 99: "Sanitizer", 100: "IOAccelerator", 101: "CoreMedia Regwarp",
    102: "Embedded Acoustic Recognition Decoder", 103: "CoreUI Cached Image Data",
    104: "ColorSync", 105: "BT Info", 106: "CoreMedia HLS",
    230: "Rosetta Generic", 231: "Rosetta Thread Context", 232: "Rosetta IndirectBranch",
    233: "Rosetta Return Stack", 234: "Rosetta JIT", 235: "Rosetta User LDT",
    236: "Rosetta Arena", 239: "Rosetta Tag 10",
}

# vm_region.h SM_* -> the letters vmmap prints after "SM=" (its legend: COW=copy_on_write
# PRV=private NUL=empty ALI=aliased SHM=shared ZER=zero_filled S/A=shared_alias).
# psutil/Chromium use different letters for 4/6; these follow vmmap (gcore str_shared).
SHARE_MODE_LETTERS: dict[int, str] = {
    1: "COW", 2: "PRV", 3: "NUL", 4: "ALI", 5: "SHM", 6: "ZER", 7: "S/A", 8: "LPG",
}
PURGE_LETTERS = {0: "N", 1: "V", 2: "E"}

TAG_MALLOC = 1
TAG_STACK = 30


def tag_name(tag: int | None) -> str:
    """vmmap REGION TYPE for a nonzero user_tag ("Memory Tag N" when unnamed)."""
    if tag is None:
        return "VM_ALLOCATE"
    return VM_TAG_NAMES.get(tag, f"Memory Tag {tag}")


def share_mode_letters(sm: int | None) -> str | None:
    if sm is None:
        return None
    return SHARE_MODE_LETTERS.get(sm, f"SM{sm}")


_LETTER_TO_SM = {v: k for k, v in SHARE_MODE_LETTERS.items()}


def darwin_region_type(region: Region) -> tuple[str, str | None]:
    """(REGION TYPE, REGION DETAIL or None) for a model.Region no image owns.

    Rules beyond the plain tag table, as vmmap prints them (fixtures/vmmap/01.txt):
    - tag 30 (stack) with no access -> "STACK GUARD" (detail None here: the source
      presets "stack guard for thread N" / "thread N" from the thread list when it can
      read it, symmap.darwin.thread_stacks; a preset detail is kept by the annotator);
    - tag 1 (MALLOC): no access -> "MALLOC guard page", SM=NUL -> "MALLOC",
      otherwise "MALLOC metadata" (gcore utils.c, older str_tag);
    - tag 0: file-backed -> "mapped file" (detail = path), SM=SHM -> "shared memory",
      else "VM_ALLOCATE".
    """
    tag = region.tag or 0
    sm = _LETTER_TO_SM.get(region.share_mode) if isinstance(region.share_mode, str) else region.share_mode
    if tag == 0:
        if region.path:
            return "mapped file", region.path
        if sm == SM_TRUESHARED:
            return "shared memory", None
        return "VM_ALLOCATE", None
    if tag == TAG_STACK and region.prot == 0:
        return "STACK GUARD", None
    if tag == TAG_MALLOC:
        if region.prot == 0:
            return "MALLOC guard page", None
        if sm == SM_EMPTY:
            return "MALLOC", None
        return "MALLOC metadata", None
    return tag_name(tag), None
