"""ELF headers, program headers, sections, notes and symbols with ``struct``.

Layouts follow the System V gABI / <elf.h>.  Like ``macho.py`` this is a hot
path (every library of a live process is parsed), so ``parse_elf`` reads
only the tables (never section contents except .shstrtab and notes), and
Symbol tables are read by symbolize/elf_symbols.py (column reads).

Everything is read through bounds checks: a truncated or hostile file raises
``CorruptInput("ELF", ...)``; counts read from the file are clamped to what
the buffer can hold (never allocate in proportion to them).
"""
from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field

from symmap.errors import CorruptInput
from symmap.model import PROT_EXEC, PROT_READ, PROT_WRITE, Image, Section, Segment
from symmap.formats._binio import Buffer, check_range, cstring_at

__all__ = ["ELF", "ElfPhdr", "ElfSection", "parse_elf", "open_elf", "is_elf",
           "elf_segments", "to_image", "load_bias", "vaddr_to_offset",
           "PT_LOAD", "PT_DYNAMIC", "PT_INTERP", "PT_NOTE", "PT_GNU_RELRO", "PT_TLS",
           "STT_NOTYPE", "STT_OBJECT", "STT_FUNC", "STT_SECTION", "STT_FILE", "STT_TLS",
           "STT_GNU_IFUNC", "STB_LOCAL", "STB_GLOBAL", "STB_WEAK", "ET_EXEC", "ET_DYN"]

ELF_MAGIC = b"\x7fELF"
ET_NONE, ET_REL, ET_EXEC, ET_DYN, ET_CORE = 0, 1, 2, 3, 4
E_TYPES = {ET_REL: "elf-rel", ET_EXEC: "elf-exec", ET_DYN: "elf-dyn", ET_CORE: "elf-core"}

PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_PHDR, PT_TLS = 1, 2, 3, 4, 6, 7
PT_GNU_EH_FRAME, PT_GNU_STACK, PT_GNU_RELRO, PT_GNU_PROPERTY = (
    0x6474E550, 0x6474E551, 0x6474E552, 0x6474E553)
PF_X, PF_W, PF_R = 1, 2, 4

SHT_NULL, SHT_SYMTAB, SHT_STRTAB, SHT_NOTE, SHT_NOBITS, SHT_DYNSYM = 0, 2, 3, 7, 8, 11
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR, SHF_TLS = 0x1, 0x2, 0x4, 0x400
SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_COMMON, SHN_XINDEX = 0, 0xFF00, 0xFFF1, 0xFFF2, 0xFFFF
PN_XNUM = 0xFFFF

STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE, STT_COMMON, STT_TLS = 0, 1, 2, 3, 4, 5, 6
STT_GNU_IFUNC = 10
STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 0, 1, 2, 10

NT_GNU_BUILD_ID = 3
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME = 0, 1, 5, 10, 14

# e_machine -> the arch names `uname -m` prints (what Linux users see).
_MACHINES = {3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm",
             42: "sh", 43: "sparcv9", 50: "ia64", 62: "x86_64", 183: "aarch64",
             243: "riscv", 258: "loongarch64"}

# Linux's loader refuses more than 64 KiB of program headers (binfmt_elf.c
# load_elf_phdrs: 1170 of ELF64's); each is a row, so `map` stays cheap.
_MAX_PHDRS = 2048
_MAX_NOTE_BYTES = 1 << 20


@dataclass(slots=True)
class ElfPhdr:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int

    @property
    def prot(self) -> int:
        """p_flags (PF_R=4, PF_W=2, PF_X=1) -> model VM_PROT bits (r=1, w=2, x=4)."""
        return ((PROT_READ if self.flags & PF_R else 0) | (PROT_WRITE if self.flags & PF_W else 0)
                | (PROT_EXEC if self.flags & PF_X else 0))


@dataclass(slots=True)
class ElfSection:
    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int


