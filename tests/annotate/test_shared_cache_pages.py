"""Per-page dispositions (mach_vm_page_range_query) split the shared region as vmmap does:
``unused`` rows exactly on dirty (or paged-out) pages, worded "on dirty page  unused ...",
and every split piece with exact RSDNT/DIRTY/SWAP.  Runs the real macos_live source over
a simulated task holding symmap's synthetic cache (tests/formats/dyld_cache_support)."""
from __future__ import annotations

import json

import pytest

from symmap.annotate.shared_cache import DIRTY_PAGE_PREFIX, _clip, _split
from symmap.darwin.consts import (VM_PAGE_QUERY_PAGE_DIRTY as DIRTY,
                                  VM_PAGE_QUERY_PAGE_PAGED_OUT as OUT,
                                  VM_PAGE_QUERY_PAGE_PRESENT as PRESENT,
                                  VM_PAGE_QUERY_PAGE_REF as REF)
from symmap.model import Region
from tests.annotate.test_shared_cache_sim import PID, SLIDE, _sim
from tests.conftest import shared_fixture
from tests.formats.dyld_cache_support import build

from symmap.sources import macos_live

P = 4096                                  # sim page size: 4 pages per 16 KiB cache mapping
DATA_PAGES = [PRESENT | REF | DIRTY, PRESENT | REF, OUT, 0]   # dirty, clean, compressed, absent
PAD = "system shared lib __DATA"


def _open(sim):
    from symmap.annotate import annotate
    from symmap.sources import OpenOptions
    t = macos_live.open_pid(PID, OpenOptions(task=sim))
    annotate(t)
    return t


def _data_mapping(built):
    m = next(m for ms in built.mappings.values() for m in ms if m.maxprot & 2 and m.flags == 0)
    return m.address + SLIDE, m.address + SLIDE + m.size


def _rows(t, lo, hi):
    return [(r.type, r.start - lo, r.end - lo, r.detail, r.resident, r.dirty, r.swapped)
            for r in sorted(t.regions, key=lambda r: r.start) if lo <= r.start and r.end <= hi]


def test_unused_rows_exactly_on_dirty_pages_with_exact_counts():
    built = build()
    t = _open(_sim(built, dirty_data=0, page_size=P, data_pages=DATA_PAGES))
    try:
        lo, hi = _data_mapping(built)
        assert _rows(t, lo, hi) == [
            # liba's __DATA (8 bytes) on the dirty page: resident and dirty, exactly 8 bytes.
            ("__DATA", 0x0, 0x8, "/usr/lib/liba.dylib", 8, 8, 0),
            ("unused __DATA", 0x8, 0x10, DIRTY_PAGE_PREFIX + "unused " + PAD, 8, 8, 0),
            # libb is not loaded: its __DATA is an unused row, on a dirty page.
            ("unused __DATA", 0x10, 0x18, "on dirty page  unused /usr/lib/libb.dylib", 8, 8, 0),
            # Padding: the rest of page 0 only; page 1 is clean (no row), page 2 was
            # compressed (a dirty page: swapped bytes, like vmmap's "[ 4 0K 0K 4]"),
            # page 3 is absent (no row).
            ("unused __DATA", 0x18, 0x1000, DIRTY_PAGE_PREFIX + "unused " + PAD, 0xFE8, 0xFE8, 0),
            ("unused __DATA", 0x2000, 0x3000, DIRTY_PAGE_PREFIX + "unused " + PAD, 0, 0, 0x1000),
        ]
        # The region-level numbers are the sim's per-page ones (one page each).
        assert all(r.pages is not None for r in t.regions if lo <= r.start < hi)
    finally:
        t.close()


def test_sub_page_pieces_of_clean_regions_get_exact_counts_and_no_unused_rows():
    built = build()
    t = _open(_sim(built, dirty_data=0, page_size=P, data_pages=DATA_PAGES))
    try:
        dc = [r for r in t.regions if r.type == "__DATA_CONST"]
        assert dc and all(r.end - r.start < P for r in dc)
        # Fully resident clean mapping: each sub-page piece is resident byte for byte.
        assert all((r.resident, r.dirty, r.swapped) == (r.end - r.start, 0, 0) for r in dc)
        # No dirty page outside __DATA: no unused rows there (e.g. libb's clean text).
        lo, hi = _data_mapping(built)
        assert all(lo <= r.start < hi for r in t.regions if (r.type or "").startswith("unused"))
    finally:
        t.close()


def test_refused_query_keeps_region_total_behaviour():
    built = build()
    sim = _sim(built, dirty_data=P, page_size=P)
    sim.refuse_page_query()
    t = _open(sim)
    try:
        assert "mach_vm_page_range_query" in sim.call_log
        assert all(r.pages is None for r in t.regions)
        lo, hi = _data_mapping(built)
        rows = _rows(t, lo, hi)
        # Old rule: a dirty writable region shows every gap, without "on dirty page".
        assert ("unused __DATA", 0x10, 0x18, "unused /usr/lib/libb.dylib") in [x[:4] for x in rows]
        assert rows[-1][1:4] == (0x18, hi - lo, "unused " + PAD)
        assert not any(d.startswith(DIRTY_PAGE_PREFIX) for _t, _a, _b, d, *_ in rows)
        # Partly dirty region: piece counts unknown, not guessed.
        assert rows[0][:4] == ("__DATA", 0, 8, "/usr/lib/liba.dylib") and rows[0][5] is None
    finally:
        t.close()


