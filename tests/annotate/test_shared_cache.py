"""split_shared_region on hand-built targets over symmap's own cache set
(fixtures/dyld_cache): vmmap-like per-library rows, sub-page edges, one
combined __LINKEDIT row, unused rows only where vmmap would show them."""
from __future__ import annotations

import pytest

from symmap.annotate.shared_cache import LINKEDIT_DETAIL, split_shared_region
from symmap.formats.dyld_cache.reader import open_cache, to_shared_cache
from symmap.model import Region, SharedCache, Target
from tests.formats.dyld_cache_support import MAIN, build, builder

SLIDE = 0x3C8C000
HEAP = Region(0x600000000000, 0x600000100000, 3, 7, share_mode="PRV", tag=7, resident=0x4000, dirty=0x4000)


@pytest.fixture
def cache():
    c = open_cache(str(MAIN))
    yield c
    c.close()


def _regions(cache, *, dirty=None, split_text_at=None):
    """One region per cache mapping (a live walk gives about that), at SLIDE."""
    out = [Region(HEAP.start, HEAP.end, 3, 7, share_mode="PRV", tag=7, resident=0x4000, dirty=0x4000)]
    for m in cache.mappings:
        s, e = m.address + SLIDE, m.address + m.size + SLIDE
        d = (dirty or {}).get(m.name, 0)
        if m.name == "__TEXT" and split_text_at:
            out.append(Region(s, s + split_text_at, m.init_prot, m.max_prot, share_mode="COW",
                              resident=split_text_at, dirty=0))
            out.append(Region(s + split_text_at, e, m.init_prot, m.max_prot, share_mode="COW",
                              resident=e - s - split_text_at, dirty=0))
        else:
            out.append(Region(s, e, m.init_prot, m.max_prot, share_mode="COW", resident=m.size, dirty=d))
    return sorted(out, key=lambda r: r.start)


def _target(cache, loaded=("/usr/lib/liba.dylib",), **kw):
    t = Target(kind="live", pid=1)
    t.regions = _regions(cache, **kw)
    t.shared_cache = to_shared_cache(cache, SLIDE)
    t.images = [i for i in cache.model_images(SLIDE) if i.path in loaded]
    return t


def _rows(t, lo=None, hi=None):
    return [(r.type, r.start, r.end, r.detail) for r in t.regions
            if (lo is None or r.start >= lo) and (hi is None or r.end <= hi)]


def test_piece_counts_unknown_when_region_is_partly_resident(cache):
    t = _target(cache)
    for r in t.regions:
        if r.resident and r.end - r.start > 0x4000:
            r.resident = 0x4000            # partly resident: no per-page data to split it
    split_shared_region(t)
    pieces = [r for r in t.regions if r.image == "/usr/lib/liba.dylib" and r.segment == "__TEXT"]
    assert pieces and all(r.resident is None for r in pieces if r.end - r.start < 0x4000)


def test_loaded_image_rows_with_sub_page_edges(cache):
    t = _target(cache, dirty={"__DATA": 0x4000, "__DATA_DIRTY": 0x4000})
    split_shared_region(t)
    liba = next(i for i in cache.model_images(SLIDE) if i.path == "/usr/lib/liba.dylib")
    for seg in liba.segments:
        if seg.name == "__LINKEDIT":
            continue
        rows = [r for r in t.regions if r.start == seg.address]
        assert len(rows) == 1, seg.name
        r = rows[0]
        assert (r.type, r.end, r.detail, r.image, r.segment) == (
            seg.name, seg.end, "/usr/lib/liba.dylib", "/usr/lib/liba.dylib", seg.name)
        # The test regions are fully resident and all-or-nothing dirty, so each
        # piece's counts are exact: every byte resident, dirty iff its region is.
        assert r.resident == r.end - r.start
        assert r.dirty == (r.end - r.start if seg.name in ("__DATA", "__DATA_DIRTY") else 0)
    dc = next(s for s in liba.segments if s.name == "__DATA_CONST")
    assert dc.address % 0x1000 and dc.size < 0x1000         # sub-page, like vmmap's rows
    # The heap is untouched.
    assert t.regions[-1] == HEAP


