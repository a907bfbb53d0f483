"""The coverage diff on hand-built maps: splits and merges are silent, one
new mapping is one change, growth is one resize, partial mprotect is one
re-protection."""
from __future__ import annotations

from symmap.audit.diff import diff_targets
from symmap.model import Image, Region, Segment, Target

P = 0x1000


def anon(s, e, prot=3, kind="anon"):
    return Region(s, e, prot, None, kind=kind, type="anonymous")


def filemap(s, e, path, off=0, prot=1):
    return Region(s, e, prot, None, kind="file", path=path, offset=off, type="mapped file")


def T(regions, images=()):
    return Target(kind="live", os="linux", regions=list(regions), images=list(images), annotated=True)


def changes(a, b):
    return [(c.change, c.start, c.end) for c in diff_targets(T(a), T(b)).regions]


def test_identical_and_empty():
    rs = [anon(0x10000, 0x12000), filemap(0x20000, 0x21000, "/f")]
    assert diff_targets(T(rs), T(list(rs))).identical
    assert diff_targets(T([]), T([])).identical


def test_split_and_merge_are_silent():
    a = [anon(0x10000, 0x14000)]
    b = [anon(0x10000, 0x12000), anon(0x12000, 0x14000)]
    assert changes(a, b) == []
    assert changes(b, a) == []
    # A file split in two rows keeps contiguous offsets: still the same memory.
    fa = [filemap(0x20000, 0x24000, "/f", 0)]
    fb = [filemap(0x20000, 0x22000, "/f", 0), filemap(0x22000, 0x24000, "/f", 0x2000)]
    assert changes(fa, fb) == []


def test_one_new_mapping_is_one_added():
    a = [anon(0x10000, 0x12000), anon(0x40000, 0x42000)]
    b = [anon(0x10000, 0x12000), filemap(0x20000, 0x21000, "/new"), anon(0x40000, 0x42000)]
    d = diff_targets(T(a), T(b))
    assert [(c.change, c.start, c.end, c.path, c.old, c.new) for c in d.regions] == [
        ("added", 0x20000, 0x21000, "/new", None, (0x20000, 0x21000))]
    assert changes(b, a) == [("removed", 0x20000, 0x21000)]


def test_growth_that_merges_into_a_neighbour_is_one_resize():
    a = [anon(0x10000, 0x12000, kind="heap")]
    b = [anon(0x10000, 0x18000, kind="heap")]
    d = diff_targets(T(a), T(b))
    assert [(c.change, c.old, c.new) for c in d.regions] == [
        ("resized", (0x10000, 0x12000), (0x10000, 0x18000))]
    assert "[" in d.regions[0].line() and "+24K" in d.regions[0].line()
    assert [(c.change, c.old, c.new) for c in diff_targets(T(b), T(a)).regions] == [
        ("resized", (0x10000, 0x18000), (0x10000, 0x12000))]


def test_partial_mprotect_is_one_reprotection():
    a = [anon(0x10000, 0x14000, prot=3)]
    b = [anon(0x10000, 0x11000, 3), anon(0x11000, 0x13000, 7), anon(0x13000, 0x14000, 3)]
    d = diff_targets(T(a), T(b))
    assert [(c.change, c.start, c.end, c.old_prot, c.prot) for c in d.regions] == [
        ("reprotected", 0x11000, 0x13000, 3, 7)]
    assert d.new_findings and {f.rule for f in d.new_findings} == {"wx", "anon-exec"}


def test_remap_over_a_reservation_is_removed_plus_added():
    a = [anon(0x10000, 0x20000, prot=0, kind="guard")]
    b = [anon(0x10000, 0x14000, prot=0, kind="guard"), filemap(0x14000, 0x16000, "/lib"),
         anon(0x16000, 0x20000, prot=0, kind="guard")]
    assert changes(a, b) == [("removed", 0x14000, 0x16000), ("added", 0x14000, 0x16000)]


