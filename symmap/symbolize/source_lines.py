"""File, line and inlined frames of an address, from a symbolic SymCache.

symbolic answers ``lookup(rva)`` with the address relative to the image
base (the unslid header address), innermost inlined frame first.  Its
lookup result (SymbolicSourceLocation: sym_addr, instr_addr, line, lang,
symbol, full_path) has no column: ``column`` is always None.  The results
are read straight from its C structs (the wrapper's SourceLocation objects
cost 40% more per lookup).

GCC's hot/cold split functions: symbolic names the physical function of
both parts by its lowest-addressed symbol (``main.cold`` for addresses in
``main``); llvm-symbolizer 14 names the part holding the address (``main``
in the hot part, ``main.cold`` in the cold one).  ``split_name`` fixes the
physical frame from the symbol table.  Mach-O names come without the
leading underscore (the DWARF linkage name).
"""
from __future__ import annotations

import re
from bisect import bisect_right
from itertools import repeat
from typing import Any, Callable, NamedTuple

from symmap.formats.symcache import NO_LOCATION, parse_tables, string_at

__all__ = ["SourceFrame", "LineTable", "split_name"]

_COLD = re.compile(r"\.cold(\.\d+)?$")
# One address's frames are bounded by what symbolic returns; a hostile
# inline tree deeper than this is cut.
_MAX_FRAMES = 256


class SourceFrame(NamedTuple):
    function: str              # display name (demangled unless turned off)
    linkage_name: str          # the name as stored
    file: str | None
    line: int | None           # None: no line known
    column: int | None         # symbolic gives no columns: always None


_MANGLED = ("_Z", "_R", "$s", "$S", "_$s", "__Z")


def split_name(frames: tuple[SourceFrame, ...], symbol_linkage: str | None, symbol_shown: str | None,
               macho: bool) -> tuple[SourceFrame, ...]:
    """``frames`` with the physical (last) frame named as llvm-symbolizer
    names it: by the symbol table (symmap's index, which follows
    llvm-symbolizer's choice among aliases) when DWARF gave no linkage name
    (C functions: ``socketpair``, not symbolic's ``__GI_socketpair``), or
    when the two differ only by a ``.cold`` suffix."""
    if not frames or not symbol_linkage:
        return frames
    last = frames[-1]
    sym = symbol_linkage[1:] if macho and symbol_linkage.startswith("_") else symbol_linkage
    if "@" in sym[1:]:
        sym = sym[0] + sym[1:].split("@", 1)[0]          # ELF symbol version
    if sym == last.linkage_name:
        return frames
    c_name = not last.linkage_name.startswith(_MANGLED)
    if not c_name and _COLD.sub("", sym) != _COLD.sub("", last.linkage_name):
        return frames
    shown = symbol_shown
    if shown is None:
        from symmap.symbolize.demangle import demangle
        shown = demangle(sym)
    return frames[:-1] + (last._replace(function=shown, linkage_name=sym),)


