"""Symbol index of an ELF image from its file (.symtab, then .dynsym).

Which symbols name code or data, as llvm-symbolizer decides
(llvm/lib/DebugInfo/Symbolize/SymbolizableObjectFile.cpp ``addSymbol``:
function and data symbols only): STT_FUNC, STT_GNU_IFUNC, STT_OBJECT;
STT_NOTYPE only inside executable sections (hand-written assembly labels),
never ARM/AArch64 mapping symbols (``$x``, ``$d``).  Section, file and TLS
symbols are skipped (a TLS value is an offset in the TLS block, not an
address).  ``st_size`` bounds an extent when non-zero.
"""
from __future__ import annotations

import struct

from ..formats.elf import (PT_LOAD, SHF_ALLOC, SHF_EXECINSTR, SHF_TLS, SHN_LORESERVE,
                           SHT_DYNSYM, SHT_SYMTAB, STB_LOCAL, STT_FUNC, STT_GNU_IFUNC,
                           STT_NOTYPE, STT_OBJECT, parse_elf)
from ..model import Image
from ._index import SymbolIndex, build_index

__all__ = ["elf_index"]

_WANTED = frozenset((STT_FUNC, STT_GNU_IFUNC, STT_OBJECT, STT_NOTYPE))


def _symbols(elf, types: frozenset[int]):
    """(value, name, size, type, bind) of the defined entries of .symtab,
    then .dynsym, read straight off the section table.

    Same tables and bounds checks as ``symmap.formats.elf.iter_symbols``,
    but filtered inside the ``iter_unpack`` loop with no object per symbol:
    the generic iterator's NamedTuple per entry alone costs more than the
    whole index budget (0.5 s for 100,000 symbols) on the CI machine.
    """
    e = "<" if elf.little else ">"
    st = struct.Struct(e + ("IBBHQQ" if elf.is64 else "IIIBBH"))
    n = len(elf.buf)
    out = []
    append = out.append
    for want in (SHT_SYMTAB, SHT_DYNSYM):
        for sec in elf.sections:
            if sec.type != want or not sec.size:
                continue
            entsize = sec.entsize or st.size
            if entsize < st.size or not 0 < sec.link < len(elf.sections):
                continue
            strsec = elf.sections[sec.link]
            if sec.offset + sec.size > n or strsec.offset + strsec.size > n:
                continue              # parse_elf's caller reports truncation; here: no names
            raw = bytes(elf.buf[strsec.offset:strsec.offset + strsec.size])
            text = raw.decode("utf-8", "surrogateescape")
            if not raw.isascii():
                # Non-ASCII names: byte offsets no longer equal str offsets.
                text = None
            count = sec.size // entsize
            fmt = st if entsize == st.size else struct.Struct(st.format + f"{entsize - st.size}x")
            data = memoryview(elf.buf)[sec.offset + entsize: sec.offset + count * entsize]
            find = (text if text is not None else raw).find
            slen = len(raw)
            for f in fmt.iter_unpack(data):
                if elf.is64:
                    strx, info, _o, shndx, value, size = f
                else:
                    strx, value, size, info, _o, shndx = f
                if not shndx or (info & 0xF) not in types or not 0 < strx < slen:
                    continue
                if text is not None:
                    end = find("\0", strx)
                    name = text[strx:end if end >= 0 else slen]
                else:
                    end = find(b"\0", strx)
                    name = raw[strx:end if end >= 0 else slen].decode("utf-8", "surrogateescape")
                append((value, name, size, info & 0xF, info >> 4, shndx))
            data.release()
    return out


def elf_index(buf: bytes, image: Image, path: str, trusted: bool) -> SymbolIndex | None:
    elf = parse_elf(buf, path)
    if not trusted and (not image.uuid or elf.build_id != image.uuid):
        return None
    exec_ranges = [(s.addr, s.addr + s.size) for s in elf.sections
                   if s.flags & SHF_EXECINSTR and s.flags & SHF_ALLOC]
    sections = [(s.addr, s.addr + s.size) for s in elf.sections
                if s.flags & SHF_ALLOC and not s.flags & SHF_TLS and s.size]
    loads = [p for p in elf.phdrs if p.type == PT_LOAD and p.memsz]
    segments = [(p.vaddr, p.vaddr + p.memsz) for p in loads]

    def in_exec(a: int) -> bool:
        return any(lo <= a < hi for lo, hi in exec_ranges)

    syms = _symbols(elf, _WANTED)
    globals_ = [(v, nm) for v, nm, _sz, t, b, sh in syms
                if t != STT_NOTYPE and b != STB_LOCAL and sh < SHN_LORESERVE]
    locals_ = [(v, nm) for v, nm, _sz, t, b, sh in syms
               if t != STT_NOTYPE and b == STB_LOCAL and sh < SHN_LORESERVE]
    notype = [(v, nm) for v, nm, _sz, t, _b, sh in syms
              if t == STT_NOTYPE and sh < SHN_LORESERVE and not nm.startswith("$") and in_exec(v)]
    sizes = {v: sz for v, _nm, sz, _t, _b, _sh in syms if sz}
    return build_index(globals_ + locals_ + notype, sections, segments, sizes=sizes,
                       image_base=loads[0].vaddr if loads else 0, image_name=image.name)
