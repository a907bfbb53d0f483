"""Symbols of a dyld shared cache image from the cache reader
(symmap.formats.dyld_cache.reader.DyldCache, ``target.shared_cache.reader``).

Names: the reader's ``symbols_for`` (the image's nlist and exports trie in
the shared linkedit, plus its unmapped locals from the ``.symbols`` file).
Function starts are read here through ``reader.read`` (unslid addresses),
since the reader does not return them.  Works the same for a cache file
and a cache read out of target memory.
"""
from __future__ import annotations

from typing import Any

from symmap.formats.macho.symbols import function_starts
from symmap.model import Image
from symmap.symbolize.symbol_index import SymbolIndex, build_index

__all__ = ["cache_index"]

# LC_FUNCTION_STARTS of one dylib is a few KB; refuse absurd sizes.
_MAX_STARTS = 1 << 24


def _cache_image(reader: Any, image: Image) -> Any | None:
    if image.slide is None:
        return None
    unslid = image.load_address - image.slide
    for img in reader.images:
        if img.address == unslid:
            return img
    for img in reader.images:
        if img.path == image.path:
            return img
    return None


def cache_index(reader: Any, image: Image) -> SymbolIndex | None:
    img = _cache_image(reader, image)
    if img is None:
        return None
    m = reader.image_macho(img)
    if image.uuid and m.uuid and image.uuid != m.uuid:
        return None
    named = reader.symbols_for(img, True)
    starts: list[int] = []
    le = m.segment("__LINKEDIT")
    base = m.text_vmaddr or 0
    if m.function_starts and le is not None:
        foff, fsize = m.function_starts
        if 0 < fsize <= _MAX_STARTS:
            # Linkedit offsets are relative to __LINKEDIT.fileoff (dyld getLinkEditContent).
            raw = reader.read(le.vmaddr + foff - le.fileoff, fsize)
            starts = function_starts(raw, 0, len(raw), base)
    sections = [(c.addr, c.addr + c.size) for s in m.segments for c in s.sections]
    segments = [(s.vmaddr, s.vmaddr + s.vmsize) for s in m.segments
                if s.name not in ("__PAGEZERO", "__LINKEDIT") and s.vmsize]
    return build_index(named, sections, segments, unnamed=starts,
                       image_base=base, image_name=image.name)
