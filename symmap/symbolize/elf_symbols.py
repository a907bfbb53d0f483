"""Symbol index of an ELF image from its file (.symtab, then .dynsym).

Which symbols name code or data, as llvm-symbolizer decides
(llvm/lib/DebugInfo/Symbolize/SymbolizableObjectFile.cpp ``addSymbol``:
function and data symbols only): STT_FUNC, STT_GNU_IFUNC, STT_OBJECT;
STT_NOTYPE (hand-written assembly labels, lld's ``_DYNAMIC``) inside any
allocated section, as llvm-symbolizer 14 names them in .data too, but
never ARM/AArch64 mapping symbols (``$x``, ``$d``).  Section, file and TLS
symbols are skipped (a TLS value is an offset in the TLS block, not an
address).  ``st_size`` bounds an extent when non-zero.

Speed: a table is read as columns (memoryview casts with strided slices,
or one ``iter_unpack`` transposed by ``zip`` for foreign byte order) and
filtered with byte masks (``bytes.translate``, big-int ``&``,
``itertools.compress``), so no Python code runs per symbol; names stay
string-table offsets until a lookup returns them (``SymbolIndex.decode``).
"""
from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterator
from itertools import compress
from typing import Any

from symmap.errors import SymmapError
from symmap.formats.elf.elffile import (ELF, PT_LOAD, SHF_ALLOC, SHF_TLS, SHN_LORESERVE, ElfSection,
                           SHT_DYNSYM, SHT_SYMTAB, STB_LOCAL, STT_FUNC, STT_GNU_IFUNC,
                           STT_NOTYPE, STT_OBJECT, parse_elf)
from symmap.model import Image
from symmap.symbolize.symbol_index import (
    SymbolIndex,
    build_index_columns,
    lazy_names,
    string_table,
)

__all__ = ["elf_index"]

_WANTED_TYPES = frozenset((STT_FUNC, STT_GNU_IFUNC, STT_OBJECT, STT_NOTYPE))

# st_info -> class: 1 global/weak function or data, 2 local one, 3 STT_NOTYPE
# (any binding), 0 anything else.
_GLOBAL, _LOCAL, _NOTYPE = 1, 2, 3
_CLASS = bytes(
    _NOTYPE if (i & 0xF) == STT_NOTYPE else
    (_LOCAL if i >> 4 == STB_LOCAL else _GLOBAL) if (i & 0xF) in (STT_FUNC, STT_GNU_IFUNC, STT_OBJECT)
    else 0 for i in range(256))
_PICK = {c: bytes(1 if i == c else 0 for i in range(256)) for c in (_GLOBAL, _LOCAL, _NOTYPE)}
_TO_MASK = bytes([0] + [0xFF] * 255)            # nonzero -> all bits
_NOT_FF = bytes([0xFF] * 255 + [0])             # 0xff -> 0, else all bits
_NATIVE_LE = sys.byteorder == "little"
_FLIP = bytes([1, 0] + [0] * 254)                 # bool byte -> its negation


def _mask(b: bytes) -> int:
    """One byte per symbol, nonzero -> 0xFF, as an int for ``&``."""
    return int.from_bytes(b.translate(_TO_MASK), "little")


def _or(*cols: bytes) -> bytes:
    n = len(cols[0])
    v = 0
    for c in cols:
        v |= int.from_bytes(c, "little")
    return v.to_bytes(n, "little")


# (st_name, st_info bytes, st_value, st_size, defined, below_loreserve, name_nonzero masks)
_Columns = tuple[list[int], bytes, list[int], list[int], int, int, int, list[int]]
# ({class: (values, name offsets)}, string table, (value, size) of sized entries)
_Table = tuple[dict[int, tuple[list[int], list[int]]], bytes, list[tuple[int, int]]]


