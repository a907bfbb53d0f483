"""Hostile but valid JSON snapshots: refused as CorruptInput before any model
object is built from an implausible count, and without surprises from
duplicate keys."""
from __future__ import annotations

import json

import pytest

from symmap.errors import CorruptInput
from symmap.model import Image, Region, Segment, Target, Thread
from symmap.render.json import dumps
from symmap.sources.snapshot import load


def _doc() -> dict:
    t = Target(kind="live", name="x", pid=1, os="linux", arch="x86_64", page_size=4096,
               regions=[Region(0x1000, 0x2000, 5, None, kind="file", path="/bin/x", offset=0,
                               image="/bin/x", segment="text", type="text")],
               images=[Image("/bin/x", 0x1000, None, 0, [Segment("text", 0x1000, 0x1000, 5, 5)],
                             False, "elf-dyn", "x86_64")],
               threads=[Thread(0, None, None, None, False, [])], annotated=True)
    return json.loads(dumps(t))


def test_image_with_too_many_segments_is_refused():
    # 10^6 segments used to load (14 s, 1 GB) and exit 0; now refused before
    # any Segment is built (json.loads of the text is the remaining cost).
    d = _doc()
    seg = d["images"][0]["segments"][0]
    d["images"][0]["segments"] = [seg] * 100_000
    # (refused before json.loads now, by the count of its JSON values)
    with pytest.raises(CorruptInput, match=r"segments: 100000 entries|JSON values"):
        load(json.dumps(d))


def test_huge_section_and_frame_lists_are_refused():
    d = _doc()
    d["images"][0]["segments"][0]["sections"] = [
        {"name": "s", "segment": "text", "address": 1, "size": 0, "file_offset": None}] * 70_000
    with pytest.raises(CorruptInput, match="sections"):
        load(json.dumps(d))
    d = _doc()
    d["threads"][0]["frames"] = [{"address": 1, "image": None, "symbol": None, "offset": None,
                                  "image_offset": None}] * 70_000
    with pytest.raises(CorruptInput, match="frames"):
        load(json.dumps(d))
