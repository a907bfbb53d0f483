"""lief, an independent parser, as the oracle of symmap's Mach-O and ELF
readers: segments, sections, symbols and UUID / build-id of every Mach-O
fixture (shared and our own, every fat slice) and of our ELF fixture and a
few system ELF files, plus the symbolizer's symbol index built from them."""
from __future__ import annotations

import glob
from collections import defaultdict
from pathlib import Path

import pytest

from symmap.formats.elf.elffile import SHF_ALLOC, open_elf
from symmap.formats.macho import load_commands as macho
from symmap.formats.macho.symbols import image_symbol_columns, iter_exports, iter_nlist
from symmap.model import Image
from symmap.symbolize.elf_symbols import elf_index
from symmap.symbolize.index_loaders import macho_index
from tests.support.elf_symbols_reference import iter_symbols
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES

lief = pytest.importorskip("lief")
lief.logging.disable()

_MACHO = sorted(str(p) for p in (SHARED_FIXTURES / "macho").glob("*")) + sorted(
    str(p) for d in ("symbols", "dyld_cache/out") for p in (OWN_FIXTURES / d).glob("*")
    if p.is_file() and p.read_bytes()[:4] in (b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"))
_SYSTEM_ELF = [p for p in ("/bin/true", "/usr/bin/python3",
                           *glob.glob("/usr/lib/x86_64-linux-gnu/libc.so.6"),
                           *glob.glob("/usr/lib/x86_64-linux-gnu/libz.so.1*")) if Path(p).is_file()]
_ELF = [str(OWN_FIXTURES / "symbols" / "symbols-elf"), *_SYSTEM_ELF[:4]]


def _slices(path: str):
    """(buffer, lief FatBinary, [(symmap MachO, lief Binary)] per slice paired by
    file offset).  The FatBinary owns its slices: keep it referenced."""
    buf = Path(path).read_bytes()
    fat = lief.MachO.parse(path)
    assert fat is not None, path
    ours = [macho.parse_macho(buf, off, path) for _arch, off in macho.iter_slices(buf, path)]
    theirs = {b.fat_offset: b for b in fat}
    assert len(ours) == len(theirs), path
    return buf, fat, [(m, theirs[m.base]) for m in ours]


@pytest.mark.parametrize("path", _MACHO, ids=lambda p: Path(p).name)
def test_macho_against_lief(path):
    buf, _fat, pairs = _slices(path)
    for m, b in pairs:
        assert m.cputype == int(b.header.cpu_type) and m.filetype == int(b.header.file_type)
        assert m.uuid == (bytes(b.uuid.uuid).hex() if b.has_uuid else None)
        segs = [(s.name, s.vmaddr, s.vmsize, s.fileoff, s.filesize, s.maxprot, s.initprot, s.flags)
                for s in m.segments]
        want = [(s.name, s.virtual_address, s.virtual_size, s.file_offset, s.file_size,
                 s.max_protection, s.init_protection, s.flags) for s in b.segments]
        assert segs == want
        secs = [(c.segname, c.name, c.addr, c.size, c.offset, c.flags)
                for s in m.segments for c in s.sections]
        want = [(c.segment_name, c.name, c.virtual_address, c.size, c.offset,
                 int(c.type) | int(c.flags)) for s in b.segments for c in s.sections]
        assert secs == want
        _check_macho_symbols(buf, m, b)


def _check_macho_symbols(buf, m, b):
    nl = []
    if m.symtab:
        symoff, nsyms, stroff, strsize = m.symtab
        nl = [(v, n, t, s, d) for v, n, t, s, d in
              iter_nlist(buf, symoff + m.base, nsyms, stroff + m.base, strsize, m.is64)]
    want = [(s.value, s.name, s.raw_type, s.numberof_sections, s.description)
            for s in b.symbols if s.origin == lief.MachO.Symbol.ORIGIN.SYMTAB]
    assert nl == want
    # Exports trie: the same (name, flags, offset from the header).
    base = m.text_vmaddr or 0
    ours = set()
    if m.exports:
        off, size = m.exports
        ours = {(n, f, o) for n, f, o in iter_exports(buf, off + m.base, size) if o is not None}
    theirs = {(s.name, int(s.export_info.flags), s.export_info.address) for s in b.symbols
              if s.has_export_info and not int(s.export_info.flags) & 0x08}          # re-exports: no offset here
    assert ours == theirs
    # The symbolizer's index: every name it gives an address is one lief
    # knows at that address, and every defined section symbol is indexed.
    idx = macho_index(m, image_symbol_columns(buf, m), "img")
    names_at = defaultdict(set)
    for v, n, t, s, _d in want:
        if not t & 0xE0 and t & 0x0E == 0x0E and n:
            names_at[v].add(n)
    for n, f, o in theirs:
        if f & 0x3 != 0x2:                   # absolute exports name no byte of the image
            names_at[base + o].add(n)
    starts = set(idx.starts)
    for a in idx.starts:
        name = idx.name_of(a)
        if name is not None:
            assert name in names_at[a], (hex(a), name)
    in_sections = [(c.addr, c.addr + c.size) for s in m.segments for c in s.sections]
    for a in names_at:
        if any(lo <= a < hi for lo, hi in in_sections):
            assert a in starts, hex(a)


@pytest.mark.parametrize("path", _ELF, ids=lambda p: Path(p).name)
def test_elf_against_lief(path):
    if not Path(path).is_file():
        pytest.skip(f"absent: {path}")
    b = lief.ELF.parse(path)
    elf = open_elf(path)
    try:
        assert elf.machine == int(b.header.machine_type) and elf.entry == b.header.entrypoint
        ph = [(p.type, p.flags, p.offset, p.vaddr, p.filesz, p.memsz, p.align) for p in elf.phdrs]
        want = [(int(s.type), s.raw_flags if hasattr(s, "raw_flags") else int(s.flags), s.file_offset,
                 s.virtual_address, s.physical_size, s.virtual_size, s.alignment) for s in b.segments]
        assert ph == want
        sh = [(s.name, s.type, s.flags, s.addr, s.offset, s.size, s.link, s.info, s.entsize)
              for s in elf.sections]
        want = [(s.name, int(s.type), int(s.flags), s.virtual_address, s.offset, s.size, s.link,
                 s.information, s.entry_size) for s in b.sections]
        assert sh == want
        bid = next((bytes(n.description).hex() for n in b.notes
                    if n.type == lief.ELF.Note.TYPE.GNU_BUILD_ID), None)
        assert elf.build_id == bid
        for table, theirs in (("symtab", b.symtab_symbols), ("dynsym", b.dynamic_symbols)):
            ours = [(s.name, s.value, s.size, s.type, s.bind, s.shndx)
                    for s in iter_symbols(elf, tables=(table,))]
            want = [(s.name, s.value, s.size, int(s.type), int(s.binding), s.shndx)
                    for s in theirs][1:] if len(theirs) else []
            if want and want[0] == ("", 0, 0, 0, 0, 0) and (not ours or ours[0] != want[0]):
                want = want[1:]
            assert ours == want, table
        assert any(s.flags & SHF_ALLOC for s in elf.sections)
    finally:
        elf.close()
    _check_elf_index(path, b)


def _check_elf_index(path, b):
    """The symbolizer's index of the file: each name it puts at an address is
    one lief lists there; each sized function lief lists is indexed."""
    buf = Path(path).read_bytes()
    idx = elf_index(buf, Image(path=path, load_address=0), path, trusted=True)
    if idx is None:
        return
    names_at = defaultdict(set)
    funcs = set()
    syms = [*b.symtab_symbols, *b.dynamic_symbols]
    bid = next((bytes(n.description).hex() for n in b.notes if n.type == lief.ELF.Note.TYPE.GNU_BUILD_ID), "")
    dbg = Path(f"/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug")
    if not b.symtab_symbols and bid and dbg.is_file():     # symmap reads the detached .symtab too
        d = lief.ELF.parse(str(dbg))
        syms += [s for s in d.symtab_symbols
                 if s.shndx < len(d.sections) and int(d.sections[s.shndx].flags) & SHF_ALLOC]
    for sym in syms:
        if sym.shndx and sym.name:
            names_at[sym.value].add(sym.name)
            if sym.type == lief.ELF.Symbol.TYPE.FUNC and sym.size:
                funcs.add(sym.value)
    for a in idx.starts:
        name = idx.name_of(a)
        if name is not None:
            assert name in names_at[a], (hex(a), name)
    assert funcs <= set(idx.starts)
