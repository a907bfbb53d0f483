"""Split the dyld shared region into per-library segment rows, like vmmap.

vmmap does not list the shared region by VM entry: it cuts the cache
mappings at each cached image's segment bounds (from the images' load
commands, so rows have sub-page edges such as ``__DATA_CONST
1de418f10-1de419100``), shows one ``dyld shared cache combined __LINKEDIT``
row, and ``unused ...`` rows for bytes no loaded image owns
(reference/vmmap-format.md section 6, fixtures/vmmap/01.txt).

Which gaps become rows: vmmap shows them only on dirty pages, with the
detail ``on dirty page  unused <path>`` (two spaces; fixtures/vmmap/01.txt).
When the source gave per-page dispositions (``Region.pages``: the macOS live
source, via mach_vm_page_range_query) a gap is cut at page boundaries and
only its parts on dirty pages -- DIRTY, or PAGED_OUT: a compressed page was
dirty, and vmmap counts those (01.txt rows like ``[ 4 0K 0K 4]``) -- become
rows; every split piece then gets exact RSDNT/DIRTY/SWAP: the bytes of the
piece on present / dirty / paged-out pages (01.txt ``[ 632 144 0K 488]``).
Without per-page data a gap row is emitted when the region is writable and
not known to be clean (dirty != 0), and always for a cache file target
(there every byte is "in" the target); other gaps are left out, as vmmap
leaves out clean unused library text, and pieces of a partly resident or
dirty region get unknown (None) counts.
"""
from __future__ import annotations

import bisect
from typing import Any

from symmap.darwin.consts import (VM_PAGE_QUERY_PAGE_DIRTY, VM_PAGE_QUERY_PAGE_PAGED_OUT,
                             VM_PAGE_QUERY_PAGE_PRESENT)
from symmap.annotate.region_types import LINKEDIT_DETAIL
from symmap.errors import SymmapError
from symmap.model import PROT_WRITE, Region, Target

__all__ = ["split_shared_region", "ensure_cache_reader", "LINKEDIT_DETAIL"]

DIRTY_PAGE_PREFIX = "on dirty page  "          # vmmap's wording, two spaces
_DIRTY_PAGE = VM_PAGE_QUERY_PAGE_DIRTY | VM_PAGE_QUERY_PAGE_PAGED_OUT


def ensure_cache_reader(target: Target) -> None:
    """Give ``target.shared_cache`` a reader and mappings when it has neither
    but the target's memory holds the cache (live processes, cores)."""
    sc = target.shared_cache
    if sc is None:
        return
    if sc.reader is None and target.memory is not None and sc.base:
        from symmap.formats.dyld_cache.reader import DyldCache
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
        from symmap.sources.cache_locate import find_cache_for
        try:
            found = find_cache_for(r)
        except (OSError, SymmapError):
            found = None
        if found:
            sc.path = r.path = found
    if sc.slide is None:
        sc.slide = (sc.base - r.unslid_base) if sc.base else (r.slide or 0)
    if not sc.mappings:
        from symmap.formats.dyld_cache.reader import to_shared_cache
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


def split_shared_region(target: Target, all_split_libs: bool = False) -> None:
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
    all_gaps = target.kind == "cache" or all_split_libs
    page = target.page_size or 0
    out: list[Region] = []
    for r in target.regions:
        if not _overlaps_any(maps, r.start, r.end):
            out.append(r)
            continue
        if not _has_pages(r, page):
            r.pages = None         # stale or foreign: never index a mismatched list
        cur = r.start
        for ms, me, mname in maps:
            a, b = max(ms, r.start), min(me, r.end)
            if a >= b:
                continue
            if cur < a:
                out.append(_clip(r, cur, a, page))
            if mname == "__LINKEDIT":
                row = _clip(r, a, b, page)
                row.type, row.detail, row.segment = "__LINKEDIT", LINKEDIT_DETAIL, "__LINKEDIT"
                out.append(row)
            else:
                show_gaps = all_gaps or (bool(r.prot & PROT_WRITE) and r.dirty != 0)
                out.extend(_split(r, a, b, mname, pieces, starts, show_gaps, page, all_split_libs))
            cur = b
        if cur < r.end:
            out.append(_clip(r, cur, r.end, page))
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