class LineTable:
    """Frames per address over one image's SymCache.

    With the cache's bytes (``raw``, format v9) lookups never cross into
    symbolic per address: the address's range is found by bisect over the
    range table, its source location's chain of callers walked in the
    location table, and each frame kept per source location, so addresses
    share the SourceFrames (and whole caller chains) of the inline tree
    above them.  Function names are read from the string table; file paths
    (``join_path``/``clean_path`` in symbolic) are taken from symbolic's
    own answer the first time a file index appears, and that answer is
    compared with the tables' (names, lines, depth): any difference and
    symbolic answers every lookup (``_fast`` off).  Without ``raw``, or
    for another format, each lookup reads symbolic's C structs."""

    def __init__(self, symcache: Any, display: Callable[[str], str], raw: bytes | None = None) -> None:
        from symbolic._lowlevel import ffi, lib  # noqa: PLC0415 - lazy
        self._sc = symcache                # keeps the cache (and its bytes) alive
        self._ptr = symcache._get_objptr()
        self._look = lib.symbolic_symcache_lookup
        self._free = lib.symbolic_lookup_result_free
        self._sfree = lib.symbolic_str_free
        self._copy = ffi.buffer
        self._addressof = ffi.addressof
        self._display = display
        self._names: dict[bytes, tuple[str, str]] = {}
        self._paths: dict[bytes, str] = {}
        self._memo: dict[int, tuple[SourceFrame, ...]] = {}
        self._fast = parse_tables(raw)
        self._chains: dict[int, tuple[SourceFrame, ...]] = {}   # source location -> its chain
        self._funcs: dict[int, tuple[str, str]] = {}           # function index -> (shown, linkage)
        self._files: dict[int, str | None] = {}                # file index -> full path
        self._shared: dict[tuple[int, int, int], SourceFrame] = {}

    def _name(self, raw: bytes) -> tuple[str, str]:
        got = self._names.get(raw)
        if got is None:
            link = raw.decode("utf-8", "replace")
            got = self._names[raw] = (self._display(link), link)
        return got

    def frames(self, rva: int) -> tuple[SourceFrame, ...]:
        """Innermost first; () when symbolic knows nothing of ``rva``, or
        knows only a symbol-table name (no file, line 0): the caller's own
        symbol index answers those."""
        if self._fast is not None:
            if not 0 <= rva < 1 << 32:         # symbolic: u32 addresses only
                return ()
            r = bisect_right(self._fast.ranges, rva) - 1
            if r < 0:
                return ()
            res = self._chain(len(self._fast.locations) // 4 - len(self._fast.ranges) + r, rva)
            if self._fast is not None:
                if len(res) == 1 and res[0].file is None and res[0].line is None:
                    return ()
                return res
        got = self._memo.get(rva)
        if got is not None:
            return got
        if not 0 <= rva < 1 << 64:
            return ()
        res = tuple(SourceFrame(*self._name(raw), path, line or None, None)
                    for raw, path, line in self._lookup(rva))
        if len(res) == 1 and res[0].file is None and res[0].line is None:
            res = ()
        if len(self._memo) < 1 << 20:
            self._memo[rva] = res
        return res

    def frames_many(self, rvas: list[int]) -> list[tuple[SourceFrame, ...]]:
        """``[frames(r) for r in rvas]``: ranges found by one C-level
        bisect map, chains read from the per-location memo."""
        lay = self._fast
        if lay is None:
            return list(map(self.frames, rvas))
        chains = self._chains
        first0 = len(lay.locations) // 4 - len(lay.ranges) - 1
        out: list[tuple[SourceFrame, ...]] = []
        add = out.append
        for rva, r in zip(rvas, map(bisect_right, repeat(lay.ranges), rvas)):
            if not r or not 0 <= rva < 1 << 32:
                add(())
                continue
            got = chains.get(first0 + r)
            if got is None:
                got = self._chain(first0 + r, rva)
                if self._fast is None:         # symbolic disagreed: it answers the rest
                    return out + list(map(self.frames, rvas[len(out):]))
            if len(got) == 1 and got[0].file is None and got[0].line is None:
                got = ()
            add(got)
        return out

    def _lookup(self, rva: int) -> list[tuple[bytes, str | None, int]]:
        """symbolic's answer for ``rva``: (name, path, line) per frame."""
        rv = self._look(self._ptr, rva)
        out = []
        try:
            for i in range(min(rv.len, _MAX_FRAMES)):
                s = rv.items[i]
                sym, fp = s.symbol, s.full_path
                raw = self._copy(sym.data, sym.len)[:] if sym.len else b""
                path = None
                if fp.len:
                    rp = self._copy(fp.data, fp.len)[:]
                    path = self._paths.get(rp)
                    if path is None:
                        path = self._paths[rp] = rp.decode("utf-8", "surrogateescape")
                if fp.owned:
                    self._sfree(self._addressof(fp))
                out.append((raw, path, s.line))
        finally:
            self._free(self._addressof(rv))
        return out

    def _chain(self, first: int, rva: int) -> tuple[SourceFrame, ...]:
        """Frames of source location ``first`` and its callers (the range
        holding ``rva`` starts there)."""
        lay = self._fast
        assert lay is not None
        chains = self._chains
        got = chains.get(first)
        if got is not None:
            return got
        nlocs = len(lay.locations) // 4
        if first >= nlocs:
            return ()
        unpack, lo = lay.location_at, lay.loc_offset
        rec = unpack(lo + 16 * first)
        if rec == NO_LOCATION:
            return ()                          # symbolic's NO_SOURCE_LOCATION: an end marker
        files = self._files
        fi, line, fn, up = rec
        parent = chains.get(up)
        if parent is not None and fi in files and len(chains) < 1 << 21:
            # The usual case: a new innermost location under a known chain.
            f = self._shared.get((fn, fi, line))
            if f is None:
                f = self._frame(fn, fi, line)
            one = (f,) + parent
            if len(one) > _MAX_FRAMES:
                one = one[:_MAX_FRAMES]
            chains[first] = one
            return one
        todo: list[tuple[int, int, int, int]] = []
        tail: tuple[SourceFrame, ...] = ()
        new_file = False
        s = first
        while s < nlocs and len(todo) < _MAX_FRAMES:
            t = chains.get(s)
            if t is not None:
                tail = t
                break
            fi, line, fn, up = unpack(lo + 16 * s)
            if fi not in files:
                new_file = True
            todo.append((s, fi, line, fn))
            s = up
        if new_file and not self._learn(todo, tail, rva):
            self._fast = None
            return ()
        shared = self._shared
        for s, fi, line, fn in reversed(todo):
            f = shared.get((fn, fi, line))
            if f is None:
                f = self._frame(fn, fi, line)
            tail = (f,) + tail
            if len(tail) > _MAX_FRAMES:
                tail = tail[:_MAX_FRAMES]
            if len(chains) < 1 << 21:
                chains[s] = tail
        return tail

    def _frame(self, fn: int, fi: int, line: int) -> SourceFrame:
        """One SourceFrame per (function, file, line), kept: renderers key
        their formatted rows by the frame's identity."""
        name = self._funcs.get(fn)
        if name is None:
            name = self._func(fn)
        f = SourceFrame(name[0], name[1], self._files[fi], line or None, None)
        if len(self._shared) < 1 << 21:
            self._shared[(fn, fi, line)] = f
        return f

    def _func(self, fn: int) -> tuple[str, str]:
        lay = self._fast
        assert lay is not None
        link = string_at(lay.strings, lay.functions[4 * fn]) if fn < len(lay.functions) // 4 else None
        if link is None:
            link = "?"                         # symbolic's name of an unknown function
        got = self._funcs[fn] = (self._display(link) if link else link, link)
        return got

    def _learn(self, todo: list[tuple[int, int, int, int]], tail: tuple[SourceFrame, ...], rva: int) -> bool:
        """Take the paths of the new file indices in ``todo`` ((location,
        file, line, function), innermost first, above ``tail``) from
        symbolic's answer for ``rva``; False when that answer is not what
        the tables say."""
        lay = self._fast
        assert lay is not None
        got = self._lookup(rva)
        if len(got) != min(len(todo) + len(tail), _MAX_FRAMES):
            return False
        for (_s, fi, line, fn), (raw, path, sline) in zip(todo, got):
            name = self._funcs.get(fn) or self._func(fn)
            if sline != line or raw.decode("utf-8", "replace") != name[1]:
                return False
            if fi >= lay.nfiles:
                if path is not None:
                    return False
                self._files[fi] = None
            elif self._files.setdefault(fi, path) != path:
                return False
        return True
