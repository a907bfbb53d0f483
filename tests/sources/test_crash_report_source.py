"""Crash report source: Target regions, images, threads; --cache; --symbolicate."""
from __future__ import annotations

import json
import subprocess

import pytest

from symmap.errors import BadTarget, CorruptInput
from symmap.formats.crash import read_crash_report
from symmap.formats.macho.load_commands import parse_macho
from symmap.model import PROT_EXEC, PROT_READ
from symmap.sources import OpenOptions, open_target
from symmap.sources.crash_report import find_binaries_by_uuid, open_file
from tests.conftest import need_tool, shared_fixture

CRASH = ["crash/pycrashreport-monterey-x86_64.ips", "crash/ips2crashlog-macos15-arm64.ips",
         "crash/ips2crashlog-macos15-arm64.translated.crash", "crash/boost-thread-macos11-x86_64.crash",
         "crash/sentry-bruno-macos10.14.crash", "crash/symbolicator-apple-crash-report.crash"]
CACHE = "dyld-cache/dyld_shared_cache_arm64-macOS"     # SOURCES.md known values


def _check_regions(t):
    prev = None
    for r in t.regions:
        assert r.start < r.end and 0 <= r.prot <= 7
        assert r.resident is None and r.dirty is None and r.swapped is None
        if prev is not None:
            assert r.start >= prev.end, (hex(prev.start), hex(r.start))
        prev = r


@pytest.mark.parametrize("rel", CRASH)
def test_every_report_becomes_a_crash_target(rel):
    path = str(shared_fixture(rel))
    rep = read_crash_report(path)
    t = open_target(path, OpenOptions())
    assert t.kind == "crash" and t.os == "macos"
    assert (t.name, t.pid, t.path, t.arch) == (rep.process, rep.pid, rep.path, rep.arch)
    _check_regions(t)
    # The report's images, plus those named only on frame lines (issue 11:
    # such an image still owns its frames' addresses; a note says so).
    listed = {(im.base, im.uuid) for im in rep.images}
    extra = {(im.load_address, im.uuid) for im in t.images} - listed
    assert listed <= {(im.load_address, im.uuid) for im in t.images}
    assert len(extra) == sum("not in Binary Images" in n for n in t.notes)
    # Every image's __TEXT start lies in some region (its own, or a VM row over it).
    for im in t.images:
        if im.size:
            assert any(r.contains(im.load_address) for r in t.regions), im.path
    crashed = [th for th in t.threads if th.crashed]
    assert len(crashed) == 1 and crashed[0].index == t.info["crashed_thread"]
    if rep.path and any(im.path == rep.path for im in rep.images):
        assert t.images[0].path == rep.path      # the executable first


def test_monterey_target():
    t = open_file(str(shared_fixture("crash/pycrashreport-monterey-x86_64.ips")), OpenOptions())
    info = t.info
    assert info["report_format"] == "ips" and info["parent"] == "zsh" and info["parent_pid"] == 10192
    assert info["exception"]["type"] == "EXC_BAD_ACCESS" and info["fault_address"] == 0
    # "0 is not in any region": below the first row, /bin/sleep's __TEXT.
    assert info["fault_region"] is None
    assert info["fault_gap"] == {"after": None, "before": 0x105857000}
    assert t.page_size == 4096 and t.os_version == "macOS 12.1 (21C52)"
    sleep = next(r for r in t.regions if r.start == 0x105857000)
    assert (sleep.end, sleep.prot, sleep.max_prot, sleep.share_mode, sleep.type, sleep.detail) == (
        0x10585B000, 5, 5, "COW", "__TEXT", "/bin/sleep")
    sc = t.shared_cache
    assert (sc.base, sc.uuid, sc.slide) == (0x7FF80C477000, "40432a0388d3305f9c0ce7549e71d927", None)
    cache_regions = [r for r in t.regions if r.kind == "cache"]
    libc = next(im for im in t.images if im.path.endswith("libsystem_c.dylib"))
    # issue 11: the slide follows from the report's cache base and the x86_64 unslid base.
    assert libc.in_shared_cache and libc.slide == 0x7FF80C477000 - 0x7FF800000000
    text = next(r for r in t.regions if r.start == libc.load_address)
    assert text.prot == PROT_READ | PROT_EXEC and text.max_prot is None and text.image == libc.path
    # The cache range is covered exactly: its gaps plus the images inside it.
    covered = sum(r.size for r in t.regions if sc.base <= r.start < sc.base + sc.size)
    assert covered == sc.size and len(cache_regions) == 2
    assert all(r.prot == PROT_READ and r.max_prot is None for r in cache_regions)
    th = t.threads[0]
    assert th.crashed and th.pc == 0 and th.name == "Dispatch queue: com.apple.main-thread"
    f = th.frames[1]
    assert (f.image, f.symbol, f.offset, f.image_offset) == (libc.path, "nanosleep", 196, 67753)
    assert th.frames[0].image is None and th.frames[0].address == 0
    assert t.info["registers"]["rip"] == 0


