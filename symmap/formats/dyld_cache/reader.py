"""dyld shared cache reader over a file (mmap) or a target's memory.

symmap's own parser: lief's open-source build has no shared-cache support.
Layouts from apple-oss-distributions/dyld include/mach-o/dyld_cache_format.h
(dyld-1284.13) and common/DyldSharedCache.cpp; the rules are summarised in
reference/darwin-facts.md section 5.

The header grew over the years; ``mappingOffset`` is the size of the header
as written, and dyld's rule is: field F exists iff ``mappingOffset >
offsetof(F)``.  Every count and offset read from the input is bounded by
the real data size (``_binio``), so a hostile file raises ``CorruptInput``.

Opening parses only the headers, mapping tables and sub-cache headers.
Images, Mach-O headers and symbols are read on demand.
"""
from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, Any, Callable, Iterator

from symmap.errors import CorruptInput
from symmap.formats._binio import bounded_count
from symmap.formats.dyld_cache.cache_file import (
    HEADER_FIELDS, mapping_name, CacheFile, CacheFileMapping, CacheImage, DynamicData, FIELD_OFF, FileSource,
    IMAGE_INFO, IMAGE_TEXT_INFO, MAX_IMAGES, MAX_PATH_BLOB, MAX_SUBCACHES, MemorySource, PATH_MAX, SUBCACHE_V1,
    SUBCACHE_V2, SubCache, WHAT, parse_dynamic_data,
)

if TYPE_CHECKING:
    from symmap.formats.macho.load_commands import MachO
    from symmap.model import Image, SharedCache

__all__ = [
    "DyldCache", "CacheFileMapping", "CacheImage", "SubCache", "DynamicData",
    "open_cache", "parse_dynamic_data", "mapping_name", "HEADER_FIELDS", "to_shared_cache",
]


# --- the cache ----------------------------------------------------------

