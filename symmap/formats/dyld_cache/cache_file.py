"""dyld shared cache: header layout, mapping/image structs, and one cache
file (main, sub-cache or .symbols) read from a file (mmap) or from target
memory.  Layouts from apple-oss-distributions/dyld
include/mach-o/dyld_cache_format.h (dyld-1284.13); reference/darwin-facts.md §5."""
from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

from symmap.errors import CorruptInput
from symmap.formats._binio import cstring_at

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
FIELD_OFF = {n: o for n, o, _ in HEADER_FIELDS}

MAPPING_INFO = struct.Struct("<QQQII")                 # dyld_cache_mapping_info
MAPPING_SLIDE_INFO = struct.Struct("<QQQQQQII")        # dyld_cache_mapping_andparse_slide_info_header
IMAGE_INFO = struct.Struct("<QQQII")                   # dyld_cache_image_info
IMAGE_TEXT_INFO = struct.Struct("<16sQII")              # dyld_cache_image_text_info
SUBCACHE_V1 = struct.Struct("<16sQ")                   # dyld_subcache_entry_v1
SUBCACHE_V2 = struct.Struct("<16sQ32s")                # dyld_subcache_entry

# dyld_cache_mapping_andparse_slide_info_header flags
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
# rather than turned into one read request of count * 32 bytes.  Each image
# costs ~9 KB and ~100 us to map: 8,192 keeps `map` near 1 s and 80 MB.
MAX_IMAGES = 1 << 13
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

class FileSource:
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
        data: bytes = self.buf[off:off + size]
        return data

    def close(self) -> None:
        try:
            self.buf.close()
        except (BufferError, ValueError):
            pass


class MemorySource:
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
        self.size = HEADER_MAX + MAX_MAPPINGS * MAPPING_SLIDE_INFO.size + 4096
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

class CacheFile:
    """Header + mappings of one file (main, sub-cache or .symbols)."""

    def __init__(self, src: FileSource | MemorySource, index: int = 0) -> None:
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
        self.header_size: int = mapping_offset
        raw = src.read(0, min(mapping_offset, HEADER_MAX))
        h: dict[str, Any] = {}
        for name, off, fmt in HEADER_FIELDS:
            # dyld: a field exists iff mappingOffset > offsetof(field).
            if mapping_offset > off and off + struct.calcsize(fmt) <= len(raw):
                h[name] = struct.unpack_from("<" + fmt, raw, off)[0]
        self.h = h
        self.uuid: str = h.get("uuid", b"\0" * 16).hex()
        self.mappings = self._read_mappings(label)

    def has(self, name: str) -> bool:
        return name in self.h

    def get(self, name: str, default: int = 0) -> Any:
        return self.h.get(name, default)

    def _read_mappings(self, label: str | None) -> list[CacheFileMapping]:
        count = self.h["mappingCount"]
        src = self.src
        out: list[CacheFileMapping] = []
        with_slide = self.header_size > FIELD_OFF["mappingWithSlideOffset"] and \
            self.get("mappingWithSlideOffset") and self.get("mappingWithSlideCount") == count
        if with_slide:
            off = self.h["mappingWithSlideOffset"]
            raw = src.read(off, count * MAPPING_SLIDE_INFO.size)
            for i in range(count):
                (addr, size, foff, sioff, sisize, flags, maxp, initp) = MAPPING_SLIDE_INFO.unpack_from(
                    raw, i * MAPPING_SLIDE_INFO.size)
                out.append(CacheFileMapping(addr, size, foff, maxp & 7, initp & 7, flags,
                                            mapping_name(maxp, flags), self.index, sioff, sisize))
        else:
            raw = src.read(self.header_size, count * MAPPING_INFO.size)
            for i in range(count):
                addr, size, foff, maxp, initp = MAPPING_INFO.unpack_from(raw, i * MAPPING_INFO.size)
                out.append(CacheFileMapping(addr, size, foff, maxp & 7, initp & 7, 0,
                                            mapping_name(maxp, 0), self.index))
        for i, m in enumerate(out):
            if m.address + m.size > 1 << 64 or m.file_offset + m.size > 1 << 64:
                raise CorruptInput(WHAT, f"mapping {i} wraps around", label)
            if isinstance(src, FileSource) and m.file_offset + m.size > src.size:
                raise CorruptInput(WHAT, f"mapping {i} [{m.file_offset:#x}+{m.size:#x}] lies "
                                   f"outside the file ({src.size:#x} bytes)", label)
        if out and out[0].file_offset != 0:
            raise CorruptInput(WHAT, "mapping 0 does not start at file offset 0", label)
        return out

    def readparse_slide_info_header(self) -> None:
        """Decode the slide-info header of every mapping that has one."""
        for m in self.mappings:
            if not m.slide_info_offset or m.slide_info_size < 8:
                continue
            try:
                raw = self.src.read(m.slide_info_offset, min(m.slide_info_size, 40))
            except CorruptInput:
                continue
            m.slide_info = parse_slide_info_header(raw)

    def fileoff_of(self, addr: int, size: int = 1) -> int | None:
        for m in self.mappings:
            if m.address <= addr and addr + size <= m.end:
                return m.file_offset + addr - m.address
        return None


def parse_slide_info_header(raw: bytes) -> dict[str, int]:
    """Header of dyld_cacheparse_slide_info_header{2,3,4,5} (darwin-facts 5.3)."""
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


