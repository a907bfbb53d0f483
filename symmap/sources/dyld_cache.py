"""A dyld shared cache file as a target (kind "cache").

Regions are the cache's own mappings (main file and sub-caches) at
``opts.slide`` (default 0); images are every cached dylib.  The annotator
then cuts the mappings per image segment (``annotate.shared_cache``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from symmap.formats.dyld_cache.reader import open_cache, to_shared_cache
from symmap.model import Region, Target

if TYPE_CHECKING:
    from symmap.sources import OpenOptions

__all__ = ["open_file"]

# Arch of the cache magic -> page size dyld maps it with (arm64 caches use
# 16 KiB pages; Intel caches 4 KiB).
_PAGE = {"x86_64": 4096, "x86_64h": 4096, "i386": 4096}
# dyld_cache_header.platform (0xD8, dyld-519.2.1): mach-o/loader.h PLATFORM_*.
_PLATFORMS = {1: "macOS", 2: "iOS", 3: "tvOS", 4: "watchOS", 5: "bridgeOS",
              6: "macCatalyst", 7: "iOS Simulator", 8: "tvOS Simulator",
              9: "watchOS Simulator", 10: "DriverKit", 11: "visionOS",
              12: "visionOS Simulator"}


def open_file(path: str, opts: OpenOptions | None = None) -> Target:
    slide = (getattr(opts, "slide", None) or 0) if opts is not None else 0
    cache = open_cache(path)
    try:
        sc = to_shared_cache(cache, slide, path)
        t = Target(kind="cache", name=path.rsplit("/", 1)[-1], path=path, arch=cache.arch,
                   page_size=_PAGE.get(cache.arch, 16384), os="macos")
        t.closers.append(cache.close)
        t.shared_cache = sc
        for m in sc.mappings:
            sub = sc.subcaches[m.subcache - 1]["path"] if m.subcache else path
            t.regions.append(Region(m.address, m.address + m.size, m.init_prot, m.max_prot,
                                    share_mode="COW", kind="cache", path=sub,
                                    offset=m.file_offset))
        t.regions.sort(key=lambda r: r.start)
        t.images = cache.model_images(slide)
        for img in t.images:
            img.file_path = path
        h = cache.header
        t.info.update({
            "cache_magic": cache.magic, "cache_uuid": cache.uuid, "header_size": cache.header_size,
            "unslid_base": cache.unslid_base, "slide": slide, "image_count": len(t.images),
            "symbol_file_uuid": cache.symbol_file_uuid,
        })
        if h.get("platform"):
            t.info["platform"] = _PLATFORMS.get(h["platform"], f"platform {h['platform']}")
        if "cacheType" in h:
            # 0 development, 1 production, 2 universal (cacheSubType says which half)
            t.info["cache_type"] = h["cacheType"]
        if "osVersion" in h and h["osVersion"]:
            v = h["osVersion"]
            t.os_version = f"{v >> 16}.{(v >> 8) & 0xFF}" + (f".{v & 0xFF}" if v & 0xFF else "")
        for n in cache.notes:
            t.notes.append(f"cache: {n}")
            t.partial = True
        return t
    except BaseException:
        cache.close()
        raise
