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
        # Segments of different images never overlap in a sane target, but
        # a hostile one may; look back a little for one that holds addr.
        for j in range(i, max(-1, i - 8), -1):
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

    def lookup(self, addr: int) -> Lookup:
        region = self.region_at(addr)
        hit = self.segment_at(addr)
        mapped = region is not None or (not self._regions and hit is not None)
        out = Lookup(address=addr, mapped=mapped, region=region)
        if not mapped:
            out.before, out.after = self._nearest(addr)
        if hit is None:
            return out
        im, seg = hit
        out.image_obj = im
        out.image = im.path
        out.uuid = im.uuid
        out.segment = seg.name
        sect = _section_at(seg, addr)
        if sect is not None:
            out.section = sect.name
        if im.slide is not None:
            out.unslid_address = addr - im.slide
        rel = addr - seg.address
        if seg.file_offset is not None and (seg.file_size is None or rel < seg.file_size):
            out.file_offset = seg.file_offset + rel
        if out.unslid_address is None:
            return out
        idx, src = self.index_for(im)
        out.symbol_source = src
        if idx is None:
            return out
        found = idx.find(out.unslid_address)
        if found is not None:
            name, _start, off, synthetic = found
            macho = not (im.filetype or "").startswith("elf")
            out.linkage_name = None if synthetic else name
            out.symbol = name if synthetic else display_name(name, macho)
            out.offset = off
        return out

    def lookup_many(self, addrs: Iterable[int]) -> list[Lookup]:
        return [self.lookup(a) for a in addrs]


def _section_at(seg: Segment, addr: int) -> Section | None:
    for s in seg.sections:
        if s.address <= addr < s.address + s.size:
            return s
    return None
