"""Where an image's symbols come from, in order of preference:

1. a file on disk: ``Image.file_path``; else ``Image.path`` (or a file of
   the same name under a ``--search-path`` directory) if its UUID /
   build-id matches the image's;
2. the shared cache reader (``target.shared_cache.reader``) for cache
   images: their nlist + the unmapped locals of the ``.symbols`` file;
3. target memory (``target.memory``): the Mach-O header and __LINKEDIT as
   mapped in the target.

Each loader returns a SymbolIndex or None (nothing usable there).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from symmap.errors import SymmapError
from symmap.formats.macho import load_commands as _macho
from symmap.formats.macho.symbols import ImageSymbolColumns, image_symbol_columns
from symmap.model import Image, Target
from symmap.symbolize.symbol_index import SymbolIndex, build_index_columns
from symmap.symbolize.memory_buffer import MemoryBuffer

if TYPE_CHECKING:
    from symmap.formats._binio import Buffer

__all__ = ["load_index", "macho_index"]

# Load commands of a real image fit in a few pages; refuse more.
_MAX_HEADER = 1 << 20


def macho_index(m: _macho.MachO, syms: ImageSymbolColumns, image_name: str,
                extra_named: list[tuple[int, str]] | None = None) -> SymbolIndex:
    """Index from a parsed header (for its unslid section/segment bounds)
    and its symbol sources.  Name preference at one address: external
    nlist, local nlist, then the exports trie (chained-fixup binaries may
    have only the trie), then ``extra_named`` (e.g. cache locals).  nlist
    names stay string-table offsets until looked up."""
    nl = syms.nlist
    # (addresses, names): names are string-table offsets (nlist) or strings.
    sources: list[tuple[list[int], list[Any]]] = [(nl.ext_values, nl.ext_strx), (nl.local_values, nl.local_strx)]
    if syms.exports:
        sources.append(([a for a, _n, _f in syms.exports], [n for _a, n, _f in syms.exports]))
    if extra_named:
        sources.append(([a for a, _n in extra_named], [n for _a, n in extra_named]))
    sections = [(c.addr, c.addr + c.size) for s in m.segments for c in s.sections]
    segments = [(s.vmaddr, s.vmaddr + s.vmsize) for s in m.segments
                if s.name != "__PAGEZERO" and s.vmsize]
    return build_index_columns(sources, sections, segments, unnamed=syms.function_starts,
                               image_base=m.text_vmaddr or 0, image_name=image_name,
                               tables=[nl.table])


def _read_file(path: str) -> Any:
    """The file mapped read-only (only the pages the symbol readers touch
    become resident: a 110 MB library's .dynsym and .dynstr are 4 MB), or
    None when empty or unreadable."""
    import mmap
    try:
        with open(path, "rb") as f:
            try:
                return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):      # empty, or a file system without mmap
                return f.read() or None
    except OSError:
        return None


def _pick_slice(buf: bytes, image: Image, path: str) -> _macho.MachO | None:
    """The Mach-O in a thin or fat file that is this image: same UUID when
    the image has one, else same arch, else the only slice."""
    cands = []
    for _arch, off in _macho.iter_slices(buf, path):
        cands.append(_macho.parse_macho(buf, off, path))
    if image.uuid:
        for m in cands:
            if m.uuid == image.uuid:
                return m
        return None
    if image.arch:
        for m in cands:
            if m.arch == image.arch:
                return m
    return cands[0] if len(cands) == 1 else None


def _file_candidates(image: Image, search_paths: list[str]) -> list[tuple[str, bool]]:
    """(path, trusted): file_path is trusted as the image's own file; other
    paths must prove it by UUID/build-id."""
    out: list[tuple[str, bool]] = []
    if image.file_path:
        out.append((image.file_path, True))
    # "[vdso]"-style names are kernel images, never files (one in the cwd is not it).
    if image.path and not image.path.startswith("[") and os.path.isfile(image.path):
        out.append((image.path, False))
    for d in search_paths:
        for rel in (image.name,
                    f"{image.name}.dSYM/Contents/Resources/DWARF/{image.name}"):
            p = os.path.join(d, rel)
            if os.path.isfile(p):
                out.append((p, False))
    return out


def _from_file(image: Image, path: str, trusted: bool) -> SymbolIndex | None:
    buf = _read_file(path)
    if not buf:
        return None
    if buf[:4] == b"\x7fELF":
        from symmap.symbolize.elf_symbols import elf_index
        return elf_index(buf, image, path, trusted)
    if not (_macho.is_macho_magic(buf) or _macho.is_fat_magic(buf)):
        return None
    if not trusted and not image.uuid:
        return None          # nothing to prove the file is this image
    m = _pick_slice(buf, image, path)
    if m is None:
        return None
    return macho_index(m, image_symbol_columns(buf, m, exports=None), image.name)


# An ELF image read whole from memory (the Linux vDSO) stays this small.
_MAX_MEMORY_ELF = 1 << 20


def _elf_from_memory(image: Image, target: Target) -> SymbolIndex | None:
    """An ELF mapped whole by the kernel (vDSO): section headers and symbol
    tables are inside the mapping, so the file is its memory."""
    lo = min((s.address for s in image.segments), default=image.load_address)
    hi = max((s.end for s in image.segments), default=lo)
    size = max(hi - lo, image.size or 0)
    if not 0 < size <= _MAX_MEMORY_ELF or target.memory is None:
        return None
    buf = bytes(target.memory.read(lo, size) or b"")
    if buf[:4] != b"\x7fELF":
        return None
    from symmap.symbolize.elf_symbols import elf_index
    return elf_index(buf, image, image.path, trusted=False)


def _from_memory(image: Image, target: Target) -> SymbolIndex | None:
    mem = target.memory
    if mem is None:
        return None
    if (image.filetype or "").startswith("elf"):
        return _elf_from_memory(image, target)
    head = bytes(mem.read(image.load_address, 0x1000) or b"")
    if not _macho.is_macho_magic(head):
        return None
    sizeofcmds = int.from_bytes(head[20:24], "little")
    need = 32 + sizeofcmds
    if need > len(head):
        if need > _MAX_HEADER:
            return None
        head = bytes(mem.read(image.load_address, need) or b"")
    m = _macho.parse_macho(head, 0, image.path)
    if image.uuid and m.uuid and m.uuid != image.uuid:
        return None
    le = m.segment("__LINKEDIT")
    if le is None or m.text_vmaddr is None:
        return None
    slide = image.load_address - m.text_vmaddr
    # Linkedit offsets are file offsets; in memory the data sits at
    # __LINKEDIT.vmaddr - __LINKEDIT.fileoff + off (+ slide)
    # (frida gumdarwinmodule.c gum_find_linkedit).
    buf = MemoryBuffer(mem, le.vmaddr + slide, le.filesize)
    # MemoryBuffer offers what the Mach-O readers use of a buffer (len, slices, find).
    return macho_index(m, image_symbol_columns(cast("Buffer", buf), m, -le.fileoff, exports=None), image.name)


def _from_cache(image: Image, target: Target) -> SymbolIndex | None:
    sc = target.shared_cache
    reader: Any = getattr(sc, "reader", None) if sc else None
    if reader is None:
        return None
    from symmap.symbolize.dyld_cache_symbols import cache_index
    return cache_index(reader, image)


def load_index(image: Image, target: Target, search_paths: list[str]) -> tuple[SymbolIndex | None, str | None]:
    """(index, source) for ``image``; source is "file:PATH", "cache" or
    "memory".  Errors in one source (corrupt file) fall through to the next."""
    for path, trusted in _file_candidates(image, search_paths):
        try:
            idx = _from_file(image, path, trusted)
        except SymmapError:
            idx = None
        if idx is not None:
            return idx, f"file:{path}"
    loaders = ((_from_cache, "cache"), (_from_memory, "memory"))
    if not image.in_shared_cache:
        loaders = loaders[::-1]
    for fn, name in loaders:
        try:
            idx = fn(image, target)
        except SymmapError:
            idx = None
        if idx is not None:
            return idx, name
    return None, None
