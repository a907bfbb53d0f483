"""Join regions to the image segments that own them, by address.

Segments are indexed once, sorted by start, and each region looks up its
overlapping segments with ``bisect``: O((R + S) log S) for hundreds of
images.  A region takes the segment it overlaps most (regions and segments
line up 1:1 outside the shared cache; the cache is split earlier).
"""
from __future__ import annotations

from bisect import bisect_right

from symmap.annotate.region_types import LINKEDIT_DETAIL
from symmap.model import Image, Region, Segment, Target

__all__ = ["join_images", "SegmentIndex"]


class SegmentIndex:
    """Sorted (start, end, image, segment) rows with an address lookup."""

    def __init__(self, images: list[Image]) -> None:
        rows = [(s.address, s.end, img, s) for img in images for s in img.segments if s.size > 0]
        rows.sort(key=lambda r: (r[0], r[1]))
        self.rows = rows
        self.starts = [r[0] for r in rows]
        # Prefix max of ends lets overlap scans stop early even with nesting.
        self.max_end: list[int] = []
        m = 0
        for r in rows:
            m = max(m, r[1])
            self.max_end.append(m)

    def overlapping(self, start: int, end: int) -> list[tuple[int, int, Image, Segment]]:
        i = bisect_right(self.starts, end - 1) - 1
        out = []
        while i >= 0 and self.max_end[i] > start:
            r = self.rows[i]
            if r[1] > start and r[0] < end:
                out.append(r)
            i -= 1
        return out

    def at(self, addr: int) -> tuple[Image, Segment] | None:
        hits = self.overlapping(addr, addr + 1)
        if not hits:
            return None
        # Innermost (smallest) segment wins when images nest (e.g. a cache image in a cache mapping).
        r = min(hits, key=lambda h: h[1] - h[0])
        return r[2], r[3]


def _unowned_cache_row(r: Region) -> bool:
    """Rows the shared-cache split made for bytes no single image owns: the
    combined __LINKEDIT (it overlaps every cached image's __LINKEDIT, so the
    largest overlap would name an arbitrary dylib) and ``unused ...`` gaps."""
    return r.detail == LINKEDIT_DETAIL or (r.type or "").startswith("unused ")


def join_images(target: Target) -> None:
    if not target.images:
        return
    idx = SegmentIndex(target.images)
    for r in target.regions:
        if r.image is not None or _unowned_cache_row(r):
            continue
        hits = idx.overlapping(r.start, r.end)
        if not hits:
            continue
        # A file-backed region holds the file's bytes, so segments with file
        # contents come first (ELF .bss sharing the last .data page is not the
        # page's owner); then the largest overlap; on a tie the innermost
        # (smallest) segment, as in SegmentIndex.at.
        file_backed = r.path is not None and r.offset is not None
        best = max(hits, key=lambda h: (file_backed and h[3].file_size != 0,
                                        min(h[1], r.end) - max(h[0], r.start), h[0] - h[1], -h[0]))
        img, seg = best[2], best[3]
        r.image = img.path
        r.segment = seg.name
        if r.type is None:
            r.type = seg.name
        if r.detail is None:
            r.detail = img.path
