"""Every source over every fixture present: Target invariants, and only SymmapError.

Modelled on psutil's test_process_all: whatever the input, symmap either
returns a well-formed annotated Target that both renderers accept, or raises
a SymmapError (one line, an exit code), never anything else.
"""
from __future__ import annotations

import json

import pytest

from symmap.annotate import annotate
from symmap.errors import SymmapError
from symmap.model import TARGET_KINDS
from symmap.render.json import dumps
from symmap.render.text import render_report
from symmap.sources import OpenOptions, open_target
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES

SHARED_DIRS = ("macho", "dyld-cache", "crash", "core", "vmmap")


def _inputs():
    files = []
    for d in SHARED_DIRS:
        p = SHARED_FIXTURES / d
        if p.is_dir():
            files += sorted(x for x in p.iterdir() if x.is_file() and x.suffix != ".yaml")
    if OWN_FIXTURES.is_dir():
        files += sorted(x for x in OWN_FIXTURES.rglob("*") if x.is_file() and x.stat().st_size > 64
                        and x.suffix not in (".c", ".sh", ".py", ".md", ".txt", ".tbd", ".h", ".yaml", ".json"))
    return files


INPUTS = _inputs()


def check_invariants(t):
    assert t.kind in TARGET_KINDS
    prev_end = None
    for r in t.regions:
        assert 0 <= r.start < r.end, r
        assert 0 <= r.prot <= 7
        assert r.max_prot is None or 0 <= r.max_prot <= 7
        assert r.type is not None and r.detail is not None
        if prev_end is not None:
            assert r.start >= prev_end, f"overlap at {r.start:#x} ({r.type}) < {prev_end:#x}"
        prev_end = r.end
    for img in t.images:
        assert img.uuid is None or (img.uuid == img.uuid.lower() and len(img.uuid) % 2 == 0)
        for s in img.segments:
            assert s.size >= 0


@pytest.mark.skipif(not INPUTS, reason="no fixtures present")
@pytest.mark.parametrize("path", INPUTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_opens_or_fails_cleanly(path):
    try:
        t = open_target(str(path), OpenOptions())
    except SymmapError as e:
        assert "\n" not in str(e)
        return
    try:
        annotate(t)
        check_invariants(t)
        text = render_report(t)
        # A summary table pasted alone (vmmap/09.txt) prints as it was: untitled.
        assert "==== Summary for process" in text or "vmmap_summary" in t.info
        d = json.loads(dumps(t))
        assert d["schema"] == 2 and len(d["regions"]) == len(t.regions)
    finally:
        t.close()
