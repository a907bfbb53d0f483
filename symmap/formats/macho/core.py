"""MH_CORE files: segments, thread states, LC_NOTEs, and memory by address.

A core is one mach_header (filetype MH_CORE) whose LC_SEGMENT(_64)s name
the saved address ranges and their file offsets, LC_THREADs holding each
thread's register state, and LC_NOTEs ("all image infos", "load binary",
"addrable bits", "main bin spec") with absolute file offsets.  Layouts:
xnu EXTERNAL_HEADERS/mach-o/loader.h, osfmk/mach/{i386,arm}/thread_status.h,
lldb ObjectFileMachO.cpp (SaveCore / GetCorefileAllImageInfos) and Apple
gcore; see /work/shared/reference/darwin-facts.md section 6.

Cores run to gigabytes: this module parses only the load commands and note
payloads (bounded by their real size) and reads segment bytes on demand
through ``CoreMemory`` over an mmap.  Damage that leaves the rest usable
(segments past EOF, overlapping ranges, notes outside the file) is recorded
in ``CoreFile.problems`` rather than raised, so a truncated core still maps.
"""
from __future__ import annotations

import bisect
import errno
import os
import struct
from dataclasses import dataclass, field

from symmap.errors import CorruptInput
from symmap.formats._binio import Buffer, bounded_count, cstring_at
from symmap.formats.macho.load_commands import (CPU_TYPE_ARM64, CPU_TYPE_ARM64_32, CPU_TYPE_X86,
                                                CPU_TYPE_X86_64, MAX_CORE_SIZEOFCMDS, MH_CORE, arch_name,
                                                parse_macho)

__all__ = ["CoreSegment", "CoreThread", "CoreNote", "NoteImage", "CoreFile", "CoreMemory",
           "parse_core", "parse_thread_state", "parse_all_image_infos", "parse_load_binary",
           "parse_addrable_bits", "parse_main_bin_spec"]

_LC = struct.Struct("<II")
_U64 = struct.Struct("<Q")
NO_ADDR = 0xFFFFFFFFFFFFFFFF          # "not available" in note payloads

# Thread-state flavors: xnu osfmk/mach/i386/thread_status.h and
# osfmk/mach/arm/thread_status.h (xnu-11417).
X86_THREAD_STATE32 = 1
X86_THREAD_STATE64 = 4
X86_THREAD_STATE = 7            # x86_state_hdr {flavor, count} + union
ARM_THREAD_STATE = 1            # == ARM_UNIFIED_THREAD_STATE: arm_state_hdr + union
ARM_THREAD_STATE64 = 6
# Register slots (8-byte words for 64-bit, 4-byte for 32-bit).
# x86_thread_state64: rax rbx rcx rdx rdi rsi rbp rsp r8..r15 rip rflags cs fs gs
_X64_SP, _X64_PC, _X64_WORDS = 7, 16, 21
# i386_thread_state: eax ebx ecx edx edi esi ebp esp ss eflags eip ...
_X32_SP, _X32_PC, _X32_WORDS = 7, 10, 11
# arm_thread_state64: x[29] fp lr sp pc cpsr(u32) flags(u32)
_A64_SP, _A64_PC, _A64_WORDS = 31, 32, 33
MAX_THREAD_FLAVORS = 64         # a real LC_THREAD has a handful of flavors
# macOS caps a task at 8,192 threads (kern.num_taskthreads); each thread's
# frame repeats its image's path in the output.
MAX_CORE_THREADS = 8192
MAX_NOTE_PATH = 1024            # MAXPATHLEN


@dataclass(slots=True)
class CoreSegment:
    vmaddr: int
    vmsize: int
    fileoff: int
    filesize: int
    maxprot: int
    initprot: int
    name: str = ""
    present: int = 0            # bytes of filesize actually inside the file

    @property
    def end(self) -> int:
        return self.vmaddr + self.vmsize


@dataclass(slots=True)
class CoreThread:
    index: int
    flavor: int | None = None
    pc: int | None = None
    sp: int | None = None


@dataclass(slots=True)
class CoreNote:
    owner: str
    offset: int
    size: int
    cmd_offset: int


@dataclass(slots=True)
class NoteImage:
    """One binary named by an "all image infos" or "load binary" note."""

    path: str | None
    uuid: str | None
    load_address: int | None
    slide: int | None = None
    segments: list[tuple[str, int]] = field(default_factory=list)   # (segname, vmaddr)
    executing: bool = False
    source: str = "all image infos"


