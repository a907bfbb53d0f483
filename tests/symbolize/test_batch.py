"""Symbolizer.lookup_many / resolve_many (the batch path) give exactly the
answers of one-at-a-time lookup: every byte of each image's segments,
unmapped addresses, duplicates, slides, function-starts-only names, a
crash-style image without a slide and the memory source."""
from __future__ import annotations

import random

import pytest

from symmap.model import Image, Region, Segment, Target
from symmap.sources import OpenOptions, open_target
from symmap.symbolize import Symbolizer
from tests.conftest import OWN_FIXTURES

OWN = OWN_FIXTURES / "symbols"
FILES = ["symbols-x86_64", "symbols-fat", "libsymbols-arm64.dylib", "libsymbols-x86_64.dylib",
         "libsymbols-arm64-nolocals.dylib", "libsymbols-chained-trieonly.dylib", "symbols-elf"]


def _addresses(t, rng):
    out = []
    for im in t.images:
        for seg in im.segments:
            step = max(1, seg.size // 3000)
            out += range(seg.address - 3, seg.end + 3, step)
    lo = min(r.start for r in t.regions)
    hi = max(r.end for r in t.regions)
    out += [0, 1, lo - 1, hi, hi + 0x1000, (1 << 64) - 1]
    out += rng.sample(out, min(len(out), 500))          # duplicates
    rng.shuffle(out)
    return out


def _same(s_batch, s_single, addrs):
    got = s_batch.lookup_many(addrs)
    assert len(got) == len(addrs)
    for a, r in zip(addrs, got):
        want = s_single.lookup(a)
        assert r == want, (hex(a), r, want)
    return got


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("slide", [0, 0x7000_0000])
def test_batch_equals_single_lookups(name, slide):
    path = str(OWN / name)
    opts = OpenOptions(slide=slide or None)
    t = open_target(path, opts)
    addrs = _addresses(t, random.Random(name))
    got = _same(Symbolizer(t), Symbolizer(open_target(path, opts)), addrs)
    assert any(r.symbol for r in got) and any(not r.mapped for r in got)
    # Duplicates share one answer.
    first = {}
    for a, r in zip(addrs, got):
        assert first.setdefault(a, r) is r


def test_resolve_many_chunks_are_sorted_distinct_and_cover_every_address():
    t = open_target(str(OWN / "symbols-elf"), OpenOptions())
    addrs = _addresses(t, random.Random(1))
    chunks = Symbolizer(t).resolve_many(addrs)
    flat = [a for c in chunks for a in c.addrs]
    assert flat == sorted(set(addrs))
    for c in chunks:
        assert len(c.addrs) == len(c.names) == len(c.offsets) == len(c.regions) == len(c.synthetic)


def test_batch_function_starts_names_and_memory_source():
    path = OWN / "libsymbols-arm64-nolocals.dylib"
    t1, t2 = (open_target(str(path), OpenOptions(slide=0x10000)) for _ in range(2))
    for t in (t1, t2):
        t.images[0].file_path = None
        t.images[0].path = "/nonexistent/x.dylib"
    got = _same(Symbolizer(t1), Symbolizer(t2), _addresses(t1, random.Random(2)))
    assert any(r.symbol and r.linkage_name is None for r in got)      # synthetic names
    assert {r.symbol_source for r in got if r.symbol} == {"memory"}


def test_batch_crash_style_image_without_slide():
    path = OWN / "libsymbols-x86_64.dylib"
    ref = open_target(str(path), OpenOptions())
    text = next(s for s in ref.images[0].segments if s.name == "__TEXT")
    load = 0x7FF8_1234_0000

    def target():
        im = Image(path="/usr/lib/libsymbols-x86_64.dylib", load_address=load, uuid=ref.images[0].uuid,
                   slide=None, segments=[Segment("__TEXT", load, text.size, 5, 5)])
        return Target(kind="crash", images=[im], regions=[Region(load, load + text.size, 5)])

    addrs = list(range(load - 2, load + text.size + 2, 7))
    for paths in ([str(OWN)], []):
        got = _same(Symbolizer(target(), paths), Symbolizer(target(), paths), addrs)
        assert any(r.symbol for r in got) == bool(paths)


def test_batch_without_regions_and_overlapping_segments():
    """A target with no regions (mapped = some segment holds it) and two
    images whose segments overlap (hostile): the answers of a fresh
    single lookup (a reused Symbolizer first retries its last hit's
    segment, so with overlaps its answer depends on the order asked)."""
    def target():
        a = Image(path="/a", load_address=0x1000, slide=0,
                  segments=[Segment("A", 0x1000, 0x3000, 5, 5), Segment("B", 0x2000, 0x100, 5, 5)])
        b = Image(path="/b", load_address=0x1800, slide=0, segments=[Segment("C", 0x1800, 0x100, 5, 5)])
        return Target(kind="file", images=[a, b], regions=[])
    addrs = list(range(0xF00, 0x4100, 0x10)) * 2
    got = Symbolizer(target()).lookup_many(addrs)
    for a, r in zip(addrs, got):
        assert r == Symbolizer(target()).lookup(a), hex(a)
    assert {r.image for r in got} == {"/a", "/b", None}
