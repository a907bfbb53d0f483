"""An "all image infos" note is read within caps that hold across entries
and across notes (issue 12's cost sweep: a 1 MB core whose 20,000 entries
share one 1,000-segment array took 13 s and 3.3 GB to map)."""
from __future__ import annotations

import struct

import symmap
from symmap.formats.macho import core as mc

_SEG = struct.Struct("<II16sQQQQiiII")


def _core(entries: int, nsegs: int, notes: int = 1) -> bytes:
    """MH_CORE: one page of memory, `notes` LC_NOTEs naming one payload of
    `entries` images that all share one array of `nsegs` segments."""
    note_off = 0x8000
    path_off = note_off + 24 + 48 * entries
    segs_off = path_off + 64
    payload = (struct.pack("<IIQII", 1, entries, note_off + 24, 48, 0)
               + b"".join(struct.pack("<Q16sQQII", path_off, b"\1" * 16, 0x100000000 + 0x10 * k, segs_off, nsegs, 0)
                          for k in range(entries))
               + b"/usr/lib/x.dylib\0".ljust(64, b"\0")
               + b"".join(struct.pack("<16sQQ", b"__TEXT", 0x100000000 + 0x1000 * j, 0) for j in range(nsegs)))
    lc = (_SEG.pack(0x19, 72, b"", 0x100000000, 0x4000, 0x4000, 0x4000, 5, 5, 0, 0)
          + struct.pack("<II16sQQ", 0x31, 40, b"all image infos", note_off, len(payload)) * notes
          + struct.pack("<IIII", 4, 184, 4, 42) + b"\0" * 168)
    hdr = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x01000007, 3, 4, notes + 2, len(lc), 0, 0)
    return (hdr + lc).ljust(0x8000, b"\0") + payload


def test_shared_segment_arrays_count_against_one_budget():
    data = _core(100, 1000)
    note = mc.parse_core(data).notes[0]
    imgs = mc.parse_all_image_infos(data, mc.CoreNote(note.owner, note.offset, note.size, note.cmd_offset))
    assert sum(len(i.segments) for i in imgs) == mc.MAX_NOTE_SEGMENTS_TOTAL


def test_image_caps_hold_across_notes(tmp_path):
    p = tmp_path / "notes.core"
    p.write_bytes(_core(3000, 4, notes=5))       # 15,000 images named
    with symmap.open(str(p)) as t:
        assert len(t.images) <= mc.MAX_NOTE_IMAGES
        assert any(f"more than {mc.MAX_NOTE_IMAGES} images" in n for n in t.notes)
