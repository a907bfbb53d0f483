"""Symbols of dyld shared cache images: the shared linkedit (nlist, exports
trie) and the unmapped local symbols (``.symbols`` file or, in single-file
caches, ``localSymbolsOffset`` of the cache itself).

Layouts: dyld_cache_local_symbols_info / _entry / _entry_64 in
apple-oss-distributions/dyld include/mach-o/dyld_cache_format.h; the rules
(which file, which entry size, what dylibOffset means) in darwin-facts 5.7
and other-tools/dsc_extractor.cpp.  Nlist and trie decoding is shared with
plain Mach-O files (``macho_symbols``).
"""
from __future__ import annotations

import os
import struct
from typing import Any, Iterator, Protocol

from symmap.errors import CorruptInput
from symmap.formats._binio import bounded_count
from symmap.formats.dyld_cache.cache_file import CacheFile, CacheImage, FileSource
from symmap.formats.macho.symbols import (EXPORT_SYMBOL_FLAGS_KIND_ABSOLUTE, EXPORT_SYMBOL_FLAGS_KIND_MASK,
                            N_SECT, N_STAB, N_TYPE, image_symbols, iter_exports)
from symmap.formats.macho.load_commands import MachO, MachOSegment


class CacheView(Protocol):
    """What these functions need of a DyldCache (reader.py), named here so that
    this module does not import the reader that calls it."""

    main_file: CacheFile
    symbols_file_state: CacheFile | None | bool
    locals_table: "LocalSymbols | None | bool"
    notes: list[str]
    path: str | None

    @property
    def symbol_file_uuid(self) -> str | None: ...
    @property
    def uuid(self) -> str: ...
    @property
    def arch(self) -> str: ...
    @property
    def unslid_base(self) -> int: ...

    def symbols_path(self) -> str | None: ...
    def image_macho(self, image: int | CacheImage) -> Any: ...
    def locate(self, addr: int, size: int = 1) -> tuple[CacheFile, int] | None: ...
    def read(self, addr: int, size: int) -> bytes: ...


__all__ = ["CacheView", "LocalSymbols", "local_symbols", "iter_all_local_symbols", "symbols_for"]

_INFO = struct.Struct("<6I")          # dyld_cache_local_symbols_info
_ENTRY32 = struct.Struct("<III")      # dyld_cache_local_symbols_entry
_ENTRY64 = struct.Struct("<QII")      # dyld_cache_local_symbols_entry_64
_NLIST64 = struct.Struct("<IBBHQ")
_NLIST32 = struct.Struct("<IBBhI")
_MAX_NAME = 4096
_32BIT_ARCHS = ("i386", "armv", "arm64_32")


class LocalSymbols:
    """The decoded local-symbols info of one file: bounds and the entry map."""

    def __init__(self, f: "CacheFile", is64_nlist: bool) -> None:
        src = f.src
        size = src.size
        off, length = f.get("localSymbolsOffset"), f.get("localSymbolsSize")
        label = f.path
        if off <= 0 or length < _INFO.size or off + _INFO.size > size:
            raise CorruptInput("cache", f"local symbols [{off:#x}+{length:#x}] lie outside the file", label)
        end = min(off + length, size)
        (nl_off, nl_count, str_off, str_size, ent_off, ent_count) = _INFO.unpack_from(
            src.read(off, _INFO.size))
        if src.buf is None:         # a .symbols file is always a file, never target memory
            raise CorruptInput("cache", "local symbols are read from a cache file only", label)
        self.buf = src.buf
        self.nlist_size = 16 if is64_nlist else 12
        self.is64 = is64_nlist
        self.nlist_start = off + nl_off
        self.nlist_count = bounded_count(nl_count, self.nlist_size, max(0, end - self.nlist_start))
        self.str_start = off + str_off
        self.str_size = max(0, min(str_size, end - self.str_start)) if self.str_start < end else 0
        # Entry size: _64 iff this file's header is at least dyld-940's (mappingOffset >= 0x190).
        self.entries64 = f.header_size >= 0x190
        est = _ENTRY64 if self.entries64 else _ENTRY32
        e0 = off + ent_off
        n = bounded_count(ent_count, est.size, max(0, end - e0))
        self.entries: dict[int, tuple[int, int]] = {}
        if n:
            raw = src.read(e0, n * est.size)
            for dylib_off, start, count in est.iter_unpack(raw):
                # Clamp each range to the real nlist array.
                if start < self.nlist_count:
                    self.entries[dylib_off] = (start, min(count, self.nlist_count - start))

    def symbols(self, start: int, count: int) -> list[tuple[int, str]]:
        """Defined, non-stab symbols of nlist[start:start+count] (clamped)."""
        if count <= 0 or start >= self.nlist_count:
            return []
        count = min(count, self.nlist_count - start)
        st = _NLIST64 if self.is64 else _NLIST32
        p = self.nlist_start + start * st.size
        view = memoryview(self.buf)[p:p + count * st.size]
        # Names are read in place from the mmap: a real .symbols string pool
        # is hundreds of MB, and one image needs only its own names.
        buf = self.buf
        base, n = self.str_start, self.str_size
        end = base + n
        find = buf.find
        out: list[tuple[int, str]] = []
        append = out.append
        try:
            for strx, ntype, _sect, _desc, value in st.iter_unpack(view):
                if ntype & N_STAB or (ntype & N_TYPE) != N_SECT or not 0 < strx < n:
                    continue
                p = base + strx
                stop = min(end, p + _MAX_NAME)
                e = find(b"\0", p, stop)
                name = buf[p:e if e >= 0 else stop]
                if name:
                    append((value, name.decode("utf-8", "surrogateescape")))
        finally:
            view.release()
        return out


