"""A per-image symbol index: sorted start addresses + bisect.

One index per image, built once from whatever symbol sources the image has
(nlist, exports, function starts on Mach-O; .symtab/.dynsym on ELF).  It
holds three parallel sequences, never one object per symbol, so 100,000
symbols index in well under a second:

- ``starts``: ascending unslid start addresses (a list: bisect over an
  ``array('Q')`` boxes every probed element, 5x slower per lookup)
- ``ends``: the end of each entry's extent (exclusive)
- ``names``: the name, or None for a function known only from
  LC_FUNCTION_STARTS (rendered ``image+0x…``)

An extent ends at the next entry's start, at the end of the section that
holds the start (the end of its segment when it lies in no section, like
``__mh_execute_header``), or at ``start + size`` when the format gives a
size (ELF ``st_size``), whichever comes first.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import compress
from typing import Iterable, Sequence

__all__ = ["SymbolIndex", "build_index"]


class SymbolIndex:
    """Accessible attributes: starts, ends, names, image_base (unslid
    address the ``image+0x…`` names are relative to), image_name."""

    __slots__ = ("starts", "ends", "names", "image_base", "image_name")

    def __init__(self, starts: list[int], ends: list[int], names: list[str | None],
                 image_base: int, image_name: str) -> None:
        self.starts = starts
        self.ends = ends
        self.names = names
        self.image_base = image_base
        self.image_name = image_name

    def __len__(self) -> int:
        return len(self.starts)

    def find(self, unslid: int) -> tuple[str, int, int, bool] | None:
        """(name, start, offset, synthetic) of the entry covering ``unslid``,
        or None; synthetic names (``image+0x…``) stand for unnamed functions."""
        i = bisect_right(self.starts, unslid) - 1
        if i < 0 or unslid >= self.ends[i]:
            return None
        start = self.starts[i]
        name = self.names[i]
        if name is None:
            return f"{self.image_name}+{start - self.image_base:#x}", start, unslid - start, True
        return name, start, unslid - start, False


_NO_END = (1 << 64) - 1


def build_index(named: Iterable[tuple[int, str]],
                sections: Sequence[tuple[int, int]],
                segments: Sequence[tuple[int, int]],
                *, unnamed: Iterable[int] = (),
                sizes: dict[int, int] | None = None,
                image_base: int = 0, image_name: str = "") -> SymbolIndex:
    """Build an index from (unslid address, name) pairs.

    ``named`` may hold several names for one address (aliases, or the same
    symbol from nlist and the exports trie): the FIRST one given wins, so
    callers list their preferred source first.  ``unnamed`` are function
    starts (they bound the previous symbol's extent and get ``image+0x…``
    names).  ``sections``/``segments`` are unslid [start, end) ranges.
    ``sizes`` maps a start address to a known symbol size (ELF).
    Entries outside every section and segment are dropped: they name no
    byte of the image.

    Every step over all symbols runs in C (dict, sorted, map, list slices);
    Python loops run once per section, or per entry outside any section
    (few in a real image).
    """
    named = named if isinstance(named, list) else list(named)
    named.reverse()                      # dict() keeps the last value: make it the first given
    by_addr: dict[int, str | None] = dict.fromkeys(unnamed)
    by_addr.update(named)
    starts = sorted(by_addr)
    names = list(map(by_addr.__getitem__, starts))
    n = len(starts)
    ends = starts[1:]
    ends.append(_NO_END)
    covered = bytearray(n)
    for lo, hi in sorted(r for r in sections if r[1] > r[0]):
        i0 = bisect_left(starts, lo)
        i1 = bisect_left(starts, hi, i0)
        if i1 > i0:
            covered[i0:i1] = b"\1" * (i1 - i0)
            if ends[i1 - 1] > hi:
                ends[i1 - 1] = hi
    keep = None
    if n and covered.count(0):
        segs = sorted(r for r in segments if r[1] > r[0])
        seg_lo = [r[0] for r in segs]
        keep = bytearray(b"\1") * n
        i = covered.find(0)
        while i >= 0:
            a = starts[i]
            j = bisect_right(seg_lo, a) - 1
            if j >= 0 and a < segs[j][1]:
                if ends[i] > segs[j][1]:
                    ends[i] = segs[j][1]
            else:
                keep[i] = 0
            i = covered.find(0, i + 1)
    if sizes:
        get = sizes.get
        ends = [a + sz if (sz := get(a, 0)) and a + sz < e else e for a, e in zip(starts, ends)]
    if keep is not None and keep.count(0):
        starts = list(compress(starts, keep))
        ends = list(compress(ends, keep))
        names = list(compress(names, keep))
    return SymbolIndex(starts, ends, names, image_base, image_name)
