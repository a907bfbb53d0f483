"""vmmap's default coalescing of adjacent like rows (``--no-coalesce`` turns it off).

What vmmap merges, as measured on fixtures/vmmap/01.txt: one row per image
segment even where the kernel holds it as several VM entries, but never two
entries of anonymous memory -- 01.txt lists the adjacent, identical ``MALLOC
guard page`` entries 105320000-105324000 and 105324000-105328000 as two
rows.  So two rows merge when they touch, belong to the same image segment
(``image`` and ``segment`` set and equal) and agree on every printed field:
type, detail, protections, share mode and purgeability.  The summary's
REGION COUNT stays the non-coalesced count, as vmmap labels it.
"""
from __future__ import annotations

from dataclasses import replace

from symmap.model import Region

__all__ = ["coalesce"]


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _like(a: Region, b: Region) -> bool:
    return (a.end == b.start and a.image is not None and a.segment is not None
            and (a.image, a.segment, a.type, a.detail, a.prot, a.max_prot, a.share_mode, a.purgeable)
            == (b.image, b.segment, b.type, b.detail, b.prot, b.max_prot, b.share_mode, b.purgeable))


def coalesce(regions: list[Region]) -> list[Region]:
    """A new list; the input regions are not changed."""
    out: list[Region] = []
    for r in sorted(regions, key=lambda x: (x.start, x.end)):
        if out and _like(out[-1], r):
            p = out[-1]
            out[-1] = replace(p, end=r.end, resident=_add(p.resident, r.resident), dirty=_add(p.dirty, r.dirty),
                              swapped=_add(p.swapped, r.swapped), pages=None, vsize=None)
        else:
            out.append(r)
    return out