def test_boost_fault_between_rows():
    t = open_file(str(shared_fixture("crash/boost-thread-macos11-x86_64.crash")), OpenOptions())
    assert t.info["fault_address"] == 0x2AF7713088DC
    assert t.info["fault_gap"] == {"after": 0x10F178000, "before": 0x7000061F1000}
    guard = next(r for r in t.regions if r.start == 0x7000061F1000)
    assert (guard.type, guard.kind, guard.prot, guard.max_prot) == ("STACK GUARD", "guard", 0, 7)
    dyld = next(im for im in t.images if im.path == "/usr/lib/dyld")
    assert any(r.start == dyld.load_address and r.end == 0x10F0FC000 for r in t.regions)


def _write_ips(tmp_path, body, name="r.ips"):
    p = tmp_path / name
    p.write_text(json.dumps({"bug_type": "309", "name": body.get("procName", "t")}) + "\n" + json.dumps(body))
    return str(p)


def test_fault_row_marks_region(tmp_path):
    vmi = ("0x108ce0010 is in 0x108ce0000-0x108e3c000;  bytes after start: 16  bytes before end: 1425391\n"
           "      REGION TYPE                    START - END         [ VSIZE] PRT/MAX SHRMOD  REGION DETAIL\n"
           "      __TEXT                      108bf8000-108ce0000    [  928K] r-x/r-x SM=COW  /bin/t\n"
           "--->  __DATA                      108ce0000-108e3c000    [ 1392K] rw-/rw- SM=COW  /bin/t\n"
           "      GAP OF 0x1000 BYTES\n")
    body = {"procName": "t", "pid": 9, "procPath": "/bin/t", "cpuType": "ARM-64", "vmRegionInfo": vmi,
            "usedImages": [{"source": "P", "base": 0x108BF8000, "size": 0xE8000, "path": "/bin/t",
                            "uuid": "11111111-2222-3333-4444-555555555555", "arch": "arm64"}],
            "exception": {"type": "EXC_BAD_ACCESS", "subtype": "KERN_PROTECTION_FAILURE at 0x0000000108ce0010"},
            "threads": [{"triggered": True, "frames": [{"imageIndex": 0, "imageOffset": 0x10}]}]}
    t = open_file(_write_ips(tmp_path, body), OpenOptions())
    assert t.info["fault_address"] == 0x108CE0010
    assert t.info["fault_region"] == {"start": 0x108CE0000, "end": 0x108E3C000, "type": "__DATA",
                                      "detail": "/bin/t"}
    assert t.page_size == 16384
    # The VM row already covers the image's __TEXT: no duplicate region.
    assert [r.start for r in t.regions] == [0x108BF8000, 0x108CE0000]


