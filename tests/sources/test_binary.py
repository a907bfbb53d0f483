"""A Mach-O or ELF file as a TARGET: regions = segments at unslid (or moved)
addresses, fat slice choice, corrupt input -> CorruptInput (exit 2)."""
from __future__ import annotations

import subprocess

import pytest

from symmap.errors import BadTarget, CorruptInput
from symmap.sources import OpenOptions
from symmap.sources.binary import host_arch, open_file
from tests.conftest import OWN_FIXTURES, need_tool, shared_fixture

OWN = OWN_FIXTURES / "symbols"


def _objdump_segments(path, arch=None):
    """(name, vmaddr, vmsize, fileoff, maxprot, initprot) from llvm-objdump."""
    od = need_tool("llvm-objdump")
    cmd = [od, "--macho", "--private-headers", str(path)] + ([f"--arch={arch}"] if arch else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    segs, cur = [], None
    for line in out.splitlines():
        w = line.split()
        if w[:2] == ["cmd", "LC_SEGMENT_64"]:
            cur = {}
        elif cur is not None and len(w) == 2 and w[0] in ("segname", "vmaddr", "vmsize", "fileoff",
                                                          "maxprot", "initprot"):
            cur[w[0]] = w[1]
            if w[0] == "initprot":
                segs.append(cur)
                cur = None
    return segs


_PROT = {"r": 1, "w": 2, "x": 4}


def _prot(s):
    return sum(_PROT[c] for c in s if c in _PROT)


@pytest.mark.parametrize("name", ["symbols-x86_64", "libsymbols-arm64.dylib"])
def test_macho_regions_equal_llvm_objdump(name):
    path = OWN / name
    t = open_file(str(path), OpenOptions())
    assert t.kind == "binary" and t.os == "macos" and len(t.images) == 1
    assert t.images[0].file_path == str(path)
    want = [s for s in _objdump_segments(path) if s["segname"] != "__PAGEZERO"]
    assert [(r.start, r.end, r.prot, r.max_prot, r.offset) for r in t.regions] == [
        (int(s["vmaddr"], 16), int(s["vmaddr"], 16) + int(s["vmsize"], 16), _prot(s["initprot"]),
         _prot(s["maxprot"]), int(s["fileoff"])) for s in want]
    for r in t.regions:
        assert r.kind == "file" and r.path == str(path)
        assert r.resident is None and r.dirty is None and r.swapped is None


def test_slide_and_load_address_move_everything():
    path = str(OWN / "libsymbols-x86_64.dylib")
    base = open_file(path, OpenOptions())
    slid = open_file(path, OpenOptions(slide=0x10_0000))
    placed = open_file(path, OpenOptions(load_address=0x7FF8_0000_0000))
    assert [r.start + 0x10_0000 for r in base.regions] == [r.start for r in slid.regions]
    assert placed.images[0].load_address == 0x7FF8_0000_0000
    assert placed.images[0].slide == 0x7FF8_0000_0000 - base.images[0].load_address
    with pytest.raises(BadTarget):
        open_file(path, OpenOptions(slide=1, load_address=0x5000))


def test_fat_slice_choice_and_note():
    path = str(OWN / "symbols-fat")
    t = open_file(path, OpenOptions())
    host = host_arch()
    if host in ("x86_64", "arm64"):
        assert t.arch == host
        assert t.notes == [f"fat file: using {host} slice (host arch); slices: x86_64, arm64"]
    else:
        assert t.arch == "x86_64" and "first slice" in t.notes[0]
    t = open_file(path, OpenOptions(arch="arm64"))
    assert t.arch == "arm64" and t.images[0].arch == "arm64"
    assert "using arm64 slice (--arch)" in t.notes[0]
    assert _objdump_segments(path, "arm64")[1]["vmaddr"] == f"{t.regions[0].start:#018x}"
    with pytest.raises(BadTarget, match="slices: x86_64, arm64"):
        open_file(path, OpenOptions(arch="i386"))


def test_shared_fat_fixture():
    path = str(shared_fixture("macho/angr-fauxware-fat"))
    t = open_file(path, OpenOptions(arch="arm64"))
    assert t.arch == "arm64" and t.images[0].uuid


def test_elf_regions_equal_program_headers():
    path = OWN / "symbols-elf"
    t = open_file(str(path), OpenOptions())
    assert t.os == "linux" and t.kind == "binary" and t.images[0].uuid   # build-id
    re_ = need_tool("llvm-readelf", "readelf")
    out = subprocess.run([re_, "-lW", str(path)], capture_output=True, text=True, check=True).stdout
    loads = [line.split() for line in out.splitlines() if line.strip().startswith("LOAD")]
    lo = min(int(w[2], 16) for w in loads)
    hi = max(int(w[2], 16) + int(w[5], 16) for w in loads)
    assert t.regions[0].start == lo and max(r.end for r in t.regions) == hi
    t2 = open_file(str(path), OpenOptions(load_address=0x5555_5555_4000))
    assert t2.regions[0].start == 0x5555_5555_4000 and t2.images[0].slide == 0x5555_5555_4000 - lo


def test_memory_reads_file_bytes_behind_segments():
    path = OWN / "libsymbols-x86_64.dylib"
    t = open_file(str(path), OpenOptions(slide=0x1000))
    data = path.read_bytes()
    assert t.memory.read(0x1000, 32) == data[:32]
    assert t.memory.read(0, 8) == b""                # not mapped


def _corrupt_variants(data: bytes):
    yield "truncated-8", data[:8]
    yield "truncated-100", data[:100]
    yield "truncated-half", data[: len(data) // 2]
    bad = bytearray(data)
    if data[:4] == b"\x7fELF":
        bad[32:40] = (0xFFFFFF).to_bytes(8, "little")  # e_phoff past the end
    elif data[:4] == b"\xca\xfe\xba\xbe":
        bad[16:20] = (0xFFFFFF).to_bytes(4, "big")     # first slice's offset past the end
    else:
        bad[20:24] = (0xFFFFFF).to_bytes(4, "little")  # sizeofcmds past the end
    yield "header-field", bytes(bad)


@pytest.mark.parametrize("name", ["symbols-x86_64", "libsymbols-arm64.dylib", "symbols-fat", "symbols-elf"])
def test_corrupt_files_raise_corrupt_input(tmp_path, name):
    data = (OWN / name).read_bytes()
    for label, blob in _corrupt_variants(data):
        p = tmp_path / f"{name}-{label}"
        p.write_bytes(blob)
        with pytest.raises(CorruptInput):
            open_file(str(p), OpenOptions())
