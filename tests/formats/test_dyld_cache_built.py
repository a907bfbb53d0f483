"""The reader on symmap's own macOS 13+ style cache set (fixtures/dyld_cache):
split sub-caches with v2 suffixes, a .symbols file, a dynamic-data page.
Oracles: the original dylibs (llvm-nm, our Mach-O parser) and dyldextractor."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from symmap.errors import CorruptInput
from symmap.formats.dyld_cache.reader import DyldCache, open_cache
from symmap.formats.macho.load_commands import parse_macho
from tests.conftest import need_tool
from tests.formats.dyld_cache_support import DYLIBS, HERE, MAIN, build, builder, copy_committed


@pytest.fixture
def cache():
    c = open_cache(str(MAIN))
    yield c
    c.close()


def _orig(path):
    data = DYLIBS[path].read_bytes()
    return data, parse_macho(data, 0, path)


def test_committed_outputs_match_the_builder():
    built = build()
    for key, data in built.files.items():
        p = MAIN if key == "main" else MAIN.with_name(MAIN.name + key)
        assert p.read_bytes() == data, f"{p.name} is stale: run fixtures/dyld_cache/build.sh"


def test_header_subcaches_mappings(cache):
    assert cache.header_size == 0x228
    assert "prewarmingDataSize" in cache.header
    assert [(s.suffix, os.path.basename(s.path)) for s in cache.subcaches] == [
        (".01", "dyld_shared_cache_arm64.01"), (".02", "dyld_shared_cache_arm64.02")]
    built = build()
    assert cache.uuid == built.uuid.hex()
    assert [s.uuid for s in cache.subcaches] == [u.hex() for u in built.sub_uuids]
    assert cache.symbol_file_uuid == built.symbols_uuid.hex()
    assert [(m.name, m.subcache) for m in cache.mappings] == [
        ("__TEXT", 0), ("__DATA_CONST", 1), ("__DATA", 1), ("__DATA_DIRTY", 1), ("__LINKEDIT", 2)]
    assert [(m.max_prot, m.init_prot) for m in cache.mappings] == [(5, 5), (3, 1), (3, 3), (3, 3), (1, 1)]
    # Sub-cache i sits at base + cacheVMOffset.
    for s in cache.subcaches:
        assert s.mappings[0].address == cache.unslid_base + s.vm_offset
    assert cache.size == built.region_size


def test_images_match_original_dylibs(cache):
    assert [i.path for i in cache.images] == list(DYLIBS)
    for img in cache.images:
        data, orig = _orig(img.path)
        m = cache.image_macho(img)
        assert m.uuid == orig.uuid == img.uuid
        assert m.install_name == img.path
        assert m.flags & 0x80000000                       # MH_DYLIB_IN_CACHE
        assert m.segment("__TEXT").vmaddr == img.address
        for seg in orig.segments:
            if seg.name == "__LINKEDIT":
                continue
            name = "__DATA_DIRTY" if (seg.name == "__DATA" and "helper" in img.path) else seg.name
            new = m.segment(name)
            assert new is not None, name
            assert [s.name for s in new.sections] == [s.name for s in seg.sections]
            for a, b in zip(seg.sections, new.sections):
                assert a.size == b.size
                assert a.addr - seg.vmaddr == b.addr - new.vmaddr   # layout kept inside the segment
            # The segment's bytes moved with it (zero-fill sections excepted).
            for a, b in zip(seg.sections, new.sections):
                if a.offset:
                    assert cache.read(b.addr, b.size) == data[a.offset:a.offset + a.size]


def _nm_symbols(path):
    """(name, address, segment, external) of defined symbols, from llvm-nm."""
    nm = need_tool("llvm-nm-14", "llvm-nm")
    out = subprocess.run([nm, "-a", "-m", str(DYLIBS[path])], capture_output=True, text=True,
                         check=True).stdout
    syms = []
    for line in out.splitlines():
        m = re.match(r"([0-9a-f]+) \((\w+),\w+\) (external|non-external).* (\S+)$", line)
        if m:
            syms.append((m.group(4), int(m.group(1), 16), m.group(2), m.group(3) == "external"))
    assert syms
    return syms


def test_symbols_agree_with_llvm_nm(cache):
    for i, img in enumerate(cache.images):
        _data, orig = _orig(img.path)
        m = cache.image_macho(img)
        expect, expect_local = set(), set()
        for name, addr, segname, ext in _nm_symbols(img.path):
            seg = orig.segment(segname)
            newseg = m.segment("__DATA_DIRTY" if segname == "__DATA" and "helper" in img.path else segname)
            e = (addr - seg.vmaddr + newseg.vmaddr, name)
            expect.add(e)
            if not ext:
                expect_local.add(e)
        assert set(cache.symbols_for(i)) == expect
        assert set(cache.local_symbols(i)) == expect_local
        assert set(cache.symbols_for(i, False)) == expect - expect_local


def test_exports_trie_rebuilt_for_moved_data(cache):
    from symmap.formats.macho.symbols import image_symbols

    m = cache.image_macho(0)
    le = m.segment("__LINKEDIT")
    f, off = cache.locate(le.vmaddr)
    ex = {n: a for a, n, _f in image_symbols(f.src.buf, m, off - le.fileoff).exports}
    table = m.segment("__DATA_CONST").sections[0]
    assert ex["_liba_table"] == table.addr
    assert ex["_func_in_liba"] == m.segment("__TEXT").sections[0].addr


def test_dyldextractor_agrees_on_split_cache(cache):
    dc = pytest.importorskip("DyldExtractor.dyld.dyld_context")
    import pathlib
    with open(MAIN, "rb") as f:
        d = dc.DyldContext(f)
        files = d.addSubCaches(pathlib.Path(MAIN))
        try:
            theirs = [(im.address, d.readString(im.pathFileOffset)[:-1].decode()) for im in d.images]
            assert theirs == [(i.address, i.path) for i in cache.images]
            maps = sorted((m.address, m.size) for m, _ctx in d.mappings)
            assert maps == [(m.address, m.size) for m in cache.mappings]
            sym = d.getSymbolsCache()
            assert bytes(sym.header.uuid).hex() == cache.symbol_file_uuid
        finally:
            for x in files:
                x.close()


def test_from_memory_with_dynamic_data(cache):
    b = builder()
    built = build()
    slide = 0x7A4C000
    st = os.stat(MAIN)
    for page, want_path in ((b.dynamic_data_page(0, st.st_dev, st.st_ino), None),
                            (b.dynamic_data_page(3, st.st_dev, st.st_ino, str(MAIN)), str(MAIN))):
        mem = b.CacheMemory(built, slide, page)
        c = DyldCache.from_memory(mem.read, built.base + slide)
        assert c.slide == slide and c.uuid == cache.uuid
        assert [s.uuid for s in c.subcaches] == [s.uuid for s in cache.subcaches]
        assert [(m.address, m.name) for m in c.mappings] == [(m.address, m.name) for m in cache.mappings]
        assert [(i.path, i.address, i.uuid) for i in c.images] == \
            [(i.path, i.address, i.uuid) for i in cache.images]
        dd = c.dynamic_data()
        assert (dd.dev, dd.inode, dd.path) == (st.st_dev & 0xFFFFFFFF, st.st_ino, want_path)
        for i in range(len(cache.images)):
            assert c.symbols_for(i, False) == cache.symbols_for(i, False)
            assert c.local_symbols(i) == []            # not in memory, no file named
    # With the on-disk file named, locals come from its .symbols companion.
    c = DyldCache.from_memory(b.CacheMemory(built, slide).read, built.base + slide, path=str(MAIN))
    assert c.local_symbols(0) == cache.local_symbols(0) != []


def test_v1_subcaches_and_32bit_local_entries(tmp_path):
    built = build(tmp_path / "dyld_shared_cache_arm64", header_size=0x1C8, symbols_entry32=True)
    assert sorted(built.paths) == [".1", ".2", ".symbols", "main"]
    with open_cache(built.paths["main"]) as c:
        assert c.header_size == 0x1C8 and "cacheSubType" not in c.header
        assert [s.suffix for s in c.subcaches] == [".1", ".2"]
        assert [i.path for i in c.images] == list(DYLIBS)
        with open_cache(str(MAIN)) as ref:
            for i in range(3):
                assert c.local_symbols(i) == ref.local_symbols(i) != []
                # Data packs differently after a smaller header: compare names.
                assert sorted(n for _a, n in c.symbols_for(i)) == sorted(n for _a, n in ref.symbols_for(i))
        assert c.dynamic_data() is None


def test_subcache_uuid_mismatch_is_refused(tmp_path):
    main = copy_committed(tmp_path)
    p = tmp_path / (main.name + ".01")
    data = bytearray(p.read_bytes())
    data[0x58] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptInput, match="uuid"):
        open_cache(str(main))


def test_missing_subcache_and_stale_symbols(tmp_path):
    main = copy_committed(tmp_path)
    os.unlink(tmp_path / (main.name + ".02"))
    sym = tmp_path / (main.name + ".symbols")
    data = bytearray(sym.read_bytes())
    data[0x60] ^= 1
    sym.write_bytes(bytes(data))
    with open_cache(str(main)) as c:
        assert any(".02 is missing" in n for n in c.notes)
        assert [i.path for i in c.images] == list(DYLIBS)      # headers are in the main file
        assert c.local_symbols(0) == []                        # .symbols UUID differs: not used
        assert any("differs from symbolFileUUID" in n for n in c.notes)
        assert c.symbols_for(0) == []                          # linkedit sub-cache absent


def test_rebuild_from_c_when_clang_present(tmp_path):
    need_tool("clang-14", "clang")
    need_tool("ld64.lld-14")
    out = tmp_path / "out"
    env = dict(os.environ, CC=shutil.which("clang-14") or "clang")
    subprocess.run(["sh", str(HERE / "build.sh"), str(out)], check=True, env=env,
                   capture_output=True)
    with open_cache(str(out / "cache" / "dyld_shared_cache_arm64")) as fresh, \
            open_cache(str(MAIN)) as ref:
        assert [i.path for i in fresh.images] == [i.path for i in ref.images]
        for i in range(3):
            assert [n for _a, n in fresh.symbols_for(i)] == [n for _a, n in ref.symbols_for(i)]
        assert [m.name for m in fresh.mappings] == [m.name for m in ref.mappings]


def test_macos26_kind_suffixes_from_file_and_memory(tmp_path):
    """dyld-1376.6+ names macOS arm64 data/linkedit sub-caches ".NN.dylddata" /
    ".NN.dyldlinkedit" (cache_builder/SubCache.cpp setSuffix): the reader must
    take the name from the entry's fileSuffix, never build ".NN" itself."""
    built = build(tmp_path / "dyld_shared_cache_arm64e", suffixes=(".01.dylddata", ".02.dyldlinkedit"))
    assert sorted(os.listdir(tmp_path)) == ["dyld_shared_cache_arm64e", "dyld_shared_cache_arm64e.01.dylddata",
                                            "dyld_shared_cache_arm64e.02.dyldlinkedit",
                                            "dyld_shared_cache_arm64e.symbols"]
    from symmap.sources.cache_locate import candidate_files
    assert candidate_files(str(tmp_path), dirs=("/",)) == [built.paths["main"]]   # companions are not main files
    with open_cache(built.paths["main"]) as c, open_cache(str(MAIN)) as ref:
        assert [s.suffix for s in c.subcaches] == [".01.dylddata", ".02.dyldlinkedit"]
        assert [s.path for s in c.subcaches] == [built.paths[".01.dylddata"], built.paths[".02.dyldlinkedit"]]
        assert c.notes == []
        assert [(m.address, m.name, m.subcache) for m in c.mappings] == \
            [(m.address, m.name, m.subcache) for m in ref.mappings]
        for i in range(3):
            assert c.symbols_for(i) == ref.symbols_for(i) != []
        mem = builder().CacheMemory(built, 0x1C000)
        mc = DyldCache.from_memory(mem.read, built.base + 0x1C000, path=built.paths["main"])
        assert [s.suffix for s in mc.subcaches] == [".01.dylddata", ".02.dyldlinkedit"]
        assert [i.path for i in mc.images] == [i.path for i in c.images]
        assert mc.symbols_for(1) == c.symbols_for(1)