def test_header_only_ips_is_a_partial_target(tmp_path):
    head = shared_fixture("crash/pycrashreport-monterey-x86_64.ips").read_text().split("\n", 1)[0]
    p = tmp_path / "h.ips"
    p.write_text(head + "\n")
    t = open_target(str(p), OpenOptions())
    assert t.partial and any("header only" in n for n in t.notes)
    assert t.regions == [] and t.name == "sleep"


def test_truncated_ips_is_corrupt(tmp_path):
    data = shared_fixture("crash/pycrashreport-monterey-x86_64.ips").read_bytes()
    p = tmp_path / "t.ips"
    p.write_bytes(data[:3000])
    with pytest.raises(CorruptInput):
        open_target(str(p), OpenOptions())


def test_ips_and_translated_give_the_same_images():
    a = open_file(str(shared_fixture("crash/ips2crashlog-macos15-arm64.ips")), OpenOptions())
    b = open_file(str(shared_fixture("crash/ips2crashlog-macos15-arm64.translated.crash")), OpenOptions())
    key = lambda t: sorted((im.load_address, im.uuid, im.path, im.size) for im in t.images)  # noqa: E731
    assert key(a) == key(b) and len(a.images) == 35
    assert [im.path for im in a.images][0] == a.path
    fa = [(f.address, f.image, f.symbol) for th in a.threads for f in th.frames]
    fb = [(f.address, f.image, f.symbol) for th in b.threads for f in th.frames]
    assert fa == fb
    # 15 images inside the cache range (reference/vmmap-format.md).
    assert sum(im.in_shared_cache for im in a.images) == 15


# --- --cache ------------------------------------------------------------------

SLIDE = 0x8000000


def _cache_report(tmp_path, uuid="857bce1a-017e-3464-9909-d58ee21cf8dc"):
    body = {"procName": "t", "pid": 5, "procPath": "/bin/t", "cpuType": "ARM-64",
            "usedImages": [{"source": "P", "arch": "arm64", "base": 0x180001000 + SLIDE, "size": 0x4000,
                            "uuid": "ccbf29d4-5569-3a15-9231-4e14d41a542a",
                            "path": "/usr/lib/liba-1.0.dylib", "name": "liba-1.0.dylib"}],
            "sharedCache": {"base": 0x180000000 + SLIDE, "size": 0x4030000, "uuid": uuid},
            "threads": [{"triggered": True, "frames": [
                {"imageIndex": 0, "imageOffset": 0x180004F60 - 0x180001000 + 8}]}]}
    return _write_ips(tmp_path, body)


def test_cache_file_names_cache_libraries(tmp_path):
    cache = str(shared_fixture(CACHE))
    t = open_file(_cache_report(tmp_path), OpenOptions(cache=cache))
    sc = t.shared_cache
    assert sc.slide == SLIDE and sc.path == cache and sc.reader is not None
    # Mappings from SOURCES.md, slid.
    assert [(m.address, m.size, m.init_prot) for m in sc.mappings] == [
        (0x180000000 + SLIDE, 0x18000, 5), (0x182018000 + SLIDE, 0x4000, 3), (0x18401C000 + SLIDE, 0x14000, 1)]
    assert [(r.start, r.end, r.prot, r.kind) for r in t.regions] == [
        (m.address, m.address + m.size, m.init_prot, "cache") for m in sc.mappings]
    imgs = {im.path: im for im in t.images}
    assert imgs["/usr/lib/liba-1.0.dylib"].load_address == 0x180001000 + SLIDE
    assert imgs["/usr/lib/libb-1.0.dylib"].load_address == 0x180005000 + SLIDE   # not in the report
    assert imgs["/usr/lib/libb-1.0.dylib"].uuid == "60d2f3d644a2391087503a56a3d8ff07"
    assert all(im.in_shared_cache and im.slide == SLIDE for im in t.images)
    t.close()


