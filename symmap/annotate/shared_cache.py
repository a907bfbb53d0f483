"""Split the dyld shared region into per-library segment rows, like vmmap.

vmmap does not list the shared region by VM entry: it cuts the cache
mappings at each cached image's segment bounds (from the images' load
commands, so rows have sub-page edges such as ``__DATA_CONST
1de418f10-1de419100``), shows one ``dyld shared cache combined __LINKEDIT``
row, and ``unused ...`` rows for bytes no loaded image owns
(reference/vmmap-format.md section 6, fixtures/vmmap/01.txt).

Which gaps become rows: vmmap shows them only on dirty pages.  We cannot
see dirtiness per page, so a gap row is emitted when the region is
writable and not known to be clean (dirty != 0), and always for a cache
file target (there every byte is "in" the target).  Other gaps are left
out, as vmmap leaves out clean unused library text.
"""
from __future__ import annotations

import bisect
from dataclasses import replace

from ..errors import SymmapError
from ..model import PROT_WRITE, Region, Target

__all__ = ["split_shared_region", "ensure_cache_reader", "LINKEDIT_DETAIL"]

LINKEDIT_DETAIL = "dyld shared cache combined __LINKEDIT"


def ensure_cache_reader(target: Target) -> None:
    """Give ``target.shared_cache`` a reader and mappings when it has neither
    but the target's memory holds the cache (live processes, cores)."""
    sc = target.shared_cache
    if sc is None:
        return
    if sc.reader is None and target.memory is not None and sc.base:
        from ..formats.dyld_cache import DyldCache
        try:
            sc.reader = DyldCache.from_memory(target.memory.read, sc.base, path=sc.path)
        except SymmapError as e:
            target.notes.append(f"shared cache at {sc.base:#x} unreadable: {e}")
            return
        if sc.uuid and sc.reader.uuid != sc.uuid:
            target.notes.append(f"shared cache header UUID {sc.reader.uuid} differs from "
                                f"dyld's {sc.uuid}: not used")
            sc.reader = None
            return
    r = sc.reader
    if r is None:
        return
    if sc.path is None and r.path is None and r.runtime_base is not None:
        # The on-disk file gives local symbols (.symbols) and the report's
        # cache path; found by dynamic-data page / inode / UUID, never by name alone.
        from ..sources.cache_locate import find_cache_for
        try:
            found = find_cache_for(r)
        except (OSError, SymmapError):
            found = None
        if found:
            sc.path = r.path = found
    if sc.slide is None:
        sc.slide = (sc.base - r.unslid_base) if sc.base else (r.slide or 0)
    if not sc.mappings:
        from ..formats.dyld_cache import to_shared_cache
        full = to_shared_cache(r, sc.slide, sc.path)
        sc.mappings, sc.subcaches = full.mappings, full.subcaches
        sc.size = sc.size or full.size
        sc.uuid = sc.uuid or r.uuid
        if not sc.base:
            sc.base = full.base


def _pieces(target: Target, slide: int) -> list[tuple[int, int, str, str, bool]]:
    """(start, end, segment, image path, loaded) of every cached image
    segment but __LINKEDIT, sorted by start."""
    sc = target.shared_cache
    assert sc is not None
    loaded = [i for i in target.images if i.in_shared_cache]
    out: list[tuple[int, int, str, str, bool]] = []
    have: set[int] = set()
    for img in loaded:
        have.add(img.load_address)
        for s in img.segments:
            if s.name != "__LINKEDIT" and s.size:
                out.append((s.address, s.end, s.name, img.path, True))
    if sc.reader is not None:
        try:
            every = sc.reader.model_images(slide)
        except SymmapError as e:
            target.notes.append(f"shared cache images unreadable: {e}")
            every = []
        # No cached image in the target's list (a core without dyld state,
        # a cache file): every cached image counts as loaded.
        all_loaded = not loaded
        for img in every:
            if img.load_address in have:
                continue
            for s in img.segments:
                if s.name != "__LINKEDIT" and s.size:
                    out.append((s.address, s.end, s.name, img.path, all_loaded))
    out.sort()
    return out


