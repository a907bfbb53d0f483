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
    text = _HEAD + '"regions": [' + ",".join(["{}"] * 700_000) + "]}"
    assert len(text) < (16 << 20)
    peak, msg = _peak(lambda: snapshot.load(text))
    assert "JSON values" in msg
    assert peak < 3 * len(text)              # json.loads would hold ~60 MB of dicts


def test_a_real_shaped_snapshot_under_the_caps_loads(tmp_path):
    region = {"start": 0, "end": 0x4000, "prot": "r--", "max_prot": "rwx", "type": "relro",
              "detail": "/usr/bin/x", "share_mode": "PRV", "image": None, "segment": None,
              "tag": None, "kind": "file", "resident": 16384, "dirty": 16384, "swapped": 0,
              "path": "/usr/bin/x", "offset": 0, "purgeable": None, "depth": None}
    regions = [dict(region, start=0x4000 * i, end=0x4000 * (i + 1)) for i in range(20_000)]
    doc = {"schema": 1, "generator": "symmap 0.1.0",
           "target": {"kind": "live", "pid": 1, "name": "x", "path": None, "arch": None,
                      "page_size": 4096, "os": "linux", "os_version": None, "partial": False, "info": {}},
           "notes": [], "regions": regions, "images": [], "shared_cache": None, "threads": []}
    t = snapshot.load(json.dumps(doc))
    assert len(t.regions) == 20_000