def test_cache_frames_symbolicated(tmp_path):
    t = open_file(_cache_report(tmp_path), OpenOptions(cache=str(shared_fixture(CACHE)), symbolicate=True))
    f = t.threads[0].frames[0]
    if f.symbol is None:
        pytest.skip("the symbolizer does not read cache symbols yet")
    assert (f.symbol, f.offset) == ("func_in_liba", 8)        # _func_in_liba at 0x180004f60
    t.close()


def test_cache_uuid_mismatch_is_refused(tmp_path):
    p = _cache_report(tmp_path, uuid="00112233-4455-6677-8899-aabbccddeeff")
    with pytest.raises(BadTarget, match="does not match"):
        open_file(p, OpenOptions(cache=str(shared_fixture(CACHE))))


def test_cache_without_report_cache_or_file(tmp_path):
    body = {"procName": "t", "pid": 1, "usedImages": [], "threads": []}
    with pytest.raises(BadTarget, match="names no shared cache"):
        open_file(_write_ips(tmp_path, body), OpenOptions(cache=str(shared_fixture(CACHE))))
    with pytest.raises(BadTarget, match="no such file"):
        open_file(_cache_report(tmp_path), OpenOptions(cache=str(tmp_path / "nope")))


# --- --symbolicate ----------------------------------------------------------------

SRC = "int helper(int x) { return x * 3 + 1; }\nint crash_here(int *p) { return *p + helper(%d); }\n"


def _build_dylib(d, n):
    clang = need_tool("clang-14", "clang")
    ld = need_tool("ld64.lld-14")
    d.mkdir(parents=True, exist_ok=True)
    (d / "foo.c").write_text(SRC % n)
    subprocess.run([clang, "-target", "x86_64-apple-macos10.15", "-c", "-O1", "-fPIC", "-ffreestanding",
                    str(d / "foo.c"), "-o", str(d / "foo.o")], check=True)
    out = d / "libcrashfix.dylib"
    subprocess.run([ld, "-arch", "x86_64", "-platform_version", "macos", "10.15", "10.15", "-dylib",
                    "-install_name", "/usr/lib/libcrashfix.dylib", str(d / "foo.o"), "-o", str(out)],
                   check=True)
    return out


def test_symbolicate_finds_binary_by_uuid(tmp_path):
    nm = need_tool("llvm-nm-14", "llvm-nm")
    decoy = _build_dylib(tmp_path / "bins" / "old", 2)
    lib = _build_dylib(tmp_path / "bins" / "deep" / "er", 7)
    m = parse_macho(lib.read_bytes(), 0, str(lib))
    assert m.uuid != parse_macho(decoy.read_bytes(), 0).uuid
    # Function addresses from llvm-nm (the oracle), unslid.
    syms = {}
    for line in subprocess.run([nm, "-n", str(lib)], capture_output=True, text=True, check=True).stdout.splitlines():
        addr, kind, name = line.split()
        syms[name] = int(addr, 16)
    text = m.segment("__TEXT")
    base = 0x10A000000
    u = m.uuid
    body = {"procName": "t", "pid": 3, "procPath": "/bin/t", "cpuType": "X86-64",
            "usedImages": [{"source": "P", "arch": "x86_64", "base": base, "size": text.vmsize,
                            "uuid": f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}",
                            "path": "/usr/lib/libcrashfix.dylib", "name": "libcrashfix.dylib"}],
            "threads": [{"triggered": True, "frames": [
                {"imageIndex": 0, "imageOffset": syms["_crash_here"] - text.vmaddr + 3},
                {"imageIndex": 0, "imageOffset": syms["_helper"] - text.vmaddr},
                {"imageIndex": 0, "imageOffset": syms["_helper"] - text.vmaddr + 1, "symbol": "kept",
                 "symbolLocation": 1}]}]}
    p = _write_ips(tmp_path, body)
    plain = open_file(p, OpenOptions())
    assert plain.threads[0].frames[0].symbol is None
    t = open_file(p, OpenOptions(symbolicate=True, search_paths=[str(tmp_path / "bins")]))
    im = t.images[0]
    assert im.file_path == str(lib) and im.slide == base - text.vmaddr
    assert any(s.name == "__LINKEDIT" for s in im.segments)
    fr = t.threads[0].frames
    assert (fr[0].symbol, fr[0].offset) == ("crash_here", 3)
    assert (fr[1].symbol, fr[1].offset) == ("helper", 0)
    assert (fr[2].symbol, fr[2].offset) == ("kept", 1)      # the report's own symbol stays
    assert t.info["symbolicated_frames"] == 2