def test_unused_rows_only_where_vmmap_shows_them(cache):
    t = _target(cache, dirty={"__DATA": 0x4000})
    split_shared_region(t)
    libb = next(i for i in cache.model_images(SLIDE) if i.path == "/usr/lib/libb.dylib")
    data = next(s for s in libb.segments if s.name == "__DATA")
    # __DATA is writable and dirty: libb (not loaded) shows as an unused row.
    r = next(r for r in t.regions if r.start == data.address)
    assert (r.type, r.end, r.detail, r.image) == ("unused __DATA", data.end, "unused /usr/lib/libb.dylib", None)
    # Padding after the last image coalesces into one row.
    m = next(m for m in t.shared_cache.mappings if m.name == "__DATA")
    tail = [x for x in t.regions if x.end == m.address + m.size]
    assert len(tail) == 1 and tail[0].detail == "unused system shared lib __DATA"
    # Clean or read-only regions: no unused rows (vmmap lists only dirty ones).
    for name in ("__TEXT", "__DATA_CONST", "__DATA_DIRTY"):
        mm = next(x for x in t.shared_cache.mappings if x.name == name)
        inside = [x for x in t.regions if mm.address <= x.start < mm.address + mm.size]
        assert all(not x.type.startswith("unused") for x in inside), name
    # Every split row stays inside its region and rows never overlap.
    rs = sorted(t.regions, key=lambda x: x.start)
    assert all(a.end <= b.start for a, b in zip(rs, rs[1:]))


def test_one_combined_linkedit_row(cache):
    t = _target(cache)
    split_shared_region(t)
    le = [r for r in t.regions if r.segment == "__LINKEDIT"]
    m = next(m for m in t.shared_cache.mappings if m.name == "__LINKEDIT")
    assert len(le) == 1
    assert (le[0].type, le[0].detail, le[0].start, le[0].end) == (
        "__LINKEDIT", LINKEDIT_DETAIL, m.address, m.address + m.size)
    assert le[0].resident == m.size                    # the whole region: counts kept


def test_region_straddling_images_and_protections_kept(cache):
    t = _target(cache, loaded=("/usr/lib/liba.dylib", "/usr/lib/libb.dylib"), split_text_at=0x5000)
    split_shared_region(t)
    text_rows = [r for r in t.regions if r.type == "__TEXT"]
    assert [r.detail for r in text_rows] == ["/usr/lib/liba.dylib", "/usr/lib/libb.dylib"]
    assert all((r.prot, r.max_prot, r.share_mode) == (5, 5, "COW") for r in text_rows)
    dc_rows = [r for r in t.regions if r.type == "__DATA_CONST"]
    assert all((r.prot, r.max_prot) == (1, 3) for r in dc_rows)


def test_all_reader_images_when_target_lists_none(cache):
    t = _target(cache, loaded=())
    split_shared_region(t)
    named = {r.detail for r in t.regions if r.image}
    assert named == {"/usr/lib/liba.dylib", "/usr/lib/libb.dylib", "/usr/lib/system/libc_helper.dylib"}
    assert any(r.type == "__DATA_DIRTY" and r.image.endswith("libc_helper.dylib") for r in t.regions)


def test_reader_built_from_target_memory():
    """A live source that only knows base/uuid/slide: the annotator reads the
    cache out of target memory (mappings, images) and splits."""
    b = builder()
    built = build()
    mem = b.CacheMemory(built, SLIDE)
    with open_cache(str(MAIN)) as c:
        regions = _regions(c)
        imgs = [i for i in c.model_images(SLIDE) if i.path == "/usr/lib/libb.dylib"]
    t = Target(kind="live", pid=1, regions=regions, images=imgs, memory=mem)
    t.shared_cache = SharedCache(uuid=built.uuid.hex(), base=built.base + SLIDE, slide=SLIDE)
    split_shared_region(t)
    assert t.shared_cache.reader is not None and len(t.shared_cache.mappings) == 5
    assert [r.detail for r in t.regions if r.type == "__TEXT"] == ["/usr/lib/libb.dylib"]
    # A UUID that differs from the header's: the cache is not used.
    t2 = Target(kind="live", pid=1, regions=_regions(open_cache(str(MAIN))), memory=mem)
    t2.shared_cache = SharedCache(uuid="00" * 16, base=built.base + SLIDE, slide=SLIDE)
    split_shared_region(t2)
    assert t2.shared_cache.reader is None and all(r.type is None for r in t2.regions)
    assert any("differs" in n for n in t2.notes)


def test_no_cache_no_change(cache):
    t = _target(cache)
    t.shared_cache = None
    before = list(t.regions)
    split_shared_region(t)
    assert t.regions == before


def test_via_lead_annotate(cache):
    from symmap.annotate import annotate
    t = _target(cache, dirty={"__DATA": 0x4000})
    annotate(t)
    assert [r.detail for r in t.regions if r.type == "__TEXT"] == ["/usr/lib/liba.dylib"]
    assert sum(1 for r in t.regions if r.detail == LINKEDIT_DETAIL) == 1
