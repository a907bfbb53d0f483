"""Load-command and program-header counts are bounded (issue 12's cost
sweep: 16 MB of LC_SEGMENT_64 in a Mach-O took 10 s and 350 MB to map,
65,535 ELF program headers 2.3 s)."""
from __future__ import annotations

import struct

import pytest

from symmap.errors import CorruptInput
from symmap.formats.elf.elffile import parse_elf
from symmap.formats.macho.core import parse_core
from symmap.formats.macho.load_commands import MAX_CORE_SIZEOFCMDS, MAX_SIZEOFCMDS, parse_macho

_SEG = struct.Struct("<II16sQQQQiiII")


def _macho(filetype: int, nbytes: int) -> bytes:
    n = nbytes // _SEG.size
    lc = b"".join(_SEG.pack(0x19, 72, b"__S", 0x100000000 + i * 0x4000, 0x4000, 0, 0, 5, 5, 0, 0)
                  for i in range(n))
    return struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, filetype, n, len(lc), 0, 0) + lc


def test_image_load_commands_over_the_cap_are_refused():
    assert len(parse_macho(_macho(2, MAX_SIZEOFCMDS)).segments) == MAX_SIZEOFCMDS // 72
    with pytest.raises(CorruptInput, match="MiB at most"):
        parse_macho(_macho(2, MAX_SIZEOFCMDS + 72))


def test_core_load_commands_past_the_cap_are_left_with_a_problem():
    core = parse_core(_macho(4, MAX_CORE_SIZEOFCMDS + 72 * 100))
    assert len(core.segments) <= MAX_CORE_SIZEOFCMDS // 72
    assert any("not read" in p for p in core.problems)


def _elf(nph: int) -> bytes:
    eh = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\0" * 9, 3, 62, 1, 0, 64, 0, 0,
                     64, 56, nph, 64, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, 0, 0x1000, 0x1000)
    return eh + ph * nph


def test_elf_program_headers_over_the_kernel_limit_are_refused():
    assert len(parse_elf(_elf(1170)).phdrs) == 1170
    with pytest.raises(CorruptInput, match="implausible"):
        parse_elf(_elf(4000))
