"""A per-image symbol index: sorted start addresses + bisect.

One index per image, built once from whatever symbol sources the image has
(nlist, exports, function starts on Mach-O; .symtab/.dynsym on ELF).  It
holds three parallel sequences, never one object per symbol, so 100,000
symbols index in well under a second:

- ``starts``: ascending unslid start addresses (``array('Q')``)
- ``ends``: the end of each entry's extent (exclusive)
- ``names``: the name, or None for a function known only from
  LC_FUNCTION_STARTS (rendered ``image+0x…``)

An extent ends at the next entry's start, at the end of the section that
holds the start (the end of its segment when it lies in no section, like
``__mh_execute_header``), or at ``start + size`` when the format gives a
size (ELF ``st_size``), whichever comes first.
"""
from __future__ import annotations

from array import array
from bisect import bisect_right
from typing import Iterable, Sequence

__all__ = ["SymbolIndex", "build_index"]


class SymbolIndex:
    """Accessible attributes: starts, ends, names, image_base (unslid
    address the ``image+0x…`` names are relative to), image_name."""

    __slots__ = ("starts", "ends", "names", "image_base", "image_name")

    def __init__(self, starts: array, ends: array, names: list[str | None],
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


def _bounds_finder(ranges: Sequence[tuple[int, int]]):
    """A function addr -> end of the [start, end) range holding addr (or None)."""
    rs = sorted(r for r in ranges if r[1] > r[0])
    rstarts = [r[0] for r in rs]

    def end_of(addr: int) -> int | None:
        j = bisect_right(rstarts, addr) - 1
        # Sections can nest oddly in hostile files; check the neighbour too.
        while j >= 0:
            s, e = rs[j]
            if addr < e:
                return e
            if j == 0 or rs[j - 1][1] <= addr:
                return None
            j -= 1
        return None
    return end_of


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
    """
    by_addr: dict[int, str | None] = {}
    for addr, name in named:
        if addr not in by_addr:
            by_addr[addr] = name
    for addr in unnamed:
        if addr not in by_addr:
            by_addr[addr] = None
    starts = array("Q", sorted(by_addr))
    names = [by_addr[a] for a in starts]
    sect_end = _bounds_finder(sections)
    seg_end = _bounds_finder(segments)
    n = len(starts)
    ends = array("Q", bytes(8 * n))
    keep = bytearray(b"\1") * n
    dropped = 0
    # Section boundaries cut extents; walk once, memoizing the current section.
    cur_lo = cur_hi = -1
    for i in range(n):
        a = starts[i]
        if not (cur_lo <= a < cur_hi):
            e = sect_end(a) or seg_end(a)
            if e is None:
                keep[i] = 0
                dropped += 1
                cur_lo = cur_hi = -1
                continue
            cur_lo, cur_hi = a, e
        end = cur_hi
        if i + 1 < n and starts[i + 1] < end:
            end = starts[i + 1]
        if sizes:
            sz = sizes.get(a)
            if sz and a + sz < end:
                end = a + sz
        ends[i] = end
    if dropped:
        starts = array("Q", (a for a, k in zip(starts, keep) if k))
        ends = array("Q", (e for e, k in zip(ends, keep) if k))
        names = [nm for nm, k in zip(names, keep) if k]
    return SymbolIndex(starts, ends, names, image_base, image_name)
