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

import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from symmap.errors import CorruptInput
from symmap.formats._binio import bounded_count, cstring_at

__all__ = [
    "DyldCache", "CacheFileMapping", "CacheImage", "SubCache", "DynamicData",
    "open_cache", "parse_dynamic_data", "mapping_name", "HEADER_FIELDS", "to_shared_cache",
]

WHAT = "cache"

# (name, offset, struct format) of every header field (darwin-facts 5.2).
HEADER_FIELDS: list[tuple[str, int, str]] = [
    ("mappingOffset", 0x10, "I"), ("mappingCount", 0x14, "I"),
    ("imagesOffsetOld", 0x18, "I"), ("imagesCountOld", 0x1C, "I"),
    ("dyldBaseAddress", 0x20, "Q"), ("codeSignatureOffset", 0x28, "Q"),
    ("codeSignatureSize", 0x30, "Q"), ("slideInfoOffsetUnused", 0x38, "Q"),
    ("slideInfoSizeUnused", 0x40, "Q"), ("localSymbolsOffset", 0x48, "Q"),
    ("localSymbolsSize", 0x50, "Q"), ("uuid", 0x58, "16s"), ("cacheType", 0x68, "Q"),
    ("branchPoolsOffset", 0x70, "I"), ("branchPoolsCount", 0x74, "I"),
    ("dyldInCacheMH", 0x78, "Q"), ("dyldInCacheEntry", 0x80, "Q"),
    ("imagesTextOffset", 0x88, "Q"), ("imagesTextCount", 0x90, "Q"),
    ("patchInfoAddr", 0x98, "Q"), ("patchInfoSize", 0xA0, "Q"),
    ("otherImageGroupAddrUnused", 0xA8, "Q"), ("otherImageGroupSizeUnused", 0xB0, "Q"),
    ("progClosuresAddr", 0xB8, "Q"), ("progClosuresSize", 0xC0, "Q"),
    ("progClosuresTrieAddr", 0xC8, "Q"), ("progClosuresTrieSize", 0xD0, "Q"),
    ("platform", 0xD8, "I"), ("formatVersionBits", 0xDC, "I"),
    ("sharedRegionStart", 0xE0, "Q"), ("sharedRegionSize", 0xE8, "Q"), ("maxSlide", 0xF0, "Q"),
    ("dylibsImageArrayAddr", 0xF8, "Q"), ("dylibsImageArraySize", 0x100, "Q"),
    ("dylibsTrieAddr", 0x108, "Q"), ("dylibsTrieSize", 0x110, "Q"),
    ("otherImageArrayAddr", 0x118, "Q"), ("otherImageArraySize", 0x120, "Q"),
    ("otherTrieAddr", 0x128, "Q"), ("otherTrieSize", 0x130, "Q"),
    ("mappingWithSlideOffset", 0x138, "I"), ("mappingWithSlideCount", 0x13C, "I"),
    ("dylibsPBLStateArrayAddrUnused", 0x140, "Q"), ("dylibsPBLSetAddr", 0x148, "Q"),
    ("programsPBLSetPoolAddr", 0x150, "Q"), ("programsPBLSetPoolSize", 0x158, "Q"),
    ("programTrieAddr", 0x160, "Q"), ("programTrieSize", 0x168, "I"),
    ("osVersion", 0x16C, "I"), ("altPlatform", 0x170, "I"), ("altOsVersion", 0x174, "I"),
    ("swiftOptsOffset", 0x178, "Q"), ("swiftOptsSize", 0x180, "Q"),
    ("subCacheArrayOffset", 0x188, "I"), ("subCacheArrayCount", 0x18C, "I"),
    ("symbolFileUUID", 0x190, "16s"),
    ("rosettaReadOnlyAddr", 0x1A0, "Q"), ("rosettaReadOnlySize", 0x1A8, "Q"),
    ("rosettaReadWriteAddr", 0x1B0, "Q"), ("rosettaReadWriteSize", 0x1B8, "Q"),
    ("imagesOffset", 0x1C0, "I"), ("imagesCount", 0x1C4, "I"),
    ("cacheSubType", 0x1C8, "I"),
    ("objcOptsOffset", 0x1D0, "Q"), ("objcOptsSize", 0x1D8, "Q"),
    ("cacheAtlasOffset", 0x1E0, "Q"), ("cacheAtlasSize", 0x1E8, "Q"),
    ("dynamicDataOffset", 0x1F0, "Q"), ("dynamicDataMaxSize", 0x1F8, "Q"),
    ("tproMappingsOffset", 0x200, "I"), ("tproMappingsCount", 0x204, "I"),
    ("functionVariantInfoAddr", 0x208, "Q"), ("functionVariantInfoSize", 0x210, "Q"),
    ("prewarmingDataOffset", 0x218, "Q"), ("prewarmingDataSize", 0x220, "Q"),
]
HEADER_MAX = 0x228
_FIELD_OFF = {n: o for n, o, _ in HEADER_FIELDS}

