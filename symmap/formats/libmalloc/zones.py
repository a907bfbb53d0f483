"""libmalloc's zone structures as bytes (64-bit, little-endian).

Layouts: apple-oss-distributions/libmalloc @ 81c0f67a (libmalloc-792.1.1),
include/malloc/malloc.h: ``malloc_zone_t`` has ``zone_name`` at +72,
``introspect`` at +96 and ``version`` (unsigned) at +104; the introspection
table's ``zone_type`` (unsigned, "Present in version >= 14") is at +128.
Every function takes the bytes read and checks their length first.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "INTROSPECT_ZONE_TYPE_OFF",
    "ZONE_HEADER_SIZE",
    "ZONE_INTROSPECT_OFF",
    "ZONE_NAME_OFF",
    "ZONE_VERSION_OFF",
    "ZoneHeader",
    "parse_i32",
    "parse_pointers",
    "parse_u32",
    "parse_u64",
    "parse_zone_header",
]

ZONE_NAME_OFF = 72
ZONE_INTROSPECT_OFF = 96
ZONE_VERSION_OFF = 104
ZONE_HEADER_SIZE = 112
INTROSPECT_ZONE_TYPE_OFF = 128


@dataclass(frozen=True)
class ZoneHeader:
    name_ptr: int
    introspect: int
    version: int


def parse_u64(b: bytes) -> int | None:
    return struct.unpack_from("<Q", b)[0] if len(b) >= 8 else None


def parse_i32(b: bytes) -> int | None:
    return struct.unpack_from("<i", b)[0] if len(b) >= 4 else None


def parse_u32(b: bytes) -> int | None:
    return struct.unpack_from("<I", b)[0] if len(b) >= 4 else None


def parse_pointers(b: bytes) -> list[int]:
    """As many whole 8-byte pointers as ``b`` holds."""
    n = len(b) // 8
    return list(struct.unpack_from(f"<{n}Q", b)) if n else []


def parse_zone_header(b: bytes) -> ZoneHeader | None:
    if len(b) < ZONE_HEADER_SIZE:
        return None
    name, intro = struct.unpack_from("<Q", b, ZONE_NAME_OFF)[0], struct.unpack_from("<Q", b, ZONE_INTROSPECT_OFF)[0]
    return ZoneHeader(name, intro, struct.unpack_from("<I", b, ZONE_VERSION_OFF)[0])
