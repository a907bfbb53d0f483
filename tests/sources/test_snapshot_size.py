"""Snapshot cost is bounded before parsing (issue 12: a 300 MB snapshot
peaked at 858 MB before it was refused; ``[{},{},...]`` costs 30x its size
once parsed)."""
from __future__ import annotations

import json
import tracemalloc

import pytest

from symmap.errors import CorruptInput
from symmap.sources import snapshot

_HEAD = '{"schema": 1, "generator": "symmap 0.1.0", '


def _peak(fn):
    tracemalloc.start()
    try:
        with pytest.raises(CorruptInput) as e:
            fn()
        return tracemalloc.get_traced_memory()[1], str(e.value)
    finally:
        tracemalloc.stop()


def test_file_over_the_cap_is_refused_unread(tmp_path):
    p = tmp_path / "big.json"
    with open(p, "wb") as f:                 # sparse: 300 MB that cost no disk
        f.write(_HEAD.encode())
        f.truncate(300 << 20)
    peak, msg = _peak(lambda: snapshot.open_file(str(p)))
    assert "MiB" in msg
    assert peak < 1 << 20


def test_many_values_are_refused_before_parsing():
    text = _HEAD + '"notes": [' + ",".join(["{}"] * (snapshot.MAX_SNAPSHOT_VALUES + 1)) + "]}"
    assert len(text) < snapshot.MAX_SNAPSHOT_BYTES
    peak, msg = _peak(lambda: snapshot.load(text))
    assert "JSON values" in msg
    assert peak < 1 << 20                    # json.loads would hold ~200 MB of dicts


def test_regions_are_read_one_at_a_time():
    """Under the value cap, a regions array of empty objects is refused at its
    first element, not after all of them became dicts."""
    text = _HEAD + '"regions": [' + ",".join(["{}"] * 1_200_000) + "]}"
    peak, msg = _peak(lambda: snapshot.load(text))
    assert "$.regions[0]" in msg
    assert peak < 1 << 20


def _doc(n: int) -> dict:
    region = {"start": 0, "end": 0x4000, "prot": "r--", "max_prot": "rwx", "type": "relro",
              "detail": "/usr/bin/x", "share_mode": "PRV", "image": None, "segment": None,
              "tag": None, "kind": "file", "resident": 16384, "dirty": 16384, "swapped": 0,
              "path": "/usr/bin/x", "offset": 0, "purgeable": None, "depth": None}
    regions = [dict(region, start=0x4000 * i, end=0x4000 * (i + 1)) for i in range(n)]
    return {"schema": 1, "generator": "symmap 0.1.0",
            "target": {"kind": "live", "pid": 1, "name": "x", "path": None, "arch": None,
                       "page_size": 4096, "os": "linux", "os_version": None, "partial": False, "info": {}},
            "notes": [], "regions": regions, "images": [], "shared_cache": None, "threads": []}


def test_streamed_load_holds_less_than_a_whole_parse():
    """The text plus the Regions, not the text plus every region's dict too."""
    text = json.dumps(_doc(20_000))
    tracemalloc.start()
    try:
        t = snapshot.load(text)
        streamed = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        whole = json.loads(text)
        parsed = tracemalloc.get_traced_memory()[1]
        del whole
    finally:
        tracemalloc.stop()
    assert len(t.regions) == 20_000
    assert streamed < parsed, (streamed, parsed)     # the dicts alone outweigh the streamed load


def test_key_order_and_duplicates_as_json_loads():
    """regions before schema: parsed whole, same Target; a later duplicate key wins."""
    d = _doc(3)
    head = {"regions": d.pop("regions")}
    t1 = snapshot.load(json.dumps({**head, **d}))
    assert [r.start for r in t1.regions] == [0, 0x4000, 0x8000]
    text = json.dumps(d)[:-1] + ', "regions": [], "regions": ' + json.dumps(head["regions"][:1]) + "}"
    assert [r.start for r in snapshot.load(text).regions] == [0]
    with pytest.raises(CorruptInput):
        snapshot.load(json.dumps(d) + " x")


def test_a_real_shaped_snapshot_under_the_caps_loads(tmp_path):
    t = snapshot.load(json.dumps(_doc(20_000)))
    assert len(t.regions) == 20_000
