"""symbolic's SymCache file (format v9, symbolic-symcache 13.x
src/raw/v9.rs) as tables, for ``symbolize.source_lines``.

Layout: b"SYMC", u32 version, a 72-byte header (32-byte debug id, arch,
file, function, source location and range counts, string bytes, 16
reserved), then files (24 bytes each), functions (16: name, comp dir,
entry pc, language), source locations (16: file, line, function, caller),
ranges (u32 start address; a range ends where the next starts), string
bytes (LEB128 length + UTF-8); each table 8-aligned.  u32::MAX is "none"
(no file, function or caller); a location all of whose fields are none is
symbolic's end-of-range marker.  Native (little-endian) byte order, as
symbolic writes and reads it.

Every table's extent is checked against the bytes once, in
``parse_tables``; then a location or string read stays inside them.
"""
from __future__ import annotations

import struct
import sys
from functools import partial
from operator import ge
from typing import Callable, NamedTuple

from symmap.formats._binio import read_uleb128

__all__ = ["NONE", "NO_LOCATION", "SymCacheTables", "parse_tables", "string_at"]

NONE = 0xFFFFFFFF                       # symbolic's u32::MAX: no file/function/caller
NO_LOCATION = (NONE, NONE, NONE, NONE)   # symbolic's NO_SOURCE_LOCATION (an end marker)
_HEADER_END = 8 + 72
_LOC = struct.Struct("<4I")             # file, line, function, caller


def _align8(n: int) -> int:
    return (n + 7) & ~7


class SymCacheTables(NamedTuple):
    nfiles: int
    functions: memoryview        # u32 words, 4 per function (name offset first)
    locations: memoryview        # u32 words, 4 per source location
    ranges: memoryview           # u32 start addresses, ascending
    strings: bytes
    nlocations: int
    # (file, line, function, caller) of the location at byte ``loc_offset + 16 * i``
    location_at: Callable[[int], tuple[int, ...]]
    loc_offset: int


def parse_tables(raw: bytes | None) -> SymCacheTables | None:
    """The tables of a v9 SymCache, or None when ``raw`` is anything else
    (other version, other byte order, sizes that do not add up, range
    starts not ascending)."""
    if raw is None or len(raw) < _HEADER_END or raw[:4] != b"SYMC" or sys.byteorder != "little":
        return None
    version, = struct.unpack_from("<I", raw, 4)
    nfiles, nfuncs, nlocs, nranges, nstrings = struct.unpack_from("<5I", raw, 8 + 36)
    if version != 9 or nranges > nlocs:
        return None
    fo = _align8(_HEADER_END + nfiles * 24)
    lo = _align8(fo + nfuncs * 16)
    ro = _align8(lo + nlocs * 16)
    so = _align8(ro + nranges * 4)
    if so + nstrings > len(raw):
        return None
    mv = memoryview(raw)
    ranges = mv[ro:ro + nranges * 4].cast("I")
    # symbolic's binary search assumes ascending starts (its writer's
    # BTreeMap keys); a bisect agrees with it only then.
    if any(map(ge, ranges[:-1], ranges[1:])):
        return None
    return SymCacheTables(nfiles, mv[fo:fo + nfuncs * 16].cast("I"), mv[lo:lo + nlocs * 16].cast("I"),
                          ranges, bytes(mv[so:so + nstrings]), nlocs, partial(_LOC.unpack_from, raw), lo)


def string_at(table: bytes, off: int) -> str | None:
    """watto's StringTable::read: a LEB128 length at ``off``, then that
    many bytes of UTF-8 (None: out of bounds or not UTF-8)."""
    n = len(table)
    if off < 0:
        return None
    try:
        v, p = read_uleb128(table, off, n)
    except ValueError:
        return None
    if v > n - p:
        return None
    try:
        return table[p:p + v].decode("utf-8")
    except UnicodeDecodeError:
        return None
