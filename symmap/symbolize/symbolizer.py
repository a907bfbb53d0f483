"""Address -> region, image, segment, section, symbol for one Target.

Usage::

    with open_target("a.out") as t:
        s = Symbolizer(t)
        r = s.lookup(0x100003f20)
        print(r.image, r.symbol, r.offset, hex(r.unslid_address))

Region and image lookups bisect sorted start addresses built once; each
image's symbol index is built on first use and kept (symbolize/_index.py).

Batches (``lookup_many``, ``resolve_many``) sort and dedupe the addresses
first: in ascending order, segments and sections are found once per run
and the index is walked with good memory locality (measured: input-order
processing of 100,000 random addresses was ~2x slower here, cache misses
on scattered int objects).  ``resolve_many`` returns columns (Chunk), for
callers that need a few fields; ``lookup_many`` builds Lookups from them.
"""
from __future__ import annotations

import gc
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, count, repeat
from operator import sub
from functools import wraps
from typing import Any, Callable, Iterable, NamedTuple, TypeVar, cast

from symmap.model import Frame, Image, Region, Segment, Target
from symmap.symbolize.demangle import display_name, display_names
from symmap.symbolize.symbol_index import SymbolIndex
from symmap.symbolize.index_loaders import load_index
from symmap.symbolize.source_lines import LineTable, SourceFrame, split_name

__all__ = ["Lookup", "Symbolizer", "Chunk", "no_gc"]


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
    ("file:PATH", "cache", "memory", "report") or None.  ``image_offset`` =
    address - the image's load address.  ``frames``: file/line and inlined
    frames from debug info (innermost first, the physical function last;
    empty without debug info), read from ``debug_file``.
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
    image_offset: int | None = None
    frames: tuple[SourceFrame, ...] = ()
    debug_file: str | None = None

    @property
    def file(self) -> str | None:
        """File, line and column of the innermost frame (None without debug info)."""
        return self.frames[0].file if self.frames else None

    @property
    def line(self) -> int | None:
        return self.frames[0].line if self.frames else None

    @property
    def column(self) -> int | None:
        return self.frames[0].column if self.frames else None


# Per-segment facts (Symbolizer._seg_info): section starts, (end, name) per
# section, symbol index, its source, is-Mach-O, image, segment name, address,
# file offset, file size, slide.
SegInfo = tuple[list[int], list[tuple[int, str]], "SymbolIndex | None", "str | None", bool, Image, str, int,
                "int | None", int, "int | None"]


@contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for a batch: a batch builds
    hundreds of thousands of tuples (frames, chains) and no cycles, and
    each collection would walk them all again (measured: 100,000 DWARF
    lookups spent 55% of their time in the collector).  The first
    collection after the batch walks what is still alive once."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


F = TypeVar("F", bound=Callable[..., Any])


def _batch(fn: F) -> F:
    """Run ``fn`` under ``no_gc``."""
    @wraps(fn)
    def run(*args: Any, **kw: Any) -> Any:
        with no_gc():
            return fn(*args, **kw)
    return cast(F, run)


class Chunk(NamedTuple):
    """Distinct addresses (ascending) that share one segment and section of
    one image (``info`` None: no image holds them), as columns.

    ``regions[k]``: the region holding ``addrs[k]`` or None; ``names[k]``:
    the symbol's linkage name, or the ``image+0x…`` name of a
    function-starts-only entry (``synthetic[k]`` true), or None (no
    symbol); ``offsets[k]``: address - symbol start (None without symbol).
    ``unslid``: None when the image's slide is unknown.
    """

    addrs: list[int]
    regions: list[Any]
    info: SegInfo | None
    section: str | None
    names: list[str | None]
    offsets: list[int | None]
    synthetic: list[bool]
    unslid: list[int] | None

    @property
    def image(self) -> Image | None:
        return self.info[5] if self.info is not None else None

    @property
    def segment(self) -> str | None:
        return self.info[6] if self.info is not None else None