@dataclass(slots=True)
class CoreFile:
    path: str | None
    file_size: int
    is64: bool
    cputype: int
    cpusubtype: int
    ncmds: int
    sizeofcmds: int
    segments: list[CoreSegment] = field(default_factory=list)    # sorted by vmaddr
    threads: list[CoreThread] = field(default_factory=list)
    notes: list[CoreNote] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def arch(self) -> str:
        return arch_name(self.cputype, self.cpusubtype)

    def note(self, owner: str) -> list[CoreNote]:
        return [n for n in self.notes if n.owner == owner]


def _fail(reason: str, path: str | None, off: int | None = None) -> CorruptInput:
    return CorruptInput("core", reason, path, off)


def _name16(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def parse_core(buf: Buffer, path: str | None = None) -> CoreFile:
    """Parse an MH_CORE's header and load commands from ``buf`` (bytes or an mmap).

    Raises CorruptInput("core", ...) when the header or the load-command
    walk is unusable (bad magic, not MH_CORE, cmdsize 0 or past sizeofcmds);
    tolerable damage goes to ``problems``.
    """
    n = len(buf)
    if n < 28:
        raise _fail("file too short for a mach header", path, 0)
    m = parse_macho(buf, 0, path, what="core")
    if m.filetype != MH_CORE:
        raise _fail(f"filetype {m.filetype} is not MH_CORE (4)", path, 12)
    core = CoreFile(path, n, m.is64, m.cputype, m.cpusubtype, m.ncmds, m.sizeofcmds)
    segs = [CoreSegment(sg.vmaddr, sg.vmsize, sg.fileoff, sg.filesize, sg.maxprot, sg.initprot, sg.name)
            for sg in m.segments]
    for body, size in m.threads[:MAX_CORE_THREADS]:
        core.threads.append(parse_thread_state(buf, body, size, m.cputype, len(core.threads)))
    if len(m.threads) > MAX_CORE_THREADS:
        core.problems.append(f"{len(m.threads)} LC_THREADs: only the first {MAX_CORE_THREADS} read")
    # data_owner is 16 bytes, not always NUL-terminated ("process metadata").
    core.notes = [CoreNote(nt.owner, nt.offset, nt.size, nt.cmd_offset) for nt in m.notes]
    if m.ncmds > m.sizeofcmds // 8:
        core.problems.append(f"ncmds {m.ncmds} cannot fit in sizeofcmds {m.sizeofcmds:#x}")
    if m.cmds_not_read:
        core.problems.append(f"load commands past {MAX_CORE_SIZEOFCMDS >> 20} MiB not read "
                             f"({m.cmds_not_read:#x} bytes): regions past them are missing")
    _check_segments(core, segs)
    _check_notes(core)
    return core


def _check_segments(core: CoreFile, segs: list[CoreSegment]) -> None:
    n = core.file_size
    past_eof = 0
    for s in segs:
        if s.vmaddr + s.vmsize > 1 << 64:
            core.problems.append(f"segment at {s.vmaddr:#x} size {s.vmsize:#x} wraps the "
                                 "address space; dropped")
            s.vmsize = 0
        # Bytes present: the file range clipped to the file and to vmsize.
        want = min(s.filesize, s.vmsize)
        if s.fileoff >= n:
            s.present = 0
        else:
            s.present = max(0, min(want, n - s.fileoff))
        if s.present < want:
            past_eof += 1
    live = sorted((s for s in segs if s.vmsize > 0), key=lambda s: (s.vmaddr, -s.vmsize))
    kept: list[CoreSegment] = []
    overlaps = 0
    for s in live:
        if kept and s.vmaddr < kept[-1].end:
            overlaps += 1
            continue        # keep the first range that claimed these addresses
        kept.append(s)
    core.segments = kept
    if past_eof:
        core.problems.append(f"{past_eof} of {len(segs)} segments lie (partly) past the end of "
                             f"the file ({n:#x} bytes): truncated core")
    if overlaps:
        core.problems.append(f"{overlaps} segments overlap earlier ones; ignored")


def _check_notes(core: CoreFile) -> None:
    bad = [nt for nt in core.notes
           if nt.offset > core.file_size or nt.size > core.file_size - nt.offset]
    for nt in bad:
        core.problems.append(f"note {nt.owner!r} payload [{nt.offset:#x}+{nt.size:#x}] lies "
                             "outside the file; ignored")
    core.notes = [nt for nt in core.notes if nt not in bad]


def parse_thread_state(buf: Buffer, off: int, size: int, cputype: int, index: int) -> CoreThread:
    """pc/sp from an LC_THREAD body: a sequence of {u32 flavor, u32 count, u32 state[count]}."""
    t = CoreThread(index)
    end = min(off + size, len(buf))
    for _ in range(MAX_THREAD_FLAVORS):
        if off + 8 > end:
            break
        flavor, count = _LC.unpack_from(buf, off)
        off += 8
        nbytes = count * 4
        if count == 0 or off + nbytes > end:
            break
        _thread_regs(t, buf, off, nbytes, flavor, cputype)
        off += nbytes
        if t.pc is not None:
            break
    return t


def _thread_regs(t: CoreThread, buf: Buffer, off: int, nbytes: int, flavor: int,
                 cputype: int) -> None:
    x86 = cputype in (CPU_TYPE_X86_64, CPU_TYPE_X86)
    arm = cputype in (CPU_TYPE_ARM64, CPU_TYPE_ARM64_32)
    if (x86 and flavor == X86_THREAD_STATE) or (arm and flavor == ARM_THREAD_STATE):
        # Unified state: an inner {flavor, count} header, then the real state.
        if nbytes < 8:
            return
        inner, _cnt = _LC.unpack_from(buf, off)
        if inner == flavor:
            return          # never recurse on a self-referencing header
        _thread_regs(t, buf, off + 8, nbytes - 8, inner, cputype)
        return
    if x86 and flavor == X86_THREAD_STATE64 and nbytes >= _X64_WORDS * 8:
        t.sp, t.pc = (_U64.unpack_from(buf, off + 8 * k)[0] for k in (_X64_SP, _X64_PC))
    elif x86 and flavor == X86_THREAD_STATE32 and nbytes >= _X32_WORDS * 4:
        t.sp, t.pc = (struct.unpack_from("<I", buf, off + 4 * k)[0] for k in (_X32_SP, _X32_PC))
    elif arm and flavor == ARM_THREAD_STATE64 and nbytes >= _A64_WORDS * 8:
        t.sp, t.pc = (_U64.unpack_from(buf, off + 8 * k)[0] for k in (_A64_SP, _A64_PC))
    else:
        return
    t.flavor = flavor


# ---- LC_NOTE payloads -----------------------------------------------------

_AII_HDR = struct.Struct("<IIQII")        # version imgcount entries_fileoff entries_size unused
_AII_ENTRY = struct.Struct("<Q16sQQII")   # filepath_offset uuid load_address seg_addrs_offset segment_count unused
_AII_SEG = struct.Struct("<16sQQ")        # segname vmaddr unused
_LOAD_BINARY = struct.Struct("<I16sQQ")   # version uuid address slide, then name
_MAIN_BIN_V1 = struct.Struct("<IIQ16sII")
_MAIN_BIN_V2 = struct.Struct("<IIQQ16sII")
# Per note, and for all notes together (sources/macho_core.py): entries may
# share one segment array, so segments are counted over the whole note too.
MAX_NOTE_IMAGES = 8192
MAX_NOTE_SEGMENTS = 1_000               # per image
MAX_NOTE_SEGMENTS_TOTAL = 65536


def _uuid(raw: bytes) -> str | None:
    return raw.hex() if any(raw) else None


def parse_all_image_infos(buf: Buffer, note: CoreNote, path: str | None = None, *,
                          max_images: int = MAX_NOTE_IMAGES,
                          max_segments: int = MAX_NOTE_SEGMENTS_TOTAL) -> list[NoteImage]:
    """Entries of an "all image infos" note (lldb save-core / Apple gcore layout v1).

    Internal offsets are absolute file offsets; each is bounded by the file.
    At most ``max_images`` entries and ``max_segments`` segments in all are
    read (a caller reading several notes passes what is left).
    Raises CorruptInput for a header that does not fit its note.
    """
    n = len(buf)
    if note.size < _AII_HDR.size:
        raise _fail("'all image infos' note too small", path, note.offset)
    version, count, entries_off, entry_size, _ = _AII_HDR.unpack_from(buf, note.offset)
    if version != 1:
        raise _fail(f"'all image infos' version {version} is not 1", path, note.offset)
    if entry_size < _AII_ENTRY.size:
        raise _fail(f"'all image infos' entry size {entry_size} < {_AII_ENTRY.size}",
                    path, note.offset)
    if entries_off > n:
        raise _fail("'all image infos' entries lie outside the file", path, note.offset)
    count = min(bounded_count(count, entry_size, n - entries_off), max(0, max_images))
    out = []
    segs_left = max(0, max_segments)
    for k in range(count):
        e = entries_off + k * entry_size
        path_off, uuid, load, segs_off, nsegs, executing = _AII_ENTRY.unpack_from(buf, e)
        img = NoteImage(None, _uuid(uuid), None if load == NO_ADDR else load,
                        executing=bool(executing))
        if path_off != NO_ADDR and path_off < n:
            img.path = cstring_at(buf, path_off, MAX_NOTE_PATH) or None
        if segs_off != NO_ADDR and segs_off < n:
            nsegs = min(bounded_count(nsegs, _AII_SEG.size, n - segs_off), MAX_NOTE_SEGMENTS, segs_left)
            segs_left -= nsegs
            for j in range(nsegs):
                name, vmaddr, _u = _AII_SEG.unpack_from(buf, segs_off + j * _AII_SEG.size)
                img.segments.append((_name16(name), vmaddr))
        out.append(img)
    return out


def parse_load_binary(buf: Buffer, note: CoreNote, path: str | None = None) -> NoteImage:
    """A "load binary" note (xnu kdp_core.c / lldb): version, uuid, address, slide, name."""
    if note.size < _LOAD_BINARY.size:
        raise _fail("'load binary' note too small", path, note.offset)
    version, uuid, addr, slide, = _LOAD_BINARY.unpack_from(buf, note.offset)
    if version < 1:
        raise _fail(f"'load binary' version {version}", path, note.offset)
    name_off = note.offset + _LOAD_BINARY.size
    name = cstring_at(buf, name_off, 1024, note.offset + note.size) or None
    return NoteImage(name, _uuid(uuid), None if addr == NO_ADDR else addr,
                     None if slide == NO_ADDR else slide, source="load binary")


def parse_addrable_bits(buf: Buffer, note: CoreNote) -> int | None:
    """Number of user-space addressing bits from an "addrable bits" note (v3 or v4)."""
    if note.size < 8:
        return None
    version, bits = struct.unpack_from("<II", buf, note.offset)
    bits = int(bits)
    # v3: {version, addressing_bits, u64}; v4: {version, low bits, high bits, reserved}.
    # User addresses are low memory, so both take the second word.
    if version in (3, 4) and 0 < bits <= 64:
        return bits
    return None


def parse_main_bin_spec(buf: Buffer, note: CoreNote) -> tuple[int, int | None, str | None]:
    """(type, address or None, uuid) of a "main bin spec" note (v1 or v2)."""
    if note.size >= _MAIN_BIN_V2.size:
        version = struct.unpack_from("<I", buf, note.offset)[0]
        if version >= 2:
            _v, typ, addr, _slide, uuid, _ps, _plat = _MAIN_BIN_V2.unpack_from(buf, note.offset)
            return typ, None if addr == NO_ADDR else addr, _uuid(uuid)
    if note.size >= _MAIN_BIN_V1.size:
        _v, typ, addr, uuid, _ps, _u = _MAIN_BIN_V1.unpack_from(buf, note.offset)
        return typ, None if addr == NO_ADDR else addr, _uuid(uuid)
    return 0, None, None


# ---- memory ---------------------------------------------------------------

class CoreMemory:
    """Reads core memory by address: address -> segment -> file offset (bisect).

    Unsaved addresses and bytes past the end of the file read as absent
    (fewer bytes returned), never as zeros.
    """

    def __init__(self, buf: Buffer, segments: list[CoreSegment], fd: int | None = None) -> None:
        self._buf = buf
        self._fd = fd
        self._segs = [s for s in segments if s.present > 0]
        self._starts = [s.vmaddr for s in self._segs]

    def may_hold_data(self, addr: int) -> bool:
        """False when ``addr``'s bytes are unsaved or a hole in a sparse core file.

        Probing a header at every segment start of a multi-GB sparse core
        through the mmap faults in (and reads ahead) zero pages; SEEK_DATA
        answers from the file's extent map instead.
        """
        s = self.segment_at(addr)
        if s is None:
            return False
        if self._fd is None or not hasattr(os, "SEEK_DATA"):
            return True
        off = s.fileoff + addr - s.vmaddr
        try:
            return os.lseek(self._fd, off, os.SEEK_DATA) == off
        except OSError as e:     # ENXIO: only a hole follows; EINVAL: not supported here
            return e.errno != errno.ENXIO

    def segment_at(self, addr: int) -> CoreSegment | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self._segs[i].vmaddr + self._segs[i].present:
            return self._segs[i]
        return None

    def readable(self, address: int, size: int) -> int:
        """How many of [address, address+size) the core holds contiguously
        (bounds a lazy buffer by the data, not by a size read from it)."""
        got = 0
        while got < size:
            s = self.segment_at(address + got)
            if s is None:
                break
            got += s.vmaddr + s.present - (address + got)
        return min(got, size)

    def read(self, address: int, size: int) -> bytes:
        out = bytearray()
        while size > 0:
            s = self.segment_at(address)
            if s is None:
                break
            delta = address - s.vmaddr
            take = min(size, s.present - delta)
            out += self._buf[s.fileoff + delta: s.fileoff + delta + take]
            address += take
            size -= take
        return bytes(out)

