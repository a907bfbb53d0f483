"""dyld's image list (``struct dyld_all_image_infos``) read through any ``read(addr, size)``.

Used for live tasks (macos_live) and reusable for Mach-O cores: give it a reader,
the all_image_infos address/size/format and a pointer mask.  Layout and version
history: dyld include/mach-o/dyld_images.h @dyld-1378, darwin-facts.md §4; the
retry/requery/cap rules follow Apple's libdyld/dyld_process_info.cpp.

Rules kept here:
- every field is gated by ``version`` *and* by the bytes actually present
  (``all_image_info_size`` / a short read): old dyld wrote shorter structs;
- infoArray NULL = dyld is rewriting the list: sleep and retry (bounded),
  re-asking ``requery()`` (TASK_DYLD_INFO) each time because dyld moves the
  struct when it switches to the copy inside the shared cache;
- infoArrayChangeTimestamp == 0 (v15+) = the process is suspended before dyld
  published anything: report ``suspended`` so the caller scans memory instead;
- every count is capped (8192 images, as libdyld) and by what is readable;
- PAC/tag bits are stripped from every pointer with ``ptr_mask``;
- dyld itself is not in infoArray: it is added from dyldImageLoadAddress/dyldPath.
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["DyldImage", "DyldState", "read_dyld_state", "read_cstring", "pointer_mask",
           "FIELDS", "MAX_IMAGES"]

MAX_IMAGES = 8192
PATH_MAX = 1024
DEFAULT_RETRIES = 10
RETRY_DELAY = 0.05          # libdyld sleeps 50 ms between attempts

Reader = Callable[[int, int], bytes]

# name: (offset64, offset32, kind, min_version); kind "p" = pointer-sized, else struct code.
FIELDS: dict[str, tuple[int, int, str, int]] = {
    "version": (0x00, 0, "I", 1),
    "infoArrayCount": (0x04, 4, "I", 1),
    "infoArray": (0x08, 8, "p", 1),
    "notification": (0x10, 12, "p", 1),
    "processDetachedFromSharedRegion": (0x18, 16, "B", 1),
    "libSystemInitialized": (0x19, 17, "B", 2),
    "dyldImageLoadAddress": (0x20, 20, "p", 2),
    "uuidArrayCount": (0x58, 48, "p", 8),
    "uuidArray": (0x60, 52, "p", 8),
    "dyldAllImageInfosAddress": (0x68, 56, "p", 9),
    "sharedCacheSlide": (0x98, 80, "p", 12),
    "sharedCacheUUID": (0xA0, 84, "16s", 13),
    "sharedCacheBaseAddress": (0xB0, 100, "p", 15),
    "infoArrayChangeTimestamp": (0xB8, 104, "Q", 15),
    "dyldPath": (0xC0, 112, "p", 15),
    "platform": (0x140, 176, "I", 16),
}
SIZEOF = {True: 368, False: 224}


def pointer_mask(va_bits: int | None, is64: bool = True) -> int:
    """Mask that strips PAC/TBI bits: keep the low ``va_bits`` (47 on arm64 macOS)."""
    if not is64:
        return 0xFFFFFFFF
    bits = va_bits if va_bits and 32 <= va_bits <= 64 else 47
    return (1 << bits) - 1


@dataclass(slots=True)
class DyldImage:
    load_address: int
    path: str | None
    is_dyld: bool = False
    uuid: str | None = None        # from uuidArray (non-cache images only)


@dataclass(slots=True)
class DyldState:
    """What dyld published.  Addresses are runtime and already PAC-stripped."""

    address: int = 0
    size: int = 0
    is64: bool = True
    version: int | None = None
    images: list[DyldImage] = field(default_factory=list)   # infoArray order, then dyld
    dyld_load_address: int | None = None
    dyld_path: str | None = None
    cache_uuid: str | None = None   # lowercase hex; None = no shared cache
    cache_base: int | None = None
    cache_slide: int | None = None
    detached: bool = False          # processDetachedFromSharedRegion (private cache)
    platform: int | None = None
    timestamp: int | None = None
    suspended: bool = False         # dyld has not published an image list yet
    complete: bool = False          # infoArray was read
    attempts: int = 0
    notes: list[str] = field(default_factory=list)


def read_cstring(read: Reader, addr: int, limit: int = PATH_MAX, page: int = 4096) -> str | None:
    """NUL-terminated string at addr; if the full read fails, retry up to the page end
    (a path near the end of a mapping, as libdyld does)."""
    if not addr:
        return None
    raw = _safe_read(read, addr, limit)
    if not raw:
        raw = _safe_read(read, addr, page - (addr % page))
    if not raw:
        return None
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _safe_read(read: Reader, addr: int, size: int) -> bytes:
    if size <= 0:
        return b""
    try:
        return read(addr, size) or b""
    except OSError:
        return b""


class _Fields:
    """Version- and length-gated access to a raw all_image_infos block."""

    def __init__(self, raw: bytes, is64: bool, mask: int) -> None:
        self.raw, self.is64, self.mask = raw, is64, mask
        self.version = struct.unpack_from("<I", raw, 0)[0] if len(raw) >= 4 else 0

    def get(self, name: str) -> int | None:
        v = self._get(name)
        return v if isinstance(v, int) else None

    def get_bytes(self, name: str) -> bytes | None:
        v = self._get(name)
        return v if isinstance(v, bytes) else None

    def _get(self, name: str) -> int | bytes | None:
        off64, off32, kind, minv = FIELDS[name]
        off = off64 if self.is64 else off32
        code = ("Q" if self.is64 else "I") if kind == "p" else kind
        n = struct.calcsize("<" + code)
        if self.version < minv or off + n > len(self.raw):
            return None
        v: int | bytes = struct.unpack_from("<" + code, self.raw, off)[0]
        if kind == "p" and isinstance(v, int):
            v &= self.mask
        return v


def read_dyld_state(read: Reader, address: int, size: int, fmt: int | None, ptr_mask: int,
                    *, requery: Callable[[], tuple[int, int, int | None]] | None = None,
                    retries: int = DEFAULT_RETRIES, sleep: Callable[[float], None] = time.sleep,
                    max_images: int = MAX_IMAGES, page_size: int = 4096) -> DyldState:
    """Read dyld_all_image_infos at ``address`` and the image list it points to.

    ``fmt``: TASK_DYLD_ALL_IMAGE_INFO_64 (1) / _32 (0) / None (legacy count: assume 64).
    ``read`` may raise OSError or return short data where memory is unreadable.
    Never raises for bad target data; problems become ``notes``.
    """
    st = DyldState()
    for attempt in range(max(1, retries)):
        if attempt:
            sleep(RETRY_DELAY)
            if requery is not None:
                try:
                    address, size, fmt = requery()
                except OSError as e:
                    # A refused/failed TASK_DYLD_INFO on a retry costs the image list,
                    # not the whole map (a dead task shows up in the caller's next call).
                    st.notes.append(f"dyld's image list: re-asking TASK_DYLD_INFO failed: {e}")
                    break
        st.attempts = attempt + 1
        st = _read_once(read, address, size, fmt, ptr_mask, max_images, page_size, st)
        if st.complete or st.suspended or not st.address:
            break
    else:
        st.notes.append(f"dyld's image list was being updated (infoArray NULL after {retries} tries)")
    _add_dyld(read, st, page_size)
    return st


def _read_once(read: Reader, address: int, size: int, fmt: int | None, mask: int, max_images: int, page_size: int,
               prev: DyldState) -> DyldState:
    is64 = fmt != 0
    st = DyldState(address=address, size=size, is64=is64, attempts=prev.attempts)
    if not address:
        st.notes.append("dyld has not registered its image list (all_image_info_addr is 0)")
        return st
    want = min(size, SIZEOF[is64]) if size else SIZEOF[is64]
    raw = _safe_read(read, address, want)
    if len(raw) < 8:
        st.notes.append(f"dyld_all_image_infos at {address:#x} is unreadable")
        return st
    f = _Fields(raw, is64, mask)
    st.version = f.version
    uuid = f.get_bytes("sharedCacheUUID")
    if uuid and any(uuid):
        st.cache_uuid = uuid.hex()
        st.cache_slide = f.get("sharedCacheSlide")
        st.cache_base = f.get("sharedCacheBaseAddress")
    st.detached = bool(f.get("processDetachedFromSharedRegion"))
    st.platform = f.get("platform") if len(raw) >= (0x144 if is64 else 180) else None
    st.timestamp = f.get("infoArrayChangeTimestamp")
    st.dyld_load_address = f.get("dyldImageLoadAddress") or None
    dp = f.get("dyldPath")
    st.dyld_path = read_cstring(read, dp, PATH_MAX, page_size) if dp else None
    arr, count = f.get("infoArray") or 0, f.get("infoArrayCount") or 0
    if st.timestamp == 0:
        # v15+: dyld has not published (process suspended at launch): libdyld makeSuspended.
        st.suspended = True
        return st
    if not arr:
        return st                      # being updated: caller retries
    esize = 24 if is64 else 12
    n = min(count, max_images)
    if count > max_images:
        st.notes.append(f"dyld reports {count} images; read the first {max_images}")
    blob = _safe_read(read, arr, n * esize) if n else b""
    if len(blob) < n * esize:
        st.notes.append(f"dyld image array at {arr:#x} is partly unreadable")
        n = len(blob) // esize
    fmt_e = "<3Q" if is64 else "<3I"
    for i in range(n):
        la, pa, _mod = struct.unpack_from(fmt_e, blob, i * esize)
        st.images.append(DyldImage(la & mask, read_cstring(read, pa & mask, PATH_MAX, page_size)))
    _read_uuids(read, f, st, mask, max_images)
    st.complete = True
    return st


def _read_uuids(read: Reader, f: _Fields, st: DyldState, mask: int, max_images: int) -> None:
    arr, count = f.get("uuidArray") or 0, f.get("uuidArrayCount") or 0
    if not arr or not count:
        return
    esize = 24 if st.is64 else 20
    n = min(count, max_images)
    blob = _safe_read(read, arr, n * esize)
    by_addr = {}
    for i in range(len(blob) // esize):
        la = struct.unpack_from("<Q" if st.is64 else "<I", blob, i * esize)[0] & mask
        by_addr[la] = blob[i * esize + esize - 16: i * esize + esize].hex()
    for im in st.images:
        im.uuid = by_addr.get(im.load_address)


def _add_dyld(read: Reader, st: DyldState, page_size: int) -> None:
    la = st.dyld_load_address
    if not la or any(im.load_address == la for im in st.images):
        return
    st.images.append(DyldImage(la, st.dyld_path or "/usr/lib/dyld", is_dyld=True))
