"""Mach-O headers and load commands, parsed with ``struct`` (no lief).

This is a hot path (hundreds of images read out of a live task), so it walks
the load commands once, keeps plain records, and never reads past
``sizeofcmds`` or the buffer.  Layouts: <mach-o/loader.h>, <mach-o/fat.h>
(apple-oss-distributions/xnu EXTERNAL_HEADERS/mach-o/loader.h).

``parse_macho(buf, off)`` takes any buffer whose byte ``off`` is the
mach_header; section/segment file offsets are relative to that header (for a
fat slice: to the slice).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable, Iterator, NamedTuple

from symmap.errors import CorruptInput
from symmap.model import Image, Section, Segment
from symmap.formats._binio import Buffer, cstring_at, unpack_at

MH_MAGIC = 0xFEEDFACE
MH_MAGIC_64 = 0xFEEDFACF
FAT_MAGIC = 0xCAFEBABE
FAT_MAGIC_64 = 0xCAFEBABF

MH_FILETYPES = {1: "object", 2: "execute", 3: "fvmlib", 4: "core", 5: "preload",
                6: "dylib", 7: "dylinker", 8: "bundle", 9: "dylib_stub", 10: "dsym",
                11: "kext_bundle", 12: "fileset"}
MH_EXECUTE, MH_CORE, MH_DYLIB, MH_DYLINKER, MH_BUNDLE = 2, 4, 6, 7, 8

CPU_ARCH_ABI64 = 0x01000000
CPU_ARCH_ABI64_32 = 0x02000000
CPU_TYPE_X86 = 7
CPU_TYPE_ARM = 12
CPU_TYPE_X86_64 = CPU_TYPE_X86 | CPU_ARCH_ABI64
CPU_TYPE_ARM64 = CPU_TYPE_ARM | CPU_ARCH_ABI64
CPU_TYPE_ARM64_32 = CPU_TYPE_ARM | CPU_ARCH_ABI64_32
CPU_SUBTYPE_MASK = 0xFF000000
CPU_SUBTYPE_ARM64E = 2

LC_REQ_DYLD = 0x80000000
LC_SEGMENT = 0x1
LC_SYMTAB = 0x2
LC_THREAD = 0x4
LC_UNIXTHREAD = 0x5
LC_DYSYMTAB = 0xB
LC_LOAD_DYLIB = 0xC
LC_ID_DYLIB = 0xD
LC_LOAD_DYLINKER = 0xE
LC_ID_DYLINKER = 0xF
LC_LOAD_WEAK_DYLIB = 0x18 | LC_REQ_DYLD
LC_SEGMENT_64 = 0x19
LC_UUID = 0x1B
LC_CODE_SIGNATURE = 0x1D
LC_REEXPORT_DYLIB = 0x1F | LC_REQ_DYLD
LC_RPATH = 0x1C | LC_REQ_DYLD
LC_DYLD_INFO = 0x22
LC_DYLD_INFO_ONLY = 0x22 | LC_REQ_DYLD
LC_VERSION_MIN_MACOSX = 0x24
LC_FUNCTION_STARTS = 0x26
LC_MAIN = 0x28 | LC_REQ_DYLD
LC_DATA_IN_CODE = 0x29
LC_NOTE = 0x31
LC_BUILD_VERSION = 0x32
LC_DYLD_EXPORTS_TRIE = 0x33 | LC_REQ_DYLD
LC_DYLD_CHAINED_FIXUPS = 0x34 | LC_REQ_DYLD

PLATFORMS = {1: "macOS", 2: "iOS", 3: "tvOS", 4: "watchOS", 5: "bridgeOS", 6: "macCatalyst",
             7: "iOS Simulator", 8: "tvOS Simulator", 9: "watchOS Simulator",
             10: "DriverKit", 11: "visionOS", 12: "visionOS Simulator"}

_HDR32 = struct.Struct("<7I")          # magic cputype cpusubtype filetype ncmds sizeofcmds flags
_LC = struct.Struct("<II")
_U32 = struct.Struct("<I")
_SEG64 = struct.Struct("<16s4Q4I")      # segname vmaddr vmsize fileoff filesize maxprot initprot nsects flags
_SEG32 = struct.Struct("<16s4I4I")
_SECT64 = struct.Struct("<16s16s2Q8I")  # sectname segname addr size offset align reloff nreloc flags r1 r2 r3
_SECT32 = struct.Struct("<16s16s2I7I")
_LINKEDIT_DATA = struct.Struct("<II")   # dataoff datasize (after cmd, cmdsize)
_SYMTAB = struct.Struct("<4I")          # symoff nsyms stroff strsize
_DYLD_INFO = struct.Struct("<10I")
_NOTE = struct.Struct("<16sQQ")         # data_owner offset size
_BUILD_VERSION = struct.Struct("<4I")   # platform minos sdk ntools
_VERSION_MIN = struct.Struct("<II")
_FAT_HDR = struct.Struct(">II")
_FAT_ARCH = struct.Struct(">5I")        # cputype cpusubtype offset size align
_FAT_ARCH64 = struct.Struct(">iiQQII")


def arch_name(cputype: int, cpusubtype: int) -> str:
    """Apple's arch name for a (cputype, cpusubtype) pair."""
    sub = cpusubtype & ~CPU_SUBTYPE_MASK
    if cputype == CPU_TYPE_ARM64:
        return "arm64e" if sub == CPU_SUBTYPE_ARM64E else "arm64"
    if cputype == CPU_TYPE_X86_64:
        return "x86_64h" if sub == 8 else "x86_64"
    if cputype == CPU_TYPE_X86:
        return "i386"
    if cputype == CPU_TYPE_ARM64_32:
        return "arm64_32"
    if cputype == CPU_TYPE_ARM:
        return {9: "armv7", 11: "armv7s", 12: "armv7k", 6: "armv6"}.get(sub, "arm")
    return f"cpu{cputype:#x}"


