#!/usr/bin/env python3
"""Benchmark: the --html page of a synthetic 2,000-image, 60,000-region target.

Measures the page size (goal <= 3 MB), the time to render it in Python, and
Chromium's time to load and lay out the page: wall time of
``chromium --headless --dump-dom`` on the page minus the same on an empty
page (the peer, run side by side), medians of --runs.  The page's own
``data-ready`` (performance.now() at the first frame after the strip and
table are built) is printed too.

Usage: python bench/bench_html.py [--images N] [--regions N] [--runs N]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from symmap.model import Image, Region, Section, Segment, Target  # noqa: E402
from symmap.render.html import render_html  # noqa: E402


def synthetic(n_images: int, n_regions: int) -> Target:
    images, regions = [], []
    a = 0x180000000
    for k in range(n_images):
        path = f"/System/Library/Frameworks/Framework{k}.framework/Versions/A/Framework{k}"
        segs = []
        for name, size, prot in (("__TEXT", 0x40000, 5), ("__DATA_CONST", 0x8000, 1), ("__DATA", 0x4000, 3),
                                 ("__LINKEDIT", 0x10000, 1)):
            secs = [Section(f"__s{j}", name, a + j * (size // 8), size // 8) for j in range(5)]
            segs.append(Segment(name, a, size, prot, prot, sections=secs))
            regions.append(Region(a, a + size, prot, prot, share_mode="COW", resident=size // 2, dirty=0,
                                  swapped=0, type=name, detail=path, image=path, segment=name, kind="file", path=path))
            a += size
        images.append(Image(path=path, load_address=segs[0].address, uuid=f"{k:032x}", segments=segs,
                            in_shared_cache=True, filetype="dylib"))
    a = 0x600000000000
    kinds = (("MALLOC_TINY", 3, 2), ("MALLOC_SMALL", 3, 3), ("VM_ALLOCATE", 3, 0), ("Stack", 3, 30),
             ("mapped file", 1, 0), ("__DATA", 3, 0))
    while len(regions) < n_regions:
        i = len(regions)
        typ, prot, tag = kinds[i % len(kinds)]
        size = 0x4000 * (1 + i % 37)
        regions.append(Region(a, a + size, prot, 7, share_mode="PRV", tag=tag, resident=size, dirty=size // 2,
                              swapped=0, type=typ, detail=f"/private/var/folders/x/file{i}" if prot == 1 else None,
                              path=f"/private/var/folders/x/file{i}" if prot == 1 else None))
        a += size + (0x100000 if i % 50 == 0 else 0)
    return Target(kind="live", name="Synthetic", pid=4242, os="macos", arch="arm64", page_size=16384,
                  regions=regions, images=images, annotated=True)


def chromium_time(url: str) -> tuple[float, str]:
    import subprocess
    with tempfile.TemporaryDirectory() as ud:
        t0 = time.perf_counter()
        r = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", f"--user-data-dir={ud}", "--virtual-time-budget=10000",
                            "--dump-dom", url], capture_output=True, text=True, timeout=300)
        return time.perf_counter() - t0, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--regions", type=int, default=60000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    t = synthetic(a.images, a.regions)
    t0 = time.perf_counter()
    page = render_html(t, [])
    render_s = time.perf_counter() - t0
    d = Path(tempfile.mkdtemp(prefix="symmap-bench-html-"))
    p = d / "page.html"
    p.write_text(page)
    blank = d / "blank.html"
    blank.write_text("<!DOCTYPE html><p>x")
    print(f"target: {len(t.images)} images, {len(t.regions)} regions")
    print(f"page size: {len(page.encode()) / 1e6:.2f} MB (goal <= 3 MB); python render {render_s:.2f} s")
    page_t, blank_t, ready = [], [], []
    for _ in range(a.runs):
        bt, _ = chromium_time(blank.as_uri())
        pt, dom = chromium_time(p.as_uri())
        blank_t.append(bt)
        page_t.append(pt)
        m = re.search(r'data-ready="(\d+)"', dom)
        ready.append(int(m.group(1)) if m else -1)
        if 'id="errors" role="alert"></div>' not in dom:
            print("page reported errors:", re.search(r'id="errors"[^>]*>(.*?)</div>', dom, re.S))
    pm, bm = statistics.median(page_t), statistics.median(blank_t)
    print(f"chromium --dump-dom: page {pm:.2f} s, empty page {bm:.2f} s, difference {pm - bm:.2f} s "
          f"(goal < 1 s); page data-ready at {statistics.median(ready)} ms")


if __name__ == "__main__":
    main()
