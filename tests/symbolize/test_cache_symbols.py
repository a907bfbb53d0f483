"""Shared-cache images symbolized through the cache reader at a non-zero
slide; expected addresses are the known exports in shared/fixtures/SOURCES.md
(from rizin's test suite, confirmed by dyldextractor)."""
from __future__ import annotations

import pytest

from symmap.model import SharedCache, Target
from symmap.symbolize import Symbolizer
from tests.conftest import shared_fixture

from symmap.formats.dyld_cache import reader as dyld_cache

SLIDE = 0x4_0000


def _target(path, slide):
    c = dyld_cache.open_cache(str(path))
    t = Target(kind="cache", images=c.model_images(slide),
               shared_cache=SharedCache(uuid=c.uuid, base=c.unslid_base + slide, slide=slide, reader=c))
    t.closers.append(c.close)
    return t


@pytest.mark.parametrize("slide", [SLIDE, 0x1234_0000])
def test_known_exports_at_a_slide(slide):
    t = _target(shared_fixture("dyld-cache/dyld_shared_cache_arm64-macOS"), slide)
    with t:
        s = Symbolizer(t)
        cases = [(0x180004F60, "/usr/lib/liba-1.0.dylib", "func_in_liba", 0),
                 (0x180004F9C + 8, "/usr/lib/liba-1.0.dylib", "what_is_cool", 8),
                 (0x180008FA0 + 4, "/usr/lib/libb-1.0.dylib", "func_in_libb", 4)]
        for unslid, image, sym, off in cases:
            r = s.lookup(unslid + slide)
            assert (r.image, r.symbol, r.offset) == (image, sym, off)
            assert (r.segment, r.section) == ("__TEXT", "__text")
            assert r.unslid_address == unslid and r.symbol_source == "cache"
        # __text of libb is 0x18 bytes: past it, no symbol of libb's code.
        r = s.lookup(0x180008FA0 + 0x18 + slide)
        assert r.symbol != "func_in_libb"
        assert s.lookup(0x180004F60 + slide).uuid == "ccbf29d455693a1592314e14d41a542a"


def test_cache_symbols_from_newer_header():
    path = shared_fixture("dyld-cache/dyld_shared_cache_arm64-macOS-1042.1")
    t = _target(path, SLIDE)
    with t:
        s = Symbolizer(t)
        reader = t.shared_cache.reader
        seen = 0
        for img in reader.images:
            for addr, name in reader.symbols_for(img):
                r = s.lookup(addr + SLIDE)
                assert r.image == img.path and r.linkage_name == name and r.offset == 0
                seen += 1
        assert seen >= 4
