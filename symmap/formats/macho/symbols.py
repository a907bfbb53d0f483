"""Mach-O symbol sources: the nlist symbol table, the exports trie and
LC_FUNCTION_STARTS, read with ``struct`` (no lief).

Every reader takes ``(buf, offsets...)`` rather than a file, because a
dylib's ``__LINKEDIT`` does not always sit next to its header: in a dyld
shared cache it lives in a linkedit sub-cache, and in a live target it is
read from memory.  ``image_symbols(buf, m, delta)`` is the convenience
wrapper for the common case where the linkedit offsets of the load
commands, plus ``delta``, index ``buf``.

Addresses returned are *unslid* (as in the file).  Layouts:
<mach-o/nlist.h>, <mach-o/loader.h> (apple-oss-distributions/xnu
EXTERNAL_HEADERS/mach-o/), export-trie grammar from dyld
common/MachOLoaded.cpp ``trieWalk`` / ``forEachExportedSymbol``.
"""
from __future__ import annotations

import mmap
import struct
import sys
from itertools import compress
from typing import Any, Callable, Iterator, NamedTuple

from symmap.formats._binio import Buffer, bounded_count, read_uleb128
from symmap.formats.macho.load_commands import MachO

__all__ = [
    "N_STAB", "N_TYPE", "N_EXT", "N_SECT", "N_PEXT",
    "EXPORT_SYMBOL_FLAGS_KIND_MASK", "EXPORT_SYMBOL_FLAGS_KIND_ABSOLUTE",
    "EXPORT_SYMBOL_FLAGS_REEXPORT", "EXPORT_SYMBOL_FLAGS_STUB_AND_RESOLVER",
    "iter_nlist", "defined_symbols", "iter_exports", "function_starts",
    "ImageSymbols", "image_symbols", "nlist_has_globals",
    "NlistColumns", "nlist_columns", "ImageSymbolColumns", "image_symbol_columns",
]

# <mach-o/nlist.h>
N_STAB = 0xE0
N_PEXT = 0x10
N_TYPE = 0x0E
N_EXT = 0x01
N_UNDF = 0x0
N_ABS = 0x2
N_SECT = 0xE
N_INDR = 0xA

# <mach-o/loader.h>
EXPORT_SYMBOL_FLAGS_KIND_MASK = 0x03
EXPORT_SYMBOL_FLAGS_KIND_REGULAR = 0x00
EXPORT_SYMBOL_FLAGS_KIND_THREAD_LOCAL = 0x01
EXPORT_SYMBOL_FLAGS_KIND_ABSOLUTE = 0x02
EXPORT_SYMBOL_FLAGS_WEAK_DEFINITION = 0x04
EXPORT_SYMBOL_FLAGS_REEXPORT = 0x08
EXPORT_SYMBOL_FLAGS_STUB_AND_RESOLVER = 0x10

_NLIST64 = struct.Struct("<IBBHQ")   # n_strx n_type n_sect n_desc n_value
_NLIST32 = struct.Struct("<IBBhI")

# A symbol name longer than this is garbage (or hostile); real C++ names
# stay well under it.
_MAX_NAME = 4096


def _clamp(buf_len: int, off: int, size: int) -> tuple[int, int]:
    """[off, off+size) clamped to the buffer; (0, 0) if it starts outside."""
    if off < 0 or size <= 0 or off >= buf_len:
        return 0, 0
    return off, min(off + size, buf_len)


# A string table up to this size is copied and decoded once (fast path);
# larger ones (a shared cache's, holding every dylib's names) are read name
# by name (lldb ObjectFileMachO does the same).
_WHOLE_STRTAB = 64 << 20
_WHOLE_LAZY = 1 << 20


