"""symmap.sources.macho_core: a core file -> Target, checked against the builder's manifest."""
from __future__ import annotations

import importlib.util
import re
import shutil
import struct
import subprocess

import pytest

from symmap.errors import BadTarget, CorruptInput, SymmapError
from symmap.model import prot_str
from symmap.sources import OpenOptions, open_file, sniff_file
from tests.conftest import OWN_FIXTURES, shared_fixture

_spec = importlib.util.spec_from_file_location("build_core", OWN_FIXTURES / "core" / "build_core.py")
_bc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bc)
build_core = _bc.build_core

CACHE = "dyld-cache/dyld_shared_cache_arm64-macOS"
OTHER_CACHE = "dyld-cache/dyld_shared_cache_arm64-macOS-1042.1"

VARIANTS = {
    "arm64-note": dict(arch="arm64"),
    "arm64-dyld": dict(arch="arm64", image_note=False),
    "x86_64-note": dict(arch="x86_64"),
    "x86_64-dyld": dict(arch="x86_64", image_note=False, addrable_bits=None),
    "arm64-cache-dyld": dict(arch="arm64", image_note=False, cache=True),
    "arm64-cache-note": dict(arch="arm64", cache=True),
}


def _build(tmp, name, **kw):
    kw = dict(kw)
    if kw.get("cache") is True:
        kw["cache"] = shared_fixture(CACHE)
    arch = kw.pop("arch")
    out = tmp / f"{name}.core"
    return out, build_core(out, arch, **kw)


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def opened(request, tmp_path_factory):
    path, m = _build(tmp_path_factory.mktemp("cores"), request.param, **VARIANTS[request.param])
    t = open_file(str(path), OpenOptions())
    yield t, m, request.param
    t.close()


def test_sniffed_as_core(opened):
    t, m, _ = opened
    assert sniff_file(m["path"]) == "core"


def test_target_header_facts(opened):
    t, m, name = opened
    assert (t.kind, t.os, t.arch) == ("core", "macos", m["arch"])
    assert t.page_size == m["page_size"]
    assert t.info["code_type"] == {"arm64": "ARM64", "x86_64": "X86-64"}[m["arch"]]
    assert t.name == "crasher"
    assert not t.partial, t.notes
    assert t.notes == []
    assert t.info["images_from"] == ("LC_NOTE" if name.endswith("note") else "dyld_all_image_infos")


def test_regions(opened):
    t, m, _ = opened
    got = [(r.start, r.end, r.prot, r.max_prot, r.resident) for r in t.regions]
    want = [(r["start"], r["end"], r["prot"], r["prot"], r["end"] - r["start"]) for r in m["regions"]]
    assert got == want
    assert all(r.kind == "core" and r.dirty is None and r.swapped is None for r in t.regions)


def test_threads(opened):
    t, m, _ = opened
    assert [(th.index, th.pc, th.sp) for th in t.threads] == \
        [(k, th["pc"], th["sp"]) for k, th in enumerate(m["threads"])]
    assert not any(th.crashed for th in t.threads)      # a core does not say
    assert t.info["threads"][1] == {"index": 1, "pc": m["threads"][1]["pc"], "sp": m["threads"][1]["sp"]}


def test_images(opened):
    t, m, _ = opened
    want = {i["path"]: i for i in m["images"]}
    for ci in m["cache_images"]:
        want[ci["path"]] = dict(ci, segments=None)
    got = {i.path: i for i in t.images}
    assert set(got) == set(want)
    assert t.images[0].path == "/Users/test/crasher" and t.images[0].filetype == "execute"
    for p, w in want.items():
        g = got[p]
        assert (g.load_address, g.uuid, g.slide) == (w["load_address"], w["uuid"], w["slide"]), p
        if w["segments"] is not None:
            assert [(s.name, s.address, s.prot) for s in g.segments] == \
                [(s["name"], s["start"], s["prot"]) for s in w["segments"]]
    assert got["/usr/lib/dyld"].filetype == "dylinker"
    for p in got:
        assert got[p].in_shared_cache == (p in {c["path"] for c in m["cache_images"]})


