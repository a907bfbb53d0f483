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
from typing import Any, Callable, NamedTuple

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
    """Frames per address over one image's SymCache; answers are kept per
    rva (crash reports repeat addresses) and names decoded once."""

    def __init__(self, symcache: Any, display: Callable[[str], str]) -> None:
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
        got = self._memo.get(rva)
        if got is not None:
            return got
        if not 0 <= rva < 1 << 64:
            return ()
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
                fn, link = self._name(raw)
                out.append(SourceFrame(fn, link, path, s.line or None, None))
        finally:
            self._free(self._addressof(rv))
        res = tuple(out)
        if len(res) == 1 and res[0].file is None and res[0].line is None:
            res = ()
        if len(self._memo) < 1 << 20:
            self._memo[rva] = res
        return res