class _Strings:
    """NUL-terminated names of a string table by index."""

    __slots__ = ("buf", "start", "end", "find", "text")

    def __init__(self, buf: Buffer, start: int, end: int) -> None:
        self.text: str | None = None
        # Lazy buffers (target memory) pay per page: copy only small tables.
        limit = _WHOLE_STRTAB if isinstance(buf, (bytes, bytearray, mmap.mmap)) else _WHOLE_LAZY
        if end - start <= limit or not hasattr(buf, "find"):
            raw = bytes(buf[start:end])
            buf, start, end = raw, 0, len(raw)
            if raw.isascii():
                # One decode; then byte offsets are str offsets and each name
                # is a str.find + slice (no per-name decode).
                self.text = raw.decode("ascii")
        self.buf, self.start, self.end = buf, start, end
        # str.find on the decoded table, else the buffer's own find.
        self.find: Callable[..., int] = (self.text or buf).find

    def get(self, strx: int) -> str:
        p = self.start + strx
        if strx <= 0 or p >= self.end:
            return ""
        stop = min(self.end, p + _MAX_NAME)
        if self.text is not None:
            i = self.find("\0", p, stop)
            return self.text[p: stop if i < 0 else i]
        i = self.find(b"\0", p, stop)
        raw = self.buf[p: stop if i < 0 else i]
        return bytes(raw).decode("utf-8", "surrogateescape")


def _view(buf: Buffer, start: int, end: int) -> memoryview | bytes:
    """Zero-copy slice where the buffer protocol allows, else a copy (lazy
    memory-backed buffers only offer slicing)."""
    try:
        return memoryview(buf)[start:end]
    except TypeError:
        return bytes(buf[start:end])


def iter_nlist(buf: Buffer, symoff: int, nsyms: int, stroff: int, strsize: int,
               is64: bool = True) -> Iterator[tuple[int, str, int, int, int]]:
    """Every nlist entry as (n_value, name, n_type, n_sect, n_desc).

    Offsets index ``buf``.  The count is clamped to the bytes really present,
    so a truncated or lying LC_SYMTAB yields fewer entries, never an error.
    """
    st = _NLIST64 if is64 else _NLIST32
    s0, s1 = _clamp(len(buf), symoff, nsyms * st.size if nsyms > 0 else 0)
    n = bounded_count(nsyms, st.size, s1 - s0)
    if not n:
        return
    t0, t1 = _clamp(len(buf), stroff, strsize)
    strings = _Strings(buf, t0, t1)
    view = _view(buf, s0, s0 + n * st.size)
    for strx, ntype, nsect, ndesc, value in st.iter_unpack(view):
        yield value, strings.get(strx), ntype, nsect, ndesc


def defined_symbols(buf: Buffer, symoff: int, nsyms: int, stroff: int, strsize: int,
                    is64: bool = True) -> list[tuple[int, str, int, bool]]:
    """Defined, non-debug symbols (locals included) as (address, name, n_sect, external).

    Skips stabs (N_STAB bits set: debug notes, not code) and everything
    but N_SECT (undefined imports, absolute and indirect symbols name no
    byte of the image).  Nameless entries are dropped.  Hot path: a
    100,000-symbol table goes through one ``iter_unpack`` and one
    ``find`` per name.
    """
    st = _NLIST64 if is64 else _NLIST32
    s0, s1 = _clamp(len(buf), symoff, nsyms * st.size if nsyms > 0 else 0)
    n = bounded_count(nsyms, st.size, s1 - s0)
    if not n:
        return []
    t0, t1 = _clamp(len(buf), stroff, strsize)
    strings = _Strings(buf, t0, t1)
    view = _view(buf, s0, s0 + n * st.size)
    out: list[tuple[int, str, int, bool]] = []
    append = out.append
    text = strings.text
    if text is not None:
        # Fast path, inlined: ASCII string table decoded once.
        find = text.find
        tl = len(text)
        for strx, ntype, nsect, _desc, value in st.iter_unpack(view):
            if ntype & 0xE0 or (ntype & 0x0E) != 0x0E or not 0 < strx < tl:
                continue
            e = find("\0", strx)
            name = text[strx:e] if e >= 0 else text[strx:]
            if name:
                append((value, name, nsect, ntype & 1 == 1))
        return out
    get = strings.get
    for strx, ntype, nsect, _desc, value in st.iter_unpack(view):
        if ntype & N_STAB or (ntype & N_TYPE) != N_SECT:
            continue
        name = get(strx)
        if name:
            append((value, name, nsect, bool(ntype & N_EXT)))
    return out