@dataclass
class ELF:
    """A parsed ELF file.  ``buf`` stays referenced for symbol-table reads."""

    buf: Buffer
    path: str | None
    is64: bool
    little: bool
    e_type: int
    machine: int
    entry: int
    phdrs: list[ElfPhdr] = field(default_factory=list)
    sections: list[ElfSection] = field(default_factory=list)
    build_id: str | None = None
    interp: str | None = None
    soname: str | None = None
    needed: list[str] = field(default_factory=list)
    _closer: object = None

    @property
    def arch(self) -> str | None:
        name = _MACHINES.get(self.machine)
        if name == "ppc64" and self.little:
            return "ppc64le"
        if name == "riscv":
            return "riscv64" if self.is64 else "riscv32"
        if name == "mips" and self.is64:
            return "mips64"
        if name == "arm" and not self.little:
            return "armeb"
        return name

    @property
    def filetype(self) -> str | None:
        return E_TYPES.get(self.e_type)

    @property
    def loads(self) -> list[ElfPhdr]:
        return [p for p in self.phdrs if p.type == PT_LOAD]

    def section(self, name: str) -> ElfSection | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def close(self) -> None:
        c = self._closer
        self._closer = None
        if c is not None:
            c()  # type: ignore[operator]

    def __enter__(self) -> "ELF":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_elf(buf: Buffer) -> bool:
    return len(buf) >= 4 and bytes(buf[:4]) == ELF_MAGIC


class _Layout:
    """The struct layouts for one (class, endianness) pair, built once."""

    def __init__(self, is64: bool, little: bool) -> None:
        e = "<" if little else ">"
        if is64:
            self.ehdr = struct.Struct(e + "HHIQQQIHHHHHH")
            self.phdr = struct.Struct(e + "IIQQQQQQ")     # type flags offset vaddr paddr filesz memsz align
            self.shdr = struct.Struct(e + "IIQQQQIIQQ")
            self.sym = struct.Struct(e + "IBBHQQ")         # name info other shndx value size
            self.dyn = struct.Struct(e + "qQ")
        else:
            self.ehdr = struct.Struct(e + "HHIIIIIHHHHHH")
            self.phdr = struct.Struct(e + "IIIIIIII")      # type offset vaddr paddr filesz memsz flags align
            self.shdr = struct.Struct(e + "IIIIIIIIII")
            self.sym = struct.Struct(e + "IIIBBH")         # name value size info other shndx
            self.dyn = struct.Struct(e + "iI")
        self.nhdr = struct.Struct(e + "III")
        self.is64 = is64


_LAYOUTS = {(a, b): _Layout(a, b) for a in (False, True) for b in (False, True)}


def _bad(reason: str, path: str | None, off: int | None = None) -> CorruptInput:
    return CorruptInput("ELF", reason, path, off)


