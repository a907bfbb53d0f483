"""Symbolization: which region, image, segment, section and symbol own an address.

``Symbolizer(target).lookup(addr) -> Lookup``; see symbolizer.py.  Symbol
indexes are built per image on first use (``_index.py``) from a file on
disk, the shared cache or target memory (``_sources.py``).
"""
from __future__ import annotations

from symmap.symbolize.frames import name_frames
from symmap.symbolize.symbolizer import Lookup, Symbolizer

__all__ = ["Lookup", "Symbolizer", "name_frames"]