def iter_exports(buf: Buffer, off: int, size: int,
                 max_nodes: int | None = None) -> Iterator[tuple[str, int, int | None]]:
    """Walk an exports trie: (name, flags, image offset or None).

    The offset is relative to the image's mach_header (None for
    re-exports, which name another dylib's symbol, and their address is
    not in this image).  The walk is iterative with an explicit stack,
    visits each node offset at most once (a trie that loops back on itself
    ends, it does not hang) and stops after ``max_nodes`` nodes (default:
    one per byte of trie, the most a well-formed trie can have).
    Malformed nodes are skipped, not fatal: a partial export list is
    still useful to a symbolizer.
    """
    start, end = _clamp(len(buf), off, size)
    if end <= start:
        return
    # One copy of the (small) trie; prefixes stay bytes until a terminal.
    data = bytes(buf[start:end])
    end = len(data)
    budget = max_nodes if max_nodes is not None else end
    seen: set[int] = set()
    stack: list[tuple[int, bytes]] = [(0, b"")]
    find = data.find
    while stack and budget > 0:
        node, prefix = stack.pop()
        if node in seen or node >= end:
            continue
        seen.add(node)
        budget -= 1
        try:
            p = node
            term_size, p = _uleb(data, p, end)
            children = p + term_size
            if term_size:
                flags, q = _uleb(data, p, end)
                name = prefix.decode("utf-8", "surrogateescape")
                if flags & EXPORT_SYMBOL_FLAGS_REEXPORT:
                    yield name, flags, None
                else:
                    addr, q = _uleb(data, q, end)
                    yield name, flags, addr
            if children >= end:
                continue
            nchild = data[children]
            p = children + 1
            kids = []
            for _ in range(nchild):
                i = find(b"\0", p, end)
                if i < 0:
                    break
                edge = data[p:i]
                child, p = _uleb(data, i + 1, end)
                if len(prefix) + len(edge) <= _MAX_NAME:
                    kids.append((child, prefix + edge))
            # Reverse so children pop in trie order (names come out sorted).
            kids.reverse()
            stack.extend(kids)
        except ValueError:
            continue


def _uleb(data: bytes, p: int, end: int) -> tuple[int, int]:
    """ULEB128 at p -> (value, next); one-byte values (most trie fields) fast."""
    if p >= end:
        raise ValueError("uleb128 runs past its data")
    b = data[p]
    if b < 0x80:
        return b, p + 1
    return read_uleb128(data, p, end)


def function_starts(buf: Buffer, off: int, size: int, first: int) -> list[int]:
    """Decode LC_FUNCTION_STARTS: ULEB128 deltas, the first relative to
    ``first`` (the unslid address of the __TEXT segment), ending at a 0
    delta or the end of the data.  Returns unslid addresses, ascending."""
    start, end = _clamp(len(buf), off, size)
    out: list[int] = []
    addr = first
    data = bytes(buf[start:end])
    p, end = 0, len(data)
    # Inline ULEB decoding: this runs once per function of the image.
    while p < end:
        b = data[p]
        p += 1
        if b < 0x80:
            delta = b
        else:
            delta = b & 0x7F
            shift = 7
            while True:
                if p >= end or shift > 63:
                    return out
                b = data[p]
                p += 1
                delta |= (b & 0x7F) << shift
                if b < 0x80:
                    break
                shift += 7
        if delta == 0:
            break
        addr += delta
        out.append(addr)
    return out


class ImageSymbols(NamedTuple):
    """Symbol sources of one Mach-O image, unslid addresses.

    ``symbols``: (address, name, n_sect, external) from LC_SYMTAB;
    ``exports``: (address, name, flags) for exports with an address in this
    image (absolute and re-exported ones left out); ``function_starts``:
    ascending addresses from LC_FUNCTION_STARTS.
    """

    symbols: list[tuple[int, str, int, bool]]
    exports: list[tuple[int, str, int]]
    function_starts: list[int]


_HEADER_MARKERS = frozenset(("__mh_execute_header", "__mh_dylib_header", "__mh_bundle_header",
                             "__mh_dylinker_header"))


