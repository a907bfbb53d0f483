"""File, line and inlined frames of an address, from a symbolic SymCache.

symbolic answers ``lookup(rva)`` with the address relative to the image
base (the unslid header address), innermost inlined frame first.  Its
lookup result (SymbolicSourceLocation: sym_addr, instr_addr, line, lang,
symbol, full_path) has no column: ``column`` is always None.  The results
are read straight from its C structs (the wrapper's SourceLocation objects
cost 40% more per lookup).

Names as llvm-symbolizer gives them: GCC's hot/cold split parts come back
from symbolic as ``main.cold``, where llvm-symbolizer names the function
(``main``): the suffix is dropped.  Mach-O names come without the leading
underscore (the DWARF linkage name), so they need no stripping.
"""
from __future__ import annotations

import re
from typing import Any, Callable, NamedTuple

__all__ = ["SourceFrame", "LineTable"]

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
        self._unpack = ffi.unpack
        self._addressof = ffi.addressof
        self._display = display
        self._names: dict[bytes, tuple[str, str]] = {}
        self._paths: dict[bytes, str] = {}
        self._memo: dict[int, tuple[SourceFrame, ...]] = {}

    def _name(self, raw: bytes) -> tuple[str, str]:
        got = self._names.get(raw)
        if got is None:
            link = raw.decode("utf-8", "replace")
            link = _COLD.sub("", link) if ".cold" in link else link
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
                raw = self._unpack(sym.data, sym.len) if sym.len else b""
                path = None
                if fp.len:
                    rp = self._unpack(fp.data, fp.len)
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
