"""Address -> region, image, segment, section, symbol for one Target.

Usage::

    with open_target("a.out") as t:
        s = Symbolizer(t)
        r = s.lookup(0x100003f20)
        print(r.image, r.symbol, r.offset, hex(r.unslid_address))

Region and image lookups bisect sorted start addresses built once; each
image's symbol index is built on first use and kept (symbolize/_index.py).
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Iterable

from ..model import Image, Region, Section, Segment, Target
from ._demangle import display_name
from ._index import SymbolIndex
from ._sources import load_index

__all__ = ["Lookup", "Symbolizer"]


@dataclass(slots=True)
class Lookup:
    """The answer for one address.

    ``mapped`` is False when no region holds the address (then ``before`` /
    ``after`` are the nearest regions, either may be None).  ``symbol`` is
    the display name (Mach-O underscore stripped, demangled where possible),
    ``linkage_name`` the name as stored; ``offset`` = address - symbol
    start.  ``unslid_address`` is what atos / llvm-symbolizer want;
    ``file_offset`` the address's byte in the image file (None for bss or
    unknown).  ``symbol_source`` says where the symbols came from
    ("file:PATH", "cache", "memory") or None.
    """

    address: int
    mapped: bool
    region: Region | None = None
    image: str | None = None
    uuid: str | None = None
    segment: str | None = None
    section: str | None = None
    symbol: str | None = None
    linkage_name: str | None = None
    offset: int | None = None
    unslid_address: int | None = None
    file_offset: int | None = None
    symbol_source: str | None = None
    before: Region | None = None
    after: Region | None = None
    image_obj: Image | None = field(default=None, repr=False)


class Symbolizer:
    """Lookups over one Target.  Accessible attributes: target, search_paths."""

    def __init__(self, target: Target, search_paths: Iterable[str] = ()) -> None:
        self.target = target
        self.search_paths = list(search_paths)
        self._regions = sorted(target.regions, key=lambda r: r.start)
        self._rstarts = [r.start for r in self._regions]
        segs: list[tuple[int, int, Image, Segment]] = []
        for im in target.images:
            for s in im.segments:
                if s.size > 0:
                    segs.append((s.address, s.end, im, s))
        segs.sort(key=lambda t: (t[0], -t[1]))
        self._segs = segs
        self._sstarts = [t[0] for t in segs]
        self._indexes: dict[int, tuple[SymbolIndex | None, str | None]] = {}
        self._seg_cache: dict[int, tuple] = {}
        self._last_region: Region | None = None
        self._last_seg: tuple | None = None
        self._last_sect: tuple | None = None
        self._display: dict[str, str] = {}

    # -- containers -------------------------------------------------------

    def region_at(self, addr: int) -> Region | None:
        i = bisect_right(self._rstarts, addr) - 1
        if i >= 0 and addr < self._regions[i].end:
            return self._regions[i]
        return None

    def _nearest(self, addr: int) -> tuple[Region | None, Region | None]:
        i = bisect_right(self._rstarts, addr) - 1
        before = self._regions[i] if i >= 0 else None
        after = self._regions[i + 1] if i + 1 < len(self._regions) else None
        return before, after

    def segment_at(self, addr: int) -> tuple[Image, Segment] | None:
        i = bisect_right(self._sstarts, addr) - 1
        if i >= 0:
            t = self._segs[i]
            if addr < t[1]:
                return t[2], t[3]
        # Segments of different images never overlap in a sane target, but
        # a hostile one may; look back a little for one that holds addr.
        for j in range(i - 1, max(-1, i - 8), -1):
            lo, hi, im, seg = self._segs[j]
            if lo <= addr < hi:
                return im, seg
        return None

    def index_for(self, image: Image) -> tuple[SymbolIndex | None, str | None]:
        """The image's symbol index (built on first use) and its source."""
        key = id(image)
        got = self._indexes.get(key)
        if got is None:
            got = load_index(image, self.target, self.search_paths)
            self._indexes[key] = got
        return got

    # -- lookups ----------------------------------------------------------

    def _seg_info(self, im: Image, seg: Segment) -> tuple:
        """Per-segment facts every lookup in it needs, computed once."""
        key = id(seg)
        info = self._seg_cache.get(key)
        if info is None:
            secs = sorted((s for s in seg.sections if s.size > 0), key=lambda s: s.address)
            idx, src = self.index_for(im)
            slide = im.slide
            if slide is None and idx is not None and src and src.startswith("file:"):
                # Crash reports give load address and UUID, not the slide; a
                # file with that UUID tells the unslid header address.
                slide = im.load_address - idx.image_base
            elif slide is None:
                idx = src = None
            macho = not (im.filetype or "").startswith("elf")
            fo = seg.file_offset
            fsize = seg.file_size if seg.file_size is not None else seg.size
            info = ([s.address for s in secs], [(s.address + s.size, s.name) for s in secs],
                    idx, src, macho, im, seg.name, seg.address, fo, fsize, slide)
            self._seg_cache[key] = info
        return info

    def lookup(self, addr: int) -> Lookup:
        # Addresses in a batch cluster (one image's code): try the previous
        # hit's region, segment and section before bisecting.
        region = self._last_region
        if region is None or not region.start <= addr < region.end:
            region = self.region_at(addr)
            if region is not None:
                self._last_region = region
        last = self._last_seg
        if last is not None and last[0] <= addr < last[1]:
            info = last[2]
        else:
            hit = self.segment_at(addr)
            if hit is None:
                info = None
            else:
                info = self._seg_info(hit[0], hit[1])
                self._last_seg = (hit[1].address, hit[1].end, info)
        mapped = region is not None or (not self._regions and info is not None)
        before = after = None
        if not mapped:
            before, after = self._nearest(addr)
        if info is None:
            return Lookup(addr, mapped, region, before=before, after=after)
        (sec_starts, sec_ends, idx, src, macho, im, seg_name, seg_addr, fo, fsize,
         slide) = info
        section = None
        ls = self._last_sect
        if ls is not None and ls[0] <= addr < ls[1] and ls[3] is info:
            section = ls[2]
        else:
            j = bisect_right(sec_starts, addr) - 1
            if j >= 0 and addr < sec_ends[j][0]:
                section = sec_ends[j][1]
                self._last_sect = (sec_starts[j], sec_ends[j][0], section, info)
        rel = addr - seg_addr
        file_offset = fo + rel if fo is not None and rel < fsize else None
        symbol = linkage = offset = unslid = None
        if slide is not None:
            unslid = addr - slide
            if idx is not None:
                found = idx.find(unslid)
                if found is not None:
                    name, _start, offset, synthetic = found
                    if synthetic:
                        symbol = name
                    else:
                        linkage = name
                        symbol = self._display.get(name)
                        if symbol is None:
                            symbol = self._display[name] = display_name(name, macho)
        return Lookup(addr, mapped, region, im.path, im.uuid, seg_name, section, symbol, linkage,
                      offset, unslid, file_offset, src if slide is not None else None,
                      before, after, im)

    def lookup_many(self, addrs: Iterable[int]) -> list[Lookup]:
        lookup = self.lookup
        return [lookup(a) for a in addrs]


def _section_at(seg: Segment, addr: int) -> Section | None:
    for s in seg.sections:
        if s.address <= addr < s.address + s.size:
            return s
    return None
