"""Display names: Mach-O underscore stripping and in-process demangling.

One demangler on every host: pydemumble (demumble's LLVM demanglers for
Itanium C++, Rust legacy and v0, Swift, MSVC), imported on the first name
that looks mangled.  No subprocess, no dependence on which ``c++filt`` a
host has.  Rust legacy names lose their ``::h<hash>`` (rustc-demangle's
alternate form).  ObjC names (``-[Foo bar]``) and C names pass through.

Two things in a name could hurt the process, so they are checked first:
- depth: LLVM's demanglers recurse about once per character, ~180 bytes of
  C stack each.  Names up to ``_DIRECT_MAX`` run on the caller's thread
  (safe on a 512 KiB thread stack, macOS's smallest); longer ones, up to
  ``MAX_NAME``, on a helper thread with a big stack; longer still stay as
  they are.
- blow-up: back-references print their target again, so a 266-character
  Itanium name can print 1 GB (measured: 12 s).  A name whose worst case,
  length x 2^(back-references), exceeds ``_MAX_EXPANSION`` stays mangled;
  that is ~0.1% of libLLVM's names.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from operator import itemgetter, methodcaller

__all__ = ["MAX_NAME", "demangle", "demangle_many", "display_name", "display_names", "looks_mangled"]

# Itanium C++ (Mach-O adds "_", blocks "__"), Rust v0, Swift 5+ / 4.x /
# embedded, Swift 4.0 and older "_T" manglings.
_PREFIXES = ("_Z", "__Z", "___Z", "_R", "__R", "$s", "$S", "$e", "_$s", "_$S", "_$e", "_T")
MAX_NAME = 32768
_DIRECT_MAX = 2048
_BIG_STACK = 64 << 20           # ~12x what MAX_NAME needs (measured ~5.5 MB)
_MAX_EXPANSION = 1 << 24        # characters of output a name may possibly print
# Back-reference syntax: Itanium substitutions / template parameters, Rust v0
# backrefs, Swift substitutions (counted loosely: over-counting only keeps a
# name mangled, never lets a bomb through).
_REFS = {
    "Z": re.compile(r"S[0-9A-Z]*_|T[0-9]*_|fp[0-9]*_"),
    "R": re.compile(r"B[0-9A-Za-z]*_"),
    "s": re.compile(r"A|S[0-9A-Za-z]*_"),
}
_cache: dict[str, str] = {}
_CACHE_MAX = 1 << 20
_impl: Callable[[str], str] | None = None


def looks_mangled(name: str) -> bool:
    """Does ``name`` start like a C++, Rust or Swift mangling?"""
    return name[:1] in "_$" and name.startswith(_PREFIXES)


def _family(name: str) -> str:
    c = name.lstrip("_")[:1]
    return "s" if c in "$T" else c        # else "Z" or "R"


def _safe(name: str) -> bool:
    """Short enough, one word of ASCII, and no output bomb."""
    if len(name) > MAX_NAME or not name.isascii() or not name.isprintable() or " " in name:
        return False
    # Cheap bound first: Itanium and Rust back-references end in "_", so
    # the "_" count bounds them; the exact count only when that is not enough.
    fam = _family(name)
    if fam != "s" and len(name) << min(name.count("_"), 40) <= _MAX_EXPANSION:
        return True
    refs = len(_REFS[fam].findall(name))
    return refs < 40 and len(name) << refs <= _MAX_EXPANSION


def _demangler() -> Callable[[str], str]:
    global _impl
    if _impl is None:
        import pydemumble
        _impl = pydemumble.demangle
    return _impl


def _on_big_stack(fn: Callable[[], None]) -> None:
    """Run ``fn`` on a thread whose stack fits the deepest allowed name."""
    with _stack_lock:
        old = threading.stack_size(_BIG_STACK)
        try:
            t = threading.Thread(target=fn, name="symmap-demangle", daemon=True)
            t.start()
        finally:
            threading.stack_size(old)
    t.join()


_stack_lock = threading.Lock()


# Rust legacy: an Itanium nested name of identifiers only ("_ZN3foo3barE"),
# with rustc's "$LT$"-style escapes and "..", and a hash element last.
# Decoded here, not by pydemumble: 0.1.1 keeps the escapes, 0.1.2+ decode
# them, and the same answer on every host is the point.
_IDENT = re.compile(r"[A-Za-z0-9_$.]+", re.ASCII)
_SUFFIX = re.compile(r"(?:\.[A-Za-z0-9_$.@]*)?", re.ASCII)
_ESCAPES = {"SP": "@", "BP": "*", "RF": "&", "LT": "<", "GT": ">", "LP": "(", "RP": ")", "C": ","}
_HASH = re.compile(r"h[0-9a-f]{16}", re.ASCII)      # what rustc emits; C++ may name a variable "hdef"
_LLVM_SUFFIX = re.compile(r"\.llvm\.[0-9A-F@]+", re.ASCII)


def _split_suffix(name: str) -> tuple[str, str]:
    """(symbol, suffix): ThinLTO's ".llvm.<hex>" is dropped, other ".x"
    suffixes are kept as rustc-demangle prints them (appended)."""
    dot = name.find(".")
    if dot < 0:
        return name, ""
    suffix = name[dot:]
    return name[:dot], ("" if _LLVM_SUFFIX.fullmatch(suffix) else suffix)


def _rust_legacy(name: str) -> str | None:
    """rustc-demangle's alternate form of a legacy Rust name, or None when
    ``name`` is not one (then the Itanium demangler has it).  A plain loop,
    not one regex: nested quantifiers backtrack for ages on C++ names."""
    if not name.startswith(("_ZN", "__ZN")):
        return None
    i = name.index("N") + 1
    end = len(name)
    parts: list[str] = []
    while i < end and name[i] != "E":
        j = i
        while j < end and name[j].isdigit():
            j += 1
        if not 0 < j - i <= 5:              # no length, or longer than any name
            return None
        n = int(name[i:j])
        part = name[j:j + n]
        if len(part) != n or not _IDENT.fullmatch(part):
            return None
        parts.append(part)
        i = j + n
    if i >= end or not parts:
        return None
    suffix = name[i + 1:]
    if not _SUFFIX.fullmatch(suffix):
        return None
    if _LLVM_SUFFIX.fullmatch(suffix):
        suffix = ""
    if len(parts) > 1 and _HASH.fullmatch(parts[-1]):
        parts.pop()
    out = []
    for p in parts:
        d = _unescape(p)
        if d is None:
            return None
        out.append(d)
    return "::".join(out) + suffix


def _unescape(part: str) -> str | None:
    if part.startswith("_$"):
        part = part[1:]
    res: list[str] = []
    i = 0
    while i < len(part):
        c = part[i]
        if c == "$":
            end = part.find("$", i + 1)
            if end < 0:
                return None
            code = part[i + 1:end]
            if code in _ESCAPES:
                res.append(_ESCAPES[code])
            elif code[:1] == "u" and 1 < len(code) <= 7 and all(h in "0123456789abcdef" for h in code[1:]):
                cp = int(code[1:], 16)
                if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                    return None
                res.append(chr(cp))
            else:
                return None
            i = end + 1
        elif part.startswith("..", i):
            res.append("::")
            i += 2
        else:
            res.append(c)
            i += 1
    return "".join(res)


def _one(fn: Callable[[str], str], name: str) -> str:
    r = _rust_legacy(name)
    if r is not None:
        return r
    if name.lstrip("_")[:1] == "R" and "." in name:         # Rust v0 with a suffix
        sym, suffix = _split_suffix(name)
        d = fn(sym)
        return d + suffix if d else name
    return fn(name) or name


def _run(names: list[str]) -> None:
    """Demangle ``names`` (all safe, none cached) into the cache."""
    fn = _demangler()
    if len(_cache) + len(names) > _CACHE_MAX:
        _cache.clear()
    deep: list[str] = []
    cache = _cache
    for n in names:
        if len(n) > _DIRECT_MAX:
            deep.append(n)
        elif n[-1] == "E" or "$" in n or "." in n:    # maybe Rust legacy / v0, or a suffix
            cache[n] = _one(fn, n)
        else:
            # Hot path: a C++ function ("...Ev"), never a legacy Rust name,
            # which ends in "E" (pydemumble would drop any "h<hex>" element).
            cache[n] = fn(n) or n

    def work() -> None:
        for n in deep:
            _cache[n] = _one(fn, n)
    if deep:
        _on_big_stack(work)


def demangle(name: str) -> str:
    """Readable form of a mangled C++, Rust or Swift ``name``; the name
    itself when it is not mangled, or cannot (or may not) be demangled."""
    if not looks_mangled(name):
        return name
    hit = _cache.get(name)
    if hit is not None:
        return hit
    if not _safe(name):
        return name
    _run([name])
    return _cache[name]


def demangle_many(names: Iterable[str]) -> dict[str, str]:
    """name -> ``demangle(name)`` for every name given."""
    out: dict[str, str] = {}
    todo: list[str] = []
    for n in names:
        hit = _cache.get(n)
        if hit is not None:
            out[n] = hit
        elif looks_mangled(n) and _safe(n):
            todo.append(n)
        else:
            out[n] = n
    if todo:
        todo = list(dict.fromkeys(todo))
        _run(todo)
        for n in todo:
            out[n] = _cache.get(n, n)
    return out


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


def display_names(names: Iterable[str | None], macho: bool) -> dict[str, str]:
    """``display_name`` of many names at once, returned only where it
    differs from the name (usually nothing on ELF, so a caller can print
    names as they are).  Tests run over all names joined into one string
    (C speed; per-name filters cost ~0.4 us a name here); only mangled
    names go, together, to ``demangle_many``."""
    uniq: set[str] = {n for n in names if n is not None}
    if not uniq:
        return {}
    joined = "\0" + "\0".join(uniq)
    # Could any name (or, Mach-O, any name minus its underscore) be mangled?
    maybe = any(("\0" + p) in joined for p in _PREFIXES) or (
        macho and any(("\0_" + p) in joined for p in _PREFIXES))
    if macho:
        under = uniq if joined.count("\0_") == len(uniq) else set(filter(_has_underscore, uniq))
        out: dict[str, str] = dict(zip(under, map(_drop_first, under)))
        if not maybe:
            return out
        shown = dict(zip(uniq, uniq))
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
    out = {n: _unversioned(n) for n in uniq if "@" in n[1:]} if "@" in joined else {}
    if not maybe:
        return out
    mangled = set(filter(_mangled, (out.get(n, n) for n in uniq)))
    if not mangled:
        return out
    dem = demangle_many(mangled)
    for n in uniq:
        v = out.get(n, n)
        if v in dem and dem[v] != n:
            out[n] = dem[v]
    return out


def _unversioned(name: str) -> str:
    return name[0] + name[1:].split("@", 1)[0]


# Filtering text (``symmap demangle < crash.txt``): a candidate is a whole
# word of symbol characters that starts like a mangling.  Mach-O names keep
# their underscores ("__ZN3foo3barEv"), as llvm-cxxfilt does.
_WORD = re.compile(r"(?<![A-Za-z0-9_$.])(?:_{1,3}Z|_{1,2}R|_?\$[sSe]|_T)[A-Za-z0-9_$.]*", re.ASCII)


def demangle_text(line: str) -> str:
    """``line`` with every mangled word replaced by its demangled form; a
    word with trailing dots (end of a sentence) is tried without them."""
    def one(m: re.Match[str]) -> str:
        w = m.group(0)
        d = demangle(w)
        if d == w and w.endswith("."):
            core = w.rstrip(".")
            d2 = demangle(core)
            if d2 != core:
                return d2 + w[len(core):]
        return d
    return _WORD.sub(one, line)
