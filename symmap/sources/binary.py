"""A Mach-O (thin or fat) or ELF file as a TARGET, mapped at its unslid
addresses (or moved by ``--slide`` / ``--load-address``).

Regions are the image's segments as the loader would map them; nothing is
resident, so resident/dirty/swapped stay None.  ``target.memory`` reads the
file bytes behind the mapped addresses, so memory-based readers work on
binaries too.
"""
from __future__ import annotations

import platform
from typing import Any

from symmap.errors import BadTarget, CorruptInput
from symmap.formats.elf import elffile as _elf
from symmap.formats.macho import load_commands as _macho
from symmap.model import Image, Region, Target
from symmap.sources import OpenOptions

__all__ = ["open_file", "host_arch"]


def host_arch() -> str:
    """The host's arch in Apple's spelling (aarch64 -> arm64)."""
    m = platform.machine().lower()
    return {"aarch64": "arm64", "amd64": "x86_64", "x64": "x86_64", "i686": "i386",
            "i386": "i386"}.get(m, m)


class _FileMemory:
    """MemoryReader over the file bytes behind each segment (zero fill past
    filesize, as the loader maps bss)."""

    def __init__(self, buf: bytes, image: Image, base: int) -> None:
        self.buf = buf
        self.base = base
        self.segs = sorted(image.segments, key=lambda s: s.address)

    def read(self, address: int, size: int) -> bytes:
        out = bytearray()
        addr = address
        end = address + max(0, size)
        while addr < end:
            seg = next((s for s in self.segs if s.address <= addr < s.end), None)
            if seg is None:
                break
            n = min(end, seg.end) - addr
            rel = addr - seg.address
            fsz = seg.file_size or 0
            if seg.file_offset is not None and rel < fsz:
                take = min(n, fsz - rel)
                o = self.base + seg.file_offset + rel
                chunk = self.buf[o:o + take]
                out += chunk
                if len(chunk) < take:
                    break
                n2 = n - take
            else:
                n2 = n
            out += bytes(n2)
            addr += n
        return bytes(out)


def _regions(image: Image, path: str) -> list[Region]:
    return [Region(start=s.address, end=s.end, prot=s.prot, max_prot=s.max_prot, kind="file",
                   path=path, offset=s.file_offset, type=None) for s in image.segments if s.size > 0]


def _choose_slice(buf: bytes, path: str, want: str | None) -> tuple[int, str, list[str]]:
    """(offset, arch, note parts) of the slice to use."""
    if not _macho.is_fat_magic(buf):
        m = _macho.parse_macho(buf, 0, path)
        if want and want != m.arch:
            raise BadTarget(f"{path}: no {want} slice (the file is {m.arch} only)")
        return 0, m.arch, []
    slices = _macho.parse_fat(buf, path)
    if not slices:
        raise CorruptInput("Mach-O", "fat file with no slices", path, 0)
    names = [s.arch for s in slices]
    listing = ", ".join(names)
    if want:
        for s in slices:
            if s.arch == want:
                return s.offset, s.arch, [f"fat file: using {want} slice (--arch); slices: {listing}"]
        raise BadTarget(f"{path}: no {want} slice; slices: {listing}")
    host = host_arch()
    for s in slices:
        if s.arch == host:
            return s.offset, s.arch, [f"fat file: using {host} slice (host arch); slices: {listing}"]
    why = "only slice" if len(slices) == 1 else "first slice"
    return slices[0].offset, slices[0].arch, [
        f"fat file: using {slices[0].arch} slice ({why}); slices: {listing}"]


def _relocation(opts: OpenOptions, unslid_base: int) -> int:
    if opts.load_address is not None and opts.slide is not None:
        if opts.load_address - unslid_base != opts.slide:
            raise BadTarget("--slide and --load-address disagree; give one")
    if opts.load_address is not None:
        return opts.load_address - unslid_base
    return opts.slide or 0


def _open_macho(buf: bytes, path: str, opts: OpenOptions) -> Target:
    off, arch, notes = _choose_slice(buf, path, opts.arch)
    m = _macho.parse_macho(buf, off, path)
    end = len(buf)
    for s in m.segments:
        if s.filesize and off + s.fileoff + s.filesize > end:
            raise CorruptInput("Mach-O", f"segment {s.name} [{s.fileoff:#x}+{s.filesize:#x}] "
                               "runs past the end of the file", path, off + s.fileoff)
    unslid = m.text_vmaddr or 0
    slide = _relocation(opts, unslid)
    img = _macho.to_image(m, path, unslid + slide, slide=slide)
    img.file_path = path
    img.slice_offset = off if _macho.is_fat_magic(buf) else None
    t = Target(kind="binary", name=path.rsplit("/", 1)[-1], path=path, arch=arch, os="macos",
               regions=_regions(img, path), images=[img], notes=notes)
    t.memory = _FileMemory(buf, img, off)
    return t


def _open_elf(buf: bytes, path: str, opts: OpenOptions) -> Target:
    elf = _elf.parse_elf(buf, path)
    if opts.arch and elf.arch and opts.arch not in (elf.arch, {"aarch64": "arm64"}.get(elf.arch)):
        raise BadTarget(f"{path}: no {opts.arch} code (the file is {elf.arch})")
    loads = elf.loads
    if not loads:
        raise CorruptInput("ELF", "no PT_LOAD segments (not a loadable file)", path)
    for p in loads:
        if p.filesz and p.offset + p.filesz > len(buf):
            raise CorruptInput("ELF", f"PT_LOAD [{p.offset:#x}+{p.filesz:#x}] runs past the end "
                               "of the file", path, p.offset)
    bias = _relocation(opts, loads[0].vaddr)
    img = _elf.to_image(elf, path, bias, file_path=path)
    t = Target(kind="binary", name=path.rsplit("/", 1)[-1], path=path, arch=elf.arch, os="linux",
               regions=_regions(img, path), images=[img])
    t.memory = _FileMemory(buf, img, 0)
    return t


def open_file(path: str, opts: OpenOptions) -> Target:
    """Open a Mach-O (thin/fat) or ELF file as a ``binary`` Target.

    Raises CorruptInput (exit 2) for a truncated or corrupt file, BadTarget
    for an ``--arch`` the file lacks.
    """
    import mmap
    try:
        with open(path, "rb") as f:
            # Mapped, not read: only the pages parsed (headers) or read
            # through target.memory become resident.  Read where it cannot
            # be mapped (empty; a file system without mmap).
            try:
                buf: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                buf = f.read()
    except OSError as e:
        raise BadTarget(f"{path}: {e.strerror}") from None
    if _elf.is_elf(buf):
        return _open_elf(buf, path, opts)
    if _macho.is_fat_magic(buf) or _macho.is_macho_magic(buf):
        return _open_macho(buf, path, opts)
    raise CorruptInput("binary", "neither Mach-O nor ELF", path, 0)
