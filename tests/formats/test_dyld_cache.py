"""dyld shared cache reader against real Apple-built caches (known values from
../shared/fixtures/SOURCES.md, which rizin's test suite and dyldextractor agree on)."""
from __future__ import annotations

import struct

import pytest

from symmap.errors import CorruptInput
from symmap.formats.dyld_cache.reader import DyldCache, mapping_name, open_cache, parse_dynamic_data
from tests.conftest import shared_fixture

OLD = "dyld-cache/dyld_shared_cache_arm64-macOS"
NEW = "dyld-cache/dyld_shared_cache_arm64-macOS-1042.1"


@pytest.fixture
def old():
    c = open_cache(str(shared_fixture(OLD)))
    yield c
    c.close()


@pytest.fixture
def new():
    c = open_cache(str(shared_fixture(NEW)))
    yield c
    c.close()


def test_old_header_and_mappings(old):
    assert old.uuid == "857bce1a017e34649909d58ee21cf8dc"
    assert old.header_size == 0x140
    assert old.arch == "arm64"
    assert old.unslid_base == 0x180000000
    # Fields past mappingOffset do not exist (dyld's rule).
    assert "imagesOffset" not in old.header and "subCacheArrayCount" not in old.header
    assert "mappingWithSlideOffset" in old.header
    got = [(m.address, m.size, m.file_offset, m.max_prot, m.init_prot, m.name) for m in old.mappings]
    assert got == [(0x180000000, 0x18000, 0, 5, 5, "__TEXT"),
                   (0x182018000, 0x4000, 0x18000, 3, 3, "__DATA"),
                   (0x18401C000, 0x14000, 0x1C000, 1, 1, "__LINKEDIT")]
    si = old.mappings[1].slide_info
    assert si == {"version": 2, "page_size": 4096, "page_starts_offset": si["page_starts_offset"],
                  "page_starts_count": 4, "page_extras_offset": si["page_extras_offset"],
                  "page_extras_count": 0, "delta_mask": 0x00FFFF0000000000, "value_add": 0}
    assert old.mappings[0].slide_info is None
    assert old.subcaches == [] and old.symbol_file_uuid is None


def test_old_images_segments_sections_exports(old):
    imgs = old.images
    assert [(i.path, i.address, i.uuid) for i in imgs] == [
        ("/usr/lib/liba-1.0.dylib", 0x180001000, "ccbf29d455693a1592314e14d41a542a"),
        ("/usr/lib/libb-1.0.dylib", 0x180005000, "60d2f3d644a2391087503a56a3d8ff07")]
    a = old.image_macho(0)
    text = a.segment("__TEXT").sections[0]
    assert (text.name, text.addr, text.size) == ("__text", 0x180004F60, 0x48)
    b = old.image_macho(1)
    assert b.uuid == "60d2f3d644a2391087503a56a3d8ff07"
    tb = b.segment("__TEXT").sections[0]
    assert (tb.name, tb.addr, tb.size) == ("__text", 0x180008FA0, 0x18)
    assert dict((n, a) for a, n in old.symbols_for(0)).items() >= {
        "_func_in_liba": 0x180004F60, "_what_is_cool": 0x180004F9C}.items()
    assert dict((n, a) for a, n in old.symbols_for(1))["_func_in_libb"] == 0x180008FA0


def test_new_header_uses_new_image_table(new):
    assert new.uuid == "c0a042e3c0db394caa455cd7e767643f"
    assert new.header_size == 0x200
    assert "dynamicDataOffset" in new.header and "tproMappingsOffset" not in new.header
    assert [(m.address, m.size, m.max_prot, m.name) for m in new.mappings] == [
        (0x180000000, 0x14000, 5, "__TEXT"), (0x180014000, 0x8000, 1, "__LINKEDIT")]
    assert all(m.slide_info is None for m in new.mappings)
    assert [(i.address, i.path) for i in new.images] == [
        (0x180004000, "/usr/lib/libSystem.B.dylib"), (0x180008000, "/usr/lib/libhello.dylib"),
        (0x18000C000, "/usr/lib/system/libdyld.dylib"),
        (0x180010000, "/usr/lib/system/libsystem_kernel.dylib")]
    # The old table at 0x18 is zero in dyld-940+ headers: we must not have used it.
    assert new.header["imagesCountOld"] == 0


