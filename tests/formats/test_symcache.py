"""formats/symcache.py: string reads (LEB128 length + UTF-8) stay inside
the string table and refuse what symbolic refuses; parse_tables refuses a
header whose tables do not fit.  (Whole caches against symbolic's own
lookup: tests/symbolize/test_source_lines.py.)"""
from __future__ import annotations

import struct

from symmap.formats.symcache import parse_tables, string_at


def test_string_at_reads_leb128_lengths():
    long = "x" * 200                                   # length 200: two LEB128 bytes (0xC8 0x01)
    table = b"\x03abc" + b"\xc8\x01" + long.encode() + b"\x00"
    assert string_at(table, 0) == "abc"
    assert string_at(table, 4) == long
    assert string_at(table, len(table) - 1) == ""     # a zero length is the empty string


def test_string_at_refuses_out_of_bounds_and_bad_utf8():
    assert string_at(b"\x05ab", 0) is None             # length past the table
    assert string_at(b"\x02ab", 3) is None             # offset past the table
    assert string_at(b"\x80\x80", 0) is None           # LEB128 never ends
    assert string_at(b"\xff" * 12 + b"\x01", 0) is None  # longer than a u64
    assert string_at(b"\x02\xc3\x28", 0) is None       # not UTF-8 (symbolic: no &str)
    assert string_at(b"\x02\xc3\xa9", 0) == "\u00e9"


def _header(nfiles: int, nfuncs: int, nlocs: int, nranges: int, nstrings: int) -> bytes:
    return (b"SYMC" + struct.pack("<I", 9) + bytes(32) + struct.pack("<I", 0)
            + struct.pack("<5I", nfiles, nfuncs, nlocs, nranges, nstrings) + bytes(16))


def test_parse_tables_checks_sizes_and_order():
    # 1 location, 1 range at 0x10, 2 string bytes: 80 + 16 + 8 (4 + padding) + 2.
    ok = _header(0, 0, 1, 1, 2) + struct.pack("<4I", 0, 7, 0, 0xFFFFFFFF) + struct.pack("<I", 0x10) + bytes(4) + b"\x01a"
    t = parse_tables(ok)
    assert t is not None and t.nlocations == 1 and t.ranges.tolist() == [0x10]
    assert t.location_at(t.loc_offset) == (0, 7, 0, 0xFFFFFFFF)
    assert parse_tables(ok[:-1]) is None                          # strings cut short
    assert parse_tables(_header(0, 0, 1, 2, 0) + bytes(64)) is None   # ranges outnumber locations
    two = _header(0, 0, 2, 2, 0) + bytes(32) + struct.pack("<2I", 0x20, 0x10)
    assert parse_tables(two) is None                              # starts not ascending
    assert parse_tables(_header(1 << 30, 0, 0, 0, 0)) is None     # a count past the bytes
