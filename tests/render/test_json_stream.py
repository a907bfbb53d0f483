"""Streamed JSON: the same text as dumps, written a batch of elements at a time."""
from __future__ import annotations

import io
import json

from symmap.model import Image, Region, Segment, Target
from symmap.render import json as rj


def _target(n: int) -> Target:
    regions = [Region(0x1000 * i, 0x1000 * (i + 1), 5, 7, "PRV", kind="anon", path=f"/p\u2028{i}",
                      resident=4096) for i in range(n)]
    img = Image("/bin/x", 0x1000, segments=[Segment("text", 0x1000, 0x1000, 5, 5)])
    return Target(kind="live", pid=1, regions=regions, images=[img], notes=["a \x1b note"])


def test_stream_equals_dumps_and_parses_back(monkeypatch):
    monkeypatch.setattr(rj, "BATCH", 7)         # many batches, a partial last one
    t = _target(50)
    out = io.StringIO()
    rj.write_json(t, out)
    text = out.getvalue()
    assert text == rj.dumps(t) + "\n"
    assert json.loads(text) == json.loads(json.dumps(rj.to_dict(t)))
    lines = text.splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    rows = [ln for ln in lines if ln.startswith('  {"start"')]
    assert len(rows) == 50 and all(ln.endswith("},") for ln in rows[:-1]) and rows[-1].endswith("}")
    assert "\u2028" not in text and "\x1b" not in text


def test_empty_lists_and_null_cache():
    t = Target(kind="binary")
    d = json.loads(rj.dumps(t))
    assert d["regions"] == [] and d["threads"] == [] and d["shared_cache"] is None
    assert ' "regions": [],' in rj.dumps(t).splitlines()


def test_fast_rows_equal_region_dict_encoding():
    import random
    rng = random.Random(3)
    strs = [None, "", "/a b", "\u2028", "x\udcff", "\x1b[31m", '"q"\\', "é", "__TEXT"]
    regions = []
    for i in range(400):
        regions.append(Region(rng.randrange(1 << 64), rng.randrange(1 << 64), rng.randrange(8),
                              rng.choice([None, 0, 7]), rng.choice(strs), rng.choice([None, 0, 255]),
                              rng.choice(strs), rng.choice([None, 0, 1 << 40]), rng.choice([None, 4096]),
                              rng.choice([None, 0]), rng.choice(strs), rng.choice([None, 0, 1 << 63]),
                              rng.choice(strs), rng.choice([None, 0, 3]), rng.choice(strs),
                              rng.choice(strs), rng.choice(strs), rng.choice(strs)))
    assert rj._fast_rows_match()
    want = [rj._encode(rj.region_dict(r)) for r in regions]
    assert list(rj.region_rows(regions)) == want
    assert [json.loads(x) for x in want] == [json.loads(json.dumps(rj.region_dict(r))) for r in regions]
