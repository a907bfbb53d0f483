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

from ..formats.elf import (SHF_ALLOC, SHF_EXECINSTR, SHF_TLS, SHN_ABS, SHN_LORESERVE,
                           STB_LOCAL, STT_FUNC, STT_GNU_IFUNC, STT_NOTYPE, STT_OBJECT,
                           PT_LOAD, iter_symbols, parse_elf)
from ..model import Image
from ._index import SymbolIndex, build_index

__all__ = ["elf_index"]

_TYPED = (STT_FUNC, STT_GNU_IFUNC, STT_OBJECT)


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

    globals_: list[tuple[int, str]] = []
    locals_: list[tuple[int, str]] = []
    notype: list[tuple[int, str]] = []
    sizes: dict[int, int] = {}
    for sym in iter_symbols(elf, defined_only=True):
        name, value, size, typ, bind, shndx = sym[0], sym[1], sym[2], sym[3], sym[4], sym[5]
        if not name or shndx == SHN_ABS or (shndx >= SHN_LORESERVE and shndx != 0xFFFF):
            continue
        if typ in _TYPED:
            (locals_ if bind == STB_LOCAL else globals_).append((value, name))
        elif typ == STT_NOTYPE and not name.startswith("$") and in_exec(value):
            notype.append((value, name))
        else:
            continue
        if size and sizes.get(value, 0) < size:
            sizes[value] = size
    return build_index(globals_ + locals_ + notype, sections, segments, sizes=sizes,
                       image_base=loads[0].vaddr if loads else 0, image_name=image.name)
