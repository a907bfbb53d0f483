"""The region/segment join: nested segments, the shared cache's combined __LINKEDIT row."""
from __future__ import annotations

from symmap.annotate import annotate
from symmap.annotate.join import SegmentIndex, join_images
from symmap.model import CacheMapping, Image, Region, Segment, SharedCache, Target


def _cache_target() -> Target:
    def img(path, base):
        return Image(path=path, load_address=base, in_shared_cache=True, segments=[
            Segment("__TEXT", base, 0x4000, 5, 5),
            Segment("__LINKEDIT", 0x1f0000000 + (base & 0xffff0), 0x8000, 1, 1)])
    sc = SharedCache(uuid="u", base=0x180000000, slide=0, mappings=[
        CacheMapping(0x180000000, 0x8000, 0, 5, 5, "__TEXT"),
        CacheMapping(0x1f0000000, 0x100000, 0x8000, 1, 1, "__LINKEDIT")])
    return Target(kind="core", os="macos", shared_cache=sc,
                  images=[img("/usr/lib/a.dylib", 0x180000000), img("/usr/lib/b.dylib", 0x180004000)],
                  regions=[Region(0x180000000, 0x180008000, 5, 5), Region(0x1f0000000, 0x1f0100000, 1, 1)])


def test_combined_linkedit_row_is_owned_by_no_single_image():
    t = annotate(_cache_target())
    link = [r for r in t.regions if r.type == "__LINKEDIT"]
    assert len(link) == 1 and link[0].detail == "dyld shared cache combined __LINKEDIT"
    assert link[0].image is None          # was /usr/lib/a.dylib: the largest overlap
    assert [r.image for r in t.regions if r.type == "__TEXT"] == ["/usr/lib/a.dylib", "/usr/lib/b.dylib"]


def test_annotate_twice_is_a_no_op():
    t = annotate(_cache_target())
    before = [(r.start, r.end, r.type, r.detail, r.image) for r in t.regions]
    annotate(t)
    assert [(r.start, r.end, r.type, r.detail, r.image) for r in t.regions] == before


def test_nested_segment_wins_in_join_as_in_lookup():
    outer = Image("/outer", 0x100000, segments=[Segment("__DATA", 0x100000, 0x100000, 3, 3)])
    inner = Image("/inner", 0x140000, segments=[Segment("__TEXT", 0x140000, 0x4000, 5, 5)])
    t = Target(kind="core", os="macos", images=[outer, inner],
               regions=[Region(0x140000, 0x144000, 5, 5)])
    join_images(t)
    assert SegmentIndex(t.images).at(0x140000)[0].path == "/inner"
    assert t.regions[0].image == "/inner" and t.regions[0].type == "__TEXT"


def test_zero_size_segment_and_region_do_not_crash_or_match():
    img = Image("/z", 0x1000, segments=[Segment("__PAGEZERO", 0x1000, 0, 0, 0),
                                        Segment("__TEXT", 0x1000, 0x1000, 5, 5)])
    t = Target(kind="core", os="macos", images=[img],
               regions=[Region(0x1000, 0x1000, 5, 5), Region(0x1000, 0x2000, 5, 5)])
    join_images(t)
    assert t.regions[0].image is None and t.regions[1].segment == "__TEXT"


def test_file_backed_page_with_a_bss_tail_is_data():
    """A rw-p file mapping holding 16 bytes of .data and ~4 KB of .bss is the
    file's data page (ELF layout), whatever the byte counts."""
    from symmap.annotate import annotate
    from symmap.model import Image, Region, Segment, Target
    img = Image("/lib/x.so", 0x1000, segments=[
        Segment("data", 0x3000, 0x10, 3, 3, 0x2000, 0x10),
        Segment("bss", 0x3010, 0x1ff0, 3, 3, None, 0)])
    t = Target(kind="live", os="linux", images=[img], regions=[
        Region(0x3000, 0x4000, 3, 7, kind="file", path="/lib/x.so", offset=0x2000),
        Region(0x4000, 0x5000, 3, 7, kind="anon")])
    annotate(t)
    assert [(r.segment, r.image) for r in t.regions] == [("data", "/lib/x.so"), ("bss", "/lib/x.so")]
