"""A per-image symbol index: sorted start addresses + bisect.

One index per image, built once from whatever symbol sources the image has
(nlist, exports, function starts on Mach-O; .symtab/.dynsym on ELF).  It
holds a few columns and dicts, never one object per symbol, so 100,000
symbols index in about 0.1 s:

- ``starts``: ascending unslid start addresses (a list: bisect over an
  ``array('Q')`` boxes every probed element, 5x slower per lookup)
- ``ends``: where each entry's extent ends (exclusive) by the next entry
  or its section/segment; ``ends1`` is ``[0] + ends``, so
  ``ends1[bisect_right(starts, a)] > a`` is the hit test (slot 0 = below
  the first symbol, never a hit)
- ``sizes``: start -> non-zero symbol size (ELF ``st_size``), checked on a
  hit rather than folded into ``ends`` (that pass over every symbol cost
  more than the lookups of a large batch)
- ``by_addr``: start -> the name; or an int ``table << 32 | offset`` into
  ``tables[table]`` (a string table, decoded on first use and kept: a
  lookup of a few addresses never decodes 100,000 names); or None for a
  function known only from LC_FUNCTION_STARTS (rendered ``image+0x…``)

An extent ends at the next entry's start, at the end of the section that
holds the start (the end of its segment when it lies in no section, like
``__mh_execute_header``), or at ``start + size`` when the format gives a
size (ELF ``st_size``), whichever comes first.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import compress, repeat
from operator import add
from typing import Any, Iterable, Sequence

__all__ = ["SymbolIndex", "build_index", "build_index_columns", "lazy_names", "string_table"]


class _ByteTable:
    """A non-ASCII string table: byte offsets are not str offsets, so
    each name is found and decoded on its own."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def get(self, p: int) -> str:
        e = self.raw.find(b"\0", p)
        return self.raw[p:e if e >= 0 else len(self.raw)].decode("utf-8", "surrogateescape")


def string_table(raw: bytes) -> Any:
    """A table for ``SymbolIndex.tables``: the decoded str when ASCII (one
    decode, then a name is a find + slice), else a per-name decoder."""
    return raw.decode("ascii") if raw.isascii() else _ByteTable(raw)


def lazy_names(strx: list[int], table: int) -> list[int]:
    """Name tokens for string-table offsets ``strx`` of table number ``table``."""
    if not table:
        return strx
    return list(map(add, strx, repeat(table << 32)))


class SymbolIndex:
    """Accessible attributes: starts, ends, ends1, sizes, by_addr, tables,
    image_base (unslid address the ``image+0x…`` names are relative to),
    image_name."""

    __slots__ = ("starts", "ends", "ends1", "sizes", "by_addr", "tables", "image_base",
                 "image_name")

    def __init__(self, starts: list[int], ends: list[int], by_addr: dict[int, Any],
                 image_base: int, image_name: str, tables: Sequence[Any] = (),
                 sizes: dict[int, int] | None = None) -> None:
        self.starts = starts
        self.ends = ends
        self.ends1 = [0] + ends
        self.by_addr = by_addr
        self.sizes = sizes or {}
        self.tables = tables
        self.image_base = image_base
        self.image_name = image_name

    def __len__(self) -> int:
        return len(self.starts)

    def decode(self, tok: int) -> str:
        """The name a lazy token stands for (str tables: up to the NUL, as
        the eager readers did; other tables answer ``get(offset)``)."""
        tab = self.tables[tok >> 32]
        p = tok & 0xFFFFFFFF
        if tab.__class__ is str:
            e = tab.find("\0", p)
            s: str = tab[p:e] if e >= 0 else tab[p:]
            return s
        name: str = tab.get(p)
        return name

    def name_of(self, start: int) -> str | None:
        """Name of the entry starting at ``start`` (None: a function start
        with no name)."""
        v: str | int | None = self.by_addr[start]
        if isinstance(v, int):
            v = self.by_addr[start] = self.decode(v)
        return v

    def find(self, unslid: int) -> tuple[str, int, int, bool] | None:
        """(name, start, offset, synthetic) of the entry covering ``unslid``,
        or None; synthetic names (``image+0x…``) stand for unnamed functions."""
        i = bisect_right(self.starts, unslid)
        if unslid >= self.ends1[i]:
            return None
        start = self.starts[i - 1]
        sz = self.sizes.get(start)
        if sz and unslid - start >= sz:
            return None
        name = self.name_of(start)
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
    """
    named = named if isinstance(named, list) else list(named)
    named.reverse()                      # dict() keeps the last value: make it the first given
    by_addr: dict[int, Any] = dict.fromkeys(unnamed)
    by_addr.update(named)
    return _finish(by_addr, sections, segments, sizes, image_base, image_name, ())


def build_index_columns(sources: Sequence[tuple[Sequence[int], Sequence[Any]]],
                        sections: Sequence[tuple[int, int]],
                        segments: Sequence[tuple[int, int]],
                        *, unnamed: Iterable[int] = (),
                        sizes: dict[int, int] | None = None,
                        image_base: int = 0, image_name: str = "",
                        tables: Sequence[Any] = ()) -> SymbolIndex:
    """``build_index`` from columns: ``sources`` is a list of (addresses,
    names) in order of preference, names being str or ``lazy_names``
    tokens into ``tables``.  Within and across sources the first name
    given for an address wins."""
    by_addr: dict[int, Any] = dict.fromkeys(unnamed)
    for addrs, names in reversed(sources):
        by_addr.update(zip(reversed(addrs), reversed(names)))
    return _finish(by_addr, sections, segments, sizes, image_base, image_name, tables)


def _finish(by_addr: dict[int, Any], sections: Sequence[tuple[int, int]],
            segments: Sequence[tuple[int, int]], sizes: dict[int, int] | None,
            image_base: int, image_name: str, tables: Sequence[Any]) -> SymbolIndex:
    """Every step over all symbols runs in C (dict, sorted, map, list slices);
    Python loops run once per section, or per entry outside any section
    (few in a real image)."""
    starts = sorted(by_addr)
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
    if keep is not None and keep.count(0):
        # Dropped entries stay in by_addr: no start in ``starts`` reaches them.
        starts = list(compress(starts, keep))
        ends = list(compress(ends, keep))
    if sizes and 0 in sizes.values():
        sizes = {a: z for a, z in sizes.items() if z}
    return SymbolIndex(starts, ends, by_addr, image_base, image_name, tables, sizes)
