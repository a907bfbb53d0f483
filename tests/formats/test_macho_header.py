"""The shared Mach-O header helpers sources use instead of unpacking bytes
themselves: peek_header and parse_fat over a buffer holding only the head."""
from __future__ import annotations

import struct

import pytest

from symmap.errors import CorruptInput
from symmap.formats.macho.load_commands import (FAT_MAGIC, MH_CORE, MH_MAGIC_64, parse_fat,
                                                peek_header)


def test_peek_header_reads_the_fields_or_says_none() -> None:
    raw = struct.pack("<7I", MH_MAGIC_64, 0x01000007, 3, MH_CORE, 5, 0x1234, 0)
    h = peek_header(raw + b"\0" * 4)
    assert h is not None and h.is64 and h.filetype == MH_CORE and h.sizeofcmds == 0x1234
    assert h.ncmds == 5 and h.cputype == 0x01000007
    assert peek_header(raw[:27]) is None                 # too short
    assert peek_header(b"\xca\xfe\xba\xbe" + raw[4:]) is None   # not thin Mach-O
    assert peek_header(raw, -1) is None


def _fat(slices: list[tuple[int, int]]) -> bytes:
    head = struct.pack(">II", FAT_MAGIC, len(slices))
    for off, size in slices:
        head += struct.pack(">IIIII", 0x01000007, 3, off, size, 12)
    return head


def test_parse_fat_bounds_slices_by_the_file_not_the_head() -> None:
    head = _fat([(0x1000, 0x2000), (0x4000, 0x800)])
    got = parse_fat(head, "f", file_size=0x4800)
    assert [(s.offset, s.size, s.arch) for s in got] == [(0x1000, 0x2000, "x86_64"), (0x4000, 0x800, "x86_64")]
    with pytest.raises(CorruptInput, match="fat slice 1"):
        parse_fat(head, "f", file_size=0x4000)
    with pytest.raises(CorruptInput):
        parse_fat(head, "f")                             # default bound: the buffer itself
