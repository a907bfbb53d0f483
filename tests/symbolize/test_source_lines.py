"""LineTable's own reading of SymCache v9 tables against symbolic's lookup
(the C structs, one crossing per address): the same frames for every range
start, the byte before it, random addresses and addresses outside u32;
a table that disagrees with symbolic hands every lookup back to symbolic."""
from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from symmap.formats.symcache import parse_tables as _layout
from symmap.symbolize.source_lines import LineTable

pytest.importorskip("symbolic")


@pytest.fixture(scope="module")
def built(dwarf_programs: Path) -> Path:
    return dwarf_programs


def _symcache(path: Path) -> tuple[object, bytes]:
    from symbolic.debuginfo import Archive
    from symmap.symbolize.symcache_store import _bytes_of
    obj = next(iter(Archive.open(str(path)).iter_objects()))
    sc = obj.make_symcache()
    return sc, _bytes_of(sc)


def _probes(raw: bytes) -> list[int]:
    lay = _layout(raw)
    assert lay is not None
    starts = lay.ranges.tolist()
    rnd = random.Random(3)
    lo, hi = starts[0], starts[-1]
    return (starts + [a - 1 for a in starts] + [rnd.randrange(lo, hi + 64) for _ in range(2000)]
            + [0, lo - 1, hi, hi + 1, (1 << 32) - 1, 1 << 32, (1 << 64) - 1])


def _name(s: str) -> str:
    return f"<{s}>"                       # a display function the test can see


@pytest.mark.parametrize("name", ["prog-gcc", "prog-clang", "libtext.so"])
def test_tables_answer_as_symbolic_does(built, name):
    path = built / name
    if not path.exists():
        pytest.skip(f"{name} not built (no clang++)")
    sc, raw = _symcache(path)
    fast, slow = LineTable(sc, _name, raw), LineTable(sc, _name)
    assert fast._fast is not None and slow._fast is None
    probes = _probes(raw)
    want = [slow.frames(a) for a in probes]
    assert sum(1 for w in want if len(w) > 1) > 50          # inline chains are exercised
    assert [fast.frames(a) for a in probes] == want
    assert fast._fast is not None                          # no disagreement was found
    # The batch form, on a fresh table (memo cold), in a shuffled order.
    order = probes[:]
    random.Random(1).shuffle(order)
    assert LineTable(sc, _name, raw).frames_many(order) == [slow.frames(a) for a in order]


def test_disagreeing_tables_fall_back_to_symbolic(built):
    sc, raw = _symcache(built / "prog-gcc")
    lay = _layout(raw)
    assert lay is not None
    # Every line number one higher in our copy of the tables only.
    bad = bytearray(raw)
    base = raw.index(lay.locations.tobytes())
    for k in range(len(lay.locations) // 4):
        off = base + 16 * k + 4
        (line,) = struct.unpack_from("<I", bad, off)
        struct.pack_into("<I", bad, off, (line + 1) & 0xFFFFFFFF)
    slow = LineTable(sc, _name)
    lt = LineTable(sc, _name, bytes(bad))
    probes = _probes(raw)[:500]
    assert [lt.frames(a) for a in probes] == [slow.frames(a) for a in probes]
    assert lt._fast is None


def test_layout_refuses_other_bytes(built):
    _sc, raw = _symcache(built / "prog-gcc")
    assert _layout(raw) is not None
    assert _layout(raw[:-1]) is None                          # strings cut short
    assert _layout(raw[:4] + struct.pack("<I", 8) + raw[8:]) is None     # another version
    assert _layout(b"CMYS" + raw[4:]) is None
    assert _layout(raw[:40]) is None
    assert _layout(None) is None