def nlist_has_globals(symbols: list[tuple[int, str, int, bool]]) -> bool:
    """True when the nlist defines external symbols besides the linker's
    header marker.  ld64 and strip keep every exported symbol in the nlist
    (strip of a dylib is at most ``-x``), so then the exports trie adds no
    name; a stripped executable or an emptied LC_SYMTAB keeps only the marker."""
    return any(ext and name not in _HEADER_MARKERS for _a, name, _s, ext in symbols)


def _exports_and_starts(buf: Buffer, m: MachO, d: int, base: int, exports: bool
                        ) -> tuple[list[tuple[int, str, int]], list[int]]:
    """The exports trie (when wanted) and LC_FUNCTION_STARTS of one image, at
    unslid addresses; ``d`` moves linkedit file offsets into ``buf``."""
    exps: list[tuple[int, str, int]] = []
    if m.exports and exports:
        eoff, esize = m.exports
        for name, flags, off in iter_exports(buf, eoff + d, esize):
            if off is None or (flags & EXPORT_SYMBOL_FLAGS_KIND_MASK) == EXPORT_SYMBOL_FLAGS_KIND_ABSOLUTE:
                continue
            exps.append((base + off, name, flags))
    starts: list[int] = []
    if m.function_starts:
        foff, fsize = m.function_starts
        starts = function_starts(buf, foff + d, fsize, base)
    return exps, starts


def image_symbols(buf: Buffer, m: MachO, delta: int | None = None,
                  exports: bool | None = True) -> ImageSymbols:
    """All symbol sources of ``m`` whose linkedit data is in ``buf``.

    Linkedit offsets in the load commands are file offsets (relative to the
    slice for a fat file); ``buf[off + delta]`` must be that byte.  Default
    delta = ``m.base`` (the header's own offset in ``buf``: thin files,
    fat slices).  For linkedit read out of memory into its own buffer pass
    ``delta = -__LINKEDIT.fileoff`` (buffer starts at __LINKEDIT.vmaddr).
    ``exports``: True walks the trie always, None only when the nlist has
    no global names (``nlist_has_globals``; saves the walk's time on big
    unstripped images), False never.
    """
    d = m.base if delta is None else delta
    base = m.text_vmaddr or 0
    syms: list[tuple[int, str, int, bool]] = []
    if m.symtab:
        symoff, nsyms, stroff, strsize = m.symtab
        syms = defined_symbols(buf, symoff + d, nsyms, stroff + d, strsize, m.is64)
    if exports is None:
        exports = not nlist_has_globals(syms)
    exps, starts = _exports_and_starts(buf, m, d, base, exports)
    return ImageSymbols(syms, exps, starts)


# --- column readers (symbol index builds: no Python code per symbol) -------

# n_type -> 1 external defined-in-section symbol, 2 local one, 0 anything
# else (stabs, undefined, absolute, indirect): defined_symbols' filter.
_NCLASS = bytes((0 if i & N_STAB or (i & N_TYPE) != N_SECT else (1 if i & N_EXT else 2))
                for i in range(256))
_TO_MASK = bytes([0] + [0xFF] * 255)
_PICK_EXT = bytes(1 if i == 1 else 0 for i in range(256))
_PICK_LOCAL = bytes(1 if i == 2 else 0 for i in range(256))
_NATIVE_LE = sys.byteorder == "little"


class NlistColumns(NamedTuple):
    """Defined, named, non-debug nlist entries as columns (table order):
    ``ext_values``/``ext_strx`` for external symbols, ``local_values``/
    ``local_strx`` for locals; ``strx`` index ``table``: the decoded str
    of an ASCII string table, else an object whose ``get(strx)`` returns
    the name (both as ``symmap.symbolize.symbol_index.SymbolIndex.tables`` takes)."""

    ext_values: list[int]
    ext_strx: list[int]
    local_values: list[int]
    local_strx: list[int]
    table: Any           # a str (decoded table) or an object with get(strx) -> str

    def name(self, strx: int) -> str:
        t = self.table
        if t.__class__ is str:
            e = t.find("\0", strx)
            s: str = t[strx:e] if e >= 0 else t[strx:]
            return s
        got: str = t.get(strx)
        return got