def test_shared_cache(opened):
    t, m, _ = opened
    if m["cache"] is None:
        assert t.shared_cache is None
        return
    sc = t.shared_cache
    assert (sc.uuid, sc.base, sc.slide) == (m["cache"]["uuid"], m["cache"]["base"], m["cache"]["slide"])
    assert sc.reader is not None
    cache_regions = [(r["start"], r["end"] - r["start"], r["prot"]) for r in m["regions"]
                     if r["what"].startswith("cache mapping")]
    assert [(c.address, c.size, c.init_prot) for c in sc.mappings] == cache_regions


def test_memory_reader(opened):
    t, m, _ = opened
    im = m["images"][1]
    assert t.memory.read(im["load_address"], 4) == b"\xcf\xfa\xed\xfe"
    assert t.memory.read(0x10, 4) == b""


def test_annotate_and_render(opened):
    from symmap.annotate import annotate
    from symmap.render.text import render_report
    t, m, _ = opened
    annotate(t)
    alpha = next(i for i in m["images"] if i["path"].endswith("libalpha.dylib"))
    text_row = next(r for r in t.regions if r.start == alpha["segments"][0]["start"])
    assert text_row.image == alpha["path"] and text_row.segment == "__TEXT"
    out = render_report(t)
    assert f"pc {m['threads'][0]['pc']:#x}" in out


# ---- pointer tags, cache file, fallbacks ---------------------------------

def test_tagged_pointers_are_masked(tmp_path):
    path, m = _build(tmp_path, "tagged", arch="arm64", image_note=False, tag_pointers=True)
    with open_file(str(path)) as t:
        assert [i.load_address for i in t.images] == [i["load_address"] for i in m["images"]]
        assert t.images[1].path == "/usr/lib/libalpha.dylib"


def test_cache_pages_absent_then_cache_file(tmp_path):
    path, m = _build(tmp_path, "nocache", arch="arm64", image_note=False, cache=True,
                     cache_in_core=False)
    with open_file(str(path)) as t:
        sc = t.shared_cache
        assert (sc.uuid, sc.base, sc.slide) == (m["cache"]["uuid"], m["cache"]["base"], m["cache"]["slide"])
        assert sc.reader is None
        assert any("--cache" in n for n in t.notes)
        cached = [i for i in t.images if i.in_shared_cache]
        assert sorted(i.path for i in cached) == sorted(c["path"] for c in m["cache_images"])
    with open_file(str(path), OpenOptions(cache=str(shared_fixture(CACHE)))) as t:
        assert t.shared_cache.reader is not None and t.shared_cache.path
        got = {i.path: i for i in t.images}
        for c in m["cache_images"]:
            g = got[c["path"]]
            assert g.in_shared_cache and g.uuid == c["uuid"] and g.segments
            assert g.segments[0].address == c["load_address"]


def test_cache_file_uuid_mismatch(tmp_path):
    path, _m = _build(tmp_path, "mismatch", arch="arm64", image_note=False, cache=True,
                      cache_in_core=False)
    with pytest.raises(BadTarget, match="does not match"):
        open_file(str(path), OpenOptions(cache=str(shared_fixture(OTHER_CACHE))))


def test_all_image_infos_found_by_symbol(tmp_path):
    """Without the __all_image_info section, dyld's symbol table (in core memory) finds it."""
    path, m = _build(tmp_path, "sym", arch="x86_64", image_note=False)
    data = bytearray(path.read_bytes())
    i = data.find(b"__all_image_info")
    while i >= 0:
        data[i:i + 16] = b"__not_image_info"
        i = data.find(b"__all_image_info", i + 16)
    path.write_bytes(bytes(data))
    with open_file(str(path)) as t:
        assert t.info["all_image_infos"] == m["all_image_infos"]
        assert len(t.images) == len(m["images"])


def test_no_dyld_and_no_note_is_partial(tmp_path):
    path, m = _build(tmp_path, "nodyld", arch="x86_64", image_note=False)
    data = bytearray(path.read_bytes())
    dy = next(i for i in m["images"] if i["path"] == "/usr/lib/dyld")
    core_off = _file_offset(data, dy["load_address"])
    data[core_off + 12] = 6                     # MH_DYLINKER -> MH_DYLIB: dyld is no longer found
    path.write_bytes(bytes(data))
    with open_file(str(path)) as t:
        assert t.partial and t.images == []
        assert any("no image list" in n for n in t.notes)
        assert len(t.regions) == len(m["regions"])