def _columns(view: memoryview, is64: bool, little: bool, entsize: int) -> _Columns:
    """(st_name, st_info bytes, st_value, st_size, defined, below_loreserve,
    name_nonzero, st_shndx) of the entries in ``view`` (a whole number of
    entries); defined .. name_nonzero are masks (``_mask``) over ``st_shndx``
    / ``st_name``."""
    if little and _NATIVE_LE and entsize == (24 if is64 else 16):
        # Elf64_Sym: name u32 @0, info u8 @4, shndx u16 @6, value u64 @8, size u64 @16;
        # Elf32_Sym: name @0, value @4, size @8 (u32), info u8 @12, shndx u16 @14.
        # (Casts need no alignment: CPython copies each item out.)  Masks
        # come from byte columns: shndx != 0 is lo|hi != 0, shndx <
        # SHN_LORESERVE (0xff00) is hi != 0xff.
        words = view.cast("I")
        e = entsize
        sh = 6 if is64 else 14
        lo, hi = view[sh::e].tobytes(), view[sh + 1::e].tobytes()
        name_nz = _mask(_or(*(view[k::e].tobytes() for k in range(4))))
        if is64:
            q = view.cast("Q")
            values, sizes, info = q[1::3].tolist(), q[2::3].tolist(), view[4::24].tobytes()
        else:
            values, sizes, info = words[1::4].tolist(), words[2::4].tolist(), view[12::16].tobytes()
        return (words[0::e // 4].tolist(), info, values, sizes, _mask(_or(lo, hi)),
                _mask(hi.translate(_NOT_FF)), name_nz, view.cast("H")[sh // 2::e // 2].tolist())
    order = "<" if little else ">"
    st = struct.Struct(order + ("IBBHQQ" if is64 else "IIIBBH"))
    if entsize != st.size:
        st = struct.Struct(st.format + f"{entsize - st.size}x")
    cols: list[tuple[int, ...]] = list(zip(*st.iter_unpack(view))) or [()] * 6
    if is64:
        c_name, c_info, _o, shndx, value, size = cols
    else:
        c_name, value, size, c_info, _o, shndx = cols
    return (list(c_name), bytes(c_info), list(value), list(size), _mask(bytes(map(bool, shndx))),
            _mask(bytes(map(range(SHN_LORESERVE).__contains__, shndx))), _mask(bytes(map(bool, c_name))),
            list(shndx))


def _table(elf: ELF, sec: ElfSection, buf_len: int) -> _Table | None:
    """Filtered columns of one symbol table: {class: (values, name offsets)},
    the string table, and (value, size) of every defined wanted entry with
    a non-zero size."""
    is64 = elf.is64
    entsize = sec.entsize or (24 if is64 else 16)
    if entsize < (24 if is64 else 16) or not 0 < sec.link < len(elf.sections):
        return None
    strsec = elf.sections[sec.link]
    if sec.offset + sec.size > buf_len or strsec.offset + strsec.size > buf_len:
        return None                    # parse_elf's caller reports truncation; here: no names
    raw = bytes(elf.buf[strsec.offset:strsec.offset + strsec.size])
    count = sec.size // entsize
    if count <= 1:
        return None
    view = memoryview(elf.buf)[sec.offset + entsize: sec.offset + count * entsize]
    try:
        strx, info, values, sizes, defined, real, named, shndx = _columns(view, is64, elf.little, entsize)
        # A section that is not loaded (.gnu.warning.*, .comment) holds no
        # byte of the image: its symbols name nothing (llvm-symbolizer: ??).
        unloaded = {x.index for x in elf.sections if x.index and not x.flags & SHF_ALLOC}
        if not unloaded.isdisjoint(shndx):
            defined &= _mask(bytes(map(unloaded.__contains__, shndx)).translate(_FLIP))
    finally:
        view.release()
    n = len(strx)
    slen = len(raw)
    if max(strx) >= slen:
        # Names past the table (hostile or truncated): such entries are skipped.
        named &= _mask(bytes(map(range(1, slen).__contains__, strx)))
    # One byte per symbol: class of the type, kept where st_shndx is
    # defined, the name inside the table and (for the index) the section
    # index below SHN_LORESERVE (no absolute/common symbols).
    base = int.from_bytes(info.translate(_CLASS), "little") & defined & named
    picked = (base & real).to_bytes(n, "little")
    out: dict[int, tuple[list[int], list[int]]] = {}
    for c in (_GLOBAL, _LOCAL, _NOTYPE):
        sel = picked.translate(_PICK[c])
        out[c] = (list(compress(values, sel)), list(compress(strx, sel)))
    base_b = base.to_bytes(n, "little")
    sized = list(compress(compress(zip(values, sizes), base_b), compress(sizes, base_b)))
    return out, raw, sized


# Where distributions install detached debug files (gdb's and llvm-symbolizer's
# default "debug-file-directory").
DEBUG_DIRS = ("/usr/lib/debug",)
_MAX_DEBUG_FILE = 1 << 30


def debuglink_name(elf: ELF) -> str | None:
    sec = next((s for s in elf.sections if s.name == ".gnu_debuglink"), None)
    if sec is None or sec.size < 5 or sec.offset + sec.size > len(elf.buf):
        return None
    raw = bytes(elf.buf[sec.offset:sec.offset + min(sec.size, 4096)])
    name = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    return name if name and "/" not in name else None


def debug_file(elf: ELF, path: str) -> ELF | None:
    """The parsed detached debug file of ``elf``, or None.

    Candidates as gdb and llvm-symbolizer look for them: by build-id
    (``/usr/lib/debug/.build-id/ab/cdef….debug``), then by the
    ``.gnu_debuglink`` name beside the file, in its ``.debug/`` folder and
    under ``/usr/lib/debug/<dir>/``.  A candidate is used only if its
    build-id equals the file's: a stale debug file must not name symbols."""
    bid = elf.build_id
    if not bid or len(bid) < 4:
        return None
    cands = [f"{d}/.build-id/{bid[:2]}/{bid[2:]}.debug" for d in DEBUG_DIRS]
    link = debuglink_name(elf)
    if link:
        here = os.path.dirname(os.path.realpath(path))
        cands += [f"{here}/{link}", f"{here}/.debug/{link}"]
        cands += [f"{d}{here}/{link}" for d in DEBUG_DIRS]
    for c in cands:
        try:
            if not os.path.isfile(c) or os.path.getsize(c) > _MAX_DEBUG_FILE:
                continue
            if os.path.realpath(c) == os.path.realpath(path):
                continue
            with open(c, "rb") as f:
                dbg = parse_elf(f.read(), c)
        except (OSError, SymmapError):
            continue
        if dbg.build_id == bid and any(s.type == SHT_SYMTAB for s in dbg.sections):
            return dbg
    return None


def elf_index(buf: bytes, image: Image, path: str, trusted: bool) -> SymbolIndex | None:
    elf = parse_elf(buf, path)
    if not trusted and (not image.uuid or elf.build_id != image.uuid):
        return None
    sections = [(s.addr, s.addr + s.size) for s in elf.sections
                if s.flags & SHF_ALLOC and not s.flags & SHF_TLS and s.size]
    loads = [p for p in elf.phdrs if p.type == PT_LOAD and p.memsz]
    segments = [(p.vaddr, p.vaddr + p.memsz) for p in loads]

    def in_section(a: int) -> bool:
        return any(lo <= a < hi for lo, hi in sections)

    # A stripped file (distribution libraries) keeps its .symtab in a
    # separate debug file, found by build-id or .gnu_debuglink.
    sym_elf = elf
    if not any(sec.type == SHT_SYMTAB for sec in elf.sections):
        sym_elf = debug_file(elf, path) or elf
    # Preference at one address (first wins): globals, locals, then
    # NOTYPE labels; within each, .symtab before .dynsym.
    by_class: dict[int, list[tuple[list[int], list[Any]]]] = {_GLOBAL: [], _LOCAL: [], _NOTYPE: []}
    tables: list[Any] = []        # string_table() results: str or a bytes table
    sized: list[tuple[int, int]] = []
    for owner, want in ((sym_elf, SHT_SYMTAB), (elf, SHT_DYNSYM)):
        n = len(owner.buf)
        for sec in owner.sections:
            if sec.type != want or not sec.size:
                continue
            got = _table(owner, sec, n)
            if got is None:
                continue
            cols, raw, sz = got
            k = len(tables)
            tables.append(string_table(raw))
            for c, (vals, strx) in cols.items():
                by_class[c].append((vals, lazy_names(strx, k)))
            sized += sz
    # NOTYPE entries are few (assembly labels): names decoded here, for the
    # mapping-symbol test.
    probe = SymbolIndex([], [], {}, 0, "", tables)
    notype = []
    for vals, toks in by_class[_NOTYPE]:
        pairs = [(v, nm) for v, nm in zip(vals, map(probe.decode, toks))
                 if not nm.startswith("$") and in_section(v)]
        notype.append(([v for v, _ in pairs], [nm for _, nm in pairs]))
    sources = by_class[_GLOBAL] + by_class[_LOCAL] + notype
    sizes = dict(sized)          # the last non-zero size given for an address wins
    return build_index_columns(sources, sections, segments, sizes=sizes,
                               image_base=loads[0].vaddr if loads else 0, image_name=image.name,
                               tables=tables)


def table_entries(elf: ELF, want: int) -> Iterator[tuple[str, int, int, int, int]]:
    """(name, value, size, type, shndx) of the entries of the tables of
    type ``want``; bounded by each table's real size."""
    n = len(elf.buf)
    st = struct.Struct(("<" if elf.little else ">") + ("IBBHQQ" if elf.is64 else "IIIBBH"))
    for sec in elf.sections:
        if sec.type != want or not sec.size or not 0 < sec.link < len(elf.sections):
            continue
        strsec = elf.sections[sec.link]
        ent = sec.entsize or st.size
        if ent < st.size or sec.offset + sec.size > n or strsec.offset + strsec.size > n:
            continue
        strtab = bytes(elf.buf[strsec.offset:strsec.offset + strsec.size])
        for k in range(1, sec.size // ent):
            f = st.unpack_from(elf.buf, sec.offset + k * ent)
            if elf.is64:
                name_off, info, _o, shndx, value, size = f
            else:
                name_off, value, size, info, _o, shndx = f
            if not 0 < name_off < len(strtab):
                continue
            end = strtab.find(b"\0", name_off)
            name = strtab[name_off:end if end >= 0 else len(strtab)].decode("utf-8", "surrogateescape")
            yield name, value, size, info & 0xF, shndx