class DyldCache:
    """A dyld shared cache: main file plus sub-caches (and .symbols, lazily).

    Addresses in and out are unslid unless a name says otherwise.  Build
    with ``open_cache(path)`` or ``DyldCache.from_memory(read, base)``.
    """

    def __init__(self, main: CacheFile, path: str | None,
                 runtime_base: int | None = None) -> None:
        self.main_file = main
        self.path = path
        self.runtime_base = runtime_base
        self._files: list[CacheFile] = [main]
        self.subcaches: list[SubCache] = []
        self.notes: list[str] = []
        self._images: list[CacheImage] | None = None
        # image address -> parsed header, parsed once (aliases share an address)
        self._machos: dict[int, MachO] = {}
        self.symbols_file_state: CacheFile | None | bool = False   # False = not looked up yet
        self.locals_table: Any = None
        self._ranges: list[tuple[int, int, CacheFile, int]] | None = None

    # -- construction --
    @classmethod
    def _open_file(cls, path: str) -> "DyldCache":
        main = CacheFile(FileSource(path))
        c = cls(main, path)
        try:
            c._load_subcaches_from_disk()
            for f in c._files:
                f.readparse_slide_info_header()
        except BaseException:
            c.close()
            raise
        return c

    @classmethod
    def from_memory(cls, read: Callable[[int, int], bytes], base: int,
                    path: str | None = None) -> "DyldCache":
        """A cache as mapped in a target, header at runtime address ``base``
        (all_image_infos.sharedCacheBaseAddress).  ``path``: the on-disk main
        cache file, if known, used only for local symbols (.symbols)."""
        src = MemorySource(read, base)
        main = CacheFile(src)
        if not main.mappings:
            raise CorruptInput(WHAT, "cache in memory has no mappings", "memory")
        slide = base - main.mappings[0].address
        src.set_mappings(main.mappings, slide)
        c = cls(main, path, base)
        c._load_subcaches_from_memory(read)
        return c

    def _subcache_entries(self) -> list[tuple[bytes, int, str]]:
        f = self.main_file
        if not (f.header_size > FIELD_OFF["subCacheArrayCount"] and f.get("subCacheArrayCount")):
            return []
        # v2 entries (with a file suffix) iff the header has cacheSubType (dyld-1042+).
        v2 = f.header_size > FIELD_OFF["cacheSubType"]
        st = SUBCACHE_V2 if v2 else SUBCACHE_V1
        count = f.h["subCacheArrayCount"]
        if count > MAX_SUBCACHES:
            raise CorruptInput(WHAT, f"subCacheArrayCount {count} is implausible", self.path)
        raw = f.src.read(f.h["subCacheArrayOffset"], count * st.size)
        out = []
        for i in range(count):
            if v2:
                u, vmoff, suffix = st.unpack_from(raw, i * st.size)
                sfx = suffix.split(b"\0", 1)[0].decode("utf-8", "replace")
                if "/" in sfx or not sfx:
                    raise CorruptInput(WHAT, f"sub-cache {i + 1} has a bad file suffix {sfx!r}", self.path)
            else:
                u, vmoff = st.unpack_from(raw, i * st.size)
                sfx = "." + str(i + 1)     # v1: unpadded (DyldSharedCache.cpp mapCacheFiles)
            out.append((u, vmoff, sfx))
        return out

    def _base_path(self) -> str:
        assert self.path is not None
        p = self.path
        # Universal caches: sub-caches hang off the name without ".development".
        if self.main_file.get("cacheType") == 2 and p.endswith(".development"):
            p = p[: -len(".development")]
        return p

    def _add_subcache(self, i: int, f: CacheFile, u: bytes, vmoff: int, sfx: str,
                      path: str | None) -> None:
        want = u.hex()
        if f.uuid != want:
            raise CorruptInput(WHAT, f"sub-cache {sfx} has uuid {f.uuid}, the main cache "
                               f"expects {want}", path)
        expect = self.unslid_base + vmoff
        if f.mappings and f.mappings[0].address != expect:
            raise CorruptInput(WHAT, f"sub-cache {sfx} starts at {f.mappings[0].address:#x}, "
                               f"expected {expect:#x}", path)
        self._files.append(f)
        self.subcaches.append(SubCache(i, path, f.uuid, vmoff, sfx, f.mappings))

    def _load_subcaches_from_disk(self) -> None:
        entries = self._subcache_entries()
        if not entries:
            return
        base = self._base_path()
        for i, (u, vmoff, sfx) in enumerate(entries, 1):
            p = base + sfx
            if not os.path.exists(p):
                self.notes.append(f"sub-cache {p} is missing: its mappings are unreadable")
                self.subcaches.append(SubCache(i, None, u.hex(), vmoff, sfx, []))
                continue
            f = CacheFile(FileSource(p), i)
            self._add_subcache(i, f, u, vmoff, sfx, p)

    def _load_subcaches_from_memory(self, read: Callable[[int, int], bytes]) -> None:
        slide = self.slide or 0
        assert self.runtime_base is not None      # from_memory sets it before this runs
        for i, (u, vmoff, sfx) in enumerate(self._subcache_entries(), 1):
            src = MemorySource(read, self.runtime_base + vmoff, f"memory sub-cache {sfx}")
            try:
                f = CacheFile(src, i)
            except CorruptInput as e:
                self.notes.append(f"sub-cache {sfx} unreadable in memory: {e.reason}")
                self.subcaches.append(SubCache(i, None, u.hex(), vmoff, sfx, []))
                continue
            src.set_mappings(f.mappings, slide)
            self._add_subcache(i, f, u, vmoff, sfx, None)

    # -- header facts --
    @property
    def header(self) -> dict[str, Any]:
        return dict(self.main_file.h)

    @property
    def header_size(self) -> int:
        return self.main_file.header_size

    @property
    def magic(self) -> str:
        return self.main_file.magic

    @property
    def arch(self) -> str:
        return self.main_file.arch

    @property
    def uuid(self) -> str:
        return self.main_file.uuid

    @property
    def unslid_base(self) -> int:
        return self.main_file.mappings[0].address if self.main_file.mappings else 0

    @property
    def slide(self) -> int | None:
        """runtime base - unslid base, for a cache read out of memory."""
        if self.runtime_base is None:
            return None
        return self.runtime_base - self.unslid_base

    @property
    def mappings(self) -> list[CacheFileMapping]:
        """Every mapping of the main file and the sub-caches, by address."""
        out = [m for f in self._files for m in f.mappings]
        out.sort(key=lambda m: m.address)
        return out

    @property
    def size(self) -> int:
        """Bytes from the unslid base to the end of the last mapping."""
        ms = self.mappings
        return max(m.end for m in ms) - self.unslid_base if ms else 0

    @property
    def symbol_file_uuid(self) -> str | None:
        u = self.main_file.h.get("symbolFileUUID")
        return u.hex() if u and any(u) else None

    def dynamic_data(self) -> DynamicData | None:
        """The dynamic-data page (only in a target's memory: dyld creates it
        when it maps the cache).  None when absent or unreadable."""
        f = self.main_file
        if self.runtime_base is None or not f.has("dynamicDataOffset") or not f.get("dynamicDataOffset"):
            return None
        src = f.src
        assert isinstance(src, MemorySource)
        addr = self.runtime_base + f.get("dynamicDataOffset")
        raw = src._read(addr, 80 + PATH_MAX)
        if not raw or len(raw) < 40:
            raw = src._read(addr, 80)
        return parse_dynamic_data(bytes(raw or b""))

    # -- address space --
    def _address_ranges(self) -> list[tuple[int, int, CacheFile, int]]:
        if self._ranges is None:
            r = [(m.address, m.end, f, m.file_offset) for f in self._files for m in f.mappings]
            r.sort(key=lambda t: t[0])
            self._ranges = r
        return self._ranges

    def locate(self, addr: int, size: int = 1) -> tuple[CacheFile, int] | None:
        """(file, file offset) holding unslid [addr, addr+size), or None."""
        for start, end, f, foff in self._address_ranges():
            if start <= addr and addr + size <= end:
                return f, foff + addr - start
        return None

    def read(self, unslid_addr: int, size: int) -> bytes:
        """Bytes at an unslid address; b"" if not mapped by any cache file."""
        loc = self.locate(unslid_addr, size) if size > 0 else None
        if loc is None:
            return b""
        f, off = loc
        try:
            return bytes(f.src.read(off, size))
        except CorruptInput:
            return b""

    # -- images --
    @property
    def images(self) -> list[CacheImage]:
        if self._images is None:
            self._images = self._read_images()
        return self._images

    def _read_images(self) -> list[CacheImage]:
        f = self.main_file
        src = f.src
        label = self.path or "memory"
        # dyld: the new table at 0x1C0 iff mappingOffset >= 0x1C4 (the old one
        # was zeroed "to prevent older dsc_extractors from crashing").
        if f.header_size >= 0x1C4 and "imagesCount" in f.h:
            off, count = f.get("imagesOffset"), f.get("imagesCount")
        else:
            off, count = f.get("imagesOffsetOld"), f.get("imagesCountOld")
        if not count:
            return []
        if count > MAX_IMAGES:
            raise CorruptInput(WHAT, f"imagesCount {count} is implausible", label)
        n = bounded_count(count, IMAGE_INFO.size, src.size - off if off < src.size else 0)
        if n < count:
            raise CorruptInput(WHAT, f"image table ({count} entries at {off:#x}) runs past the data", label)
        raw = src.read(off, n * IMAGE_INFO.size)
        texts = self._text_infos()
        recs = list(IMAGE_INFO.iter_unpack(raw))
        strs, lo = self._path_blob(src, [r[3] for r in recs])
        out: list[CacheImage] = []
        for i, (addr, mtime, inode, poff, _pad) in enumerate(recs):
            if strs is not None:
                o = poff - lo
                e = strs.find(b"\0", o, o + PATH_MAX)
                path = strs[o:e if e >= 0 else o + PATH_MAX].decode("utf-8", "surrogateescape")
            else:
                path = _mem_cstring(src, poff)
            if not path:
                raise CorruptInput(WHAT, f"image {i} has no path (pathFileOffset {poff:#x})", label)
            t = texts.get(addr)
            out.append(CacheImage(i, path, addr, t[0] if t else None, t[1] if t else None, mtime, inode))
        return out

    @staticmethod
    def _path_blob(src: FileSource | MemorySource, offs: list[int]) -> tuple[bytes | None, int]:
        """The bytes holding every image path, read once: the builder writes
        the paths together, so one bounded read beats 2,000 small ones."""
        if not offs:
            return None, 0
        lo, hi = min(offs), max(offs) + PATH_MAX
        hi = min(hi, src.size)
        if lo >= src.size or hi - lo > MAX_PATH_BLOB:
            return None, 0
        try:
            return bytes(src.read(lo, hi - lo)), lo
        except CorruptInput:
            return None, 0

    def _text_infos(self) -> dict[int, tuple[str, int]]:
        f = self.main_file
        count = f.get("imagesTextCount")
        if not (f.header_size > 0x88 and count):
            return {}
        off = f.get("imagesTextOffset")
        count = min(count, MAX_IMAGES)
        n = bounded_count(count, IMAGE_TEXT_INFO.size, f.src.size - off if off < f.src.size else 0)
        if not n:
            return {}
        try:
            raw = f.src.read(off, n * IMAGE_TEXT_INFO.size)
        except CorruptInput:
            return {}
        return {addr: (u.hex(), tsize) for u, addr, tsize, _p in IMAGE_TEXT_INFO.iter_unpack(raw)}

    def _image(self, image: int | CacheImage) -> CacheImage:
        if isinstance(image, CacheImage):
            return image
        imgs = self.images
        if not 0 <= image < len(imgs):
            raise IndexError(f"no cache image {image}")
        return imgs[image]

    def image_macho(self, image: int | CacheImage) -> MachO:
        """The parsed Mach-O header (load commands, unslid addresses) of an image."""
        img = self._image(image)
        m = self._machos.get(img.address)
        if m is None:
            m = self._machos[img.address] = self._parse_image(img)
        return m

    def _parse_image(self, img: CacheImage) -> MachO:
        from symmap.formats.macho.load_commands import parse_macho

        loc = self.locate(img.address, 32)
        if loc is None:
            raise CorruptInput(WHAT, f"image {img.path} at {img.address:#x} is outside every mapping",
                               self.path)
        f, off = loc
        src = f.src
        if isinstance(src, FileSource):
            return parse_macho(src.buf, off, f.path)
        hdr = src.read(off, 32)
        (sizeofcmds,) = struct.unpack_from("<I", hdr, 20)
        if sizeofcmds > 1 << 20:
            raise CorruptInput("Mach-O", f"sizeofcmds {sizeofcmds:#x} is implausible", img.path)
        return parse_macho(src.read(off, 32 + sizeofcmds), 0, img.path)

    def model_images(self, slide: int = 0) -> list[Image]:
        """Every cached image as a ``model.Image`` at ``slide``."""
        from symmap.formats.macho.load_commands import to_image

        out = []
        for img in self.images:
            m = self.image_macho(img)
            im = to_image(m, img.path, img.address + slide, in_shared_cache=True, slide=slide)
            if im.uuid is None:
                im.uuid = img.uuid
            out.append(im)
        return out

    # -- symbols (dyld_cache_symbols.py) --
    def local_symbols(self, image: int | CacheImage) -> list[tuple[int, str]]:
        """Local (non-exported) symbols of one image as (unslid address, name)."""
        from symmap.formats.dyld_cache.local_symbols import local_symbols
        return local_symbols(self, self._image(image))

    def iter_all_local_symbols(self) -> Iterator[tuple[int, int, str]]:
        """(dylib VM offset or file offset key, unslid address, name) of every local symbol."""
        from symmap.formats.dyld_cache.local_symbols import iter_all_local_symbols
        return iter_all_local_symbols(self)

    def symbols_for(self, image: int | CacheImage, locals: bool = True) -> list[tuple[int, str]]:
        """(unslid address, name) from the image's nlist and exports trie in
        the shared linkedit, plus its local symbols, sorted by address."""
        from symmap.formats.dyld_cache.local_symbols import symbols_for
        return symbols_for(self, self._image(image), locals)

    def symbols_path(self) -> str | None:
        """Path of the .symbols companion (not opened)."""
        if not self.path or not self.symbol_file_uuid:
            return None
        p = self.path
        if p.endswith(".development"):
            p = p[: -len(".development")]
        return p + ".symbols"

    # -- lifetime --
    def close(self) -> None:
        for f in self._files:
            f.src.close()
        sf = self.symbols_file_state
        if isinstance(sf, CacheFile):
            sf.src.close()
        self.symbols_file_state = False

    def __enter__(self) -> "DyldCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<DyldCache {self.magic!r} uuid={self.uuid} base={self.unslid_base:#x} "
                f"subcaches={len(self.subcaches)}>")