def _symbols_file(cache: CacheView) -> "CacheFile | None":
    """The file holding local symbols, opened once; None (with a note) if
    absent or its UUID differs from the one the main header names."""

    if cache.symbols_file_state is not False:
        return cache.symbols_file_state  # type: ignore[return-value]
    sf = None
    main = cache.main_file
    want = cache.symbol_file_uuid
    if want and main.header_size > 0x190:
        p = cache.symbols_path()
        if p and os.path.exists(p):
            f = CacheFile(FileSource(p))
            if f.uuid != want:
                cache.notes.append(f"{p}: uuid {f.uuid} differs from symbolFileUUID {want}; "
                                   "local symbols not used")
                f.src.close()
            else:
                sf = f
        else:
            cache.notes.append(f"local symbols file {p or '<cache>.symbols'} not found")
    elif main.header_size > 0x50 and main.get("localSymbolsOffset"):
        if main.src.buf is not None:
            sf = main
        elif cache.path and os.path.exists(cache.path):
            f = CacheFile(FileSource(cache.path))
            if f.uuid == cache.uuid:
                sf = f
            else:
                f.src.close()
                cache.notes.append(f"{cache.path}: uuid {f.uuid} differs from the mapped cache")
    cache.symbols_file_state = sf
    return sf


def _locals(cache: CacheView) -> LocalSymbols | None:
    if cache.locals_table is None:
        sf = _symbols_file(cache)
        if sf is None or not sf.get("localSymbolsOffset"):
            cache.locals_table = False
        else:
            is64 = not cache.arch.startswith(_32BIT_ARCHS)
            cache.locals_table = LocalSymbols(sf, is64)
    t = cache.locals_table
    return t if isinstance(t, LocalSymbols) else None


def _entry_key(cache: CacheView, ls: LocalSymbols, img: "CacheImage") -> int | None:
    if ls.entries64:
        # VM offset of the dylib's __TEXT from the main cache's unslid base.
        return img.address - cache.unslid_base
    # Old entries: file offset of the dylib in the single cache file.
    return cache.main_file.fileoff_of(img.address)


def local_symbols(cache: CacheView, img: "CacheImage") -> list[tuple[int, str]]:
    ls = _locals(cache)
    if ls is None:
        return []
    key = _entry_key(cache, ls, img)
    ent = ls.entries.get(key) if key is not None else None
    if ent is None:
        return []
    return ls.symbols(*ent)


def iter_all_local_symbols(cache: CacheView) -> Iterator[tuple[int, int, str]]:
    ls = _locals(cache)
    if ls is None:
        return
    from symmap.progress import progress
    # A progress bar (terminal only): the .symbols file of a full cache is millions of names.
    with progress("indexing cache local symbols", len(ls.entries), min_total=64) as step:
        for key, (start, count) in ls.entries.items():
            for addr, name in ls.symbols(start, count):
                yield key, addr, name
            step(1)


def symbols_for(cache: CacheView, img: "CacheImage", with_locals: bool = True) -> list[tuple[int, str]]:
    """(unslid address, name) of an image: exports trie + nlist from the
    shared linkedit + (optionally) local symbols; sorted, de-duplicated."""

    m = cache.image_macho(img)
    out: set[tuple[int, str]] = set()
    le = m.segment("__LINKEDIT")
    loc = cache.locate(le.vmaddr, 1) if le is not None else None
    if le is not None and loc is not None:
        f, off = loc
        # Linkedit offsets in the load commands are "file offsets" relative to
        # the __LINKEDIT segment's fileoff (dyld getLinkEditContent); map them
        # through the segment's address into whichever file holds it.
        delta = off - le.fileoff
        if isinstance(f.src, FileSource):
            s = image_symbols(f.src.buf, m, delta)
            out.update((a, n) for a, n, _sect, _ext in s.symbols)
            out.update((a, n) for a, n, _fl in s.exports)
        else:
            out.update(_memory_symbols(cache, m, le))
    if with_locals:
        out.update(local_symbols(cache, img))
    return sorted(out)


def _memory_symbols(cache: CacheView, m: MachO, le: MachOSegment) -> list[tuple[int, str]]:
    """Same as above for a cache read out of target memory: read the nlist
    and trie ranges, and names one by one (the shared string table holds
    every dylib's names: never read it whole; lldb ObjectFileMachO does the same)."""
    def at(off: int) -> int:
        return le.vmaddr + off - le.fileoff

    out: list[tuple[int, str]] = []
    base = m.text_vmaddr or 0
    if m.exports:
        eoff, esize = m.exports
        if 0 < esize <= 1 << 26:
            raw = cache.read(at(eoff), esize)
            for name, flags, o in iter_exports(raw, 0, len(raw)):
                if o is not None and (flags & EXPORT_SYMBOL_FLAGS_KIND_MASK) != EXPORT_SYMBOL_FLAGS_KIND_ABSOLUTE:
                    out.append((base + o, name))
    if m.symtab and m.is64:
        symoff, nsyms, stroff, strsize = m.symtab
        n = min(nsyms, 1 << 20)
        raw = cache.read(at(symoff), n * 16) if n else b""
        for strx, ntype, _sect, _desc, value in _NLIST64.iter_unpack(raw[: len(raw) // 16 * 16]):
            if ntype & N_STAB or (ntype & N_TYPE) != N_SECT or not 0 < strx < strsize:
                continue
            chunk = cache.read(at(stroff + strx), min(256, strsize - strx))
            name = chunk.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if name:
                out.append((value, name))
    return out