def _name16(raw: bytes) -> str:
    i = raw.find(0)
    return (raw if i < 0 else raw[:i]).decode("utf-8", "surrogateescape")


class LoadCommand(NamedTuple):
    cmd: int
    offset: int        # absolute offset of the command in the buffer
    size: int


@dataclass(slots=True)
class MachOSegment:
    name: str
    vmaddr: int
    vmsize: int
    fileoff: int
    filesize: int
    maxprot: int
    initprot: int
    flags: int
    sections: list["MachOSection"] = field(default_factory=list)


@dataclass(slots=True)
class MachOSection:
    name: str
    segname: str
    addr: int
    size: int
    offset: int
    flags: int


@dataclass(slots=True)
class Note:
    owner: str
    offset: int
    size: int
    cmd_offset: int = 0      # where the LC_NOTE command itself sits


@dataclass(slots=True)
class MachO:
    """A parsed Mach-O header.  Addresses are unslid (as in the file).

    Accessible attributes: is64, cputype, cpusubtype, arch, filetype,
    filetype_name, flags, commands, segments, uuid (lowercase hex or None),
    install_name (LC_ID_DYLIB), dylinker (LC_ID_DYLINKER), dylibs (LC_LOAD_*),
    symtab (symoff, nsyms, stroff, strsize) or None, exports (off, size) from
    LC_DYLD_INFO or LC_DYLD_EXPORTS_TRIE, function_starts (off, size),
    chained_fixups (off, size), entryoff, platform, minos, threads
    ((offset, size) of each LC_THREAD/LC_UNIXTHREAD body), notes.
    """

    base: int                       # offset of the header in the buffer
    is64: bool
    cputype: int
    cpusubtype: int
    filetype: int
    flags: int
    ncmds: int
    sizeofcmds: int
    commands: list[LoadCommand] = field(default_factory=list)
    segments: list[MachOSegment] = field(default_factory=list)
    uuid: str | None = None
    install_name: str | None = None
    dylinker: str | None = None
    dylibs: list[str] = field(default_factory=list)
    rpaths: list[str] = field(default_factory=list)   # LC_RPATH, in load-command order
    symtab: tuple[int, int, int, int] | None = None
    exports: tuple[int, int] | None = None
    function_starts: tuple[int, int] | None = None
    chained_fixups: tuple[int, int] | None = None
    entryoff: int | None = None
    platform: str | None = None
    minos: str | None = None
    threads: list[tuple[int, int]] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    cmds_not_read: int = 0          # bytes of a core's load commands past MAX_CORE_SIZEOFCMDS

    @property
    def arch(self) -> str:
        return arch_name(self.cputype, self.cpusubtype)

    @property
    def filetype_name(self) -> str:
        return MH_FILETYPES.get(self.filetype, f"type{self.filetype}")

    @property
    def header_size(self) -> int:
        return 32 if self.is64 else 28

    @property
    def text_vmaddr(self) -> int | None:
        """Unslid address of the header: the segment mapping file offset 0."""
        if self.flags & 0x80000000:
            # MH_DYLIB_IN_CACHE: segment file offsets are offsets in the cache
            # (sub-)files, so any segment may sit at offset 0 of its sub-cache;
            # the header is at the start of __TEXT (dyld MachOFile::inDyldCache).
            for s in self.segments:
                if s.name == "__TEXT":
                    return s.vmaddr
        for s in self.segments:
            if s.fileoff == 0 and s.filesize != 0:
                return s.vmaddr
        for s in self.segments:
            if s.name == "__TEXT":
                return s.vmaddr
        return None

    def segment(self, name: str) -> MachOSegment | None:
        for s in self.segments:
            if s.name == name:
                return s
        return None