_MAPPING = struct.Struct("<QQQII")                 # dyld_cache_mapping_info
_MAPPING_SLIDE = struct.Struct("<QQQQQQII")        # dyld_cache_mapping_and_slide_info
_IMAGE = struct.Struct("<QQQII")                   # dyld_cache_image_info
_TEXT_INFO = struct.Struct("<16sQII")              # dyld_cache_image_text_info
_SUB_V1 = struct.Struct("<16sQ")                   # dyld_subcache_entry_v1
_SUB_V2 = struct.Struct("<16sQ32s")                # dyld_subcache_entry

# dyld_cache_mapping_and_slide_info flags
DYLD_CACHE_MAPPING_AUTH_DATA = 0x1
DYLD_CACHE_MAPPING_DIRTY_DATA = 0x2
DYLD_CACHE_MAPPING_CONST_DATA = 0x4
DYLD_CACHE_MAPPING_TEXT_STUBS = 0x8
DYLD_CACHE_DYNAMIC_CONFIG_DATA = 0x10
DYLD_CACHE_READ_ONLY_DATA = 0x20
DYLD_CACHE_MAPPING_CONST_TPRO_DATA = 0x40

# dyld's own sanity limits (common/DyldSharedCache.cpp forEachRegion).
MAX_MAPPING_OFFSET = 1024
MAX_MAPPINGS = 20
# Real caches have ~60 sub-caches at most; a bigger count is garbage.
MAX_SUBCACHES = 256
# Real caches hold ~4,000 dylibs (iOS/macOS 26).  In target memory the only
# other bound on a table is a mapping size from the same untrusted header,
# so counts above this are refused (image table) or clamped (text table)
# rather than turned into one read request of count * 32 bytes.
MAX_IMAGES = 1 << 16
# One path-blob read (all image paths): real ones are a few hundred KiB.
MAX_PATH_BLOB = 4 << 20
DYNAMIC_DATA_SIZE = 0x4000
PATH_MAX = 1024


def mapping_name(max_prot: int, flags: int) -> str:
    """dyld's name for a mapping (DyldSharedCache::mappingName)."""
    if max_prot & 4:
        return "__TEXT_STUBS" if flags & DYLD_CACHE_MAPPING_TEXT_STUBS else "__TEXT"
    if max_prot & 2:
        if flags & DYLD_CACHE_MAPPING_AUTH_DATA:
            if flags & DYLD_CACHE_MAPPING_DIRTY_DATA:
                return "__AUTH_DIRTY"
            if flags & DYLD_CACHE_MAPPING_CONST_TPRO_DATA:
                return "__AUTH_TPRO_CONST"
            if flags & DYLD_CACHE_MAPPING_CONST_DATA:
                return "__AUTH_CONST"
            return "__AUTH"
        if flags & DYLD_CACHE_MAPPING_DIRTY_DATA:
            return "__DATA_DIRTY"
        if flags & DYLD_CACHE_MAPPING_CONST_TPRO_DATA:
            return "__TPRO_CONST"
        if flags & DYLD_CACHE_MAPPING_CONST_DATA:
            return "__DATA_CONST"
        return "__DATA"
    if max_prot & 1:
        return "__READ_ONLY" if flags & DYLD_CACHE_READ_ONLY_DATA else "__LINKEDIT"
    return "__NONE"


@dataclass(slots=True)
class CacheFileMapping:
    """One mapping of one cache file.  ``address`` is unslid."""

    address: int
    size: int
    file_offset: int
    max_prot: int
    init_prot: int
    flags: int = 0
    name: str = ""
    subcache: int = 0            # 0 = main file, i = subcaches[i-1]
    slide_info_offset: int = 0
    slide_info_size: int = 0
    slide_info: dict[str, int] | None = None

    @property
    def end(self) -> int:
        return self.address + self.size


