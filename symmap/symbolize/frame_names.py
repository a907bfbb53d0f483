"""The physical frame's name, chosen as llvm-symbolizer chooses it.

llvm-symbolizer (LLVM 14, SymbolizableObjectFile) names the outermost frame
of a DWARF answer from the symbol table of the file it was given (not of a
detached debug file): for a stripped distribution library that is .dynsym.
Among aliases at one address it keeps the entry of largest (size, name)
(``iswupper_l`` over ``__iswupper_l``).  Where no such symbol covers the
address it keeps the DWARF name, which for GCC's clones is the function's
own name (``set_binding_values`` for code in ``set_binding_values.part.0``);
symbolic reports the clone's symbol there, so the clone suffix is dropped.
glibc declares its internal functions with ``asm("__GI_name")``
(hidden_proto), which DWARF records as the linkage name that
llvm-symbolizer prints; symbolic names another alias at that address, so
a ``__GI_`` alias in the debug file's symbol table is preferred.
"""
from __future__ import annotations

import mmap
import re
import struct
from bisect import bisect_right

from symmap.errors import SymmapError

__all__ = ["OwnSymbols", "own_symbols", "strip_clone_suffix"]

_CLONE = re.compile(r"(\.(part|constprop|isra|cold|lto_priv)(\.\d+)?)+$")
_FUNC_TYPES = (1, 2, 10)        # STT_OBJECT, STT_FUNC, STT_GNU_IFUNC


def strip_clone_suffix(name: str) -> str:
    return _CLONE.sub("", name) if "." in name else name


class OwnSymbols:
    """Sorted (start, end, name) of one ELF file's own symbols; ``gi``:
    start -> its ``__GI_`` alias, when it has one."""

    def __init__(self, entries: list[tuple[int, int, str]], gi: dict[int, str]) -> None:
        self.starts = [e[0] for e in entries]
        self.ends = [e[1] for e in entries]
        self.names = [e[2] for e in entries]
        self.gi = gi

    def gi_alias(self, unslid: int) -> str | None:
        i = bisect_right(self.starts, unslid) - 1
        if i >= 0 and unslid < self.ends[i]:
            return self.gi.get(self.starts[i])
        return None

    def find(self, unslid: int) -> str | None:
        i = bisect_right(self.starts, unslid) - 1
        if i >= 0 and unslid < self.ends[i]:
            return self.names[i]
        return None


def own_symbols(path: str) -> OwnSymbols | None:
    from symmap.formats.elf.elffile import SHF_ALLOC, SHT_DYNSYM, SHT_SYMTAB, parse_elf
    from symmap.symbolize.elf_symbols import table_entries
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            elf = parse_elf(m, path)
            alloc = {i for i, sec in enumerate(elf.sections) if sec.flags & SHF_ALLOC}
            has_symtab = any(sec.type == SHT_SYMTAB for sec in elf.sections)
            best: dict[int, tuple[int, str]] = {}
            gi: dict[int, str] = {}
            for name, value, size, typ, shndx in table_entries(elf, SHT_SYMTAB if has_symtab else SHT_DYNSYM):
                if typ not in _FUNC_TYPES or shndx not in alloc:
                    continue
                name = name.split("@", 1)[0] if "@" in name[1:] else name
                if name.startswith("__GI_"):
                    gi[value] = name
                cur = best.get(value)
                if cur is None or size >= cur[0]:
                    best[value] = (size, name)
            del elf
    except (OSError, ValueError, SymmapError, struct.error):
        return None
    starts = sorted(best)
    entries = []
    for k, a in enumerate(starts):
        size, name = best[a]
        nxt = starts[k + 1] if k + 1 < len(starts) else 1 << 64
        entries.append((a, a + size if size else nxt, name))
    return OwnSymbols(entries, gi)