def is_macho_magic(buf: Buffer, off: int = 0) -> bool:
    if off < 0 or off + 4 > len(buf):
        return False
    (magic,) = struct.unpack_from("<I", buf, off)
    return magic in (MH_MAGIC, MH_MAGIC_64)


def is_fat_magic(buf: Buffer, off: int = 0) -> bool:
    if off + 8 > len(buf):
        return False
    magic, n = _FAT_HDR.unpack_from(buf, off)
    # 0xcafebabe is also Java's class magic; real fat files have few slices.
    return magic in (FAT_MAGIC, FAT_MAGIC_64) and 0 < n < 64


@dataclass(slots=True)
class FatSlice:
    cputype: int
    cpusubtype: int
    offset: int
    size: int

    @property
    def arch(self) -> str:
        return arch_name(self.cputype, self.cpusubtype)


class MachHeader(NamedTuple):
    is64: bool
    cputype: int
    cpusubtype: int
    filetype: int
    ncmds: int
    sizeofcmds: int
    flags: int


def peek_header(buf: Buffer, off: int = 0) -> MachHeader | None:
    """The mach_header at ``off``, or None if too short or not Mach-O magic
    (for readers deciding how many bytes of load commands to fetch)."""
    if off < 0 or off + 28 > len(buf):
        return None
    magic, cputype, cpusub, filetype, ncmds, sizeofcmds, flags = _HDR32.unpack_from(buf, off)
    if magic not in (MH_MAGIC, MH_MAGIC_64):
        return None
    return MachHeader(magic == MH_MAGIC_64, cputype, cpusub, filetype, ncmds, sizeofcmds, flags)


def parse_fat(buf: Buffer, path: str | None = None, file_size: int | None = None) -> list[FatSlice]:
    """Slices of a fat file; ``buf`` holds at least the fat header and arch
    table, ``file_size`` (default len(buf)) bounds each slice."""
    limit = len(buf) if file_size is None else file_size
    magic, n = unpack_at(_FAT_HDR, buf, 0, "fat header", path, "Mach-O")
    st = _FAT_ARCH64 if magic == FAT_MAGIC_64 else _FAT_ARCH
    out = []
    for i in range(min(n, 64)):
        off = 8 + i * st.size
        if magic == FAT_MAGIC_64:
            cpu, sub, o, size, _align, _r = unpack_at(st, buf, off, "fat_arch", path, "Mach-O")
        else:
            cpu, sub, o, size, _align = unpack_at(st, buf, off, "fat_arch", path, "Mach-O")
        if o + size > limit or size == 0:
            raise CorruptInput("Mach-O", f"fat slice {i} [{o:#x}+{size:#x}] lies outside the file", path)
        out.append(FatSlice(cpu & 0xFFFFFFFF, sub & 0xFFFFFFFF, o, size))
    return out


# Real images' load commands fit in tens of KB; the kernel maps them in one
# go.  Cores carry one LC_SEGMENT per VM region (72 bytes): 4 MiB is ~58,000
# regions, more than a real process has; past that a core is read in part.
# Both keep `map` under 2 s and 100 MB (bench/bounded_cost.py).
MAX_SIZEOFCMDS = 1 << 20
MAX_CORE_SIZEOFCMDS = 4 << 20


