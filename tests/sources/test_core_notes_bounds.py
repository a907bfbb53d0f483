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


def _threads_core(threads: int, path_len: int) -> bytes:
    """MH_CORE: one Mach-O image (header in memory) whose note path is
    `path_len` long, and `threads` LC_THREADs whose pc lies in it."""
    regs = [0] * 21
    regs[16] = 0x100000010                                  # rip
    thread = struct.pack("<IIII", 4, 184, 4, 42) + struct.pack("<21Q", *regs)
    lc_len = 72 + 40 + 184 * threads
    data_off = (32 + lc_len + 0xFFF) & ~0xFFF
    note_off = data_off + 0x4000
    payload = (struct.pack("<IIQII", 1, 1, note_off + 24, 48, 0)
               + struct.pack("<Q16sQQII", note_off + 72, b"\1" * 16, 0x100000000, (1 << 64) - 1, 0, 0)
               + b"/" + b"p" * path_len + b"\0")
    lc = (_SEG.pack(0x19, 72, b"", 0x100000000, 0x4000, data_off, 0x4000, 5, 5, 0, 0)
          + struct.pack("<II16sQQ", 0x31, 40, b"all image infos", note_off, len(payload)) + thread * threads)
    hdr = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x01000007, 3, 4, threads + 2, len(lc), 0, 0)
    seg = _SEG.pack(0x19, 72, b"__TEXT", 0x100000000, 0x4000, 0, 0x4000, 5, 5, 0, 0)
    mh = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x01000007, 3, 2, 1, len(seg), 0, 0) + seg
    return (hdr + lc).ljust(data_off, b"\0") + mh.ljust(0x4000, b"\0") + payload


def test_thread_frames_repeat_a_bounded_path(tmp_path):
    threads = mc.MAX_CORE_THREADS + 100
    p = tmp_path / "threads.core"
    p.write_bytes(_threads_core(threads, 4000))
    with symmap.open(str(p)) as t:
        assert len(t.threads) == mc.MAX_CORE_THREADS
        assert any("LC_THREADs" in n for n in t.notes)
        assert all(len(im.path or "") <= mc.MAX_NOTE_PATH for im in t.images)
        text = t.to_text()
    assert len(text) < mc.MAX_CORE_THREADS * (mc.MAX_NOTE_PATH + 200) + 100_000
