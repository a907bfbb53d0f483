"""ELF symbols defined in a section that is not loaded (SHF_ALLOC unset, e.g.
glibc's .gnu.warning.* link warnings at value 0) name no byte of the image:
llvm-symbolizer answers ?? there.  Found by the lief cross-check on libc's
debug file (`lookup libc.so.6 0x0` said __evoke_link_warning_sigstack + 0)."""
from __future__ import annotations

import struct

from symmap.formats.elf.elffile import SHF_ALLOC, parse_elf
from symmap.model import Image
from symmap.symbolize.elf_symbols import elf_index
from tests.support.elf_symbols_reference import iter_symbols
from tests.conftest import OWN_FIXTURES

ELF = OWN_FIXTURES / "symbols" / "symbols-elf"


def test_symbol_in_non_allocated_section_names_nothing():
    buf = bytearray(ELF.read_bytes())
    elf = parse_elf(bytes(buf), str(ELF))
    nonalloc = next(s for s in elf.sections if s.index and not s.flags & SHF_ALLOC and s.name == ".comment")
    symtab = next(s for s in elf.sections if s.name == ".symtab")
    victim = next(s for s in iter_symbols(elf, tables=("symtab",)) if s.type == 2 and s.size and s.value)
    # Move the function's symbol into .comment (st_shndx at +6 in Elf64_Sym).
    for off in range(symtab.offset, symtab.offset + symtab.size, 24):
        _name, _info, _o, _sh, value, size = struct.unpack_from("<IBBHQQ", buf, off)
        if value == victim.value and size == victim.size:
            struct.pack_into("<H", buf, off + 6, nonalloc.index)
    img = Image(path=str(ELF), load_address=0)
    before = elf_index(ELF.read_bytes(), img, str(ELF), trusted=True)
    after = elf_index(bytes(buf), img, str(ELF), trusted=True)
    assert before.find(victim.value)[0] == victim.name
    hit = after.find(victim.value)
    assert hit is None or hit[0] != victim.name