def _file_offset(data: bytes, addr: int) -> int:
    p = 32
    for _ in range(struct.unpack_from("<I", data, 16)[0]):
        cmd, size = struct.unpack_from("<II", data, p)
        if cmd == 0x19:
            vmaddr, vmsize, fileoff = struct.unpack_from("<3Q", data, p + 24)
            if vmaddr <= addr < vmaddr + vmsize:
                return fileoff + addr - vmaddr
        p += size
    raise AssertionError(hex(addr))


# ---- hostile files through the source -------------------------------------

def test_truncated_core_is_partial():
    head = shared_fixture("core/lldb-test-core.head8k")
    with open_file(str(head)) as t:
        assert t.partial and len(t.regions) == 58
        assert all(r.resident == 0 for r in t.regions)
        assert any("truncated core" in n for n in t.notes)
        assert t.threads and t.threads[0].pc is not None


def test_corrupt_core_is_clean_error(tmp_path):
    path, _m = _build(tmp_path, "bad", arch="x86_64")
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 32 + 4, 0)     # first command's cmdsize = 0
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptInput, match="^corrupt core: .*cmdsize 0"):
        open_file(str(path))
    empty = tmp_path / "empty.core"
    empty.write_bytes(b"\xcf\xfa\xed\xfe\x07\x00\x00\x01\x03\x00\x00\x00\x04\x00\x00\x00")
    with pytest.raises(CorruptInput):
        open_file(str(empty), kind="core")


def test_random_damage_never_tracebacks(tmp_path):
    import random
    path, _m = _build(tmp_path, "fuzz", arch="arm64", image_note=False)
    base = path.read_bytes()
    rng = random.Random(1234)
    for k in range(60):
        data = bytearray(base)
        for _ in range(rng.randint(1, 40)):
            off = rng.randrange(len(data)) if rng.random() < 0.3 else rng.randrange(0x1000)
            data[off] = rng.randrange(256)
        p = tmp_path / f"m{k}.core"
        p.write_bytes(bytes(data))
        try:
            with open_file(str(p), kind="core") as t:
                assert isinstance(t.regions, list)
        except SymmapError:
            pass


# ---- a real macOS core's load commands (lldb's test core, via yaml2obj) ---

def test_real_core_layout_from_yaml(tmp_path):
    y2o = shutil.which("yaml2obj") or shutil.which("yaml2obj-14")
    if not y2o:
        pytest.skip("yaml2obj not installed")
    yaml_path = shared_fixture("core/lldb-test-core.yaml")
    out = tmp_path / "test.core"
    try:
        subprocess.run([y2o, str(yaml_path), "-o", str(out)], check=True, timeout=300)
        want = _yaml_segments(yaml_path.read_text())
        assert len(want) == 58
        with open_file(str(out)) as t:
            got = [(r.start, r.end - r.start, prot_str(r.prot), prot_str(r.max_prot)) for r in t.regions]
            assert got == sorted(want)
            assert all(r.resident == r.size for r in t.regions)     # every byte is in the file
            # yaml2obj zero-fills segment contents: no dyld, so no image list (a partial map).
            assert t.partial and t.notes == ["core: no image list (no 'all image infos' note "
                                             "and no dyld in the core)"]
            assert t.arch == "x86_64" and t.threads[0].pc is not None
    finally:
        out.unlink(missing_ok=True)


def _yaml_segments(text: str) -> list[tuple[int, int, str, str]]:
    """Independent read of the yaml: every LC_SEGMENT_64 block's fields."""
    out = []
    for block in text.split("- cmd:")[1:]:
        if not block.strip().startswith("LC_SEGMENT_64"):
            continue
        f = dict(re.findall(r"^\s+(vmaddr|vmsize|maxprot|initprot):\s+(\S+)", block, re.M))
        out.append((int(f["vmaddr"], 0), int(f["vmsize"], 0), prot_str(int(f["initprot"], 0)),
                    prot_str(int(f["maxprot"], 0))))
    return out