def parse_elf(buf: Buffer, path: str | None = None) -> ELF:
    """Parse the ELF header, program headers, section headers (+names),
    build-id, PT_INTERP and DT_SONAME/DT_NEEDED of ``buf``."""
    n = len(buf)
    if n < 16 or bytes(buf[:4]) != ELF_MAGIC:
        raise _bad("not an ELF file (bad magic)", path, 0)
    ei_class, ei_data = buf[4], buf[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        raise _bad(f"unknown EI_CLASS {ei_class} / EI_DATA {ei_data}", path, 4)
    lay = _LAYOUTS[(ei_class == 2, ei_data == 1)]
    if n < 16 + lay.ehdr.size:
        raise _bad("truncated ELF header", path, 0)
    (e_type, e_machine, _ver, e_entry, e_phoff, e_shoff, _flags, _ehsize, e_phentsize,
     e_phnum, e_shentsize, e_shnum, e_shstrndx) = lay.ehdr.unpack_from(buf, 16)
    elf = ELF(buf=buf, path=path, is64=lay.is64, little=ei_data == 1, e_type=e_type,
              machine=e_machine, entry=e_entry)

    # Section 0 carries the real counts when they overflow 16 bits (gABI "extended numbering").
    sh0 = None
    if e_shoff and e_shentsize >= lay.shdr.size and 0 < e_shoff <= n - lay.shdr.size:
        sh0 = lay.shdr.unpack_from(buf, e_shoff)
    if e_phnum == PN_XNUM and sh0 is not None:
        e_phnum = sh0[7]
    if e_shnum == 0 and sh0 is not None:
        e_shnum = sh0[5]
    if e_shstrndx == SHN_XINDEX and sh0 is not None:
        e_shstrndx = sh0[6]

    _parse_phdrs(elf, lay, e_phoff, e_phentsize, e_phnum)
    _parse_shdrs(elf, lay, e_shoff, e_shentsize, e_shnum, e_shstrndx)
    _parse_interp_and_notes(elf, lay)
    _parse_dynamic(elf, lay)
    return elf


def _parse_phdrs(elf: ELF, lay: _Layout, off: int, entsize: int, count: int) -> None:
    if count == 0:
        return
    if entsize < lay.phdr.size:
        raise _bad(f"e_phentsize {entsize} is smaller than a program header", elf.path)
    if count > _MAX_PHDRS:
        raise _bad(f"e_phnum {count} is implausible ({_MAX_PHDRS} at most)", elf.path)
    check_range(len(elf.buf), off, entsize * count, "program header table", elf.path, "ELF")
    unpack = lay.phdr.unpack_from
    for i in range(count):
        f = unpack(elf.buf, off + i * entsize)
        if lay.is64:
            p_type, flags, offset, vaddr, _pa, filesz, memsz, align = f
        else:
            p_type, offset, vaddr, _pa, filesz, memsz, flags, align = f
        elf.phdrs.append(ElfPhdr(p_type, flags, offset, vaddr, filesz, memsz, align))


def _parse_shdrs(elf: ELF, lay: _Layout, off: int, entsize: int, count: int, strndx: int) -> None:
    if off == 0 or count == 0:
        return           # stripped of section headers (sstrip) is legal: segments still work
    if entsize < lay.shdr.size:
        raise _bad(f"e_shentsize {entsize} is smaller than a section header", elf.path)
    # Bound the count by the bytes that really exist (no allocation from e_shnum).
    check_range(len(elf.buf), off, entsize * count, "section header table", elf.path, "ELF")
    unpack = lay.shdr.unpack_from
    raw = [unpack(elf.buf, off + i * entsize) for i in range(count)]
    names_off = names_end = None
    if 0 < strndx < count:
        s = raw[strndx]
        if s[1] != SHT_NOBITS:
            check_range(len(elf.buf), s[4], s[5], "section name table", elf.path, "ELF")
            names_off, names_end = s[4], s[4] + s[5]
    for i, (sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info,
            _align, sh_entsize) in enumerate(raw):
        name = ""
        if names_off is not None and sh_name < names_end - names_off:
            name = cstring_at(elf.buf, names_off + sh_name, 256, names_end)
        elf.sections.append(ElfSection(i, name, sh_type, sh_flags, sh_addr, sh_offset, sh_size,
                                       sh_link, sh_info, sh_entsize))


def _parse_interp_and_notes(elf: ELF, lay: _Layout) -> None:
    n = len(elf.buf)
    note_ranges: list[tuple[int, int, int]] = []
    for p in elf.phdrs:
        if p.type == PT_INTERP and p.filesz:
            check_range(n, p.offset, p.filesz, "PT_INTERP", elf.path, "ELF")
            elf.interp = cstring_at(elf.buf, p.offset, min(p.filesz, 4096), p.offset + p.filesz)
        elif p.type == PT_NOTE and p.filesz:
            check_range(n, p.offset, p.filesz, "PT_NOTE", elf.path, "ELF")
            note_ranges.append((p.offset, p.filesz, p.align))
    if not note_ranges:
        # No program headers (relocatable/sstripped): fall back to the section.
        for s in elf.sections:
            if s.type == SHT_NOTE and s.size:
                check_range(n, s.offset, s.size, f"section {s.name}", elf.path, "ELF")
                note_ranges.append((s.offset, s.size, 4))
    for off, size, align in note_ranges:
        bid = _build_id_in_notes(elf, lay, off, min(size, _MAX_NOTE_BYTES), 8 if align == 8 else 4)
        if bid is not None:
            elf.build_id = bid
            return


def _build_id_in_notes(elf: ELF, lay: _Layout, off: int, size: int, align: int) -> str | None:
    end = off + size
    p = off
    while p + 12 <= end:
        namesz, descsz, ntype = lay.nhdr.unpack_from(elf.buf, p)
        name_off = p + 12
        # Padding is to `align` relative to the note area (8-aligned
        # .note.gnu.property puts desc at +16, not at +12+pad8(namesz)).
        desc_off = off + ((name_off - off + namesz + align - 1) & ~(align - 1))
        nxt = off + ((desc_off - off + descsz + align - 1) & ~(align - 1))
        if desc_off + descsz > end or nxt <= p:
            raise _bad("note runs past its segment", elf.path, p)
        if ntype == NT_GNU_BUILD_ID and namesz == 4 and bytes(elf.buf[name_off:name_off + 4]) == b"GNU\0":
            return bytes(elf.buf[desc_off:desc_off + descsz]).hex()
        p = nxt
    return None


def vaddr_to_offset(elf: ELF, vaddr: int) -> int | None:
    """File offset holding the byte at link-time ``vaddr``, or None."""
    for p in elf.phdrs:
        if p.type == PT_LOAD and p.vaddr <= vaddr < p.vaddr + p.filesz:
            return p.offset + (vaddr - p.vaddr)
    return None


def _parse_dynamic(elf: ELF, lay: _Layout) -> None:
    dyn = next((p for p in elf.phdrs if p.type == PT_DYNAMIC and p.filesz), None)
    if dyn is None:
        return
    n = len(elf.buf)
    check_range(n, dyn.offset, dyn.filesz, "PT_DYNAMIC", elf.path, "ELF")
    strtab = None
    strsz = 0
    soname = None
    needed: list[int] = []
    count = dyn.filesz // lay.dyn.size
    for i in range(min(count, 65536)):
        tag, val = lay.dyn.unpack_from(elf.buf, dyn.offset + i * lay.dyn.size)
        if tag == DT_NULL:
            break
        if tag == DT_STRTAB:
            strtab = val
        elif tag == DT_STRSZ:
            strsz = val
        elif tag == DT_SONAME:
            soname = val
        elif tag == DT_NEEDED and len(needed) < 4096:
            needed.append(val)
    if strtab is None:
        return
    so = vaddr_to_offset(elf, strtab)
    if so is None or so >= n:
        return          # DT_STRTAB outside the file: not fatal, names are optional
    end = min(n, so + strsz) if strsz else n
    if soname is not None and soname < end - so:
        elf.soname = cstring_at(elf.buf, so + soname, 4096, end)
    elf.needed = [cstring_at(elf.buf, so + v, 4096, end) for v in needed if v < end - so]


def open_elf(path: str) -> ELF:
    """mmap ``path`` read-only and parse it; ``close()`` (or ``with``) unmaps."""
    with open(path, "rb") as f:
        try:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:   # empty file
            raise _bad("empty file", path, 0) from None
    try:
        elf = parse_elf(mm, path)
    except BaseException:
        mm.close()
        raise
    elf._closer = mm.close
    return elf


# --------------------------------------------------------------------- symbols

def load_bias(elf: ELF, map_start: int, map_offset: int, page_size: int = 4096,
              prot: int | None = None) -> int | None:
    """Load bias (runtime - link-time address) from one mapping of the file.

    ld.so maps each PT_LOAD at align_down(bias + p_vaddr) from file offset
    align_down(p_offset); since p_vaddr == p_offset (mod page), the bias is
    ``map_start - map_offset - (p_vaddr - p_offset)`` for the PT_LOAD that the
    mapping's offset falls in.  When two PT_LOADs share a file page, an exact
    page match, then the same protection, wins.
    """
    mask = page_size - 1
    best = None
    best_score = -1
    for p in elf.phdrs:
        if p.type != PT_LOAD:
            continue
        lo = p.offset & ~mask
        hi = max(p.offset + p.filesz, lo + page_size)
        if not lo <= map_offset < hi:
            continue
        score = (2 if lo == map_offset else 0) + (1 if prot is not None and p.prot == prot else 0)
        if score > best_score:
            best, best_score = p, score
    if best is None:
        return None
    return map_start - map_offset - (best.vaddr - best.offset)


def _kind(p: ElfPhdr) -> str:
    if p.flags & PF_X:
        return "text"
    if p.flags & PF_W:
        return "data"
    if p.flags & PF_R:
        return "rodata"
    return "load"


def elf_segments(elf: ELF, bias: int) -> list[Segment]:
    """Runtime pieces of the image, named by what they hold: ``text`` (x),
    ``rodata`` (r--), ``relro`` (the PT_GNU_RELRO range, read-only after
    relocation), ``data`` (the rest of a writable PT_LOAD backed by the file)
    and ``bss`` (its zero-filled tail past p_filesz).  Allocated sections are
    attached to the piece holding their address."""
    relros = [(p.vaddr, p.vaddr + p.memsz) for p in elf.phdrs if p.type == PT_GNU_RELRO and p.memsz]
    segs: list[Segment] = []
    for p in elf.phdrs:
        if p.type != PT_LOAD or p.memsz == 0:
            continue
        kind = _kind(p)
        if kind != "data":
            segs.append(Segment(kind, bias + p.vaddr, p.memsz, p.prot, p.prot, p.offset, p.filesz))
            continue
        start, file_end, end = p.vaddr, p.vaddr + min(p.filesz, p.memsz), p.vaddr + p.memsz
        cur = start
        for rs, re_ in sorted(relros):
            rs, re_ = max(rs, start), min(re_, end)
            if rs >= re_ or rs < cur:
                continue
            if rs > cur:
                _add_data_pieces(segs, p, bias, cur, rs, file_end)
            # After ld.so's mprotect the range is read-only; it was mapped rw.
            segs.append(Segment("relro", bias + rs, re_ - rs, PROT_READ, p.prot,
                                p.offset + (rs - p.vaddr) if rs < file_end else None,
                                max(0, min(re_, file_end) - rs)))
            cur = re_
        if cur < end:
            _add_data_pieces(segs, p, bias, cur, end, file_end)
    _attach_sections(elf, segs, bias)
    return segs


def _add_data_pieces(segs: list[Segment], p: ElfPhdr, bias: int, lo: int, hi: int,
                     file_end: int) -> None:
    if lo < min(hi, file_end):
        e = min(hi, file_end)
        segs.append(Segment("data", bias + lo, e - lo, p.prot, p.prot,
                            p.offset + (lo - p.vaddr), e - lo))
    if max(lo, file_end) < hi:
        s = max(lo, file_end)
        segs.append(Segment("bss", bias + s, hi - s, p.prot, p.prot, None, 0))


def _attach_sections(elf: ELF, segs: list[Segment], bias: int) -> None:
    for s in elf.sections:
        if not s.flags & SHF_ALLOC or s.size == 0:
            continue
        if s.flags & SHF_TLS and s.type == SHT_NOBITS:
            continue     # .tbss occupies no address space of its own
        addr = bias + s.addr
        for seg in segs:
            if seg.address <= addr < seg.end:
                seg.sections.append(Section(s.name, seg.name, addr, s.size,
                                            None if s.type == SHT_NOBITS else s.offset))
                break


def to_image(elf: ELF, path: str, bias: int = 0, *, file_path: str | None = None) -> Image:
    """model.Image for ``elf`` loaded with ``bias`` (0 for ET_EXEC / unloaded)."""
    loads = elf.loads
    load_address = bias + (loads[0].vaddr if loads else 0)
    return Image(path=path, load_address=load_address, uuid=elf.build_id, slide=bias,
                 segments=elf_segments(elf, bias), filetype=elf.filetype, arch=elf.arch,
                 install_name=elf.soname, file_path=file_path if file_path is not None else path)
