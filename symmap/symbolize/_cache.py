"""Symbols of a dyld shared cache image from the cache reader.

TODO(issue #5, cache reader): symmap.formats.dyld_cache (owned by the cache
engineer) is not in the tree yet, so this adapter has nothing to call and
returns None; cache images then fall back to target memory (their nlist and
exports trie as mapped).  When the reader lands, build the index here from
its image header + linkedit + the ``.symbols`` locals.
"""
from __future__ import annotations

from typing import Any

from ..model import Image
from ._index import SymbolIndex

__all__ = ["cache_index"]


def cache_index(reader: Any, image: Image) -> SymbolIndex | None:
    return None
