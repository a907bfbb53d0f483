"""Find the on-disk dyld shared cache file a live process (or core) maps.

Order (reference/darwin-facts.md 5.6):
1. the absolute path in dyld's dynamic-data page (v2+, macOS 15.4+);
2. the (st_dev, st_ino) pair of that page (v0, macOS 13+): stat the
   cache files of the known directories and match;
3. a search of the known directories for a main cache file whose header
   UUID matches.
Whatever the route, a file is only returned when its header UUID equals the
UUID of the mapped cache ("never use a file whose UUID differs").

Darwin-free: plain ``os`` calls, a ``root`` prefix lets tests use a fake tree.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from symmap.formats.dyld_cache.reader import DyldCache

__all__ = ["CACHE_DIRS", "candidate_files", "file_uuid", "locate_cache_file", "find_cache_for"]

# Known cache directories, in dyld's own search order (ProcessAtlas.cpp
# forEachInstalledCacheWithSystemPath @dyld-1378: OS cryptex, staged
# "Incoming" cryptex, DriverKit and ExclaveKit, then the pre-cryptex
# directories), plus /private/var/db/dyld (macOS <= 10.15, dyld-750).
CACHE_DIRS = (
    "/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld",
    "/System/Volumes/Preboot/Cryptexes/OS/System/DriverKit/System/Library/dyld",
    "/private/preboot/Cryptexes/OS/System/Library/Caches/com.apple.dyld",
    "/private/preboot/Cryptexes/OS/System/DriverKit/System/Library/dyld",
    "/System/Cryptexes/OS/System/Library/Caches/com.apple.dyld",
    "/System/Cryptexes/OS/System/Library/dyld",
    "/System/Cryptexes/ExclaveOS/System/ExclaveKit/System/Library/dyld",
    "/System/Volumes/Preboot/Cryptexes/Incoming/OS/System/Library/dyld",
    "/System/Volumes/Preboot/Cryptexes/Incoming/OS/System/DriverKit/System/Library/dyld",
    "/private/preboot/Cryptexes/Incoming/OS/System/Library/Caches/com.apple.dyld",
    "/private/preboot/Cryptexes/Incoming/OS/System/DriverKit/System/Library/dyld",
    "/System/Cryptexes/Incoming/OS/System/Library/Caches/com.apple.dyld",
    "/System/Cryptexes/Incoming/OS/System/Library/dyld",
    "/System/Library/Caches/com.apple.dyld",
    "/System/DriverKit/System/Library/dyld",
    "/System/ExclaveKit/System/Library/dyld",
    "/System/Library/dyld",
    "/private/var/db/dyld",
)

_COMPANION_SUFFIXES = (".symbols", ".map", ".atlas", ".dylddata", ".dyldlinkedit", ".dyldreadonly")


def _rooted(root: str, path: str) -> str:
    if root in ("", "/"):
        return path
    return os.path.join(root, path.lstrip("/"))


def file_uuid(path: str) -> str | None:
    """UUID (hex) in a cache file's header, or None if it is not a cache."""
    try:
        with open(path, "rb") as f:
            head = f.read(0x68)
    except OSError:
        return None
    if len(head) < 0x68 or not head.startswith(b"dyld_v1"):
        return None
    mapping_offset = int.from_bytes(head[0x10:0x14], "little")
    if mapping_offset <= 0x58:          # header older than the uuid field
        return None
    return head[0x58:0x68].hex()


def _is_main_name(name: str, arch: str | None) -> bool:
    if not (name.startswith("dyld_shared_cache_") or name.startswith("dyld_sim_shared_cache_")):
        return False
    rest = name.split("_cache_", 1)[1]
    if rest.endswith(".development"):
        rest = rest[: -len(".development")]
    if "." in rest:                      # .01, .1, .symbols, .map ...
        return False
    return arch is None or rest == arch


def candidate_files(root: str = "/", dirs: Iterable[str] = CACHE_DIRS,
                    arch: str | None = None) -> list[str]:
    """Main cache files (no sub-cache or companion suffix) in ``dirs``."""
    out = []
    for d in dirs:
        dd = _rooted(root, d)
        try:
            names = sorted(os.listdir(dd))
        except OSError:
            continue
        for n in names:
            if _is_main_name(n, arch):
                out.append(os.path.join(dd, n))
    return out


def locate_cache_file(uuid: str, *, arch: str | None = None, path: str | None = None,
                      dev: int | None = None, inode: int | None = None, root: str = "/",
                      dirs: Iterable[str] = CACHE_DIRS) -> str | None:
    """Path of the cache file whose header UUID is ``uuid``, or None.

    ``path`` (dynamic-data v2+), then ``(dev, inode)`` (v0), then a UUID
    search of ``dirs`` (under ``root``)."""
    uuid = uuid.lower().replace("-", "")
    if path:
        p = _rooted(root, path)
        if file_uuid(p) == uuid:
            return p
    cands = candidate_files(root, dirs, None)
    if dev is not None and inode is not None:
        for p in cands:
            try:
                st = os.stat(p)
            except OSError:
                continue
            if st.st_ino == inode and (st.st_dev & 0xFFFFFFFF) == (dev & 0xFFFFFFFF) \
                    and file_uuid(p) == uuid:
                return p
    # Same-arch names first: fewer headers to read.
    ordered = [p for p in cands if arch and os.path.basename(p).endswith("_" + arch)]
    ordered += [p for p in cands if p not in ordered]
    for p in ordered:
        if file_uuid(p) == uuid:
            return p
    return None


def find_cache_for(cache: DyldCache, root: str = "/", dirs: Iterable[str] = CACHE_DIRS) -> str | None:
    """The on-disk file of a cache read out of a target's memory
    (``DyldCache.from_memory``): uses its dynamic-data page when present."""
    dd = cache.dynamic_data()
    return locate_cache_file(cache.uuid, arch=cache.arch, path=dd.path if dd else None,
                             dev=dd.dev if dd else None, inode=dd.inode if dd else None,
                             root=root, dirs=dirs)