def test_find_binaries_by_uuid_bounded(tmp_path):
    lib = _build_dylib(tmp_path / "a", 1)
    u = parse_macho(lib.read_bytes(), 0).uuid
    (tmp_path / "junk.bin").write_bytes(b"\xcf\xfa\xed\xfe" + b"\xff" * 60)     # truncated Mach-O
    (tmp_path / "empty").write_bytes(b"")
    found = find_binaries_by_uuid([u, "0" * 31 + "1"], [str(tmp_path)])
    assert list(found) == [u] and found[u][0] == str(lib)
    assert find_binaries_by_uuid([u], [str(tmp_path / "missing")]) == {}


# --- synthetic variants (fixtures/crash/README.md) ---------------------------

from pathlib import Path  # noqa: E402

OWN = Path(__file__).resolve().parents[2] / "fixtures" / "crash"
OWN_REPORTS = ["ios14-bug109.ips", "macos10.8-packed.crash", "macos11-rosetta.crash",
               "macos13-rosetta.ips", "first-layout.ips"]


@pytest.mark.parametrize("name", OWN_REPORTS)
def test_synthetic_variants_become_crash_targets(name):
    path = str(OWN / name)
    rep = read_crash_report(path)
    t = open_target(path, OpenOptions())
    assert t.kind == "crash" and (t.name, t.pid, t.arch) == (rep.process, rep.pid, rep.arch)
    _check_regions(t)
    # The report's images, plus those named only on frame lines (issue 11:
    # such an image still owns its frames' addresses; a note says so).
    listed = {(im.base, im.uuid) for im in rep.images}
    extra = {(im.load_address, im.uuid) for im in t.images} - listed
    assert listed <= {(im.load_address, im.uuid) for im in t.images}
    assert len(extra) == sum("not in Binary Images" in n for n in t.notes)
    assert [th.crashed for th in t.threads].count(True) == 1
    assert t.info["translated"] == rep.translated and t.info["app_specific"] == rep.app_specific


def test_rosetta_ips_target():
    t = open_file(str(OWN / "macos13-rosetta.ips"), OpenOptions())
    # The translated process is x86_64 (4 KiB pages) though it ran on arm64.
    assert t.arch == "x86_64" and t.page_size == 4096
    assert t.info["translated"] is True and t.info["role"] == "Foreground" and t.info["is_corpse"] is True
    assert t.info["registers"]["rip"] == 4294983512 and t.info["registers"]["tmp0"] == 10741713207296
    # "0x10 is not in any region", below the executable's __TEXT.
    assert t.info["fault_address"] == 0x10 and t.info["fault_gap"] == {"after": None, "before": 0x100000000}
    runtime = next(im for im in t.images if im.path == "/usr/libexec/rosetta/runtime")
    assert runtime.arch == "arm64" and runtime.load_address == 140703128018944
    assert t.images[0].path.endswith("/MacOS/Mandelbrot")       # the executable first


def test_bug109_ips_target_uses_the_text_body():
    t = open_file(str(OWN / "ios14-bug109.ips"), OpenOptions())
    assert t.info["report_format"] == "text" and t.info["bug_type"] == "109"
    assert t.arch == "arm64" and t.page_size == 16384 and t.info["translated"] is False
    assert t.threads[0].name == "Dispatch queue: com.apple.main-thread" and t.threads[0].crashed
