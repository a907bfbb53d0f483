"""A dyld cache file as a target, and finding the on-disk cache of a process."""
from __future__ import annotations

import os
import shutil

import pytest

from symmap.errors import CorruptInput
from symmap.formats.dyld_cache.reader import DyldCache, open_cache
from symmap.sources import OpenOptions, open_file, sniff_file
from symmap.sources.cache_locate import candidate_files, find_cache_for, locate_cache_file
from tests.conftest import shared_fixture
from tests.formats.dyld_cache_support import MAIN, build, builder, copy_committed

SLIDE = 0x1C000000


def test_cache_file_target_at_slide():
    assert sniff_file(str(MAIN)) == "cache"
    with open_file(str(MAIN), OpenOptions(slide=SLIDE)) as t:
        assert t.kind == "cache" and t.arch == "arm64"
        sc = t.shared_cache
        with open_cache(str(MAIN)) as c:
            assert sc.uuid == c.uuid and sc.slide == SLIDE and sc.base == c.unslid_base + SLIDE
            assert [(r.start, r.end, r.prot, r.max_prot) for r in t.regions] == [
                (m.address + SLIDE, m.end + SLIDE, m.init_prot, m.max_prot) for m in c.mappings]
            assert [(m.address, m.name, m.subcache) for m in sc.mappings] == [
                (m.address + SLIDE, m.name, m.subcache) for m in c.mappings]
        assert [os.path.basename(s["path"]) for s in sc.subcaches] == [
            "dyld_shared_cache_arm64.01", "dyld_shared_cache_arm64.02"]
        assert sc.reader is not None
        assert [i.path for i in t.images] == ["/usr/lib/liba.dylib", "/usr/lib/libb.dylib",
                                              "/usr/lib/system/libc_helper.dylib"]
        assert all(i.in_shared_cache and i.slide == SLIDE for i in t.images)
        # Regions of sub-cache mappings name their own file.
        assert t.regions[1].path.endswith(".01") and t.regions[-1].path.endswith(".02")


def test_cache_target_annotated_per_image():
    from symmap.annotate import annotate
    with open_file(str(MAIN), OpenOptions(slide=SLIDE)) as t:
        annotate(t)
        named = [(r.type, r.detail) for r in t.regions if r.image]
        assert ("__TEXT", "/usr/lib/liba.dylib") in named
        assert ("__DATA_DIRTY", "/usr/lib/system/libc_helper.dylib") in named
        assert sum(1 for r in t.regions if r.type == "__LINKEDIT") == 1
        # In a cache target every byte of each mapping is in some row.
        for m in t.shared_cache.mappings:
            rows = sorted((r.start, r.end) for r in t.regions
                          if m.address <= r.start < m.address + m.size)
            assert rows[0][0] == m.address and rows[-1][1] == m.address + m.size
            assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))


def test_json_has_shared_cache_fields():
    from symmap.render.json import to_dict
    with open_file(str(MAIN), OpenOptions(slide=SLIDE)) as t:
        d = to_dict(t)
    sc = d["shared_cache"]
    assert sc["uuid"] == t.shared_cache.uuid and sc["slide"] == SLIDE
    assert len(sc["mappings"]) == 5 and len(sc["subcaches"]) == 2


def test_real_cache_target():
    p = shared_fixture("dyld-cache/dyld_shared_cache_arm64-macOS")
    with open_file(str(p)) as t:
        assert len(t.regions) == 3 and len(t.images) == 2
        assert t.shared_cache.slide == 0 and t.shared_cache.subcaches == []


def test_corrupt_cache_target(tmp_path):
    p = tmp_path / "dyld_shared_cache_arm64"
    p.write_bytes(b"dyld_v1   arm64\0" + b"\xff" * 0x300)
    with pytest.raises(CorruptInput) as e:
        open_file(str(p))
    assert str(e.value).startswith("corrupt cache:")


# --- locating the on-disk cache -------------------------------------------------

CRYPTEX = "System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld"


@pytest.fixture
def fake_root(tmp_path):
    d = tmp_path / CRYPTEX
    d.mkdir(parents=True)
    main = copy_committed(d)
    # A decoy: another cache of the same arch with a different UUID.
    old = tmp_path / "System/Library/dyld"
    old.mkdir(parents=True)
    decoy = bytearray(MAIN.read_bytes())
    decoy[0x58] ^= 0x55
    (old / "dyld_shared_cache_arm64").write_bytes(bytes(decoy))
    return tmp_path, main, old / "dyld_shared_cache_arm64"


def test_candidates_are_main_files_only(fake_root):
    root, main, decoy = fake_root
    assert sorted(candidate_files(str(root))) == sorted([str(main), str(decoy)])


