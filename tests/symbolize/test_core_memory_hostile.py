"""Symbols read from a core's memory when the core is hostile: truncated
(no byte changed) or with an image's __LINKEDIT filesize lying.  Issue 12:
each of these raised ValueError / TypeError / OverflowError from the nlist
reader before the memory buffer and the reader were bounded by the data."""
from __future__ import annotations

import importlib.util
import struct

import pytest

import symmap
from symmap.errors import SymmapError
from symmap.formats.macho.symbols import nlist_columns
from symmap.symbolize.memory_buffer import MemoryBuffer
from tests.conftest import OWN_FIXTURES

_spec = importlib.util.spec_from_file_location("build_core", OWN_FIXTURES / "core" / "build_core.py")
assert _spec is not None and _spec.loader is not None
_bc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bc)


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile-core") / "arm64.core"
    manifest = _bc.build_core(out, "arm64")
    return out.read_bytes(), manifest


def _open_and_look_up(path, manifest):
    """Everything `map` and `lookup` ask of the core's memory: frames named,
    each image's load address symbolized."""
    try:
        with symmap.open(str(path)) as t:
            t.to_text()
            for im in manifest["images"]:
                t.lookup(im["load_address"] + 0x400)
    except SymmapError:
        pass                      # symmap's own one-line error is allowed


def test_truncated_core_never_raises(core, tmp_path):
    data, manifest = core
    # Cut points inside the images' __LINKEDIT data (page cuts and odd cuts:
    # the first gave max() of an empty list, the second a memoryview cast
    # of a length that is no multiple of the nlist size).
    for cut in (77824, 77900, 80003, 94208, 130011, 167936):
        p = tmp_path / f"cut{cut}.core"
        p.write_bytes(data[:cut])
        _open_and_look_up(p, manifest)


def _linkedit_cmds_in_memory(data: bytes) -> list[int]:
    """Offsets of the images' own LC_SEGMENT_64 __LINKEDIT (in core memory,
    past the core's load commands)."""
    sizeofcmds, = struct.unpack_from("<I", data, 20)
    out, i = [], 32 + sizeofcmds
    while (i := data.find(b"__LINKEDIT\0", i + 1)) >= 0:
        out.append(i - 8)
    return out


@pytest.mark.parametrize("filesize", [(1 << 64) - 1, 1 << 63, 0x7FFF_FFFF_0000])
def test_lying_linkedit_filesize_is_bounded_by_the_core(core, tmp_path, filesize):
    data, manifest = core
    buf = bytearray(data)
    cmds = _linkedit_cmds_in_memory(data)
    assert cmds
    for c in cmds:
        struct.pack_into("<Q", buf, c + 48, filesize)    # segment_command_64.filesize
    p = tmp_path / "lying.core"
    p.write_bytes(bytes(buf))
    with symmap.open(str(p)) as t:
        t.to_text()
        exe = next(im for im in manifest["images"] if im["path"].endswith("crasher"))
        hit = t.lookup(exe["load_address"] + 0x400)
        assert hit.mapped


def test_memory_buffer_length_is_what_the_core_holds(core, tmp_path):
    data, _ = core
    p = tmp_path / "whole.core"
    p.write_bytes(data)
    with symmap.open(str(p)) as t:
        mem = t.target.memory
        assert mem is not None
        segs = mem._segs                                  # noqa: SLF001 (the core's map)
        seg = max(segs, key=lambda s: s.present)
        buf = MemoryBuffer(mem, seg.vmaddr, (1 << 64) - 1)
        assert seg.present <= len(buf) <= sum(s.present for s in segs)
        assert len(buf[:]) == len(buf)


class _ShortSlices:
    """A lazy buffer whose len() promises more than its slices give."""

    def __init__(self, data: bytes, claimed: int) -> None:
        self.data, self.claimed = data, claimed

    def __len__(self) -> int:
        return self.claimed

    def __getitem__(self, key):
        return self.data[key]


def test_nlist_reader_takes_only_whole_entries_that_came_back():
    strtab = b"\0_a\0_b\0"
    entry = struct.Struct("<IBBHQ")
    syms = entry.pack(1, 0x0F, 1, 0, 0x1000) + entry.pack(4, 0x0F, 1, 0, 0x2000)
    # symbols at 0, strings after; memory ends 5 bytes into the second entry
    data = syms[:entry.size + 5]
    for claimed in (len(syms) + len(strtab), 1 << 20):
        cols = nlist_columns(_ShortSlices(data, claimed), 0, 2, len(syms), len(strtab))
        assert len(cols.ext_values) <= 1
    cols = nlist_columns(_ShortSlices(b"", 1 << 20), 0, 2, len(syms), len(strtab))
    assert cols.ext_values == []
