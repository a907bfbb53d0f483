"""Hostile caches: mutated copies of valid caches must raise only
CorruptInput (a SymmapError), in bounded time, whatever the reader is asked."""
from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symmap.errors import SymmapError
from symmap.formats.dyld_cache.reader import DyldCache, open_cache
from tests.conftest import SHARED_FIXTURES
from tests.formats.dyld_cache_support import MAIN

COMPANIONS = [".01", ".02", ".symbols"]


def _exercise(c: DyldCache) -> None:
    """Touch every lazily parsed part."""
    c.mappings
    imgs = c.images
    c.model_images(0x4000)
    for i in range(len(imgs)):
        c.symbols_for(i)
        c.local_symbols(i)
    list(c.iter_all_local_symbols())
    c.read(c.unslid_base, 64)
    c.dynamic_data()


def _try(path: str) -> None:
    try:
        c = open_cache(path)
    except SymmapError:
        return
    try:
        _exercise(c)
    except SymmapError:
        pass
    finally:
        c.close()


# Mutations aimed where parsers trust numbers: the header, the tables after
# it, the first dylib's load commands (main file offset 0x4000).
_offsets = st.one_of(st.integers(0, 0x400), st.integers(0x4000, 0x4400), st.integers(0, 0x7FFF))
_mutation = st.tuples(_offsets, st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01, 0x10]))
_wide = st.tuples(st.integers(0, 0x3F8), st.sampled_from([0xFFFFFFFF, 0x7FFFFFFF, 0x100000, 0x1000]))


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(muts=st.lists(_mutation, min_size=1, max_size=8), wide=st.lists(_wide, max_size=3),
       target=st.sampled_from(["", ".01", ".02", ".symbols"]))
def test_mutated_split_cache(tmp_path_factory, muts, wide, target):
    d = tmp_path_factory.mktemp("m")
    for sfx in [""] + COMPANIONS:
        src = MAIN.with_name(MAIN.name + sfx)
        data = bytearray(src.read_bytes())
        if sfx == target:
            for off, val in muts:
                if off < len(data):
                    data[off] = val
            for off, val in wide:
                if off + 4 <= len(data):
                    data[off:off + 4] = val.to_bytes(4, "little")
        (d / src.name).write_bytes(bytes(data))
    t0 = time.monotonic()
    _try(str(d / MAIN.name))
    assert time.monotonic() - t0 < 2.0


@settings(max_examples=80, deadline=2000)
@given(muts=st.lists(_mutation, min_size=1, max_size=8))
def test_mutated_cache_in_memory(muts):
    data = bytearray(MAIN.read_bytes())
    for off, val in muts:
        if off < len(data):
            data[off] = val
    base = 0x180000000 + 0x8000

    def read(addr, size):
        off = addr - base
        if off < 0 or off >= len(data) or size < 0:
            return b""
        return bytes(data[off:off + size])

    try:
        c = DyldCache.from_memory(read, base)
        _exercise(c)
    except SymmapError:
        pass


@pytest.mark.parametrize("name", ["dyld_shared_cache_arm64-macOS", "dyld_shared_cache_arm64-macOS-1042.1"])
def test_mutated_real_caches(tmp_path, name):
    src = SHARED_FIXTURES / "dyld-cache" / name
    if not src.exists():
        pytest.skip("shared fixture absent")
    import random
    rng = random.Random(1234)
    base = src.read_bytes()
    for _ in range(60):
        data = bytearray(base)
        for _k in range(rng.randint(1, 6)):
            off = rng.choice([rng.randrange(0, 0x400), rng.randrange(0, len(data))])
            data[off] = rng.choice([0, 0xFF, 0x80, rng.randrange(256)])
        p = tmp_path / name
        p.write_bytes(bytes(data))
        _try(str(p))