def test_model_images_at_slide(new):
    slide = 0x2A4C000
    imgs = new.model_images(slide)
    assert [i.load_address for i in imgs] == [i.address + slide for i in new.images]
    assert all(i.in_shared_cache and i.slide == slide for i in imgs)
    text = imgs[1].segments[0]
    assert text.name == "__TEXT" and text.address == 0x180008000 + slide
    assert imgs[1].uuid == new.images[1].uuid


def test_read_by_unslid_address(old):
    assert old.read(0x180001000, 4) == struct.pack("<I", 0xFEEDFACF)
    assert old.read(0x170000000, 4) == b""          # unmapped


def test_from_memory_matches_file(new):
    path = str(shared_fixture(NEW))
    data = open(path, "rb").read()
    slide = 0x1234000

    def read(addr, size):
        off = addr - (0x180000000 + slide)
        if off < 0 or off >= len(data):
            return b""
        return data[off:off + size]

    mem = DyldCache.from_memory(read, 0x180000000 + slide)
    assert mem.slide == slide and mem.uuid == new.uuid
    assert [(i.path, i.address) for i in mem.images] == [(i.path, i.address) for i in new.images]
    assert mem.symbols_for(1) == new.symbols_for(1)
    assert mem.dynamic_data() is None       # the file has no dynamic-data page mapped


def test_mapping_names_follow_dyld():
    assert mapping_name(5, 0) == "__TEXT"
    assert mapping_name(5, 8) == "__TEXT_STUBS"
    assert mapping_name(3, 1) == "__AUTH"
    assert mapping_name(3, 1 | 4) == "__AUTH_CONST"
    assert mapping_name(3, 1 | 2) == "__AUTH_DIRTY"
    assert mapping_name(3, 2) == "__DATA_DIRTY"
    assert mapping_name(3, 4) == "__DATA_CONST"
    assert mapping_name(3, 0x40) == "__TPRO_CONST"
    assert mapping_name(1, 0) == "__LINKEDIT"
    assert mapping_name(1, 0x20) == "__READ_ONLY"


def test_dynamic_data_versions():
    v0 = b"dyld_data    v0\0" + struct.pack("<QQ", 0x1000013, 424242)
    d = parse_dynamic_data(v0 + bytes(64))
    assert (d.version, d.dev, d.inode, d.path) == (0, 0x1000013, 424242, None)
    v3 = bytearray(0x200)
    v3[:16] = b"dyld_data    v3\0"
    struct.pack_into("<QQII", v3, 16, 0x1000013, 77, 0, 80)
    p = b"/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e"
    v3[80:80 + len(p)] = p
    d = parse_dynamic_data(bytes(v3))
    assert (d.version, d.inode, d.path) == (3, 77, p.decode())
    assert parse_dynamic_data(b"garbage" * 10) is None


def test_dyldextractor_agrees(old, new):
    dc = pytest.importorskip("DyldExtractor.dyld.dyld_context")
    for c, rel in ((old, OLD), (new, NEW)):
        with open(shared_fixture(rel), "rb") as f:
            d = dc.DyldContext(f)
            theirs = [(im.address, d.readString(im.pathFileOffset)[:-1].decode()) for im in d.images]
            assert theirs == [(i.address, i.path) for i in c.images]
            assert [(m.address, m.size) for m, _ctx in d.mappings] == \
                [(m.address, m.size) for m in c.mappings]


def test_fuzzed_cache_is_corrupt_input():
    p = shared_fixture("dyld-cache/fuzzed-arm64e-cache.bin")
    with pytest.raises(CorruptInput) as e:
        c = open_cache(str(p))
        c.images
    assert str(e.value).startswith("corrupt cache: ")


@pytest.mark.parametrize("data", [b"", b"dyld_v1", b"dyld_v1   arm64\0" + bytes(8),
                                  b"\x7fELF" + bytes(0x300)])
def test_short_or_foreign_files(tmp_path, data):
    p = tmp_path / "c"
    p.write_bytes(data)
    with pytest.raises(CorruptInput):
        open_cache(str(p))
