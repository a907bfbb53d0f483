"""Mach-O headers read out of target memory -> ``model.Image`` (the per-image hot path).

Per image: one read of the first page (header + usually all load commands, as
libdyld maps 4096 bytes), a second read only when sizeofcmds is larger, then the
struct-based ``symmap.formats.macho.load_commands.parse_macho``.  No lief, no macholib.
"""
from __future__ import annotations

from typing import Callable, Iterable

from symmap.errors import CorruptInput
from symmap.model import Image, Region
from symmap.formats.macho.load_commands import (CPU_SUBTYPE_ARM64E, CPU_SUBTYPE_MASK, CPU_TYPE_ARM64, CPU_TYPE_X86,
                                                CPU_TYPE_X86_64, MH_DYLINKER, MH_EXECUTE, MachO, parse_macho,
                                                peek_header, to_image)
from symmap.darwin.consts import MH_DYLIB_IN_CACHE

__all__ = ["read_macho", "image_from_memory", "scan_for_images", "code_type",
           "MAX_SIZEOFCMDS"]

Reader = Callable[[int, int], bytes]
FIRST_READ = 4096
# Real load commands are a few KiB; anything above this is corrupt memory, and
# we must not allocate in proportion to a number read from the target.
MAX_SIZEOFCMDS = 1 << 20


def read_macho(read: Reader, addr: int, path: str | None = None) -> MachO | None:
    """Parse the Mach-O header at addr in target memory; None if absent/corrupt."""
    try:
        buf = read(addr, FIRST_READ)
    except OSError:
        return None
    hdr = peek_header(buf)
    if hdr is None or hdr.sizeofcmds > MAX_SIZEOFCMDS:
        return None
    need = (32 if hdr.is64 else 28) + hdr.sizeofcmds
    if len(buf) < need:
        try:
            buf = read(addr, need)
        except OSError:
            return None
        if len(buf) < need:
            return None
    try:
        return parse_macho(buf, 0, path)
    except CorruptInput:
        return None


def image_from_memory(read: Reader, addr: int, path: str | None, *,
                      in_shared_cache: bool | None = None, uuid: str | None = None) -> Image:
    """Image at runtime header address ``addr``.  If the header cannot be read the
    image keeps its path/address (and the dyld-reported uuid) with no segments."""
    m = read_macho(read, addr, path)
    if m is None:
        return Image(path=path or f"<image at {addr:#x}>", load_address=addr, uuid=uuid,
                     slide=None, in_shared_cache=bool(in_shared_cache))
    cached = bool(m.flags & MH_DYLIB_IN_CACHE) if in_shared_cache is None else in_shared_cache
    img = to_image(m, path or m.install_name or m.dylinker or f"<image at {addr:#x}>", addr,
                   in_shared_cache=cached)
    if img.uuid is None:
        img.uuid = uuid
    return img


def code_type(m: MachO | None = None, cputype: int | None = None,
              cpusubtype: int | None = None) -> str | None:
    """vmmap's "Code Type:" value: X86-64, ARM64, ARM64E, X86."""
    if m is not None:
        cputype, cpusubtype = m.cputype, m.cpusubtype
    if cputype is None:
        return None
    if cputype == CPU_TYPE_ARM64:
        sub = (cpusubtype or 0) & ~CPU_SUBTYPE_MASK
        return "ARM64E" if sub == CPU_SUBTYPE_ARM64E else "ARM64"
    if cputype == CPU_TYPE_X86_64:
        return "X86-64"
    if cputype == CPU_TYPE_X86:
        return "X86"
    return None


def scan_for_images(read: Reader, regions: Iterable[Region]) -> list[tuple[int, MachO, str | None]]:
    """Suspended-at-launch fallback (libdyld dyld_process_info.cpp makeSuspended, Frida
    gum_collect_images_forensically): r-x top-level regions starting with a Mach-O header.
    Returns (address, MachO, region path) for MH_EXECUTE and MH_DYLINKER images."""
    out = []
    for r in regions:
        if (r.prot & 5) != 5 or r.depth:
            continue
        m = read_macho(read, r.start, r.path)
        if m is not None and m.filetype in (MH_EXECUTE, MH_DYLINKER):
            out.append((r.start, m, r.path))
    return out