def test_huge_counts_allocate_nothing_big(tmp_path):
    """imagesCount / subCacheArrayCount / local symbol counts of 2**32-1 must
    not allocate in proportion: checked with tracemalloc."""
    for sfx in [""] + COMPANIONS:
        (tmp_path / (MAIN.name + sfx)).write_bytes(MAIN.with_name(MAIN.name + sfx).read_bytes())
    main = tmp_path / MAIN.name
    data = bytearray(main.read_bytes())
    data[0x1C4:0x1C8] = b"\xff\xff\xff\xff"          # imagesCount
    main.write_bytes(bytes(data))
    sym = tmp_path / (MAIN.name + ".symbols")
    sdata = bytearray(sym.read_bytes())
    loc = int.from_bytes(sdata[0x48:0x50], "little")
    sdata[loc + 4:loc + 8] = b"\xff\xff\xff\xff"     # nlistCount
    sdata[loc + 20:loc + 24] = b"\xff\xff\xff\xff"   # entriesCount
    sym.write_bytes(bytes(sdata))
    tracemalloc.start()
    try:
        _try(str(main))
        data[0x1C4:0x1C8] = (3).to_bytes(4, "little")
        main.write_bytes(bytes(data))
        _try(str(main))
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_fuzzed_fixture_bounded():
    p = SHARED_FIXTURES / "dyld-cache" / "fuzzed-arm64e-cache.bin"
    if not p.exists():
        pytest.skip("shared fixture absent")
    t0 = time.monotonic()
    _try(str(p))
    assert time.monotonic() - t0 < 1.0


def test_memory_cache_never_asks_for_huge_reads():
    """In target memory the only bound on a table is the mapping size read
    from the same untrusted header: a huge imagesCount/imagesTextCount with
    a huge mapping 0 must not turn into a read request of that size."""
    data = bytearray(MAIN.read_bytes())
    hs = int.from_bytes(data[0x10:0x14], "little")
    slide_tab = int.from_bytes(data[0x138:0x13C], "little")
    for size_off in (hs + 8, slide_tab + 8):              # mapping 0 size, both tables
        data[size_off:size_off + 8] = (1 << 40).to_bytes(8, "little")
    base = 0x180000000 + 0x8000
    asked = []

    def read(addr, size):
        asked.append(size)
        off = addr - base
        if off < 0 or off >= len(data) or size < 0:
            return b""
        return bytes(data[off:off + size])

    for field, width in ((0x1C4, 4), (0x90, 8)):          # imagesCount, imagesTextCount
        saved = bytes(data[field:field + width])
        data[field:field + width] = b"\xff" * width
        asked.clear()
        try:
            c = DyldCache.from_memory(read, base)
            _exercise(c)
        except SymmapError:
            pass
        data[field:field + width] = saved
        assert max(asked) <= 4 << 20, (hex(field), hex(max(asked)))


def test_local_symbols_of_one_image_do_not_copy_the_string_pool(tmp_path):
    """A real .symbols string pool is hundreds of MB: naming one image's
    locals must read its names in place, not copy the whole pool."""
    for sfx in [""] + COMPANIONS:
        (tmp_path / (MAIN.name + sfx)).write_bytes(MAIN.with_name(MAIN.name + sfx).read_bytes())
    sym = tmp_path / (MAIN.name + ".symbols")
    sdata = bytearray(sym.read_bytes())
    loc = int.from_bytes(sdata[0x48:0x50], "little")
    str_off, str_size = (int.from_bytes(sdata[loc + o:loc + o + 4], "little") for o in (8, 12))
    assert loc + str_off + str_size == len(sdata)          # the pool ends the file: grow it
    pad = 16 << 20
    sdata += b"x" * pad
    sdata[loc + 12:loc + 16] = (str_size + pad).to_bytes(4, "little")
    sdata[0x50:0x58] = (int.from_bytes(sdata[0x50:0x58], "little") + pad).to_bytes(8, "little")
    sym.write_bytes(bytes(sdata))
    del sdata
    with open_cache(str(tmp_path / MAIN.name)) as c:
        with open_cache(str(MAIN)) as ref:
            want = ref.local_symbols(0)
        tracemalloc.start()
        try:
            got = c.local_symbols(0)
            _cur, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert got == want != []
    assert peak < 2 << 20