def test_locate_by_path_inode_and_uuid(fake_root):
    root, main, decoy = fake_root
    with open_cache(str(MAIN)) as c:
        uuid = c.uuid
    r = str(root)
    # 1. dynamic-data path (v3), checked by UUID.
    assert locate_cache_file(uuid, path="/" + CRYPTEX + "/dyld_shared_cache_arm64", root=r) == str(main)
    # A path to a file with another UUID is never used; the search finds the right one.
    assert locate_cache_file(uuid, path="/System/Library/dyld/dyld_shared_cache_arm64", root=r) == str(main)
    # 2. (dev, inode) from a v0 page.
    st = os.stat(main)
    assert locate_cache_file(uuid, dev=st.st_dev, inode=st.st_ino, root=r, dirs=(
        "/System/Library/dyld", "/" + CRYPTEX)) == str(main)
    # 3. UUID search; the decoy's UUID finds the decoy, an unknown one nothing.
    assert locate_cache_file(uuid, arch="arm64", root=r) == str(main)
    with open_cache(str(decoy)) as d:
        assert locate_cache_file(d.uuid, root=r) == str(decoy)
    assert locate_cache_file("ab" * 16, root=r) is None


def test_find_cache_for_a_process_cache(fake_root):
    root, main, _decoy = fake_root
    b = builder()
    built = build()
    slide = 0x4000000
    st = os.stat(main)
    # v0 page: (dev, inode) of the file the process mapped.
    mem = b.CacheMemory(built, slide, b.dynamic_data_page(0, st.st_dev, st.st_ino))
    c = DyldCache.from_memory(mem.read, built.base + slide)
    assert find_cache_for(c, root=str(root)) == str(main)
    # v3 page: the absolute path.
    mem = b.CacheMemory(built, slide, b.dynamic_data_page(3, 0, 0, "/" + CRYPTEX + "/dyld_shared_cache_arm64"))
    c = DyldCache.from_memory(mem.read, built.base + slide)
    assert find_cache_for(c, root=str(root)) == str(main)
    # The located file supplies local symbols for the memory cache.
    c2 = DyldCache.from_memory(mem.read, built.base + slide, path=str(main))
    assert c2.local_symbols(0) != []


def test_locate_ignores_unreadable_dirs(tmp_path):
    assert locate_cache_file("00" * 16, root=str(tmp_path)) is None
    shutil.rmtree(tmp_path)
    assert candidate_files(str(tmp_path)) == []


@pytest.mark.parametrize("cache_dir", [
    # ProcessAtlas.cpp@dyld-1378 forEachInstalledCacheWithSystemPath: staged
    # (Incoming) OS cryptex, DriverKit in the cryptex, ExclaveKit cryptex.
    "System/Volumes/Preboot/Cryptexes/Incoming/OS/System/Library/dyld",
    "System/Volumes/Preboot/Cryptexes/OS/System/DriverKit/System/Library/dyld",
    "System/Cryptexes/ExclaveOS/System/ExclaveKit/System/Library/dyld",
])
def test_locate_searches_every_directory_dyld_knows(tmp_path, cache_dir):
    d = tmp_path / cache_dir
    d.mkdir(parents=True)
    main = copy_committed(d)
    with open_cache(str(MAIN)) as c:
        uuid = c.uuid
    assert locate_cache_file(uuid, arch="arm64", root=str(tmp_path)) == str(main)


def test_cache_target_platform_from_header(tmp_path):
    """The header's platform (0xD8, dyld-519.2.1) names the report's Platform:
    an iOS or DriverKit cache file is not reported as macOS."""
    with open_file(str(MAIN)) as t:
        assert t.info["platform"] == "macOS" and t.info["cache_type"] == 1
        assert t.os_version == "13.0"
    main = copy_committed(tmp_path)
    data = bytearray(main.read_bytes())
    data[0xD8:0xDC] = (10).to_bytes(4, "little")          # PLATFORM_DRIVERKIT
    main.write_bytes(bytes(data))
    with open_file(str(main)) as t:
        assert t.info["platform"] == "DriverKit"


@pytest.mark.parametrize("magic,arch,page", [
    (b"dyld_v1   arm64", "arm64", 16384), (b"dyld_v1  arm64e", "arm64e", 16384),
    (b"dyld_v1  x86_64", "x86_64", 4096), (b"dyld_v1 x86_64h", "x86_64h", 4096)])
def test_cache_arch_from_right_aligned_magic(tmp_path, magic, arch, page):
    main = copy_committed(tmp_path)
    for f in tmp_path.iterdir():
        data = bytearray(f.read_bytes())
        data[0:16] = magic + b"\0"
        f.write_bytes(bytes(data))
    with open_file(str(main)) as t:
        assert (t.arch, t.page_size) == (arch, page)
        assert t.info["cache_magic"] == magic.decode()
        assert len(t.images) == 3 and t.shared_cache.subcaches[1]["path"].endswith(".02")
