"""The model's plain slotted classes keep a dataclass's semantics (model.Record)."""
from __future__ import annotations

import pytest

from symmap.model import Image, Region, Segment, Target
from symmap.sources import OpenOptions


def test_equality_and_repr_cover_compared_fields_only():
    a = Region(0x1000, 0x2000, 5, path="/lib/x.so", pages=[1, 2], vsize=7, shift=1, object_id=9)
    b = Region(0x1000, 0x2000, 5, path="/lib/x.so")
    assert a == b and not a != b           # pages, vsize, shift, object_id: compare=False
    assert a != Region(0x1000, 0x3000, 5, path="/lib/x.so")
    assert a != (0x1000, 0x2000)           # another class: NotImplemented, so unequal
    assert repr(a) == ("Region(start=4096, end=8192, prot=5, max_prot=None, share_mode=None, tag=None, "
                       "kind=None, resident=None, dirty=None, swapped=None, path='/lib/x.so', offset=None, "
                       "purgeable=None, depth=None, type=None, detail=None, image=None, segment=None)")
    with pytest.raises(TypeError):
        hash(a)                            # mutable and compared by value


def test_replace_copies_every_field_and_rejects_unknown_names():
    r = Region(1, 2, 3, pages=[1], object_id=4, shift=2)
    c = r.replace(end=5)
    assert (c.start, c.end, c.pages, c.object_id, c.shift) == (1, 5, [1], 4, 2)
    assert r.end == 2 and c is not r
    with pytest.raises(TypeError):
        r.replace(ends=5)


def test_list_defaults_are_fresh_per_instance():
    a, b = Target("live"), Target("live")
    a.regions.append(Region(1, 2, 0))
    a.notes.append("x")
    assert b.regions == [] and b.notes == [] and b.info == {} and b.closers == []
    assert Image("/a", 0).segments is not Image("/b", 0).segments
    assert Segment("text", 0, 1, 5, 5).sections == []
    assert OpenOptions().search_paths is not OpenOptions().search_paths


def test_slots_refuse_unknown_attributes():
    with pytest.raises(AttributeError):
        Region(1, 2, 0).colour = "red"     # type: ignore[attr-defined]