def split_shared_region(target: Target) -> None:
    """Replace regions inside the shared cache mappings by per-image segment
    rows (see module doc).  Regions outside the cache are untouched."""
    sc = target.shared_cache
    if sc is None:
        return
    ensure_cache_reader(target)
    if not sc.mappings:
        return
    slide = sc.slide or 0
    maps = sorted(((m.address, m.address + m.size, m.name or "") for m in sc.mappings))
    pieces = _pieces(target, slide)
    starts = [p[0] for p in pieces]
    all_gaps = target.kind == "cache"
    out: list[Region] = []
    for r in target.regions:
        if not _overlaps_any(maps, r.start, r.end):
            out.append(r)
            continue
        cur = r.start
        for ms, me, mname in maps:
            a, b = max(ms, r.start), min(me, r.end)
            if a >= b:
                continue
            if cur < a:
                out.append(_clip(r, cur, a))
            if mname == "__LINKEDIT":
                row = _clip(r, a, b)
                row.type, row.detail, row.segment = "__LINKEDIT", LINKEDIT_DETAIL, "__LINKEDIT"
                out.append(row)
            else:
                show_gaps = all_gaps or (bool(r.prot & PROT_WRITE) and r.dirty != 0)
                out.extend(_split(r, a, b, mname, pieces, starts, show_gaps))
            cur = b
        if cur < r.end:
            out.append(_clip(r, cur, r.end))
    target.regions = out


def _overlaps_any(maps: list[tuple[int, int, str]], s: int, e: int) -> bool:
    return any(ms < e and s < me for ms, me, _n in maps)


def _part(count: int | None, whole: int, part: int) -> int | None:
    """A usage count for a piece: known only when the region is all-or-nothing
    (0, or every byte), since we have no per-page data to apportion a mix."""
    if count is None:
        return None
    if count == 0:
        return 0
    if count >= whole:
        return part
    return None


def _clip(r: Region, a: int, b: int) -> Region:
    """A copy of r over [a, b); usage counts survive only where they are exact."""
    if a == r.start and b == r.end:
        return replace(r)
    off = None if r.offset is None else r.offset + (a - r.start)
    whole, part = r.end - r.start, b - a
    return replace(r, start=a, end=b, resident=_part(r.resident, whole, part),
                   dirty=_part(r.dirty, whole, part), swapped=_part(r.swapped, whole, part), offset=off)


def _split(r: Region, a: int, b: int, mname: str, pieces, starts, show_gaps: bool) -> list[Region]:
    rows: list[Region] = []
    i = max(0, bisect.bisect_right(starts, a) - 1)
    cur = a
    gap_name = mname

    def gap(x: int, y: int, seg: str | None = None, path: str | None = None) -> None:
        if x >= y or not show_gaps:
            return
        g = _clip(r, x, y)
        g.type = f"unused {seg or gap_name}"
        g.detail = f"unused {path}" if path else f"unused system shared lib {gap_name}"
        g.segment = seg or gap_name
        # Coalesce adjacent padding (no image) into one row.
        if rows and path is None and rows[-1].end == x and rows[-1].detail == g.detail:
            rows[-1] = _clip(r, rows[-1].start, y)
            rows[-1].type, rows[-1].detail, rows[-1].segment = g.type, g.detail, g.segment
            return
        rows.append(g)

    while i < len(pieces) and pieces[i][0] < b:
        ps, pe, seg, path, loaded = pieces[i]
        i += 1
        ps, pe = max(ps, cur), min(pe, b)
        if ps >= pe:
            continue           # before the window, or overlapped by an earlier piece
        gap(cur, ps)
        if loaded:
            row = _clip(r, ps, pe)
            row.type, row.detail, row.image, row.segment = seg, path, path, seg
            rows.append(row)
        else:
            gap(ps, pe, seg, path)
        cur = pe
    gap(cur, b)
    return rows