def nlist_columns(buf: Buffer, symoff: int, nsyms: int, stroff: int, strsize: int,
                  is64: bool = True) -> NlistColumns:
    """``defined_symbols`` as columns, names left as string-table offsets.

    Same bounds (count clamped to the bytes present, names inside the
    table) and the same entries: stabs and all but N_SECT skipped,
    nameless (offset 0, past the table, or an empty string) dropped.
    """
    st = _NLIST64 if is64 else _NLIST32
    s0, s1 = _clamp(len(buf), symoff, nsyms * st.size if nsyms > 0 else 0)
    n = bounded_count(nsyms, st.size, s1 - s0)
    t0, t1 = _clamp(len(buf), stroff, strsize)
    strings = _Strings(buf, t0, t1)
    table = strings.text if strings.text is not None else strings
    if not n:
        return NlistColumns([], [], [], [], table)
    view = _view(buf, s0, s0 + n * st.size)
    if not isinstance(view, memoryview):
        view = memoryview(view)
    # A lazy buffer (core or live memory) may return fewer bytes than its
    # len() promised: keep the whole entries that came back.
    got = len(view) // st.size
    if got < n:
        n = got
        view = view[:n * st.size]
    if not n:
        view.release()
        return NlistColumns([], [], [], [], table)
    try:
        if _NATIVE_LE:
            # nlist_64: n_strx u32 @0, n_type u8 @4, n_value u64 @8 (16 bytes);
            # nlist: n_strx @0, n_type @4, n_value u32 @8 (12 bytes).  Casts
            # need no alignment (CPython copies each item out).
            words = view.cast("I")
            if is64:
                strx, values = words[0::4].tolist(), view.cast("Q")[1::2].tolist()
            else:
                strx, values = words[0::3].tolist(), words[2::3].tolist()
            ntype = view[4::st.size].tobytes()
        else:
            cols = list(zip(*st.iter_unpack(view)))
            strx, ntype, values = list(cols[0]), bytes(cols[1]), list(cols[4])
    finally:
        view.release()
    tlen = strings.end - strings.start
    cls = ntype.translate(_NCLASS)
    if strx.count(0) or max(strx) >= tlen:
        ok = bytes(map(range(1, tlen).__contains__, strx)).translate(_TO_MASK)
        cls = (int.from_bytes(cls, "little") & int.from_bytes(ok, "little")).to_bytes(len(cls), "little")
    # Empty names (the offset of a NUL) are nameless too: look at the first
    # byte of every kept name at once where the table is in memory.
    raw = strings.buf if isinstance(strings.buf, bytes) and strings.start == 0 else None
    if raw is not None:
        heads = bytes(map(raw.__getitem__, compress(strx, cls)))
        if heads.count(0):
            keep = iter(heads)
            cls = bytes(c if not c or next(keep) else 0 for c in cls)
    else:
        cls = bytes(c if not c or strings.get(x) else 0 for c, x in zip(cls, strx))
    ext, loc = cls.translate(_PICK_EXT), cls.translate(_PICK_LOCAL)
    return NlistColumns(list(compress(values, ext)), list(compress(strx, ext)),
                        list(compress(values, loc)), list(compress(strx, loc)), table)


class ImageSymbolColumns(NamedTuple):
    """``ImageSymbols`` with the nlist as ``NlistColumns``."""

    nlist: NlistColumns
    exports: list[tuple[int, str, int]]
    function_starts: list[int]


def image_symbol_columns(buf: Buffer, m: MachO, delta: int | None = None,
                         exports: bool | None = None) -> ImageSymbolColumns:
    """``image_symbols`` (same ``delta`` and ``exports`` rules) with the
    nlist read by ``nlist_columns``."""
    d = m.base if delta is None else delta
    base = m.text_vmaddr or 0
    if m.symtab:
        symoff, nsyms, stroff, strsize = m.symtab
        cols = nlist_columns(buf, symoff + d, nsyms, stroff + d, strsize, m.is64)
    else:
        cols = NlistColumns([], [], [], [], "")
    if exports is None:
        # nlist_has_globals: any external name besides the header marker
        # (decoded one by one; the first is nearly always the answer).
        exports = not any(cols.name(x) not in _HEADER_MARKERS for x in cols.ext_strx)
    exps, starts = _exports_and_starts(buf, m, d, base, exports)
    return ImageSymbolColumns(cols, exps, starts)
