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
