"""A per-entry ELF symbol-table reader, kept for tests only: the reference
that symmap's column reader (symbolize/elf_symbols.py) is checked against.
It was symmap.formats.elf.elffile.iter_symbols before production stopped
using it."""
from __future__ import annotations

import struct
from typing import Iterator, NamedTuple

from symmap.formats._binio import check_range
from symmap.formats.elf.elffile import (_LAYOUTS, ELF, SHN_UNDEF, SHT_DYNSYM, SHT_NOBITS, SHT_SYMTAB,
                                       STB_LOCAL, _bad)

class ElfSymbol(NamedTuple):
    """One symbol-table entry.  ``value`` is the link-time address (add the
    load bias for runtime; for STT_TLS it is an offset in the TLS block)."""

    name: str
    value: int
    size: int
    type: int          # STT_*
    bind: int          # STB_*
    shndx: int         # SHN_UNDEF (0) = undefined import
    dynamic: bool      # True: from .dynsym, False: from .symtab

    @property
    def is_local(self) -> bool:
        return self.bind == STB_LOCAL

    @property
    def defined(self) -> bool:
        return self.shndx != SHN_UNDEF


def iter_symbols(elf: ELF, *, tables: tuple[str, ...] = ("symtab", "dynsym"),
                 defined_only: bool = False) -> Iterator[ElfSymbol]:
    """Yield the entries of .symtab then .dynsym (index 0, the null symbol,
    skipped).  Fast path: one ``iter_unpack`` per table, one bytes.find per
    name; 100k symbols take well under 0.1 s."""
    want = {"symtab": SHT_SYMTAB, "dynsym": SHT_DYNSYM}
    types = [want[t] for t in tables]
    lay = _LAYOUTS[(elf.is64, elf.little)]
    n = len(elf.buf)
    new = tuple.__new__
    for st in types:
        for sec in elf.sections:
            if sec.type != st or sec.size == 0:
                continue
            dynamic = st == SHT_DYNSYM
            check_range(n, sec.offset, sec.size, f"symbol table {sec.name}", elf.path, "ELF")
            entsize = sec.entsize or lay.sym.size
            if entsize < lay.sym.size:
                raise _bad(f"{sec.name} entry size {entsize} is too small", elf.path, sec.offset)
            if not 0 < sec.link < len(elf.sections):
                raise _bad(f"{sec.name} names no string table (sh_link {sec.link})", elf.path)
            strsec = elf.sections[sec.link]
            if strsec.type == SHT_NOBITS:
                strtab = b""
            else:
                check_range(n, strsec.offset, strsec.size, f"string table {strsec.name}",
                            elf.path, "ELF")
                strtab = bytes(elf.buf[strsec.offset:strsec.offset + strsec.size])
            count = sec.size // entsize
            if count <= 1:
                continue
            fmt = lay.sym
            if entsize != lay.sym.size:
                fmt = struct.Struct(lay.sym.format + f"{entsize - lay.sym.size}x")
            data = memoryview(elf.buf)[sec.offset + entsize: sec.offset + count * entsize]
            # An ASCII table (nearly all are) is decoded once and sliced as str:
            # byte offsets equal char offsets, and no per-name decode is paid.
            if strtab.isascii():
                strtab = strtab.decode("ascii")
                nul = "\0"
                dec = False
            else:
                nul = b"\0"
                dec = True
            find = strtab.find
            slen = len(strtab)
            rows = fmt.iter_unpack(data)
            try:
                if not lay.is64:
                    # Elf32_Sym orders its fields name value size info other shndx.
                    rows = ((n, i, o, sh, v, sz) for n, v, sz, i, o, sh in rows)
                for st_name, info, _other, shndx, value, size in rows:
                    if defined_only and shndx == 0:
                        continue
                    if st_name and st_name < slen:
                        e = find(nul, st_name)
                        name = strtab[st_name:e if e >= 0 else slen]
                        if dec:
                            name = name.decode("utf-8", "surrogateescape")
                    else:
                        name = ""
                    yield new(ElfSymbol, (name, value, size, info & 0xF, info >> 4, shndx, dynamic))
            finally:
                rows = None          # drop the iterator's buffer export before the release
                data.release()


def is_mapping_symbol(name: str) -> bool:
    """ARM/AArch64/RISC-V mapping symbols ($x, $d.12, $a, $t, $xrv64i2p0...)
    mark code/data runs, not functions; symbolizers and nm skip them (ARM ELF
    ABI "Mapping symbols")."""
    return len(name) >= 2 and name[0] == "$" and name[1] in "adtx" and (
        len(name) == 2 or name[2] == "." or name[1] == "x")


# ------------------------------------------------------------ runtime layout

