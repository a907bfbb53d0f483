"""Display names: Mach-O underscore stripping and lazy demangling.

lief is imported only when a name looks mangled (``import lief`` costs
about a second).  The open-source lief wheel answers ``None`` from
``lief.demangle`` ("requires the extended version"); then the linkage
name is kept, as atos does for names it cannot demangle.
"""
from __future__ import annotations

__all__ = ["display_name", "looks_mangled", "demangle"]

_PREFIXES = ("_Z", "_R", "$s", "$S", "_$s", "_$S")
_cache: dict[str, str] = {}
_lief_demangle = None          # resolved on first use: a callable, or False if unusable


def looks_mangled(name: str) -> bool:
    """Itanium C++ (``_Z``), Rust v0 (``_R``) or Swift (``$s``) manglings."""
    return name[:1] in "_$" and name.startswith(_PREFIXES)


def _get_demangler():
    global _lief_demangle
    if _lief_demangle is None:
        try:
            import lief  # noqa: PLC0415 - deliberately lazy
            try:
                lief.logging.disable()   # it prints a banner when demangling is unavailable
            except Exception:
                pass
            fn = getattr(lief, "demangle", None)
            _lief_demangle = fn if callable(fn) else False
        except Exception:
            _lief_demangle = False
    return _lief_demangle


def demangle(name: str) -> str:
    """Demangled ``name`` where lief can, else ``name`` itself."""
    if not looks_mangled(name):
        return name
    hit = _cache.get(name)
    if hit is not None:
        return hit
    out = name
    fn = _get_demangler()
    if fn:
        try:
            d = fn(name)
            if isinstance(d, str) and d:
                out = d
        except Exception:
            pass
    _cache[name] = out
    return out


def display_name(name: str, macho: bool) -> str:
    """The name atos / llvm-symbolizer print: Mach-O C symbols lose the
    leading underscore the compiler added (``_main`` -> ``main``,
    ``__ZN3foo`` -> ``_ZN3foo`` before demangling); ELF names are kept."""
    if macho and name[:1] == "_":
        name = name[1:]
    if name[:1] not in "_$" or not name.startswith(_PREFIXES):
        return name
    return demangle(name)
