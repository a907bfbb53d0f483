"""The column readers of the index build (memoryview casts, byte masks,
lazy names) against the per-entry readers they replace: same entries and
names on real files, on hostile tables and on odd layouts."""
from __future__ import annotations

import random
import struct

import pytest

from symmap.formats.elf.elffile import SHN_LORESERVE, STT_NOTYPE, parse_elf
from tests.support.elf_symbols_reference import iter_symbols
from symmap.formats.macho.load_commands import iter_slices, parse_macho
from symmap.formats.macho.symbols import defined_symbols, nlist_columns
from symmap.model import Image
from symmap.symbolize.elf_symbols import _WANTED_TYPES, elf_index
from symmap.symbolize.memory_buffer import MemoryBuffer
from tests.conftest import OWN_FIXTURES

OWN = OWN_FIXTURES / "symbols"
MACHO = ["symbols-x86_64", "symbols-fat", "libsymbols-arm64.dylib", "libsymbols-x86_64.dylib",
         "libsymbols-arm64-nolocals.dylib", "libsymbols-chained-trieonly.dylib"]


def _as_rows(cols):
    rows = [(v, cols.name(x), True) for v, x in zip(cols.ext_values, cols.ext_strx)]
    rows += [(v, cols.name(x), False) for v, x in zip(cols.local_values, cols.local_strx)]
    return sorted(rows)


def _reference(buf, *args):
    return sorted((a, n, ext) for a, n, _s, ext in defined_symbols(buf, *args))


@pytest.mark.parametrize("name", MACHO)
def test_nlist_columns_equal_defined_symbols(name):
    buf = (OWN / name).read_bytes()
    for _arch, off in iter_slices(buf, name):
        m = parse_macho(buf, off, name)
        if not m.symtab:
            continue
        symoff, nsyms, stroff, strsize = m.symtab
        args = (symoff + off, nsyms, stroff + off, strsize, m.is64)
        assert _as_rows(nlist_columns(buf, *args)) == _reference(buf, *args)
        # Lazy target memory (no buffer protocol) gives the same.
        mem = type("Mem", (), {"read": lambda self, a, n: buf[a:a + n]})()
        assert _as_rows(nlist_columns(MemoryBuffer(mem, 0, len(buf)), *args)) == _reference(buf, *args)


def _nlist64(entries, strtab):
    syms = b"".join(struct.pack("<IBBHQ", x, t, 1, 0, v) for x, t, v in entries)
    return syms + strtab, len(syms)


def test_nlist_columns_hostile_offsets_and_empty_names():
    strtab = b"\0_a\0\0_b\xff\0"
    entries = [(1, 0x0F, 0x10), (3, 0x0F, 0x20),       # "" (offset of a NUL): nameless
               (0, 0x0E, 0x30), (999, 0x0E, 0x40),       # no name, name past the table
               (5, 0x0E, 0x50), (1, 0x24, 0x60),         # non-ASCII local, a stab
               (1, 0x01, 0x70)]                          # undefined
    buf, n = _nlist64(entries, strtab)
    args = (0, len(entries), n, len(strtab), True)
    got = _as_rows(nlist_columns(buf, *args))
    assert got == _reference(buf, *args)
    assert [(v, ext) for v, _n, ext in got] == [(0x10, True), (0x50, False)]
    # Lying count and table size: clamped to the data, same answers.
    assert _as_rows(nlist_columns(buf, 0, 1 << 31, n, 1 << 31, True)) == _reference(buf, 0, 1 << 31, n, 1 << 31, True)
    assert _as_rows(nlist_columns(buf, 1 << 40, 5, n, 4, True)) == []
    # A count that does not end on an entry boundary, and a misaligned table.
    odd = b"\0" * 3 + buf
    assert _as_rows(nlist_columns(odd, 3, len(entries), n + 3, len(strtab), True)) == got


def test_nlist_columns_32bit():
    strtab = b"\0_f\0_stab\0"
    syms = struct.pack("<IBBhI", 1, 0x0F, 1, 0, 0x1000) + struct.pack("<IBBhI", 4, 0x24, 1, 0, 0x2000)
    cols = nlist_columns(syms + strtab, 0, 2, len(syms), len(strtab), is64=False)
    assert _as_rows(cols) == [(0x1000, "_f", True)]


def _elf_reference(path):
    """Index-worthy symbols by the generic iterator: (value, name) sets per kind."""
    elf = parse_elf(path.read_bytes(), str(path))
    out = set()
    for s in iter_symbols(elf):
        if s.shndx and s.type in _WANTED_TYPES and s.name and s.shndx < SHN_LORESERVE and s.type != STT_NOTYPE:
            out.add((s.value, s.name))
    return out


def test_elf_index_names_equal_generic_iterator():
    path = OWN / "symbols-elf"
    idx = elf_index(path.read_bytes(), Image(path=str(path), load_address=0), str(path), True)
    ref = _elf_reference(path)
    by_addr = {}
    for v, n in ref:
        by_addr.setdefault(v, set()).add(n)
    starts = set(idx.starts)
    elf = parse_elf(path.read_bytes(), str(path))
    alloc = [(s.addr, s.addr + s.size) for s in elf.sections if s.flags & 2 and not s.flags & 0x400 and s.size]
    inside = {v for v in by_addr if any(lo <= v < hi for lo, hi in alloc)}
    assert inside and inside <= starts                  # nothing in a section is lost
    assert len(starts - inside) <= 3                    # only NOTYPE labels come on top
    for st in idx.starts:
        if st in by_addr:
            assert idx.name_of(st) in by_addr[st]


def test_elf_big_endian_and_32bit_layouts_use_the_struct_path():
    """A foreign-byte-order and a 32-bit symbol table read the same
    columns as the native cast path."""
    from symmap.symbolize.elf_symbols import _columns
    rng = random.Random(3)
    rows = [(rng.randrange(1, 50), rng.randrange(256), rng.choice([0, 1, 0xFFF1]),
             rng.randrange(1 << 40), rng.randrange(100)) for _ in range(200)]
    for is64 in (True, False):
        fmt = "IBBHQQ" if is64 else "IIIBBH"
        def pack(e, r):
            x, info, sh, v, sz = r
            v &= (1 << (64 if is64 else 32)) - 1
            return struct.pack(e + fmt, *((x, info, 0, sh, v, sz) if is64 else (x, v, sz, info, 0, sh)))
        le = b"".join(pack("<", r) for r in rows)
        be = b"".join(pack(">", r) for r in rows)
        size = 24 if is64 else 16
        a = _columns(memoryview(le), is64, True, size)
        b = _columns(memoryview(be), is64, False, size)
        assert a == b
        # An entry size larger than the struct (padding) too.
        padded = b"".join(pack("<", r) + b"\0" * 8 for r in rows)
        assert _columns(memoryview(padded), is64, True, size + 8) == a