def test_different_window_of_the_same_file_is_a_change():
    a = [filemap(0x20000, 0x21000, "/f", 0)]
    b = [filemap(0x20000, 0x21000, "/f", 0x5000)]
    assert changes(a, b) == [("removed", 0x20000, 0x21000), ("added", 0x20000, 0x21000)]


def test_images_loaded_and_unloaded():
    seg = [Segment("text", 0x7000, 0x1000, 5, 5)]
    libA = Image("/lib/a.so", 0x7000, segments=seg)
    libB = Image("/lib/b.so", 0x9000)
    d = diff_targets(T([], [libA]), T([], [libA, libB]))
    assert [i.path for i in d.images_loaded] == ["/lib/b.so"] and d.images_unloaded == []
    d = diff_targets(T([], [libA, libB]), T([], [libB]))
    assert [i.path for i in d.images_unloaded] == ["/lib/a.so"]
    lines = d.lines()
    assert lines[0] == "- image       7000 /lib/a.so"
    assert lines[-1].startswith("0 added, 0 removed")


def test_many_regions_are_fast_enough_and_silent():
    rs = [anon(0x100000 + i * 2 * P, 0x100000 + i * 2 * P + P, prot=1 + (i % 2) * 2) for i in range(20000)]
    assert diff_targets(T(rs), T(list(rs))).identical


def test_nested_regions_diff_in_linear_time():
    # A hostile snapshot of 20,000 regions all starting at one address: the
    # coverage sweep rescanned every open region at every cut (~90 s).
    import time
    rs = [anon(0x1000, 0x1000 + (i + 1) * P) for i in range(20000)]
    t0 = time.monotonic()
    d = diff_targets(T(rs), T(list(rs)))
    assert d.identical
    assert time.monotonic() - t0 < 15
    # The smallest covering region still decides each piece.
    a = [anon(0x10000, 0x20000, prot=0, kind="guard"), anon(0x12000, 0x13000, prot=3)]
    b = [anon(0x10000, 0x20000, prot=0, kind="guard"), anon(0x12000, 0x13000, prot=7)]
    assert changes(a, b) == [("reprotected", 0x12000, 0x13000)]


def test_audit_lookups_scale_with_many_segments_and_cache_mappings():
    # Hostile snapshot sizes: 65,536 segments in one image and 20,000 cache
    # mappings made every region scan all of them (2,000 regions: 6 s each).
    import time
    from symmap.audit import audit
    from symmap.model import CacheMapping, SharedCache
    segs = [Segment(f"s{i}", 0x1000 + i, 1, 1, 1) for i in range(65536)]
    segs.append(Segment("text", 0x200000, 0x1000, 5, 5))
    img = Image("/x", 0x1000, None, 0, segs, False, "elf-dyn", "x86_64")
    rs = [Region(0x100000 + i * P, 0x101000 + i * P, 3, None, kind="file", path="/x",
                 image="/x", segment="zz", type="data") for i in range(5000)]
    rs.append(Region(0x200000, 0x201000, 7, None, kind="file", path="/x", image="/x",
                     segment="text", type="text"))
    t0 = time.monotonic()
    found = audit(Target(kind="live", os="linux", regions=rs, images=[img], annotated=True))
    assert {(f.rule, f.start) for f in found} == {("image-text-writable", 0x200000), ("wx", 0x200000)}
    sc = SharedCache("u", 0, 0, None, None,
                     [CacheMapping(i * P, P, 0, 5, 5, None, 0) for i in range(20000)], [])
    rs = [Region(0x100000000 + i * P, 0x100001000 + i * P, 7, 7, kind="anon", type="x")
          for i in range(5000)]
    rs.append(Region(0x3000, 0x4000, 7, 7, image=None, kind="anon", type="x"))
    found = audit(Target(kind="live", os="macos", arch="x86_64", regions=rs, shared_cache=sc,
                         annotated=True))
    assert time.monotonic() - t0 < 15
    # The region inside a cache text mapping is a cache page made writable.
    assert ("cache-text-writable", 0x3000) in {(f.rule, f.start) for f in found}
    assert sum(f.rule == "wx" for f in found) == 5001
