"""vmmap's default coalescing of adjacent entries (``--no-coalesce`` turns it off).

What vmmap does not merge, as measured on fixtures/vmmap/01.txt: rows that
merely look alike.  01.txt prints the adjacent, identical ``MALLOC guard
page`` rows 105320000-105324000 / 105324000-105328000 and the two adjacent
``__DATA`` rows of libsystem_pthread as separate rows, and its REGION COUNT
(250, "non-coalesced") equals its row count.  So likeness of the printed
fields is not vmmap's criterion; the one fact the kernel gives that can make
two map entries one is the VM object: two entries merge when they touch, are
the same VM object (``Region.object_id``, from ``vm_region_submap_info_64``
``object_id_full``; the macOS live walk sets it) and agree on every printed
field.  This is our reading of vmmap's behaviour, not Apple documentation;
sources without object ids (Linux, files, saved reports) are never merged.
The summary's REGION COUNT stays the non-coalesced count, as vmmap labels it.
"""
from __future__ import annotations

from symmap.model import Region

__all__ = ["coalesce"]


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _like(a: Region, b: Region) -> bool:
    return (a.end == b.start and a.object_id is not None and a.object_id == b.object_id
            and (a.type, a.detail, a.image, a.segment, a.prot, a.max_prot, a.share_mode, a.purgeable, a.depth)
            == (b.type, b.detail, b.image, b.segment, b.prot, b.max_prot, b.share_mode, b.purgeable, b.depth))


def coalesce(regions: list[Region]) -> list[Region]:
    """A new list; the input regions are not changed."""
    out: list[Region] = []
    for r in sorted(regions, key=lambda x: (x.start, x.end)):
        if out and _like(out[-1], r):
            p = out[-1]
            out[-1] = p.replace(end=r.end, resident=_add(p.resident, r.resident), dirty=_add(p.dirty, r.dirty),
                                swapped=_add(p.swapped, r.swapped), pages=None, vsize=None)
        else:
            out.append(r)
    return out
