"""--submap on live macOS: the walk's submap entries print as vmmap's `Submap` rows,
before the entries inside them (fixtures/vmmap/03.txt)."""
from __future__ import annotations

from symmap.annotate import annotate
from symmap.render.text import render_report
from symmap.sources import OpenOptions
from symmap.sources.macos_live import open_pid
from tests.darwin.conftest import CACHE_BASE, build_sim


def test_submap_rows_precede_their_entries_only_with_submap():
    sim = build_sim()
    t = open_pid(4242, OpenOptions(task=sim, submap=True))
    annotate(t)
    subs = t.info["submaps"]
    assert [(s["start"], s["end"]) for s in subs] == [(CACHE_BASE, CACHE_BASE + 0x10000000)]
    out = render_report(t, interleaved=True, submap=True).split("\n")
    i = next(k for k, ln in enumerate(out) if ln.startswith("Submap "))
    assert out[i].startswith(f"Submap                      {CACHE_BASE:x}-{CACHE_BASE + 0x10000000:x}")
    assert "VM submap" in out[i] and "[  256M      0K      0K      0K]" not in out[i]
    assert int(out[i + 1].split()[1].split("-")[0], 16) >= CACHE_BASE
    assert "Submap " not in render_report(t, interleaved=True)
    t2 = open_pid(4242, OpenOptions(task=build_sim()))
    assert "submaps" not in t2.info                     # the extra walk runs only when asked