def _qualified_name(shown: str) -> str:
    """``int ns::sum<int>(std::vector<int> const&)`` -> ``ns::sum``: the
    name without parameters, template arguments or return type, as
    ``lldb image lookup -n`` matches it."""
    out: list[str] = []
    depth = 0
    for ch in shown:
        if ch == "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif ch == "(" and depth == 0 and out:
            break
        elif depth == 0:
            out.append(" " if ch == " " else ch)
    return "".join(out).rsplit(" ", 1)[-1]


class Symbolizer:
    """Lookups over one Target.  Accessible attributes: target, search_paths."""

    def __init__(self, target: Target, search_paths: Iterable[str] = (), *, debug: bool = True,
                 dsym: str | None = None, use_cache: bool = True, demangle: bool = True) -> None:
        self.target = target
        self.search_paths = list(search_paths)
        self.debug = debug
        self.dsym = dsym
        self.use_cache = use_cache
        self.demangle = demangle
        self.notes: list[str] = []
        self._lines: dict[int, tuple[LineTable | None, str | None]] = {}
        self._own: dict[Any, Any] = {}
        self._report: dict[int, list[Frame]] | None = None
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
        self._seg_cache: dict[int, SegInfo] = {}
        self._last_region: Region | None = None
        self._last_seg: tuple[Any, ...] | None = None
        self._last_sect: tuple[Any, ...] | None = None
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

    def lines_for(self, image: Image) -> tuple[LineTable | None, str | None]:
        """The image's line table from its debug info (built or loaded from
        the symcache store on first use) and the debug file's path."""
        key = id(image)
        got = self._lines.get(key)
        if got is None:
            got = self._lines[key] = self._load_lines(image) if self.debug else (None, None)
        return got

    def _load_lines(self, image: Image) -> tuple[LineTable | None, str | None]:
        from symmap.symbolize.debug_info import find_debug_object
        from symmap.symbolize.symcache_store import load_symcache
        try:
            d = find_debug_object(image, self.search_paths, self.dsym, self.notes)
        except ImportError:
            self.notes.append("symbolic is not installed: no file:line answers")
            self.debug = False
            return None, None
        if d is None or not d.has_dwarf:
            return None, None
        try:
            sc, raw = load_symcache(d.obj, d.path, d.image_id, d.arch, self.use_cache, self.notes)
        except Exception as e:   # symbolic's errors: truncated or corrupt DWARF
            from symmap.render.escape import escape
            self.notes.append(f"debug info {d.path}: unreadable ({escape(' '.join(str(e).split()))[:200]}); "
                              "symbol-only answers")
            return None, None
        # A plain function, not the bound _display_one: the table must not
        # hold the Symbolizer (a cycle would leave the whole batch to the
        # cyclic collector).
        from symmap.symbolize.demangle import demangle
        return LineTable(sc, demangle if self.demangle else str, raw), d.path

    def _physical(self, im: Image, frames: tuple[SourceFrame, ...], unslid: int,
                  linkage: str | None, shown: str | None, macho: bool) -> tuple[SourceFrame, ...]:
        """Name the physical (last) frame as llvm-symbolizer does
        (frame_names.py for ELF; source_lines.split_name for Mach-O)."""
        if macho:
            return split_name(frames, linkage, shown, macho)
        key = id(im)
        own = self._own_symbols(im)
        last = frames[-1]
        name = own.find(unslid) if own is not None else None
        if name is None:
            from symmap.symbolize.frame_names import own_symbols, strip_clone_suffix
            name = strip_clone_suffix(last.linkage_name)
            dpath = self.lines_for(im)[1]
            if dpath and not name.startswith("__GI_"):
                dkey = ("debug", key)
                dbg = self._own.get(dkey, False)
                if dbg is False:
                    dbg = self._own[dkey] = own_symbols(dpath) if dpath != im.file_path else own
                gi = dbg.gi_alias(unslid) if dbg is not None else None
                if gi is not None and gi == "__GI_" + name:
                    name = gi
        if name == last.linkage_name:
            return frames
        return frames[:-1] + (last._replace(function=self._display_one(name), linkage_name=name),)

    def _from_report(self, lk: Lookup) -> Lookup:
        """A crash report's own frame names for an address that no symbol
        file names (``symbol_source`` "report"); file:line and inlined
        frames too where the report gives them."""
        fs = self.report_frames(lk.address)
        if not fs:
            return lk
        phys = fs[-1]
        lk.symbol, lk.linkage_name, lk.offset, lk.symbol_source = phys.symbol, None, phys.offset, "report"
        if not lk.frames and any(f.file for f in fs):
            lk.frames = tuple(SourceFrame(f.symbol or "", f.symbol or "", f.file, f.line, None) for f in fs)
        return lk

    def report_frames(self, addr: int) -> list[Frame]:
        """The crash report's (or core's) named frames at ``addr``, innermost
        first, the physical frame last; [] when it names none."""
        if self._report is None:
            self._report = {}
            for th in self.target.threads:
                for f in th.frames:
                    if f.symbol is not None:
                        got = self._report.setdefault(f.address, [])
                        if len(got) < 64:
                            got.append(f)
        return self._report.get(addr, [])

    def _display_one(self, name: str) -> str:
        if not self.demangle or not name:
            return name
        from symmap.symbolize.demangle import demangle
        return demangle(name)

    def _frames(self, im: Image, slide: int | None, unslid: int | None
                ) -> tuple[tuple[SourceFrame, ...], str | None]:
        if not self.debug or unslid is None or slide is None:
            return (), None
        lt, path = self.lines_for(im)
        if lt is None:
            return (), None
        fr = lt.frames(unslid - (im.load_address - slide))
        return fr, (path if fr else None)

    # -- lookups ----------------------------------------------------------

    def _seg_info(self, im: Image, seg: Segment) -> SegInfo:
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
            if fo is not None and im.slice_offset:
                fo += im.slice_offset          # offsets in the file, not the fat slice
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
        if not self.demangle and linkage is not None:
            symbol = linkage
        frames, dbg = self._frames(im, slide, unslid)
        if frames and unslid is not None:
            frames = self._physical(im, frames, unslid, linkage, symbol, macho)
        lk = Lookup(addr, mapped, region, im.path, im.uuid, seg_name, section, symbol, linkage,
                    offset, unslid, file_offset, src if slide is not None and idx is not None else None,
                    before, after, im, addr - im.load_address, frames, dbg)
        if symbol is None and self.target.threads:
            lk = self._from_report(lk)
        return lk

    def addresses_of(self, name: str) -> list[int]:
        """Runtime addresses of every symbol called ``name`` in any image:
        its linkage name (Mach-O: with or without the leading ``_``), its
        display name, or that name without its parameter list."""
        out: list[int] = []
        for im in self.target.images:
            idx, src = self.index_for(im)
            if idx is None:
                continue
            slide = im.slide
            if slide is None and src and src.startswith("file:"):
                slide = im.load_address - idx.image_base
            if slide is None:
                continue
            macho = not (im.filetype or "").startswith("elf")
            names = {st: idx.name_of(st) for st in idx.starts}
            hits = [st for st, nm in names.items()
                    if nm is not None and (nm == name or (macho and nm == "_" + name))]
            if not hits:
                shown = display_names([nm for nm in names.values() if nm is not None], macho)
                for st, nm in names.items():
                    if nm is None:
                        continue
                    d = shown.get(nm, nm)
                    if d == name or _qualified_name(d) == name:
                        hits.append(st)
            out += [st + slide for st in hits]
        return sorted(set(out))

    @_batch
    def chunk_frames(self, chunks: Iterable[Chunk]) -> dict[int, tuple[str, tuple[SourceFrame, ...]]]:
        """address -> (image name, source frames) for the addresses of
        ``chunks`` that debug info knows."""
        out: dict[int, tuple[str, tuple[SourceFrame, ...]]] = {}
        if not self.debug:
            return out
        for c in chunks:
            col = self._frame_column(c)
            if col is not None:
                imn = c.info[5].name if c.info is not None else ""
                out.update((a, (imn, fr)) for a, fr in zip(c.addrs, col) if fr)
        return out

    def _frame_column(self, c: Chunk, shown: dict[str, str] | None = None
                      ) -> list[tuple[SourceFrame, ...]] | None:
        """Source frames of each address of ``c`` (physical frame named as
        llvm-symbolizer does), or None when its image has no debug info.
        ``shown``: display names of the chunk's symbols, handed to
        split_name (Mach-O) as ``lookup`` does; None: split_name demangles."""
        if not self.debug or c.info is None or c.unslid is None:
            return None
        im, slide = c.info[5], c.info[10]
        lt, _p = self.lines_for(im)
        if lt is None or slide is None:
            return None
        base = im.load_address - slide
        macho = c.info[4]
        frs = lt.frames_many(list(map(sub, c.unslid, repeat(base))) if base else c.unslid)
        own = None if macho else self._own_symbols(im)
        if own is not None:
            # The usual ELF answer, checked at C speed first: the symbol
            # covering the address already names the physical frame.
            starts, ends, onames = own.starts, own.ends, own.names
            for k, un, nm, syn, fr, i in zip(count(), c.unslid, c.names, c.synthetic, frs,
                                              map(bisect_right, repeat(starts), c.unslid)):
                if fr and not (i and un < ends[i - 1] and onames[i - 1] == fr[-1].linkage_name):
                    frs[k] = self._physical(im, fr, un, None if syn else nm, None, macho)
            return frs
        for k, un, nm, syn, fr in zip(count(), c.unslid, c.names, c.synthetic, frs):
            if fr:
                link = None if syn else nm
                sym = None if shown is None or nm is None else (nm if syn else shown.get(nm, nm))
                frs[k] = self._physical(im, fr, un, link, sym, macho)
        return frs

    def _own_symbols(self, im: Image) -> Any:
        """frame_names.own_symbols of an ELF image's own file (kept)."""
        key = id(im)
        own = self._own.get(key, False)
        if own is False:
            from symmap.symbolize.frame_names import own_symbols
            p = im.file_path or (im.path if not im.path.startswith("[") else None)
            own = self._own[key] = own_symbols(p) if p else None
        return own

    # -- batches ----------------------------------------------------------

    def _region_column(self, u: list[int]) -> list[Region | None]:
        """Region of each of the ascending addresses ``u`` (region_at's rule:
        the last region starting at or before the address, if it holds it);
        one bisect per run of addresses under one region start."""
        out: list[Region | None] = [None] * len(u)
        starts, regions = self._rstarts, self._regions
        nr, n, p = len(starts), len(u), 0
        while p < n:
            j = bisect_right(starts, u[p]) - 1
            q = bisect_left(u, starts[j + 1], p) if j + 1 < nr else n
            if j >= 0:
                r = regions[j]
                m = bisect_left(u, r.end, p, q)
                out[p:m] = repeat(r, m - p)
            p = q
        return out

    @_batch
    def resolve_many(self, addrs: Iterable[int]) -> list[Chunk]:
        """The distinct addresses of ``addrs`` grouped into Chunks, ascending.

        Same answers as ``lookup`` (tests hold it to that), but the per-
        address work is a C-level bisect map plus one tuple-free loop step:
        segments and sections are found once per run of sorted addresses,
        names are decoded once per symbol hit.
        """
        u = sorted(set(addrs))
        regions = self._region_column(u)
        chunks: list[Chunk] = []
        sstarts, segs = self._sstarts, self._segs
        ns, n, p = len(sstarts), len(u), 0
        while p < n:
            a = u[p]
            j = bisect_right(sstarts, a) - 1
            q = bisect_left(u, sstarts[j + 1], p) if j + 1 < ns else n
            m = p
            if j >= 0:
                lo, hi, im, seg = segs[j]
                m = bisect_left(u, hi, p, q)
                if m > p:
                    self._section_chunks(chunks, u, regions, p, m, self._seg_info(im, seg))
            # Past segment j's end: no segment, or (hostile overlap) an
            # earlier one; rare, so one address at a time.
            for k in range(m, q):
                hit = self.segment_at(u[k])
                info = self._seg_info(*hit) if hit is not None else None
                if info is None:
                    chunks.append(Chunk([u[k]], [regions[k]], None, None, [None], [None], [False], None))
                else:
                    self._section_chunks(chunks, u, regions, k, k + 1, info)
            p = q
        return chunks

    def _section_chunks(self, chunks: list[Chunk], u: list[int], regions: list[Region | None], p: int, q: int,
                        info: SegInfo) -> None:
        """Split u[p:q] (all in one segment) at section bounds; symbolize each run."""
        sec_starts, sec_ends = info[0], info[1]
        ns = len(sec_starts)
        while p < q:
            j = bisect_right(sec_starts, u[p]) - 1
            nxt = bisect_left(u, sec_starts[j + 1], p, q) if j + 1 < ns else q
            m = p
            if j >= 0:
                m = bisect_left(u, sec_ends[j][0], p, nxt)
                if m > p:
                    chunks.append(self._symbols(u[p:m], regions[p:m], info, sec_ends[j][1]))
            if nxt > m:
                chunks.append(self._symbols(u[m:nxt], regions[m:nxt], info, None))
            p = nxt

    def _symbols(self, c: list[int], regs: list[Region | None], info: SegInfo, section: str | None) -> Chunk:
        idx, slide = info[2], info[10]
        n = len(c)
        if slide is None:
            return Chunk(c, regs, info, section, [None] * n, [None] * n, [False] * n, None)
        cu = list(map(sub, c, repeat(slide))) if slide else c
        if idx is None:
            return Chunk(c, regs, info, section, [None] * n, [None] * n, [False] * n, cu)
        starts, ends1, by_addr, decode = idx.starts, idx.ends1, idx.by_addr, idx.decode
        sizes = idx.sizes or None
        out_names: list[str | None] = []
        out_offs: list[int | None] = []
        synth = [False] * n
        add_name, add_off = out_names.append, out_offs.append
        k = 0
        for x, i in zip(cu, map(bisect_right, repeat(starts), cu)):
            if x < ends1[i]:
                st = starts[i - 1]
                off = x - st
                if sizes is not None:
                    sz = sizes.get(st)
                    if sz and off >= sz:
                        add_name(None)
                        add_off(None)
                        k += 1
                        continue
                nm = by_addr[st]
                if nm.__class__ is int:
                    nm = by_addr[st] = decode(nm)
                elif nm is None:
                    nm = f"{idx.image_name}+{st - idx.image_base:#x}"
                    synth[k] = True
                add_name(nm)
                add_off(off)
            else:
                add_name(None)
                add_off(None)
            k += 1
        return Chunk(c, regs, info, section, out_names, out_offs, synth, cu)

    @_batch
    def lookup_many(self, addrs: Iterable[int]) -> list[Lookup]:
        """``[lookup(a) for a in addrs]``, through ``resolve_many``: one
        Lookup per distinct address (repeated addresses share it)."""
        addrs = addrs if isinstance(addrs, list) else list(addrs)
        by_addr: dict[int, Lookup] = {}
        no_regions = not self._regions
        chunks = self.resolve_many(addrs)
        display = self.display_names(map(self.chunk_names, chunks))
        for c in chunks:
            info = c.info
            if info is None:
                for a, reg in zip(c.addrs, c.regions):
                    by_addr[a] = self._unmapped_or_bare(a, reg)
                continue
            im, seg_name, seg_addr, fo, fsize, src = info[5], info[6], info[7], info[8], info[9], info[3]
            shown = display[info[4]] if self.demangle else {}
            known = c.unslid is not None
            slide = info[10]
            lt, dbg = self.lines_for(im) if known and self.debug else (None, None)
            fcol: Iterable[tuple[SourceFrame, ...]] = (
                (self._frame_column(c, shown) if lt is not None and slide is not None else None)
                or repeat(()))
            load = im.load_address
            src = src if known else None
            unslid: Iterable[int | None] = c.unslid if c.unslid is not None else repeat(None)
            for a, reg, nm, off, syn, un, frames in zip(c.addrs, c.regions, c.names, c.offsets,
                                                        c.synthetic, unslid, fcol):
                rel = a - seg_addr
                file_offset = fo + rel if fo is not None and rel < fsize else None
                mapped = reg is not None or no_regions
                before = after = None
                if not mapped:
                    before, after = self._nearest(a)
                if nm is None or syn:
                    sym, link = nm, None
                else:
                    sym, link = shown.get(nm, nm), nm
                by_addr[a] = Lookup(a, mapped, reg, im.path, im.uuid, seg_name, c.section, sym, link,
                                    off, un, file_offset, src, before, after, im, a - load, frames,
                                    dbg if frames else None)
        if self.target.threads:
            for lk in by_addr.values():
                if lk.symbol is None and lk.image is not None:
                    self._from_report(lk)
        return list(map(by_addr.__getitem__, addrs))

    def _unmapped_or_bare(self, a: int, reg: Region | None) -> Lookup:
        if reg is not None:
            return Lookup(a, True, reg)
        before, after = self._nearest(a)
        return Lookup(a, False, None, before=before, after=after)

    @staticmethod
    def chunk_names(c: Chunk) -> tuple[Iterable[str], bool]:
        """(linkage names, is_macho) of a chunk, for display_names."""
        macho = c.info[4] if c.info is not None else False
        if any(c.synthetic):
            return [nm for nm, syn in zip(c.names, c.synthetic) if nm is not None and not syn], macho
        return filter(None, c.names), macho

    @staticmethod
    def display_names(groups: Iterable[tuple[Iterable[str], bool]]) -> dict[bool, dict[str, str]]:
        """{is_macho: {linkage name: display name}} for the names in
        ``groups`` ((names, is_macho) pairs) whose display name differs
        (``.get(name, name)``); mangled names are demangled together (one
        demangler run per kind)."""
        by_kind: dict[bool, list[Iterable[str]]] = {False: [], True: []}
        for names, macho in groups:
            by_kind[macho].append(names)
        return {macho: display_names(chain.from_iterable(its), macho) if its else {}
                for macho, its in by_kind.items()}