@dataclass(slots=True)
class CacheImage:
    index: int
    path: str
    address: int                 # unslid mach_header address
    uuid: str | None = None      # from the image text table, when present
    text_size: int | None = None
    mod_time: int = 0
    inode: int = 0


@dataclass(slots=True)
class SubCache:
    index: int                   # 1-based; 0 is the main file
    path: str | None
    uuid: str
    vm_offset: int
    suffix: str
    mappings: list[CacheFileMapping] = field(default_factory=list)


@dataclass(slots=True)
class DynamicData:
    """The page dyld creates when it maps a cache (macOS 13+)."""

    version: int
    dev: int
    inode: int
    path: str | None = None


# --- byte sources -------------------------------------------------------

class _FileSource:
    """A cache file through mmap: reads by file offset, zero copy."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise CorruptInput(WHAT, "file not found", path) from None
        except OSError as e:
            raise CorruptInput(WHAT, f"cannot open: {e.strerror}", path) from None
        try:
            self.size = os.fstat(fd).st_size
            if self.size == 0:
                raise CorruptInput(WHAT, "empty file", path)
            self.buf: Any = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)

    def read(self, off: int, size: int) -> bytes:
        if off < 0 or size < 0 or off + size > self.size:
            raise CorruptInput(WHAT, f"[{off:#x}+{size:#x}] lies outside the file "
                               f"({self.size:#x} bytes)", self.path)
        return self.buf[off:off + size]

    def close(self) -> None:
        try:
            self.buf.close()
        except (BufferError, ValueError):
            pass


class _MemorySource:
    """A cache file as mapped in a target: file offsets become addresses
    through the file's own mappings (mapping 0 holds file offset 0, the
    header, which is what dyld relies on too)."""

    def __init__(self, read: Callable[[int, int], bytes], runtime_base: int,
                 label: str = "memory") -> None:
        self._read = read
        self.runtime_base = runtime_base
        self.path = None
        self.label = label
        self.buf = None
        self.size = HEADER_MAX + MAX_MAPPINGS * _MAPPING_SLIDE.size + 4096
        self._maps: list[tuple[int, int, int]] = []   # (file_off, size, runtime addr)

    def set_mappings(self, maps: list[CacheFileMapping], slide: int) -> None:
        self._maps = [(m.file_offset, m.size, m.address + slide) for m in maps]
        if maps:
            self.size = max(m.file_offset + m.size for m in maps)

    def read(self, off: int, size: int) -> bytes:
        if off < 0 or size < 0:
            raise CorruptInput(WHAT, f"bad read [{off:#x}+{size:#x}]", self.label)
        addr = None
        if not self._maps:
            addr = self.runtime_base + off
        else:
            for fo, sz, ra in self._maps:
                if fo <= off and off + size <= fo + sz:
                    addr = ra + off - fo
                    break
        if addr is None:
            raise CorruptInput(WHAT, f"file range [{off:#x}+{size:#x}] is not mapped", self.label)
        data = self._read(addr, size) if size else b""
        if data is None or len(data) < size:
            raise CorruptInput(WHAT, f"target memory at {addr:#x} (+{size:#x}) is unreadable",
                               self.label)
        return bytes(data)

    def close(self) -> None:
        pass


# --- one cache file -----------------------------------------------------

class _CacheFile:
    """Header + mappings of one file (main, sub-cache or .symbols)."""

    def __init__(self, src: _FileSource | _MemorySource, index: int = 0) -> None:
        self.src = src
        self.index = index
        self.path = src.path
        label = src.path or getattr(src, "label", None)
        if src.size < 0x28:
            raise CorruptInput(WHAT, "file too short for a dyld cache header", label)
        head = src.read(0, 0x18)
        magic = bytes(head[:16])
        if not magic.startswith(b"dyld_v1"):
            raise CorruptInput(WHAT, f"bad magic {magic[:15]!r}", label, 0)
        self.magic = magic.split(b"\0", 1)[0].decode("ascii", "replace")
        self.arch = self.magic[7:].strip()
        mapping_offset, mapping_count = struct.unpack_from("<II", head, 16)
        if not 0x28 <= mapping_offset <= MAX_MAPPING_OFFSET:
            raise CorruptInput(WHAT, f"mappingOffset {mapping_offset:#x} out of range", label, 0x10)
        if mapping_count > MAX_MAPPINGS:
            raise CorruptInput(WHAT, f"mappingCount {mapping_count} exceeds {MAX_MAPPINGS}", label, 0x14)
        self.header_size = mapping_offset
        raw = src.read(0, min(mapping_offset, HEADER_MAX))
        h: dict[str, Any] = {}
        for name, off, fmt in HEADER_FIELDS:
            # dyld: a field exists iff mappingOffset > offsetof(field).
            if mapping_offset > off and off + struct.calcsize(fmt) <= len(raw):
                h[name] = struct.unpack_from("<" + fmt, raw, off)[0]
        self.h = h
        self.uuid = h.get("uuid", b"\0" * 16).hex()
        self.mappings = self._read_mappings(label)

    def has(self, name: str) -> bool:
        return name in self.h

    def get(self, name: str, default: int = 0) -> Any:
        return self.h.get(name, default)

    def _read_mappings(self, label: str | None) -> list[CacheFileMapping]:
        count = self.h["mappingCount"]
        src = self.src
        out: list[CacheFileMapping] = []
        with_slide = self.header_size > _FIELD_OFF["mappingWithSlideOffset"] and \
            self.get("mappingWithSlideOffset") and self.get("mappingWithSlideCount") == count
        if with_slide:
            off = self.h["mappingWithSlideOffset"]
            raw = src.read(off, count * _MAPPING_SLIDE.size)
            for i in range(count):
                (addr, size, foff, sioff, sisize, flags, maxp, initp) = _MAPPING_SLIDE.unpack_from(
                    raw, i * _MAPPING_SLIDE.size)
                out.append(CacheFileMapping(addr, size, foff, maxp & 7, initp & 7, flags,
                                            mapping_name(maxp, flags), self.index, sioff, sisize))
        else:
            raw = src.read(self.header_size, count * _MAPPING.size)
            for i in range(count):
                addr, size, foff, maxp, initp = _MAPPING.unpack_from(raw, i * _MAPPING.size)
                out.append(CacheFileMapping(addr, size, foff, maxp & 7, initp & 7, 0,
                                            mapping_name(maxp, 0), self.index))
        for i, m in enumerate(out):
            if m.address + m.size > 1 << 64 or m.file_offset + m.size > 1 << 64:
                raise CorruptInput(WHAT, f"mapping {i} wraps around", label)
            if isinstance(src, _FileSource) and m.file_offset + m.size > src.size:
                raise CorruptInput(WHAT, f"mapping {i} [{m.file_offset:#x}+{m.size:#x}] lies "
                                   f"outside the file ({src.size:#x} bytes)", label)
        if out and out[0].file_offset != 0:
            raise CorruptInput(WHAT, "mapping 0 does not start at file offset 0", label)
        return out

    def read_slide_info(self) -> None:
        """Decode the slide-info header of every mapping that has one."""
        for m in self.mappings:
            if not m.slide_info_offset or m.slide_info_size < 8:
                continue
            try:
                raw = self.src.read(m.slide_info_offset, min(m.slide_info_size, 40))
            except CorruptInput:
                continue
            m.slide_info = _slide_info(raw)

    def fileoff_of(self, addr: int, size: int = 1) -> int | None:
        for m in self.mappings:
            if m.address <= addr and addr + size <= m.end:
                return m.file_offset + addr - m.address
        return None


def _slide_info(raw: bytes) -> dict[str, int]:
    """Header of dyld_cache_slide_info{2,3,4,5} (darwin-facts 5.3)."""
    (version,) = struct.unpack_from("<I", raw, 0)
    d = {"version": version}
    if version in (2, 4) and len(raw) >= 40:
        ps, pso, psc, peo, pec, mask, add = struct.unpack_from("<IIIIIQQ", raw, 4)
        d.update(page_size=ps, page_starts_offset=pso, page_starts_count=psc,
                 page_extras_offset=peo, page_extras_count=pec, delta_mask=mask, value_add=add)
    elif version == 3 and len(raw) >= 24:
        ps, psc = struct.unpack_from("<II", raw, 4)
        (add,) = struct.unpack_from("<Q", raw, 16)
        d.update(page_size=ps, page_starts_count=psc, auth_value_add=add)
    elif version == 5 and len(raw) >= 24:
        ps, psc = struct.unpack_from("<II", raw, 4)
        (add,) = struct.unpack_from("<Q", raw, 16)
        d.update(page_size=ps, page_starts_count=psc, value_add=add)
    return d


def parse_dynamic_data(raw: bytes) -> DynamicData | None:
    """Decode dyld's dynamic-data page (darwin-facts 5.6): v0 holds
    (st_dev, st_ino) of the cache file; v2+ also the absolute cache path."""
    if len(raw) < 32 or not raw.startswith(b"dyld_data"):
        return None
    v = raw[14] - 0x30
    if not 0 <= v <= 9:
        return None
    dev, ino = struct.unpack_from("<QQ", raw, 16)
    path = None
    if v >= 2 and len(raw) >= 40:
        (poff,) = struct.unpack_from("<I", raw, 36)
        if 40 <= poff < len(raw):
            path = cstring_at(raw, poff, PATH_MAX) or None
    return DynamicData(v, dev & 0xFFFFFFFF, ino, path)


# --- the cache ----------------------------------------------------------

class DyldCache:
    """A dyld shared cache: main file plus sub-caches (and .symbols, lazily).

    Addresses in and out are unslid unless a name says otherwise.  Build
    with ``open_cache(path)`` or ``DyldCache.from_memory(read, base)``.
    """

    def __init__(self, main: _CacheFile, path: str | None,
                 runtime_base: int | None = None) -> None:
        self._main = main
        self.path = path
        self.runtime_base = runtime_base
        self._files: list[_CacheFile] = [main]
        self.subcaches: list[SubCache] = []
        self.notes: list[str] = []
        self._images: list[CacheImage] | None = None
        self._machos: dict[int, Any] = {}     # image index -> parsed header (parsed once)
        self._symbols_file: _CacheFile | None | bool = False   # False = not looked up yet
        self._locals: Any = None
        self._ranges: list[tuple[int, int, _CacheFile, int]] | None = None

    # -- construction --
    @classmethod
    def _open_file(cls, path: str) -> "DyldCache":
        main = _CacheFile(_FileSource(path))
        c = cls(main, path)
        try:
            c._load_subcaches_from_disk()
            for f in c._files:
                f.read_slide_info()
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
        src = _MemorySource(read, base)
        main = _CacheFile(src)
        if not main.mappings:
            raise CorruptInput(WHAT, "cache in memory has no mappings", "memory")
        slide = base - main.mappings[0].address
        src.set_mappings(main.mappings, slide)
        c = cls(main, path, base)
        c._load_subcaches_from_memory(read)
        return c

    def _subcache_entries(self) -> list[tuple[bytes, int, str]]:
        f = self._main
        if not (f.header_size > _FIELD_OFF["subCacheArrayCount"] and f.get("subCacheArrayCount")):
            return []
        # v2 entries (with a file suffix) iff the header has cacheSubType (dyld-1042+).
        v2 = f.header_size > _FIELD_OFF["cacheSubType"]
        st = _SUB_V2 if v2 else _SUB_V1
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
        if self._main.get("cacheType") == 2 and p.endswith(".development"):
            p = p[: -len(".development")]
        return p

    def _add_subcache(self, i: int, f: _CacheFile, u: bytes, vmoff: int, sfx: str,
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
            f = _CacheFile(_FileSource(p), i)
            self._add_subcache(i, f, u, vmoff, sfx, p)

    def _load_subcaches_from_memory(self, read: Callable[[int, int], bytes]) -> None:
        slide = self.slide or 0
        for i, (u, vmoff, sfx) in enumerate(self._subcache_entries(), 1):
            src = _MemorySource(read, self.runtime_base + vmoff, f"memory sub-cache {sfx}")
            try:
                f = _CacheFile(src, i)
            except CorruptInput as e:
                self.notes.append(f"sub-cache {sfx} unreadable in memory: {e.reason}")
                self.subcaches.append(SubCache(i, None, u.hex(), vmoff, sfx, []))
                continue
            src.set_mappings(f.mappings, slide)
            self._add_subcache(i, f, u, vmoff, sfx, None)

    # -- header facts --
    @property
    def header(self) -> dict[str, Any]:
        return dict(self._main.h)

    @property
    def header_size(self) -> int:
        return self._main.header_size

    @property
    def magic(self) -> str:
        return self._main.magic

    @property
    def arch(self) -> str:
        return self._main.arch

    @property
    def uuid(self) -> str:
        return self._main.uuid

    @property
    def unslid_base(self) -> int:
        return self._main.mappings[0].address if self._main.mappings else 0

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
        u = self._main.h.get("symbolFileUUID")
        return u.hex() if u and any(u) else None

    def dynamic_data(self) -> DynamicData | None:
        """The dynamic-data page (only in a target's memory: dyld creates it
        when it maps the cache).  None when absent or unreadable."""
        f = self._main
        if self.runtime_base is None or not f.has("dynamicDataOffset") or not f.get("dynamicDataOffset"):
            return None
        src = f.src
        assert isinstance(src, _MemorySource)
        addr = self.runtime_base + f.get("dynamicDataOffset")
        raw = src._read(addr, 80 + PATH_MAX)
        if not raw or len(raw) < 40:
            raw = src._read(addr, 80)
        return parse_dynamic_data(bytes(raw or b""))

    # -- address space --
    def _address_ranges(self) -> list[tuple[int, int, _CacheFile, int]]:
        if self._ranges is None:
            r = [(m.address, m.end, f, m.file_offset) for f in self._files for m in f.mappings]
            r.sort(key=lambda t: t[0])
            self._ranges = r
        return self._ranges

    def locate(self, addr: int, size: int = 1) -> tuple[_CacheFile, int] | None:
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
        f = self._main
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
        n = bounded_count(count, _IMAGE.size, src.size - off if off < src.size else 0)
        if n < count:
            raise CorruptInput(WHAT, f"image table ({count} entries at {off:#x}) runs past the data", label)
        raw = src.read(off, n * _IMAGE.size)
        texts = self._text_infos()
        recs = list(_IMAGE.iter_unpack(raw))
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
    def _path_blob(src, offs: list[int]) -> tuple[bytes | None, int]:
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
        f = self._main
        count = f.get("imagesTextCount")
        if not (f.header_size > 0x88 and count):
            return {}
        off = f.get("imagesTextOffset")
        count = min(count, MAX_IMAGES)
        n = bounded_count(count, _TEXT_INFO.size, f.src.size - off if off < f.src.size else 0)
        if not n:
            return {}
        try:
            raw = f.src.read(off, n * _TEXT_INFO.size)
        except CorruptInput:
            return {}
        return {addr: (u.hex(), tsize) for u, addr, tsize, _p in _TEXT_INFO.iter_unpack(raw)}

    def _image(self, image: int | CacheImage) -> CacheImage:
        if isinstance(image, CacheImage):
            return image
        imgs = self.images
        if not 0 <= image < len(imgs):
            raise IndexError(f"no cache image {image}")
        return imgs[image]

    def image_macho(self, image: int | CacheImage):
        """The parsed Mach-O header (load commands, unslid addresses) of an image."""
        img = self._image(image)
        m = self._machos.get(img.index)
        if m is None:
            m = self._machos[img.index] = self._parse_image(img)
        return m

    def _parse_image(self, img: CacheImage):
        from symmap.formats.macho.load_commands import parse_macho

        loc = self.locate(img.address, 32)
        if loc is None:
            raise CorruptInput(WHAT, f"image {img.path} at {img.address:#x} is outside every mapping",
                               self.path)
        f, off = loc
        src = f.src
        if isinstance(src, _FileSource):
            return parse_macho(src.buf, off, f.path)
        hdr = src.read(off, 32)
        (sizeofcmds,) = struct.unpack_from("<I", hdr, 20)
        if sizeofcmds > 1 << 20:
            raise CorruptInput("Mach-O", f"sizeofcmds {sizeofcmds:#x} is implausible", img.path)
        return parse_macho(src.read(off, 32 + sizeofcmds), 0, img.path)

    def model_images(self, slide: int = 0) -> list:
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
        sf = self._symbols_file
        if isinstance(sf, _CacheFile):
            sf.src.close()
        self._symbols_file = False

    def __enter__(self) -> "DyldCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<DyldCache {self.magic!r} uuid={self.uuid} base={self.unslid_base:#x} "
                f"subcaches={len(self.subcaches)}>")


def _mem_cstring(src: _MemorySource, off: int) -> str:
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


def to_shared_cache(cache: DyldCache, slide: int | None = None, path: str | None = None):
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