def _mem_cstring(src: FileSource | MemorySource, off: int) -> str:
    """A path string read out of target memory, in small steps (strings
    can end near the end of a mapping)."""
    out = b""
    for step in (128, 1024):
        try:
            chunk = src.read(off, step)
        except CorruptInput:
            chunk = b""
            for s in (64, 16, 1):
                try:
                    chunk = src.read(off, s)
                    break
                except CorruptInput:
                    continue
        i = chunk.find(b"\0")
        if i >= 0:
            return chunk[:i].decode("utf-8", "surrogateescape")
        out = chunk
    return out.decode("utf-8", "surrogateescape")


def open_cache(path: str) -> DyldCache:
    """Open a cache file (and its sub-caches).  Raises CorruptInput."""
    return DyldCache._open_file(os.fspath(path))


def to_shared_cache(cache: DyldCache, slide: int | None = None, path: str | None = None) -> SharedCache:
    """A ``model.SharedCache`` for ``cache`` mapped at ``slide`` (default: the
    memory cache's own slide, else 0), with mappings at runtime addresses."""
    from symmap.model import CacheMapping, SharedCache

    s = cache.slide if slide is None else slide
    s = s or 0
    sc = SharedCache(uuid=cache.uuid, base=cache.unslid_base + s, slide=s,
                     size=cache.size or None, path=path or cache.path, reader=cache)
    sc.mappings = [CacheMapping(m.address + s, m.size, m.file_offset, m.max_prot, m.init_prot,
                                m.name or None, m.subcache) for m in cache.mappings]
    sc.subcaches = [{"index": c.index, "path": c.path, "uuid": c.uuid, "vm_offset": c.vm_offset,
                     "suffix": c.suffix, "missing": c.path is None and not c.mappings}
                    for c in cache.subcaches]
    return sc
