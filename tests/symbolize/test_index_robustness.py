"""The index builder's extent rules and hostile symbol data: lying counts,
offsets past the file, symbols outside every segment, memory that ends
mid-table."""
from __future__ import annotations

import struct

from symmap.sources import OpenOptions, open_target
from symmap.symbolize import Symbolizer
from symmap.symbolize.symbol_index import build_index
from symmap.symbolize.memory_buffer import MemoryBuffer
from tests.conftest import OWN_FIXTURES

OWN = OWN_FIXTURES / "symbols"


def test_extents_end_at_next_symbol_section_end_or_size():
    idx = build_index([(0x100, "a"), (0x180, "b"), (0x300, "data"), (0x10, "hdr")],
                      sections=[(0x100, 0x200), (0x300, 0x340)],
                      segments=[(0x0, 0x1000)], unnamed=[0x1C0],
                      sizes={0x300: 8}, image_base=0, image_name="lib.dylib")
    assert idx.find(0x17F)[:3] == ("a", 0x100, 0x7F)
    assert idx.find(0x1BF)[0] == "b"
    assert idx.find(0x1C4) == ("lib.dylib+0x1c0", 0x1C0, 4, True)   # function start, no name
    assert idx.find(0x200) is None                                    # past the section end
    assert idx.find(0x307)[0] == "data" and idx.find(0x308) is None   # st_size bounds it
    assert idx.find(0x20)[:3] == ("hdr", 0x10, 0x10)                  # in no section: segment bound
    assert idx.find(0xF) is None


def test_first_name_given_wins_and_outside_symbols_are_dropped():
    idx = build_index([(0x100, "_global"), (0x100, "_local_alias"), (0x5000, "_nowhere")],
                      sections=[(0x100, 0x110)], segments=[(0, 0x1000)])
    assert idx.find(0x104)[0] == "_global"
    assert len(idx) == 1 and idx.find(0x5000) is None


def _patch_symtab(data: bytes, **fields) -> bytes:
    buf = bytearray(data)
    ncmds, = struct.unpack_from("<I", buf, 16)
    p = 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", buf, p)
        if cmd == 0x2:
            vals = list(struct.unpack_from("<4I", buf, p + 8))
            for k, v in fields.items():
                vals[["symoff", "nsyms", "stroff", "strsize"].index(k)] = v
            struct.pack_into("<4I", buf, p + 8, *vals)
        p += size
    return bytes(buf)


def test_hostile_symtab_degrades_to_fewer_names(tmp_path):
    data = (OWN / "libsymbols-x86_64.dylib").read_bytes()
    t_ok = open_target(str(OWN / "libsymbols-x86_64.dylib"), OpenOptions())
    lo = next(s for seg in t_ok.images[0].segments for s in seg.sections if s.name == "__text").address
    for name, fields in {"huge-nsyms": {"nsyms": 0x7FFFFFFF},
                         "stroff-past-end": {"stroff": 0x7FFFFFF0},
                         "symoff-past-end": {"symoff": 0x7FFFFFF0},
                         "strsize-huge": {"strsize": 0xFFFFFFFF}}.items():
        p = tmp_path / name
        p.write_bytes(_patch_symtab(data, **fields))
        s = Symbolizer(open_target(str(p), OpenOptions()))
        rs = s.lookup_many(range(lo, lo + 64))
        assert all(r.mapped and r.segment == "__TEXT" for r in rs), name


class _ShortMemory:
    """A reader whose memory ends at `limit` (reads past it come back short)."""

    def __init__(self, data: bytes, base: int, limit: int) -> None:
        self.data, self.base, self.limit = data, base, limit

    def read(self, address: int, size: int) -> bytes:
        lo = address - self.base
        hi = min(lo + size, self.limit)
        return self.data[lo:hi] if 0 <= lo < hi else b""


def test_memory_buffer_chunks_find_and_short_reads():
    data = bytes(range(256)) * 300                      # 76,800 bytes, crosses chunks
    data = data[:0x4000 - 2] + b"ab\0cd" + data[0x4000 + 3:]
    mb = MemoryBuffer(_ShortMemory(data, 0x1000, 0x9000), 0x1000, len(data))
    assert mb[0x10:0x20] == data[0x10:0x20]
    assert mb[0x3FF0:0x4010] == data[0x3FF0:0x4010]   # across a chunk boundary
    assert mb.find(b"b\0c", 0x3F00) == 0x4000 - 1      # match straddles chunks
    assert mb[0x8FF0:0x9010] == data[0x8FF0:0x9000]    # memory ends: short
    assert mb.find(b"\xff\xfe", 0x8FFF) == -1
    assert mb[5] == data[5]
