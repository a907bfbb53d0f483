"""Display names: Mach-O underscore stripping and lazy demangling.

Demanglers, tried only when a name looks mangled: ``llvm-cxxfilt`` (or
``c++filt``) when on PATH, all names of a batch in ONE subprocess (argv
fixed, names on stdin, no shell); else lief, imported only then (``import
lief`` costs about a second).  The open-source lief wheel answers ``None``
from ``lief.demangle`` ("requires the extended version"); then the linkage
name is kept, as atos does for names it cannot demangle.
"""
from __future__ import annotations

from operator import itemgetter, methodcaller
from typing import Any, Callable, Iterable

__all__ = ["display_name", "display_names", "looks_mangled", "demangle", "demangle_many"]

_PREFIXES = ("_Z", "_R", "$s", "$S", "_$s", "_$S")
_cache: dict[str, str] = {}
_lief_demangle: Callable[[str], Any] | bool | None = None  # resolved on first use: a callable, or False if unusable


def looks_mangled(name: str) -> bool:
    """Itanium C++ (``_Z``), Rust v0 (``_R``) or Swift (``$s``) manglings."""
    return name[:1] in "_$" and name.startswith(_PREFIXES)


def _get_demangler() -> Callable[[str], Any] | bool:
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


# Bounds on what one filter run is given: names longer than this are not
# real manglings worth a subprocess; inputs larger than this are split.
_MAX_NAME = 4096
_MAX_BATCH = 32 << 20
_TIMEOUT = 60
_TOOL_NAMES = ("llvm-cxxfilt", "c++filt")
_tool: str | None | bool = False        # False: not looked up yet


def _filter_tool() -> str | None:
    global _tool
    if _tool is False:
        import shutil  # noqa: PLC0415 - only when a name needs demangling
        _tool = next((p for p in map(shutil.which, _TOOL_NAMES) if p), None)
    return _tool if isinstance(_tool, str) else None


def _run_filter(tool: str, names: list[str]) -> list[str] | None:
    """One filter run over names (one per line); None if it failed or its
    output does not line up with the input."""
    import subprocess  # noqa: PLC0415 - only when a name needs demangling
    try:
        p = subprocess.run([tool], input="\n".join(names) + "\n", capture_output=True,
                           text=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    out = p.stdout.split("\n")
    if p.returncode != 0 or len(out) != len(names) + 1 or out[-1]:
        return None
    return out[:-1]


def _filterable(name: str) -> bool:
    # The filters split lines at blanks: only a single printable ASCII word
    # comes back as one line.
    return len(name) <= _MAX_NAME and name.isascii() and name.isprintable() and " " not in name


def demangle_many(names: Iterable[str]) -> dict[str, str]:
    """name -> demangled name (or the name itself) for every name given;
    names that do not look mangled map to themselves."""
    out: dict[str, str] = {}
    todo: list[str] = []
    for n in names:
        hit = _cache.get(n)
        if hit is not None:
            out[n] = hit
        elif looks_mangled(n):
            todo.append(n)
        else:
            out[n] = n
    tool = _filter_tool() if todo else None
    if tool:
        batch = [n for n in todo if _filterable(n)]
        i = 0
        while i < len(batch):
            j, size = i, 0
            while j < len(batch) and size < _MAX_BATCH:
                size += len(batch[j]) + 1
                j += 1
            got = _run_filter(tool, batch[i:j])
            if got is None:
                break
            for n, d in zip(batch[i:j], got):
                _cache[n] = d if d else n
            i = j
    for n in todo:
        hit = _cache.get(n)
        if hit is None:
            hit = _cache[n] = _lief_one(n)
        out[n] = hit
    return out


def _lief_one(name: str) -> str:
    fn = _get_demangler()
    if callable(fn):
        try:
            d = fn(name)
            if isinstance(d, str) and d:
                return d
        except Exception:
            pass
    return name


def demangle(name: str) -> str:
    """Demangled ``name`` where a demangler can, else ``name`` itself."""
    if not looks_mangled(name):
        return name
    hit = _cache.get(name)
    if hit is not None:
        return hit
    return demangle_many([name])[name]


_has_underscore = methodcaller("startswith", "_")
_mangled = methodcaller("startswith", _PREFIXES)
_drop_first = itemgetter(slice(1, None))


def display_name(name: str, macho: bool) -> str:
    """The name atos / llvm-symbolizer print: Mach-O C symbols lose the
    leading underscore the compiler added (``_main`` -> ``main``,
    ``__ZN3foo`` -> ``_ZN3foo`` before demangling); ELF names lose a
    symbol version (``mtx_init@@GLIBC_2.34`` -> ``mtx_init``), as
    llvm-symbolizer prints them."""
    if macho and name[:1] == "_":
        name = name[1:]
    elif not macho and "@" in name[1:]:
        name = _unversioned(name)
    if name[:1] not in "_$" or not name.startswith(_PREFIXES):
        return name
    return demangle(name)


def display_names(names: Iterable[str], macho: bool) -> dict[str, str]:
    """``display_name`` of many names at once, returned only where it
    differs from the name (usually nothing on ELF, so a caller can print
    names as they are).  Tests run over all names joined into one string
    (C speed; per-name filters cost ~0.4 us a name here); only mangled
    names go, together, to ``demangle_many``."""
    names = set(names)
    names.discard(None)
    if not names:
        return {}
    joined = "\0" + "\0".join(names)
    # Could any name (or, Mach-O, any name minus its underscore) be mangled?
    maybe = any(("\0" + p) in joined for p in _PREFIXES) or (
        macho and any(("\0_" + p) in joined for p in _PREFIXES))
    if macho:
        under = names if joined.count("\0_") == len(names) else set(filter(_has_underscore, names))
        out = dict(zip(under, map(_drop_first, under)))
        if not maybe:
            return out
        shown = dict(zip(names, names))
        shown.update(out)
        mangled = set(filter(_mangled, shown.values()))
        if not mangled:
            return out
        dem = demangle_many(mangled)
        for k, v in shown.items():
            if v in mangled and dem[v] != k:
                out[k] = dem[v]
        return out
    # .symtab of glibc-style libraries names versions: "mtx_init@@GLIBC_2.34".
    out = {n: _unversioned(n) for n in names if "@" in n[1:]} if "@" in joined else {}
    if not maybe:
        return out
    mangled = set(filter(_mangled, (out.get(n, n) for n in names)))
    if not mangled:
        return out
    dem = demangle_many(mangled)
    for n in names:
        v = out.get(n, n)
        if v in dem and dem[v] != n:
            out[n] = dem[v]
    return out


def _unversioned(name: str) -> str:
    return name[0] + name[1:].split("@", 1)[0]