def _has_pages(r: Region, page: int) -> bool:
    """r.pages covers every page r touches (one disposition per ``page`` bytes)."""
    if r.pages is None or page <= 0:
        return False
    first = r.start - r.start % page
    return len(r.pages) == (r.end - first + page - 1) // page


def _page_counts(r: Region, a: int, b: int, page: int) -> tuple[int, int, int]:
    """Exact (resident, dirty, swapped) bytes of [a, b) from r's per-page dispositions:
    each page contributes the bytes of [a, b) on it when present / dirty / paged out."""
    base = r.start - r.start % page
    i = (a - base) // page
    p = base + i * page
    res = dirty = swapped = 0
    pages = r.pages
    while p < b:
        d = pages[i]
        if d:
            n = min(b, p + page) - max(a, p)
            if d & VM_PAGE_QUERY_PAGE_PRESENT:
                res += n
            if d & VM_PAGE_QUERY_PAGE_DIRTY:
                dirty += n
            if d & VM_PAGE_QUERY_PAGE_PAGED_OUT:
                swapped += n
        i += 1
        p += page
    return res, dirty, swapped


def _sub_pages(r: Region, a: int, b: int, page: int) -> Any:
    """The slice of r.pages covering [a, b), so a piece keeps exact per-page data."""
    base = r.start - r.start % page
    return r.pages[(a - base) // page:(b - 1 - base) // page + 1]


def _clip(r: Region, a: int, b: int, page: int = 0) -> Region:
    """A copy of r over [a, b); usage counts are exact with per-page data, else they
    survive only where the region is all-or-nothing."""
    if a == r.start and b == r.end:
        return r.replace()
    off = None if r.offset is None else r.offset + (a - r.start)
    if r.pages is not None and page > 0:
        res, dirty, swapped = _page_counts(r, a, b, page)
        return r.replace(start=a, end=b, resident=res, dirty=dirty, swapped=swapped,
                         offset=off, pages=_sub_pages(r, a, b, page))
    whole, part = r.end - r.start, b - a
    return r.replace(start=a, end=b, resident=_part(r.resident, whole, part),
                     dirty=_part(r.dirty, whole, part), swapped=_part(r.swapped, whole, part), offset=off)


def _dirty_runs(r: Region, x: int, y: int, page: int) -> list[tuple[int, int]]:
    """The parts of [x, y) on r's dirty (or paged-out) pages, adjacent parts merged."""
    base = r.start - r.start % page
    i = (x - base) // page
    p = base + i * page
    runs: list[tuple[int, int]] = []
    pages = r.pages
    while p < y:
        if pages[i] & _DIRTY_PAGE:
            u, v = max(x, p), min(y, p + page)
            if runs and runs[-1][1] == u:
                runs[-1] = (runs[-1][0], v)
            else:
                runs.append((u, v))
        i += 1
        p += page
    return runs


def _split(r: Region, a: int, b: int, mname: str, pieces: list[tuple[int, int, str, str, bool]],
           starts: list[int], show_gaps: bool,
           page: int = 0, every_gap: bool = False) -> list[Region]:
    rows: list[Region] = []
    i = max(0, bisect.bisect_right(starts, a) - 1)
    cur = a
    gap_name = mname
    per_page = r.pages is not None and page > 0 and not every_gap
    prefix = DIRTY_PAGE_PREFIX if per_page else ""

    def gap(x: int, y: int, seg: str | None = None, path: str | None = None) -> None:
        if x >= y:
            return
        if per_page:
            for u, v in _dirty_runs(r, x, y, page):
                gap_row(u, v, seg, path)
        elif show_gaps:
            gap_row(x, y, seg, path)

    def gap_row(x: int, y: int, seg: str | None, path: str | None) -> None:
        g = _clip(r, x, y, page)
        g.type = f"unused {seg or gap_name}"
        g.detail = prefix + (f"unused {path}" if path else f"unused system shared lib {gap_name}")
        g.segment = seg or gap_name
        # Coalesce adjacent padding (no image) into one row.
        if rows and path is None and rows[-1].end == x and rows[-1].detail == g.detail:
            rows[-1] = _clip(r, rows[-1].start, y, page)
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
            row = _clip(r, ps, pe, page)
            row.type, row.detail, row.image, row.segment = seg, path, path, seg
            rows.append(row)
        else:
            gap(ps, pe, seg, path)
        cur = pe
    gap(cur, b)
    return rows