def parse_macho(buf: Buffer, off: int = 0, path: str | None = None, *,
                what: str = "Mach-O") -> MachO:
    """Parse the mach_header and load commands at ``off``: the one load-command
    walker, serving files, images in memory and cores (``core.parse_core``).

    Raises CorruptInput(what, ...) for a bad magic, a cmdsize smaller than 8
    or not fitting ``sizeofcmds``, or commands running past the buffer.  At
    most ``sizeofcmds // 8`` commands are walked, whatever ``ncmds`` says.
    """
    if off < 0 or off + 28 > len(buf):
        raise CorruptInput(what, "file too short for a mach header", path, off)
    magic, cputype, cpusub, filetype, ncmds, sizeofcmds, flags = _HDR32.unpack_from(buf, off)
    if magic not in (MH_MAGIC, MH_MAGIC_64):
        raise CorruptInput(what, f"bad magic {magic:#010x}", path, off)
    is64 = magic == MH_MAGIC_64
    hdr = 32 if is64 else 28
    m = MachO(off, is64, cputype, cpusub, filetype, flags, ncmds, sizeofcmds)
    end = off + hdr + sizeofcmds
    if end > len(buf):
        raise CorruptInput(what, f"load commands ({sizeofcmds:#x} bytes) run past the end of the "
                           f"data ({len(buf):#x} bytes)", path, off + hdr)
    walk_end = end
    if filetype == MH_CORE and sizeofcmds > MAX_CORE_SIZEOFCMDS:
        walk_end = off + hdr + MAX_CORE_SIZEOFCMDS
    elif filetype != MH_CORE and sizeofcmds > MAX_SIZEOFCMDS:
        raise CorruptInput(what, f"load commands ({sizeofcmds:#x} bytes) larger than any real image "
                           f"({MAX_SIZEOFCMDS >> 20} MiB at most)", path, off + hdr)
    p = off + hdr
    append = m.commands.append
    handlers = _HANDLERS
    unpack_lc = _LC.unpack_from
    # Each command is >= 8 bytes, so the walk is bounded by sizeofcmds, whatever ncmds says.
    for i in range(min(ncmds, sizeofcmds // 8)):
        if p + 8 > end:
            raise CorruptInput(what, f"load command {i} of {ncmds} lies past sizeofcmds", path, p)
        cmd, cmdsize = unpack_lc(buf, p)
        if cmdsize < 8 or p + cmdsize > end:
            raise CorruptInput(what, f"load command {i} has bad cmdsize {cmdsize:#x}"
                               + (" (< 8)" if cmdsize < 8 else " (runs past sizeofcmds)"), path, p)
        if p + cmdsize > walk_end:
            m.cmds_not_read = end - p
            break
        append(LoadCommand(cmd, p, cmdsize))
        h = handlers.get(cmd)
        if h is not None:
            h(m, buf, cmd, p, cmdsize, path)
        p += cmdsize
    return m


# A load-command handler: (MachO, buffer, cmd, offset, cmdsize, path) -> fills the MachO.
_Handler = Callable[["MachO", Buffer, int, int, int, "str | None"], None]


def _lc_segment(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
    st, sst = (_SEG64, _SECT64) if cmd == LC_SEGMENT_64 else (_SEG32, _SECT32)
    if size < 8 + st.size:
        raise CorruptInput("core" if m.filetype == MH_CORE else "Mach-O",
                           f"segment command too small ({size} bytes)", path, p)
    name, vmaddr, vmsize, fileoff, filesize, maxprot, initprot, nsects, flags = st.unpack_from(buf, p + 8)
    seg = MachOSegment(_name16(name), vmaddr, vmsize, fileoff, filesize, maxprot & 7, initprot & 7, flags)
    if nsects:
        nmax = (size - 8 - st.size) // sst.size
        q = p + 8 + st.size
        secs = seg.sections
        for _ in range(min(nsects, nmax)):
            f = sst.unpack_from(buf, q)
            secs.append(MachOSection(_name16(f[0]), _name16(f[1]), f[2], f[3], f[4], f[8]))
            q += sst.size
    m.segments.append(seg)


def _lc_uuid(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
    if size >= 24:
        m.uuid = bytes(buf[p + 8:p + 24]).hex()


def _lc_str(buf: Buffer, p: int, size: int) -> str | None:
    if size < 12:
        return None
    (stroff,) = _U32.unpack_from(buf, p + 8)
    return cstring_at(buf, p + stroff, 1024, p + size) if 12 <= stroff < size else ""


def _lc_dylib(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
    name = _lc_str(buf, p, size)
    if name is None:
        return
    if cmd == LC_ID_DYLIB:
        m.install_name = name
    else:
        m.dylibs.append(name)


def _lc_rpath(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
    name = _lc_str(buf, p, size)
    if name:
        m.rpaths.append(name)


def _lc_dylinker(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
    if cmd == LC_ID_DYLINKER:
        m.dylinker = _lc_str(buf, p, size)


def _lc_symtab(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
    if size >= 24:
        m.symtab = _SYMTAB.unpack_from(buf, p + 8)


def _lc_dyld_info(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
    if size >= 48:
        f = _DYLD_INFO.unpack_from(buf, p + 8)
        if f[9]:
            m.exports = (f[8], f[9])


def _lc_linkedit(attr: str) -> _Handler:
    def h(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
        if size >= 16:
            setattr(m, attr, _LINKEDIT_DATA.unpack_from(buf, p + 8))
    return h


def _lc_main(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
    if size >= 24:
        (m.entryoff,) = struct.unpack_from("<Q", buf, p + 8)


def _lc_build_version(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
    if size >= 24:
        plat, minos, _sdk, _nt = _BUILD_VERSION.unpack_from(buf, p + 8)
        m.platform = PLATFORMS.get(plat, f"platform {plat}")
        m.minos = _version(minos)


def _lc_version_min(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
    if size >= 16:
        m.platform = "macOS"
        m.minos = _version(_VERSION_MIN.unpack_from(buf, p + 8)[0])


def _lc_thread(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
    m.threads.append((p + 8, size - 8))


def _lc_note(m: MachO, buf: Buffer, cmd: int, p: int, size: int, path: str | None) -> None:
    if size >= 8 + _NOTE.size:
        owner, o, s = _NOTE.unpack_from(buf, p + 8)
        m.notes.append(Note(_name16(owner), o, s, p))


# Dispatch table: unknown commands cost one dict miss (they stay generic records).
_HANDLERS: dict[int, _Handler] = {
    LC_SEGMENT_64: _lc_segment, LC_SEGMENT: _lc_segment, LC_UUID: _lc_uuid,
    LC_ID_DYLIB: _lc_dylib, LC_LOAD_DYLIB: _lc_dylib, LC_LOAD_WEAK_DYLIB: _lc_dylib,
    LC_REEXPORT_DYLIB: _lc_dylib, LC_ID_DYLINKER: _lc_dylinker, LC_LOAD_DYLINKER: _lc_dylinker,
    LC_SYMTAB: _lc_symtab, LC_DYLD_INFO: _lc_dyld_info, LC_DYLD_INFO_ONLY: _lc_dyld_info,
    LC_DYLD_EXPORTS_TRIE: _lc_linkedit("exports"),
    LC_FUNCTION_STARTS: _lc_linkedit("function_starts"),
    LC_DYLD_CHAINED_FIXUPS: _lc_linkedit("chained_fixups"),
    LC_MAIN: _lc_main, LC_BUILD_VERSION: _lc_build_version,
    LC_VERSION_MIN_MACOSX: _lc_version_min, LC_THREAD: _lc_thread, LC_UNIXTHREAD: _lc_thread,
    LC_NOTE: _lc_note, LC_RPATH: _lc_rpath,
}


def _version(v: int) -> str:
    s = f"{v >> 16}.{(v >> 8) & 0xFF}"
    return s + (f".{v & 0xFF}" if v & 0xFF else "")


def iter_slices(buf: Buffer, path: str | None = None) -> Iterator[tuple[str, int]]:
    """(arch, offset) of every Mach-O in a thin or fat file."""
    if is_fat_magic(buf):
        for s in parse_fat(buf, path):
            yield s.arch, s.offset
    elif is_macho_magic(buf):
        m = parse_macho(buf, 0, path)
        yield m.arch, 0
    else:
        raise CorruptInput("Mach-O", "not a Mach-O or fat file", path, 0)


def to_image(m: MachO, path: str, load_address: int | None = None, *,
             in_shared_cache: bool = False, slide: int | None = None) -> Image:
    """Model ``Image`` for a parsed header loaded at ``load_address`` (runtime
    address of its mach_header).  With no load address the image sits at its
    unslid addresses.  ``slide`` overrides the computed one (cache images,
    whose slide is the cache's)."""
    unslid = m.text_vmaddr or 0
    if load_address is None:
        load_address = unslid + (slide or 0)
    if slide is None:
        slide = load_address - unslid
    segs = []
    for s in m.segments:
        if s.name == "__PAGEZERO" or (s.vmsize == 0 and not s.sections):
            continue
        segs.append(Segment(
            s.name, s.vmaddr + slide, s.vmsize, s.initprot, s.maxprot, s.fileoff, s.filesize,
            [Section(c.name, c.segname, c.addr + slide, c.size, c.offset or None) for c in s.sections]))
    return Image(path=path, load_address=load_address, uuid=m.uuid, slide=slide, segments=segs,
                 in_shared_cache=in_shared_cache, filetype=m.filetype_name, arch=m.arch,
                 install_name=m.install_name)