def test_universal_development_main_strips_development(tmp_path):
    """A universal cache's development main file: sub-caches and .symbols hang
    off the name without ".development" (DyldSharedCache.cpp mapCacheFiles,
    dsc_extractor.cpp @dyld-1378)."""
    out = tmp_path / "dyld_shared_cache_arm64e.development"
    built = build(out, cache_type=2, suffixes=(".01.development.dylddata", ".02.dyldlinkedit"))
    assert built.paths[".symbols"] == str(tmp_path / "dyld_shared_cache_arm64e.symbols")
    with open_cache(str(out)) as c:
        assert c.header["cacheType"] == 2
        assert [s.path for s in c.subcaches] == [
            str(tmp_path / "dyld_shared_cache_arm64e.01.development.dylddata"),
            str(tmp_path / "dyld_shared_cache_arm64e.02.dyldlinkedit")]
        assert c.symbols_path() == built.paths[".symbols"]
        assert c.local_symbols(0) != []


def test_zero_symbol_file_uuid_means_no_symbols_file(tmp_path):
    """symbolFileUUID all zero: no .symbols companion is looked for even when
    one lies next to the cache (DyldSharedCache::hasLocalSymbolsInfoFile,
    ProcessAtlas.cpp localSymbols @dyld-1378)."""
    main = copy_committed(tmp_path)
    data = bytearray(main.read_bytes())
    data[0x190:0x1A0] = bytes(16)
    main.write_bytes(bytes(data))
    with open_cache(str(main)) as c:
        assert c.symbol_file_uuid is None and c.symbols_path() is None
        assert c.local_symbols(0) == [] and c.notes == []
        assert c.symbols_for(0) != []                      # the shared linkedit still names exports
