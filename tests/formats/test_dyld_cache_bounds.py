"""Image-table cost in a dyld cache (issue 12's cost sweep: 65,536 entries
naming three dylibs took 9 s and 590 MB to map)."""
from __future__ import annotations

import shutil
import struct

import pytest

from symmap.errors import CorruptInput
from symmap.formats.dyld_cache.cache_file import MAX_IMAGES
from symmap.formats.dyld_cache.reader import open_cache
from tests.conftest import OWN_FIXTURES

CACHE = OWN_FIXTURES / "dyld_cache" / "out" / "cache"


def _with_images(tmp_path, count: int):
    """The committed cache with its image table replaced by `count` entries
    cycling over its own images (aliases: same address, same path)."""
    for f in CACHE.iterdir():
        shutil.copy(f, tmp_path / f.name)
    p = tmp_path / "dyld_shared_cache_arm64"
    b = bytearray(p.read_bytes())
    off, n = struct.unpack_from("<II", b, 0x1C0)
    infos = [b[off + 32 * i: off + 32 * (i + 1)] for i in range(n)]
    new_off = len(b)
    b += b"".join(infos[i % n] for i in range(count))
    struct.pack_into("<II", b, 0x1C0, new_off, count)
    p.write_bytes(bytes(b))
    return p, n


def test_aliases_are_parsed_once(tmp_path):
    p, distinct = _with_images(tmp_path, MAX_IMAGES)
    c = open_cache(str(p))
    try:
        imgs = c.model_images()
        assert len(imgs) == MAX_IMAGES
        assert len(c._machos) == distinct          # noqa: SLF001 (one parse per address)
    finally:
        c.close()


def test_image_count_over_the_cap_is_refused(tmp_path):
    p, _ = _with_images(tmp_path, MAX_IMAGES + 1)
    with pytest.raises(CorruptInput, match="imagesCount"):
        c = open_cache(str(p))
        c.images