def test_page_size_mismatch_degrades():
    """A 16 KiB host and a 4 KiB target: the kernel refuses (vm_self_region_page_shift_
    safely) -- the sim too -- and the annotator falls back to region totals."""
    from symmap.sources import OpenOptions
    built = build()
    sim = _sim(built, dirty_data=P, page_size=P)
    sim._host_page_size = 16384
    t = macos_live.open_pid(PID, OpenOptions(task=sim))
    try:
        assert all(r.pages is None for r in t.regions)
    finally:
        t.close()


def test_source_does_not_ask_when_target_page_differs_from_host():
    from symmap.model import SharedCache, Target
    t = Target(kind="live", pid=PID, page_size=4096)      # an x86_64 target on arm64
    t.shared_cache = SharedCache(uuid=None, base=0x180000000, slide=0, size=0x10000)
    t.regions = [Region(0x180000000, 0x180004000, 3, 3)]
    asked = []

    class Task:
        def page_dispositions(self, a, n):
            asked.append((a, n))
            return [0] * (n // 4096)
    macos_live._shared_region_pages(t, None, Task(), PID, 16384)
    assert asked == [] and t.regions[0].pages is None
    macos_live._shared_region_pages(t, None, Task(), PID, 4096)
    assert asked == [(0x180000000, 0x4000)] and t.regions[0].pages == [0] * 4


def test_process_dying_at_the_page_query_is_vanished():
    from symmap.errors import ProcessVanished
    from symmap.sources import OpenOptions
    built = build()
    probe = _sim(built, dirty_data=0, page_size=P)
    macos_live.open_pid(PID, OpenOptions(task=probe))
    n = probe.call_log.index("mach_vm_page_range_query")
    sim = _sim(built, dirty_data=0, page_size=P)
    sim.die_after(n)
    with pytest.raises(ProcessVanished):
        macos_live.open_pid(PID, OpenOptions(task=sim))


def test_pages_are_not_serialized():
    from symmap.render.json import dumps, region_dict
    built = build()
    t = _open(_sim(built, dirty_data=0, page_size=P, data_pages=DATA_PAGES))
    try:
        assert any(r.pages is not None for r in t.regions)
        assert all("pages" not in region_dict(r) for r in t.regions)
        json.loads(dumps(t))
    finally:
        t.close()


def test_footprint_from_task_vm_info():
    from symmap.render.text import render_report
    built = build()
    sim = _sim(built, dirty_data=0)
    sim.set_vm_info(1185 << 10, peak=1300 << 10)
    t = _open(sim)
    try:
        assert (t.info["footprint"], t.info["footprint_peak"]) == (1185 << 10, 1300 << 10)
        text = render_report(t)
        assert "Physical footprint:         1185K" in text
        assert "Physical footprint (peak):  1300K" in text
    finally:
        t.close()
    t = _open(_sim(built, dirty_data=0))          # TASK_VM_INFO refused: no header line
    try:
        assert "footprint" not in t.info
    finally:
        t.close()


# --- vmmap's own numbers (fixtures/vmmap/01.txt, 16 KiB pages) ------------------------

def _vmmap_row(start: str, end: str) -> list[str]:
    text = shared_fixture("vmmap/01.txt").read_text()
    line = next(x for x in text.splitlines() if f" {start}-{end} " in x)
    return line.split("[", 1)[1].split("]", 1)[0].split()


def _bytes(s: str) -> int:
    return int(float(s[:-1]) * 1024) if s.endswith("K") else int(s)


@pytest.mark.parametrize("start,end,pages", [
    # Crosses a page edge: 488 bytes on a compressed page, 144 on a resident clean one.
    ("1e05a7e18", "1e05a8090", [OUT, PRESENT | REF]),
    # 1288 bytes on a dirty page, the rest (9856) on a compressed one.
    ("1e1713af8", "1e1716680", [PRESENT | REF | DIRTY, OUT]),
    # Sub-page piece on a dirty resident page.
    ("1e170ec20", "1e170ee18", [PRESENT | REF | DIRTY]),
])
def test_piece_counts_match_vmmap_rows(start, end, pages):
    page = 16384
    a, b = int(start, 16), int(end, 16)
    lo = a - a % page
    r = Region(lo, lo + page * len(pages), 3, 3, share_mode="COW", resident=0, dirty=0, swapped=0)
    r.pages = pages
    piece = _clip(r, a, b, page)
    want = _vmmap_row(start, end)
    got = (piece.resident, piece.dirty, piece.swapped)
    for g, w in zip(got, want[1:]):
        # vmmap prints some sizes in bytes and others in whole K: compare as printed.
        assert (g == _bytes(w)) if not w.endswith("K") else (round(g / 1024) == round(_bytes(w) / 1024))


def test_gap_cut_at_page_boundaries_like_vmmap():
    """01.txt: 'unused __DATA 1e171805c-1e171c000 [16K 0K 0K 16K]' -- a gap on a compressed
    page, and nothing for the following clean page up to the next piece."""
    page = 16384
    r = Region(0x1e1718000, 0x1e1720000, 3, 3, share_mode="COW")
    r.pages = [OUT, PRESENT | REF]
    pieces = [(0x1e1717988, 0x1e171805c, "__DATA_DIRTY", "/usr/lib/system/libsystem_kernel.dylib", True)]
    rows = _split(r, r.start, r.end, "__DATA", pieces, [p[0] for p in pieces], False, page)
    got = [(g.type, g.start, g.end, g.detail, g.swapped) for g in rows]
    assert got == [
        ("__DATA_DIRTY", 0x1e1718000, 0x1e171805c, "/usr/lib/system/libsystem_kernel.dylib", 0x5c),
        ("unused __DATA", 0x1e171805c, 0x1e171c000, "on dirty page  unused system shared lib __DATA",
         0x1e171c000 - 0x1e171805c),
    ]
    assert _vmmap_row("1e171805c", "1e171c000")[0] == "16K"
